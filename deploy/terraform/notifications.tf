# Alarms reach the function through a topic it subscribes to.
resource "oci_ons_notification_topic" "alarms" {
  compartment_id = var.compartment_ocid
  name           = "${var.application_name}-backup-alarms"
  description    = "Monitoring alarms that back up the volumes they name (backup-handler)"
}

resource "oci_ons_subscription" "function" {
  compartment_id = var.compartment_ocid
  topic_id       = oci_ons_notification_topic.alarms.id
  protocol       = "ORACLE_FUNCTIONS"
  endpoint       = oci_functions_function.backup_handler.id
}

# Example: back up the volumes whose write throughput stays high (dimension resourceId = the volume).
resource "oci_monitoring_alarm" "volume_example" {
  count                 = var.enable_alarm ? 1 : 0
  compartment_id        = var.compartment_ocid
  metric_compartment_id = var.compartment_ocid
  display_name          = "${var.application_name}-volume-backup"
  namespace             = "oci_blockstore"
  query                 = var.alarm_query
  severity              = var.alarm_severity
  body                  = "backup-handler backs up the volumes this alarm names"
  destinations          = [oci_ons_notification_topic.alarms.id]
  is_enabled            = true
  message_format        = "RAW"
  pending_duration      = "PT5M"
}

# Failure summaries go to people, on a topic of their own (never the alarm topic the function listens to).
resource "oci_ons_notification_topic" "failures" {
  count          = var.create_failure_topic ? 1 : 0
  compartment_id = var.compartment_ocid
  name           = "${var.application_name}-backup-failures"
  description    = "Runs of backup-handler with failures"
}

resource "oci_ons_subscription" "failures_email" {
  count          = var.create_failure_topic && var.failure_email != "" ? 1 : 0
  compartment_id = var.compartment_ocid
  topic_id       = oci_ons_notification_topic.failures[0].id
  protocol       = "EMAIL"
  endpoint       = var.failure_email
}

# With custom metrics and a failure topic: page on any failed backup in the last hour.
resource "oci_monitoring_alarm" "failures" {
  count                 = var.backup_metrics_namespace != "" && (var.create_failure_topic || var.backup_notify_topic_id != "") ? 1 : 0
  compartment_id        = var.compartment_ocid
  metric_compartment_id = local.metrics_compartment
  display_name          = "${var.application_name}-backup-failures"
  namespace             = var.backup_metrics_namespace
  query                 = "backups_failed[1h].sum() > 0"
  severity              = "CRITICAL"
  body                  = "backup-handler failed to back up at least one volume in the last hour"
  destinations          = [local.failure_topic_id]
  is_enabled            = true
  message_format        = "ONS_OPTIMIZED"
}

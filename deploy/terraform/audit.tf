# Coverage audit: a daily audit schedule, an alarm on what the audits find, and absence alarms that notice silence:
# the backups stopping (no backups_created datapoint), or the audits stopping (no audit_checked datapoint).

locals {
  # Decoded from one string either way: a conditional between two objects of different attributes fails at plan.
  audit_selector = jsondecode(var.audit_selector != "" ? var.audit_selector : jsonencode(local.schedule_selector))
  # Alarms need the metrics they watch and somewhere to send people (the failure topic).
  alarms_possible = var.backup_metrics_namespace != "" && (var.create_failure_topic || var.backup_notify_topic_id != "")
}

# The audit reads what a backup run reads: the stack's features must already grant the selector's reads.
resource "oci_resource_scheduler_schedule" "audit" {
  count              = var.enable_audit_schedule ? 1 : 0
  compartment_id     = var.compartment_ocid
  display_name       = "${var.application_name}-backup-audit"
  description        = "backup-handler: coverage audit of the selected volumes (read-only)"
  action             = "START_RESOURCE"
  recurrence_type    = "CRON"
  recurrence_details = var.audit_schedule_cron
  resources {
    id = oci_functions_function.backup_handler.id
    parameters {
      parameter_type = "BODY"
      value          = [jsonencode({ source = "audit", selector = local.audit_selector })]
    }
  }
  lifecycle {
    precondition {
      condition     = local.features.selectors
      error_message = "The audit lists volumes: set enable_selectors = true (or backup_selector, or enable_schedule)."
    }
    precondition {
      condition     = !contains(try(local.audit_selector.kinds, []), "volumeGroup") || local.features.groups
      error_message = "audit_selector names kinds volumeGroup: set enable_volume_groups = true."
    }
    precondition {
      condition     = try(local.audit_selector.includeSubcompartments, false) != true || local.features.subcompartments
      error_message = "audit_selector sets includeSubcompartments: set enable_subcompartments = true."
    }
  }
}

# The audit schedule invokes the function as its own principal (a policy of its own, as for the backup schedule).
resource "oci_identity_policy" "audit_schedule" {
  count          = var.enable_audit_schedule ? 1 : 0
  provider       = oci.home
  compartment_id = var.tenancy_ocid
  name           = "${var.application_name}-backup-audit-schedule"
  description    = "backup-handler: the audit schedule may invoke the function"
  statements = [
    "Allow any-user to read fn-function in compartment id ${var.compartment_ocid} where all {request.principal.type = 'resourceschedule', request.principal.id = '${oci_resource_scheduler_schedule.audit[0].id}'}",
    "Allow any-user to use fn-invocation in compartment id ${var.compartment_ocid} where all {request.principal.type = 'resourceschedule', request.principal.id = '${oci_resource_scheduler_schedule.audit[0].id}'}",
  ]
}

# The daily digest, on a topic of its own so it can go to other people than the failure alerts.
resource "oci_ons_notification_topic" "audit_digest" {
  count          = var.create_audit_digest_topic ? 1 : 0
  compartment_id = var.compartment_ocid
  name           = "${var.application_name}-backup-audit-digest"
  description    = "Daily coverage audit digest of backup-handler"
  lifecycle {
    precondition {
      condition     = var.create_failure_topic || var.backup_notify_topic_id != ""
      error_message = "The function publishes to topics only with a failure topic (create_failure_topic or backup_notify_topic_id): set one too."
    }
  }
}

resource "oci_ons_subscription" "audit_digest_email" {
  count          = var.create_audit_digest_topic && var.audit_digest_email != "" ? 1 : 0
  compartment_id = var.compartment_ocid
  topic_id       = oci_ons_notification_topic.audit_digest[0].id
  protocol       = "EMAIL"
  endpoint       = var.audit_digest_email
}

# Any resource an audit found unprotected (out of its RPO, without a copy, unlocked, with another key) in the last day.
resource "oci_monitoring_alarm" "audit_violations" {
  count                 = local.alarms_possible && var.enable_audit_alarms ? 1 : 0
  compartment_id        = var.compartment_ocid
  metric_compartment_id = local.metrics_compartment
  display_name          = "${var.application_name}-backup-audit-violations"
  namespace             = var.backup_metrics_namespace
  query                 = "audit_violations[1d]{trigger = \"audit\"}.max() > 0"
  severity              = "CRITICAL"
  body                  = "A backup-handler coverage audit found volumes that are not protected (see the audit alert or the function's answer for which and why)"
  destinations          = [local.failure_topic_id]
  is_enabled            = true
  message_format        = "ONS_OPTIMIZED"
}

# The audits themselves stopped: no audit_checked datapoint for a day and an hour (only with the audit schedule).
resource "oci_monitoring_alarm" "audit_absent" {
  count                 = local.alarms_possible && var.enable_audit_alarms && var.enable_audit_schedule ? 1 : 0
  compartment_id        = var.compartment_ocid
  metric_compartment_id = local.metrics_compartment
  display_name          = "${var.application_name}-backup-audit-absent"
  namespace             = var.backup_metrics_namespace
  query                 = "audit_checked[1d]{trigger = \"audit\"}.groupBy(function).absent(72h)"
  severity              = "CRITICAL"
  body                  = "No backup-handler coverage audit has reported for a day: the audit schedule or the function stopped"
  destinations          = [local.failure_topic_id]
  is_enabled            = true
  message_format        = "ONS_OPTIMIZED"
  pending_duration      = "PT1H"
}

# No backup run reported at all: the function is not invoked, or cannot post its metrics. Silence is noticed too.
resource "oci_monitoring_alarm" "backups_absent" {
  count                 = local.alarms_possible && var.enable_absence_alarm ? 1 : 0
  compartment_id        = var.compartment_ocid
  metric_compartment_id = local.metrics_compartment
  display_name          = "${var.application_name}-backups-absent"
  namespace             = var.backup_metrics_namespace
  query                 = "backups_created[${var.absence_alarm_hours}h].groupBy(function).absent(72h)"
  severity              = "CRITICAL"
  body                  = "No backup-handler run has reported backups_created for ${var.absence_alarm_hours} hours: backups may have stopped"
  destinations          = [local.failure_topic_id]
  is_enabled            = true
  message_format        = "ONS_OPTIMIZED"
  pending_duration      = "PT1H"
}

# Configuration the function would refuse at its first invocation, refused at plan instead.
resource "terraform_data" "audit_configuration" {
  lifecycle {
    precondition {
      condition     = !var.backup_audit_digest || var.create_audit_digest_topic || var.backup_audit_digest_topic_id != "" || var.create_failure_topic || var.backup_notify_topic_id != ""
      error_message = "backup_audit_digest needs a topic: create_audit_digest_topic, backup_audit_digest_topic_id or a failure topic."
    }
    precondition {
      condition     = var.backup_audit_digest_topic_id == "" || var.create_failure_topic || var.backup_notify_topic_id != ""
      error_message = "The function may publish to topics (use ons-topics) only with a failure topic: set create_failure_topic or backup_notify_topic_id too."
    }
  }
}

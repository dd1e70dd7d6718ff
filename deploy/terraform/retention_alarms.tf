# Retention reached a deletion cap: the function held back deletions that were due (retention_held, split into
# retention_held_volume_cap for BACKUP_RETENTION_MAX_DELETES_PER_VOLUME and retention_held_run_cap for
# BACKUP_RETENTION_MAX_DELETES). Either a misconfiguration (keep-last lowered from 30 to 1: the caps stop it from
# wiping a tenancy in one tick, and this pages someone before the next ticks finish the job) or a backlog (retention
# newly turned on over years of backups). Only with retention on, metrics and a failure topic.
resource "oci_monitoring_alarm" "retention_capped" {
  count                 = local.alarms_possible && local.features.retention ? 1 : 0
  compartment_id        = var.compartment_ocid
  metric_compartment_id = local.metrics_compartment
  display_name          = "${var.application_name}-backup-retention-capped"
  namespace             = var.backup_metrics_namespace
  query                 = "retention_held[1h].sum() > 0"
  severity              = "CRITICAL"
  body                  = "backup-handler's retention reached a deletion cap in the last hour and held back deletions that were due: check the retention settings (a lowered keep-last) or let later runs work off the backlog (see the failure summary or the answer's retentionCapped)"
  destinations          = [local.failure_topic_id]
  is_enabled            = true
  message_format        = "ONS_OPTIMIZED"
}

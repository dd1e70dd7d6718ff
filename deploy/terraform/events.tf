locals {
  volume_event_types = [for t in split(",", var.volume_event_types) : trimspace(t) if trimspace(t) != ""]
}

# Volume events: each delivery backs up the event's volume once (eventID is the idempotency key).
# actions { action { ... } }: the nested `actions` set is deprecated in the provider for `action`.
resource "oci_events_rule" "volume_events" {
  count          = var.enable_volume_events_rule ? 1 : 0
  compartment_id = var.compartment_ocid
  display_name   = "${var.application_name}-volume-events"
  description    = "Back up volumes on ${join(", ", local.volume_event_types)}"
  is_enabled     = true
  condition      = jsonencode({ eventType = local.volume_event_types })
  actions {
    action {
      action_type = "FAAS"
      is_enabled  = true
      function_id = oci_functions_function.backup_handler.id
      description = "backup-handler"
    }
  }
}

# Lifecycle (retention, copies): the end of each backup. A backup event never starts a backup.
resource "oci_events_rule" "backup_end" {
  count          = local.lifecycle_enabled ? 1 : 0
  compartment_id = var.compartment_ocid
  display_name   = "${var.application_name}-backup-end"
  description    = "Retention and cross-region copies of the function's own backups"
  is_enabled     = true
  condition = jsonencode({ eventType = [
    "com.oraclecloud.blockvolumes.createvolumebackup.end",
    "com.oraclecloud.blockvolumes.createbootvolumebackup.end",
  ] })
  actions {
    action {
      action_type = "FAAS"
      is_enabled  = true
      function_id = oci_functions_function.backup_handler.id
      description = "backup-handler lifecycle"
    }
  }
}

# A daily tick: Resource Scheduler invokes the function (detached) with a selector body; the slot is the key.
resource "oci_resource_scheduler_schedule" "daily" {
  count              = var.enable_schedule ? 1 : 0
  compartment_id     = var.compartment_ocid
  display_name       = "${var.application_name}-backup-daily"
  description        = "backup-handler: daily backups of the selected volumes"
  action             = "START_RESOURCE"
  recurrence_type    = "CRON"
  recurrence_details = var.schedule_cron
  resources {
    id = oci_functions_function.backup_handler.id
    # value is a list of exactly one JSON string (provider schema: list(string), 1 item, StringIsJSON); the
    # provider decodes it and sends it as the body. Only parameter_type BODY carries a string value.
    parameters {
      parameter_type = "BODY"
      value          = [jsonencode({ source = "schedule", selector = local.schedule_selector })]
    }
  }
}

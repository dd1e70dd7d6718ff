resource "oci_functions_application" "backup" {
  compartment_id = var.compartment_ocid
  display_name   = var.application_name
  subnet_ids     = [var.subnet_ocid]
}

# memory and timeout as func.yaml. BACKUP_INVOKE_ENDPOINT cannot be this resource's own invoke_endpoint (a
# resource cannot read its own attribute in its arguments): it is backup_invoke_endpoint, set on a second apply.
resource "oci_functions_function" "backup_handler" {
  application_id     = oci_functions_application.backup.id
  display_name       = "backup-handler"
  image              = var.function_image
  memory_in_mbs      = "256"
  timeout_in_seconds = 120
  # Schedule ticks (Resource Scheduler always invokes detached) and self-invoked batches run detached and may
  # take up to an hour; left unset, a detached run would get timeout_in_seconds. func.yaml has no field for it.
  detached_mode_timeout_in_seconds = var.function_detached_timeout_seconds
  config                           = local.function_config

  lifecycle {
    # OCI Functions caps the configuration (application + function, every key and value) at 4 KB; the
    # application here has none, so the function's map is all of it. See local.config_bytes.
    precondition {
      condition     = local.config_bytes <= local.config_limit_bytes
      error_message = "The function's configuration is ${local.config_bytes} bytes; OCI Functions allows 4 KB (${local.config_limit_bytes} bytes, all keys and values together). Put large target lists in the schedule BODY instead of BACKUP_TARGETS (backup_targets): select the volumes by tag with schedule_selector, or give a schedule the body {\"source\": \"schedule\", \"volumeIds\": [...]} (a body may hold 6 MB)."
    }
  }
}

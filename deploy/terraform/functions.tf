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
  config             = local.function_config
}

# The function's resource principal: this one function, nothing else in the compartment.
resource "oci_identity_dynamic_group" "backup_handler" {
  provider       = oci.home
  compartment_id = var.tenancy_ocid
  name           = local.dynamic_group
  description    = "backup-handler function ${var.application_name} (resource principal)"
  matching_rule  = "ALL {resource.type = 'fnfunc', resource.id = '${oci_functions_function.backup_handler.id}'}"
}

# Least privilege: the grants backup_handler.oci.api.grants() returns for the enabled features, plus the Vault keys
# and the Events service. Attached at the tenancy root so a Vault compartment elsewhere can be named.
resource "oci_identity_policy" "backup_handler" {
  provider       = oci.home
  compartment_id = var.tenancy_ocid
  name           = "${var.application_name}-backup-handler"
  description    = "backup-handler: least-privilege grants for the enabled features"
  statements     = concat(local.function_statements, local.kms_statements, local.events_statements)
  depends_on     = [oci_identity_dynamic_group.backup_handler]
}

# Resource Scheduler invokes the function as the schedule's own principal. It must read the function before it
# invokes it: with `use fn-invocation` alone the scheduled run fails with 404 and the function is never called.
# A policy of its own: the schedule needs the function, this policy needs the schedule, and nothing needs this
# policy, so there is no cycle.
resource "oci_identity_policy" "schedule" {
  count          = var.enable_schedule ? 1 : 0
  provider       = oci.home
  compartment_id = var.tenancy_ocid
  name           = "${var.application_name}-backup-schedule"
  description    = "backup-handler: the Resource Scheduler schedule may read and invoke the function"
  statements = [
    "Allow any-user to read fn-function in compartment id ${var.compartment_ocid} where all {request.principal.type = 'resourceschedule', request.principal.id = '${oci_resource_scheduler_schedule.daily[0].id}'}",
    "Allow any-user to use fn-invocation in compartment id ${var.compartment_ocid} where all {request.principal.type = 'resourceschedule', request.principal.id = '${oci_resource_scheduler_schedule.daily[0].id}'}",
  ]
}

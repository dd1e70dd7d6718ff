output "function_id" {
  value = oci_functions_function.backup_handler.id
}

output "function_invoke_endpoint" {
  description = "Set backup_invoke_endpoint to this (with enable_batches) and apply again to enable batches."
  value       = oci_functions_function.backup_handler.invoke_endpoint
}

output "alarm_topic_id" {
  value = oci_ons_notification_topic.alarms.id
}

output "failure_topic_id" {
  value = local.failure_topic_id
}

output "schedule_id" {
  value = var.enable_schedule ? oci_resource_scheduler_schedule.daily[0].id : ""
}

output "enabled_features" {
  value = sort([for feature, on in local.features : feature if on])
}

output "policy_statements" {
  value = oci_identity_policy.backup_handler.statements
}

output "batches_next_step" {
  value = var.enable_batches && var.backup_invoke_endpoint != oci_functions_function.backup_handler.invoke_endpoint ? "Batches are not on yet: set backup_invoke_endpoint = \"${oci_functions_function.backup_handler.invoke_endpoint}\" and apply again." : ""
}

locals {
  vault_compartment = coalesce(var.vault_compartment_ocid, var.compartment_ocid)
  dynamic_group     = "${var.application_name}-backup-handler"

  # --- Selectors: what the schedule's body and BACKUP_SELECTOR ask for decides groups / subcompartments. ----------
  schedule_selector = var.schedule_selector != "" ? jsondecode(var.schedule_selector) : {
    compartmentId = var.compartment_ocid
    freeformTags  = { backup = "daily" }
  }
  selectors = concat(
    var.enable_schedule ? [local.schedule_selector] : [],
    var.backup_selector != "" ? [jsondecode(var.backup_selector)] : [],
  )
  selector_kinds          = flatten([for s in local.selectors : try(s.kinds, [])])
  selector_subcompartment = anytrue([for s in local.selectors : try(s.includeSubcompartments, false) == true])

  # --- Features: the keys are backup_handler.oci.api.Feature; a feature's grants come from grants.json. -------------
  features = {
    backups         = true
    groups          = var.enable_volume_groups || contains(local.selector_kinds, "volumeGroup")
    selectors       = var.enable_selectors || length(local.selectors) > 0
    subcompartments = var.enable_subcompartments || local.selector_subcompartment
    batches         = var.enable_batches
    retention       = var.backup_retention_keep_last != null || var.backup_retention_max_age_days != null
    copies          = var.backup_copy_region != ""
    metrics         = var.backup_metrics_namespace != ""
    notifications   = var.create_failure_topic || var.backup_notify_topic_id != ""
  }
  lifecycle_enabled = local.features.retention || local.features.copies

  # grants.json is written from backup_handler.oci.api.grants(); tests/test_stack.py fails when it is not current.
  grants_by_feature = jsondecode(file("${path.module}/grants.json")).features
  # Each grant is "<verb> <resource-type>", as a statement names it.
  grants = sort(distinct(flatten([for feature, on in local.features : local.grants_by_feature[feature] if on])))

  metrics_compartment = coalesce(var.backup_metrics_compartment_id, var.compartment_ocid)
  # Narrower than the compartment where IAM has a variable for it.
  grant_conditions = {
    "fn-invocation" = "target.function.id = '${oci_functions_function.backup_handler.id}'"
    "metrics"       = "target.metrics.namespace = '${var.backup_metrics_namespace}'"
  }
  grant_compartments = {
    "metrics" = local.metrics_compartment
  }
  function_statements = [
    for grant in local.grants : format(
      "Allow dynamic-group %s to %s %s in compartment id %s%s",
      local.dynamic_group,
      split(" ", grant)[0],
      split(" ", grant)[1],
      lookup(local.grant_compartments, split(" ", grant)[1], var.compartment_ocid),
      lookup(local.grant_conditions, split(" ", grant)[1], "") == "" ? "" : " where ${lookup(local.grant_conditions, split(" ", grant)[1], "")}",
    )
  ]

  # --- Vault keys: Block Storage and the function (key-delegate) may use exactly the configured keys. ------------
  kms_keys = distinct(compact(concat(
    [var.backup_kms_key_id, var.backup_copy_kms_key_id],
    split(" ", replace(var.backup_allowed_kms_key_ids, ",", " ")),
  )))
  kms_statements = flatten([
    for key in local.kms_keys : [
      "Allow service blockstorage to use keys in compartment id ${local.vault_compartment} where target.key.id = '${key}'",
      "Allow dynamic-group ${local.dynamic_group} to use key-delegate in compartment id ${local.vault_compartment} where target.key.id = '${key}'",
    ]
  ])

  # --- Events rules invoke the function as the cloudEvents service. ----------------------------------------------
  events_enabled = var.enable_volume_events_rule || local.lifecycle_enabled
  events_statements = local.events_enabled ? [
    "Allow service cloudEvents to use functions-family in compartment id ${var.compartment_ocid}",
  ] : []

  # --- The function's configuration: BACKUP_<FIELD> from var.backup_<field>; empty values are left out. ----------
  failure_topic_id = var.create_failure_topic ? oci_ons_notification_topic.failures[0].id : var.backup_notify_topic_id
  backup_config = {
    BACKUP_TYPE                   = var.backup_type
    BACKUP_DISPLAY_NAME_TEMPLATE  = var.backup_display_name_template
    BACKUP_FREEFORM_TAGS          = var.backup_freeform_tags
    BACKUP_TARGETS                = var.backup_targets
    BACKUP_SELECTOR               = var.backup_selector
    BACKUP_SCHEDULE_SLOT_SECONDS  = var.backup_schedule_slot_seconds == null ? "" : tostring(var.backup_schedule_slot_seconds)
    BACKUP_ALARM_TRANSITIONS      = var.backup_alarm_transitions
    BACKUP_MAX_TARGETS            = var.backup_max_targets == null ? "" : tostring(var.backup_max_targets)
    BACKUP_BATCH_SIZE             = var.backup_batch_size == null ? "" : tostring(var.backup_batch_size)
    BACKUP_INVOKE_ENDPOINT        = var.enable_batches ? var.backup_invoke_endpoint : ""
    BACKUP_BATCH_CHAINS           = var.enable_batches && var.backup_batch_chains != null ? tostring(var.backup_batch_chains) : ""
    BACKUP_RETENTION_KEEP_LAST    = var.backup_retention_keep_last == null ? "" : tostring(var.backup_retention_keep_last)
    BACKUP_RETENTION_MAX_AGE_DAYS = var.backup_retention_max_age_days == null ? "" : tostring(var.backup_retention_max_age_days)
    BACKUP_RETENTION_PERIOD_DAYS  = var.backup_retention_period_days == null ? "" : tostring(var.backup_retention_period_days)
    BACKUP_RETENTION_LOCK         = var.backup_retention_lock ? "true" : ""
    BACKUP_PREVENT_DELETION       = var.backup_prevent_deletion ? "true" : ""
    BACKUP_COPY_REGION            = var.backup_copy_region
    BACKUP_COPY_KMS_KEY_ID        = var.backup_copy_kms_key_id
    BACKUP_DRY_RUN                = var.backup_dry_run ? "true" : ""
    BACKUP_MAX_CONCURRENCY        = var.backup_max_concurrency == null ? "" : tostring(var.backup_max_concurrency)
    BACKUP_MAX_ATTEMPTS           = var.backup_max_attempts == null ? "" : tostring(var.backup_max_attempts)
    BACKUP_KMS_KEY_ID             = var.backup_kms_key_id
    BACKUP_ALLOWED_KMS_KEY_IDS    = var.backup_allowed_kms_key_ids
    BACKUP_LOG_LEVEL              = var.backup_log_level
    BACKUP_METRICS_NAMESPACE      = var.backup_metrics_namespace
    BACKUP_METRICS_COMPARTMENT_ID = var.backup_metrics_namespace == "" ? "" : coalesce(var.backup_metrics_compartment_id, var.compartment_ocid)
    BACKUP_NOTIFY_TOPIC_ID        = var.create_failure_topic || var.backup_notify_topic_id != "" ? local.failure_topic_id : ""
    BACKUP_REPORT_BUDGET_SECONDS  = var.backup_report_budget_seconds == null ? "" : tostring(var.backup_report_budget_seconds)
  }
  function_config = { for key, value in local.backup_config : key => value if value != "" }
}

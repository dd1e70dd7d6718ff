locals {
  vault_compartment = coalesce(var.vault_compartment_ocid, var.compartment_ocid)
  dynamic_group     = "${var.application_name}-backup-handler"

  # --- Selectors: what the schedule's body and BACKUP_SELECTOR ask for decides groups / subcompartments. ----------
  # One jsondecode either way: a conditional between a decoded object and an object literal fails at plan
  # ("Inconsistent conditional result types") as soon as the JSON has other attributes than the literal.
  schedule_selector = jsondecode(var.schedule_selector != "" ? var.schedule_selector : jsonencode({
    compartmentId = var.compartment_ocid
    freeformTags  = { backup = "daily" }
  }))
  selectors = concat(
    var.enable_schedule ? [local.schedule_selector] : [],
    var.backup_selector != "" ? [jsondecode(var.backup_selector)] : [],
  )
  selector_kinds          = flatten([for s in local.selectors : try(s.kinds, [])])
  selector_subcompartment = anytrue([for s in local.selectors : try(s.includeSubcompartments, false) == true])

  # --- Features: the keys are backup_handler.oci.api.Feature; a feature's statements come from grants.json. ---------
  defined_tag_namespaces = distinct(compact(split(" ", replace(var.backup_defined_tag_namespaces, ",", " "))))
  # The retention tiers set (variables_retention.tf): any of them, like keep-last or max-age, turns retention on.
  retention_tiers = [
    for count in [var.backup_retention_keep_hourly, var.backup_retention_keep_daily, var.backup_retention_keep_weekly, var.backup_retention_keep_monthly, var.backup_retention_keep_yearly] :
    count if count != null && count != 0
  ]
  features = {
    backups         = true
    groups          = var.enable_volume_groups || contains(local.selector_kinds, "volumeGroup")
    selectors       = var.enable_selectors || length(local.selectors) > 0
    subcompartments = var.enable_subcompartments || local.selector_subcompartment
    batches         = var.enable_batches
    retention       = var.backup_retention_keep_last != null || var.backup_retention_max_age_days != null || var.backup_retention_keep_within != "" || length(local.retention_tiers) > 0
    copies          = var.backup_copy_region != ""
    metrics         = var.backup_metrics_namespace != ""
    notifications   = var.create_failure_topic || var.backup_notify_topic_id != ""
    definedTags     = length(local.defined_tag_namespaces) > 0
    audit           = var.enable_audit_schedule
    # Restore tests create, read and delete volumes in the sandbox only: grants.json names it <sandbox-compartment>.
    restoreTests = var.backup_restore_test_compartment_id != ""
    fullCadence  = var.backup_full_every != ""
    copyTags     = var.backup_copy_volume_tags != ""
  }
  lifecycle_enabled = local.features.retention || local.features.copies

  # grants.json is written by `python -m localdev.iam --write` from the operation table (each operation's
  # features and IAM permissions) and Oracle's verb tables: per feature, one statement per resource type with
  # the narrowest verb, narrowed by request.permission to what the operations need. tests/deploy fail when stale.
  grants_by_feature = jsondecode(file("${path.module}/grants.json")).features
  grant_templates = sort(distinct(flatten([
    for feature, on in local.features : [for grant in local.grants_by_feature[feature] : grant.statement] if on
  ])))
  metrics_compartment = coalesce(var.backup_metrics_compartment_id, var.compartment_ocid)
  # The placeholders of grants.json's statements; a statement naming <tag-namespace> is written once per namespace.
  function_statements = flatten([
    for template in local.grant_templates : [
      for namespace in(length(regexall("<tag-namespace>", template)) > 0 ? local.defined_tag_namespaces : [""]) :
      replace(replace(replace(replace(replace(replace(replace(template,
        "<dynamic-group>", local.dynamic_group),
        "<sandbox-compartment>", var.backup_restore_test_compartment_id),
        "<compartment>", var.compartment_ocid),
        "<metrics-compartment>", local.metrics_compartment),
        "<metrics-namespace>", var.backup_metrics_namespace),
        "<function>", oci_functions_function.backup_handler.id),
      "<tag-namespace>", namespace)
    ]
  ])

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
    # Retention tiers, orphans, caps and grace (variables_retention.tf).
    BACKUP_RETENTION_KEEP_HOURLY            = var.backup_retention_keep_hourly == null ? "" : tostring(var.backup_retention_keep_hourly)
    BACKUP_RETENTION_KEEP_DAILY             = var.backup_retention_keep_daily == null ? "" : tostring(var.backup_retention_keep_daily)
    BACKUP_RETENTION_KEEP_WEEKLY            = var.backup_retention_keep_weekly == null ? "" : tostring(var.backup_retention_keep_weekly)
    BACKUP_RETENTION_KEEP_MONTHLY           = var.backup_retention_keep_monthly == null ? "" : tostring(var.backup_retention_keep_monthly)
    BACKUP_RETENTION_KEEP_YEARLY            = var.backup_retention_keep_yearly == null ? "" : tostring(var.backup_retention_keep_yearly)
    BACKUP_RETENTION_KEEP_WITHIN            = var.backup_retention_keep_within
    BACKUP_TIMEZONE                         = var.backup_timezone
    BACKUP_RETENTION_ORPHANS                = var.backup_retention_orphans
    BACKUP_RETENTION_MAX_DELETES            = var.backup_retention_max_deletes == null ? "" : tostring(var.backup_retention_max_deletes)
    BACKUP_RETENTION_MAX_DELETES_PER_VOLUME = var.backup_retention_max_deletes_per_volume == null ? "" : tostring(var.backup_retention_max_deletes_per_volume)
    BACKUP_RETENTION_MIN_KEEP               = var.backup_retention_min_keep == null ? "" : tostring(var.backup_retention_min_keep)
    BACKUP_RETENTION_GRACE                  = var.backup_retention_grace
    BACKUP_RETENTION_LOCK         = var.backup_retention_lock ? "true" : ""
    BACKUP_PREVENT_DELETION       = var.backup_prevent_deletion ? "true" : ""
    BACKUP_COPY_REGION            = var.backup_copy_region
    BACKUP_COPY_KMS_KEY_ID        = var.backup_copy_kms_key_id
    BACKUP_DRY_RUN                = var.backup_dry_run ? "true" : ""
    BACKUP_MAX_CONCURRENCY        = var.backup_max_concurrency == null ? "" : tostring(var.backup_max_concurrency)
    BACKUP_MAX_ATTEMPTS           = var.backup_max_attempts == null ? "" : tostring(var.backup_max_attempts)
    BACKUP_KMS_KEY_ID             = var.backup_kms_key_id
    BACKUP_ALLOWED_KMS_KEY_IDS    = var.backup_allowed_kms_key_ids
    BACKUP_DEFINED_TAG_NAMESPACES = var.backup_defined_tag_namespaces
    BACKUP_DEPLOYMENT_ID          = var.backup_deployment_id
    BACKUP_LOG_LEVEL              = var.backup_log_level
    BACKUP_METRICS_NAMESPACE      = var.backup_metrics_namespace
    BACKUP_METRICS_COMPARTMENT_ID = var.backup_metrics_namespace == "" ? "" : coalesce(var.backup_metrics_compartment_id, var.compartment_ocid)
    BACKUP_NOTIFY_TOPIC_ID        = var.create_failure_topic || var.backup_notify_topic_id != "" ? local.failure_topic_id : ""
    BACKUP_REPORT_BUDGET_SECONDS  = var.backup_report_budget_seconds == null ? "" : tostring(var.backup_report_budget_seconds)
    # Coverage audit (audit.tf, variables_audit.tf).
    BACKUP_AUDIT_RPO_HOURS        = var.backup_audit_rpo_hours == null ? "" : tostring(var.backup_audit_rpo_hours)
    BACKUP_AUDIT_COPY_GRACE_HOURS = var.backup_audit_copy_grace_hours == null ? "" : tostring(var.backup_audit_copy_grace_hours)
    BACKUP_AUDIT_DIGEST           = var.backup_audit_digest ? "true" : ""
    BACKUP_AUDIT_DIGEST_TOPIC_ID  = var.create_audit_digest_topic ? oci_ons_notification_topic.audit_digest[0].id : var.backup_audit_digest_topic_id
    # Restore tests (variables_restore.tf).
    BACKUP_RESTORE_TEST_COMPARTMENT_ID = var.backup_restore_test_compartment_id
    BACKUP_RESTORE_TEST_MAX            = var.backup_restore_test_max == null ? "" : tostring(var.backup_restore_test_max)
    BACKUP_RESTORE_TEST_EVERY          = var.backup_restore_test_every
    BACKUP_RESTORE_TEST_TTL            = var.backup_restore_test_ttl
    # Full backups on a cadence and volume tags copied onto backups (variables_shaping.tf).
    BACKUP_FULL_EVERY       = var.backup_full_every
    BACKUP_COPY_VOLUME_TAGS = var.backup_copy_volume_tags
  }
  function_config = { for key, value in local.backup_config : key => value if value != "" }

  # --- Configuration size: OCI Functions allows 4 KB for the application's and the function's configuration
  # together, measured as the sum of the UTF-8 bytes of every key and value. Counted here as
  # sum(bytes(key) + bytes(value)) over function_config (the application has no configuration). Terraform's
  # length() counts characters, so the bytes of a string s are those of base64encode(s) (which encodes its UTF-8
  # bytes): 3/4 of its length less its '=' padding. The [0] keeps sum() defined on an empty configuration.
  config_limit_bytes = 4096
  config_bytes = sum(concat([0], [
    for key, value in local.function_config :
    length(base64encode("${key}${value}")) * 3 / 4 - length(regexall("=", base64encode("${key}${value}")))
  ]))
}

# ---------------------------------------------------------------------------------------------------------------------
# Where: Resource Manager fills tenancy_ocid, region and compartment_ocid from the Console.
# ---------------------------------------------------------------------------------------------------------------------
variable "tenancy_ocid" {
  type        = string
  description = "OCID of the tenancy (dynamic group and policies are created at its root, in the home region)."
}

variable "region" {
  type        = string
  description = "Region of the function, its rules, topics, alarms and schedule (e.g. us-ashburn-1)."
}

variable "compartment_ocid" {
  type        = string
  description = "Compartment of the application and function, and the scope of every policy statement."
}

variable "subnet_ocid" {
  type        = string
  description = "Subnet of the Functions application (it needs a route to the OCI services: a service or NAT gateway)."
}

variable "function_image" {
  type        = string
  description = "OCIR image of backup-handler built by `fn build` (e.g. iad.ocir.io/<namespace>/backup-handler:0.1.0)."
}

variable "application_name" {
  type        = string
  default     = "backup-app"
  description = "Display name of the Functions application; also the prefix of the dynamic group, policies, topics and rules."
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,40}$", var.application_name))
    error_message = "application_name: a letter, then letters, digits, '_' or '-', at most 41 characters."
  }
}

# Schedule ticks (Resource Scheduler always invokes the function detached) and the batches the function hands to
# itself run detached, and may take up to an hour: the detached timeout is set on the function, not left to
# default to timeout_in_seconds (120 s). OCI Functions accepts 5 to 3600 seconds.
variable "function_detached_timeout_seconds" {
  type        = number
  default     = 3600
  description = "Detached invocation timeout of the function (schedule ticks and batches), 5 to 3600 seconds."
  validation {
    condition     = var.function_detached_timeout_seconds >= 5 && var.function_detached_timeout_seconds <= 3600 && floor(var.function_detached_timeout_seconds) == var.function_detached_timeout_seconds
    error_message = "function_detached_timeout_seconds: a whole number of seconds from 5 to 3600 (OCI Functions' limits)."
  }
}

variable "vault_compartment_ocid" {
  type        = string
  default     = ""
  description = "Compartment of the Vault keys named below (default: compartment_ocid)."
}

# ---------------------------------------------------------------------------------------------------------------------
# Features beyond single backups: each one adds exactly the grants backup_handler.oci.api.grants() lists for it.
# ---------------------------------------------------------------------------------------------------------------------
variable "enable_volume_groups" {
  type        = bool
  default     = false
  description = "Allow volume-group backups (manual volumeGroupId, schedule volumeGroupIds). Also on when a selector below has kinds volumeGroup."
}

variable "enable_selectors" {
  type        = bool
  default     = false
  description = "Allow selectors in manual bodies. Also on when backup_selector is set or the schedule is enabled (its body is a selector)."
}

variable "enable_subcompartments" {
  type        = bool
  default     = false
  description = "Allow selectors with includeSubcompartments (inspect compartments). Also on when a selector below sets it."
}

variable "enable_batches" {
  type        = bool
  default     = false
  description = "Hand batches of more than backup_batch_size targets to detached invocations of the function itself. Needs backup_invoke_endpoint (second apply: see README)."
}

# ---------------------------------------------------------------------------------------------------------------------
# Triggers wired by the stack.
# ---------------------------------------------------------------------------------------------------------------------
variable "enable_volume_events_rule" {
  type        = bool
  default     = true
  description = "Create an Events rule that sends volume events (volume_event_types) to the function."
}

variable "volume_event_types" {
  type        = string
  default     = "com.oraclecloud.blockvolumes.createvolume.end, com.oraclecloud.computeapi.attachvolume.end"
  description = "Comma-separated event types the volume Events rule matches (each is backed up once per eventID)."
}

variable "enable_alarm" {
  type        = bool
  default     = true
  description = "Create the example Monitoring alarm (alarm_query on oci_blockstore) that invokes the function through a Notifications topic."
}

variable "alarm_query" {
  type        = string
  default     = "VolumeWriteThroughput[5m].mean() > 524288000"
  description = "MQL query of the example alarm in namespace oci_blockstore; its resourceId dimensions are the volumes backed up."
}

variable "alarm_severity" {
  type        = string
  default     = "WARNING"
  description = "Severity of the example alarm: CRITICAL, ERROR, WARNING or INFO."
  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING", "INFO"], var.alarm_severity)
    error_message = "alarm_severity: CRITICAL, ERROR, WARNING or INFO (the values Monitoring accepts)."
  }
}

variable "enable_schedule" {
  type        = bool
  default     = true
  description = "Create a Resource Scheduler schedule that invokes the function (START_RESOURCE) with a selector body."
}

variable "schedule_cron" {
  type        = string
  default     = "0 2 * * *"
  description = "UNIX cron expression of the schedule (UTC): daily at 02:00 by default."
}

variable "schedule_selector" {
  type        = string
  default     = ""
  description = "Selector JSON the schedule's body carries (as in events/schedule-selector.json); default: {\"compartmentId\": compartment_ocid, \"freeformTags\": {\"backup\": \"daily\"}}."
  validation {
    condition     = var.schedule_selector == "" || can(jsondecode(var.schedule_selector).compartmentId)
    error_message = "schedule_selector must be a JSON object with a compartmentId."
  }
}

variable "create_failure_topic" {
  type        = bool
  default     = false
  description = "Create a Notifications topic the function publishes run failures to (sets BACKUP_NOTIFY_TOPIC_ID). A separate topic from the alarm one."
}

variable "failure_email" {
  type        = string
  default     = ""
  description = "Email address subscribed to the failure topic (confirm the subscription from the mail)."
}

# ---------------------------------------------------------------------------------------------------------------------
# The function's configuration: variable backup_<field> is BACKUP_<FIELD> (backup_handler/settings.py). Empty or
# null leaves the function's default; see the README's configuration table.
# ---------------------------------------------------------------------------------------------------------------------
variable "backup_type" {
  type        = string
  default     = ""
  description = "BACKUP_TYPE: FULL or INCREMENTAL (default INCREMENTAL)."
  validation {
    condition     = contains(["", "FULL", "INCREMENTAL"], var.backup_type)
    error_message = "backup_type: FULL, INCREMENTAL or empty."
  }
}

variable "backup_display_name_template" {
  type        = string
  default     = ""
  description = "BACKUP_DISPLAY_NAME_TEMPLATE: fields {trigger} {resource_id} {resource_suffix} {time}."
}

variable "backup_freeform_tags" {
  type        = string
  default     = ""
  description = "BACKUP_FREEFORM_TAGS: JSON object of freeform tags stamped on every backup."
  validation {
    condition     = var.backup_freeform_tags == "" || can(keys(jsondecode(var.backup_freeform_tags)))
    error_message = "backup_freeform_tags must be a JSON object."
  }
}

variable "backup_targets" {
  type        = string
  default     = ""
  description = "BACKUP_TARGETS: volume / boot volume OCIDs (comma- or space-separated) an empty-bodied schedule backs up."
}

variable "backup_selector" {
  type        = string
  default     = ""
  description = "BACKUP_SELECTOR: selector JSON an empty-bodied schedule backs up."
  validation {
    condition     = var.backup_selector == "" || can(jsondecode(var.backup_selector).compartmentId)
    error_message = "backup_selector must be a JSON object with a compartmentId."
  }
}

variable "backup_schedule_slot_seconds" {
  type        = number
  default     = null
  description = "BACKUP_SCHEDULE_SLOT_SECONDS: ticks within one slot make one backup per volume (60 to 86400; default 3600)."
}

variable "backup_alarm_transitions" {
  type        = string
  default     = ""
  description = "BACKUP_ALARM_TRANSITIONS: alarm message types that back up (OK_TO_FIRING, REPEAT, FIRING_TO_OK, RESET; default OK_TO_FIRING)."
}

variable "backup_max_targets" {
  type        = number
  default     = null
  description = "BACKUP_MAX_TARGETS: most volumes one invocation backs up (at most 1000)."
}

variable "backup_batch_size" {
  type        = number
  default     = null
  description = "BACKUP_BATCH_SIZE: targets one invocation backs up itself before handing batches on (default 250)."
}

variable "backup_batch_chains" {
  type        = number
  default     = null
  description = "BACKUP_BATCH_CHAINS (with enable_batches): batches of one trigger that run at once, as chains; at most this x backup_max_concurrency creates in flight (default 4)."
}

variable "backup_invoke_endpoint" {
  type        = string
  default     = ""
  description = "BACKUP_INVOKE_ENDPOINT (with enable_batches): the function's invoke endpoint, output function_invoke_endpoint of the first apply."
}

variable "backup_retention_keep_last" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_KEEP_LAST: keep the newest N of the function's own AVAILABLE backups per volume."
}

variable "backup_retention_max_age_days" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_MAX_AGE_DAYS: delete the function's own backups older than this."
}

variable "backup_retention_period_days" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_PERIOD_DAYS: retentionPeriod set on every backup."
}

variable "backup_retention_lock" {
  type        = bool
  default     = false
  description = "BACKUP_RETENTION_LOCK: isRetentionLockEnabled on every backup (needs the period)."
}

variable "backup_prevent_deletion" {
  type        = bool
  default     = false
  description = "BACKUP_PREVENT_DELETION: isPreventDeletionEnabled on every backup (needs the period)."
}

variable "backup_copy_region" {
  type        = string
  default     = ""
  description = "BACKUP_COPY_REGION: region each of the function's backups is copied to."
  validation {
    condition     = var.backup_copy_region == "" || can(regex("^[a-z]{2,3}(-[a-z]+)+-[0-9]+$", var.backup_copy_region))
    error_message = "backup_copy_region must be an OCI region name such as us-ashburn-1 or us-gov-ashburn-1."
  }
}

variable "backup_copy_kms_key_id" {
  type        = string
  default     = ""
  description = "BACKUP_COPY_KMS_KEY_ID: Vault key in the copy region the copies are encrypted with."
}

variable "backup_dry_run" {
  type        = bool
  default     = false
  description = "BACKUP_DRY_RUN: answer what would be done and call no mutating API."
}

variable "backup_max_concurrency" {
  type        = number
  default     = null
  description = "BACKUP_MAX_CONCURRENCY: backups created at once (1 to 64; default 16)."
}

variable "backup_max_attempts" {
  type        = number
  default     = null
  description = "BACKUP_MAX_ATTEMPTS: attempts per backup on throttling and transient failures (1 to 10; default 5)."
}

variable "backup_kms_key_id" {
  type        = string
  default     = ""
  description = "BACKUP_KMS_KEY_ID: Vault key every backup is encrypted with."
}

variable "backup_allowed_kms_key_ids" {
  type        = string
  default     = ""
  description = "BACKUP_ALLOWED_KMS_KEY_IDS: keys a manual request's kmsKeyId may name (comma- or space-separated)."
}

variable "backup_defined_tag_namespaces" {
  type        = string
  default     = ""
  description = "BACKUP_DEFINED_TAG_NAMESPACES: tag namespaces a request's definedTags may use (comma- or space-separated, at most 10); the function may use exactly these."
  validation {
    condition = alltrue([
      for name in compact(split(" ", replace(var.backup_defined_tag_namespaces, ",", " "))) :
      can(regex("^[^\\s.'\"\\\\]{1,100}$", name))
    ]) && length(compact(split(" ", replace(var.backup_defined_tag_namespaces, ",", " ")))) <= 10
    error_message = "backup_defined_tag_namespaces: at most 10 tag namespace names (no spaces, periods, quotes or backslashes)."
  }
}

variable "backup_deployment_id" {
  type        = string
  default     = ""
  description = "BACKUP_DEPLOYMENT_ID: the identity stamped on every backup (tag backup-deployment); retention, copies and restore tests act only on backups with it. Empty: <application>/<function> as the platform names them. Set it to keep managing the same backups after renaming the application or function."
  validation {
    condition     = var.backup_deployment_id == "" || (length(var.backup_deployment_id) <= 200 && can(regex("^[A-Za-z0-9][A-Za-z0-9._:/@+~-]*$", var.backup_deployment_id)))
    error_message = "backup_deployment_id: at most 200 characters, starting with a letter or digit, of letters, digits and ._:/@+~-."
  }
}

variable "backup_log_level" {
  type        = string
  default     = ""
  description = "BACKUP_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR (default INFO)."
  validation {
    condition     = contains(["", "DEBUG", "INFO", "WARNING", "ERROR"], var.backup_log_level)
    error_message = "backup_log_level: DEBUG, INFO, WARNING, ERROR or empty."
  }
}

variable "backup_metrics_namespace" {
  type        = string
  default     = ""
  description = "BACKUP_METRICS_NAMESPACE: custom Monitoring namespace the function posts backups_created / backups_failed to (enables metrics and the failures alarm)."
}

variable "backup_metrics_compartment_id" {
  type        = string
  default     = ""
  description = "BACKUP_METRICS_COMPARTMENT_ID: compartment of the custom metrics (default: compartment_ocid)."
}

variable "backup_notify_topic_id" {
  type        = string
  default     = ""
  description = "BACKUP_NOTIFY_TOPIC_ID: an existing topic in compartment_ocid for failure summaries (ignored with create_failure_topic)."
}

variable "backup_report_budget_seconds" {
  type        = number
  default     = null
  description = "BACKUP_REPORT_BUDGET_SECONDS: most seconds metrics and the failure summary add to an invocation (0.2 to 10; default 2)."
}

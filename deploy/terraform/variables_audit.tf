# ---------------------------------------------------------------------------------------------------------------------
# Coverage audit and the alarms that catch silence (audit.tf). The audit's rules are the function's configuration:
# BACKUP_AUDIT_* below, and the copy region, retention lock and Vault keys already configured.
# ---------------------------------------------------------------------------------------------------------------------
variable "enable_audit_schedule" {
  type        = bool
  default     = false
  description = "Create a Resource Scheduler schedule that runs a coverage audit ({\"source\": \"audit\"}) of audit_selector."
}

variable "audit_schedule_cron" {
  type        = string
  default     = "0 6 * * *"
  description = "UNIX cron expression of the audit schedule (UTC): daily at 06:00 by default, after the backups."
}

variable "audit_selector" {
  type        = string
  default     = ""
  description = "Selector JSON the audit schedule's body carries (default: the backup schedule's selector)."
  validation {
    condition     = var.audit_selector == "" || can(jsondecode(var.audit_selector).compartmentId)
    error_message = "audit_selector must be a JSON object with a compartmentId."
  }
}

variable "backup_audit_rpo_hours" {
  type        = number
  default     = null
  description = "BACKUP_AUDIT_RPO_HOURS: an audit finds a volume out of its RPO when its newest AVAILABLE backup is older (default 24)."
  validation {
    condition     = var.backup_audit_rpo_hours == null || try(var.backup_audit_rpo_hours >= 1 && var.backup_audit_rpo_hours <= 8784 && floor(var.backup_audit_rpo_hours) == var.backup_audit_rpo_hours, false)
    error_message = "backup_audit_rpo_hours: a whole number of hours, 1 to 8784."
  }
}

variable "backup_audit_copy_grace_hours" {
  type        = number
  default     = null
  description = "BACKUP_AUDIT_COPY_GRACE_HOURS: backups younger than this may still be copying; the copy rule looks past them (default 0)."
  validation {
    condition     = var.backup_audit_copy_grace_hours == null || try(var.backup_audit_copy_grace_hours >= 0 && var.backup_audit_copy_grace_hours <= 8784 && floor(var.backup_audit_copy_grace_hours) == var.backup_audit_copy_grace_hours, false)
    error_message = "backup_audit_copy_grace_hours: a whole number of hours, 0 to 8784."
  }
}

variable "backup_audit_digest" {
  type        = bool
  default     = false
  description = "BACKUP_AUDIT_DIGEST: publish every audit's summary (a daily digest with the audit schedule), not only audits with violations."
}

variable "create_audit_digest_topic" {
  type        = bool
  default     = false
  description = "Create a topic of its own for the audit digest (sets BACKUP_AUDIT_DIGEST_TOPIC_ID), apart from the failure alerts."
}

variable "audit_digest_email" {
  type        = string
  default     = ""
  description = "Email address subscribed to the audit digest topic (confirm the subscription from the mail)."
}

variable "backup_audit_digest_topic_id" {
  type        = string
  default     = ""
  description = "BACKUP_AUDIT_DIGEST_TOPIC_ID: an existing topic in compartment_ocid for the audit digest (ignored with create_audit_digest_topic; default: the failure topic)."
}

variable "enable_audit_alarms" {
  type        = bool
  default     = true
  description = "With metrics and a failure topic: alarm on audit violations, and on the audit schedule's audits stopping."
}

variable "enable_absence_alarm" {
  type        = bool
  default     = true
  description = "With metrics and a failure topic: alarm when no backup run has reported backups_created for absence_alarm_hours (MQL absent())."
}

variable "absence_alarm_hours" {
  type        = number
  default     = 24
  description = "Hours without a backups_created datapoint before the absence alarm fires (1 to 24, plus one hour of pending duration)."
  validation {
    condition     = try(var.absence_alarm_hours >= 1 && var.absence_alarm_hours <= 24 && floor(var.absence_alarm_hours) == var.absence_alarm_hours, false)
    error_message = "absence_alarm_hours: a whole number of hours, 1 to 24 (Monitoring's longest alarm interval)."
  }
}

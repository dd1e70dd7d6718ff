# ---------------------------------------------------------------------------------------------------------------------
# Retention tiers, orphans, caps, min keep and grace (README "Retention: tiers, orphans, caps and grace"): restic's
# forget policy beside keep-last and max-age. Any tier, keep-within or keep-last/max-age turns retention on.
# ---------------------------------------------------------------------------------------------------------------------
variable "backup_retention_keep_hourly" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_KEEP_HOURLY: keep the newest backup of each of the N most recent hours that have one (-1: unlimited)."
  validation {
    condition     = var.backup_retention_keep_hourly == null || try(floor(var.backup_retention_keep_hourly) == var.backup_retention_keep_hourly && var.backup_retention_keep_hourly >= -1, false)
    error_message = "backup_retention_keep_hourly must be a whole number of periods, or -1 (unlimited)."
  }
}

variable "backup_retention_keep_daily" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_KEEP_DAILY: keep the newest backup of each of the N most recent days that have one (-1: unlimited)."
  validation {
    condition     = var.backup_retention_keep_daily == null || try(floor(var.backup_retention_keep_daily) == var.backup_retention_keep_daily && var.backup_retention_keep_daily >= -1, false)
    error_message = "backup_retention_keep_daily must be a whole number of periods, or -1 (unlimited)."
  }
}

variable "backup_retention_keep_weekly" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_KEEP_WEEKLY: keep the newest backup of each of the N most recent ISO weeks that have one (-1: unlimited)."
  validation {
    condition     = var.backup_retention_keep_weekly == null || try(floor(var.backup_retention_keep_weekly) == var.backup_retention_keep_weekly && var.backup_retention_keep_weekly >= -1, false)
    error_message = "backup_retention_keep_weekly must be a whole number of periods, or -1 (unlimited)."
  }
}

variable "backup_retention_keep_monthly" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_KEEP_MONTHLY: keep the newest backup of each of the N most recent months that have one (-1: unlimited)."
  validation {
    condition     = var.backup_retention_keep_monthly == null || try(floor(var.backup_retention_keep_monthly) == var.backup_retention_keep_monthly && var.backup_retention_keep_monthly >= -1, false)
    error_message = "backup_retention_keep_monthly must be a whole number of periods, or -1 (unlimited)."
  }
}

variable "backup_retention_keep_yearly" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_KEEP_YEARLY: keep the newest backup of each of the N most recent years that have one (-1: unlimited)."
  validation {
    condition     = var.backup_retention_keep_yearly == null || try(floor(var.backup_retention_keep_yearly) == var.backup_retention_keep_yearly && var.backup_retention_keep_yearly >= -1, false)
    error_message = "backup_retention_keep_yearly must be a whole number of periods, or -1 (unlimited)."
  }
}

variable "backup_retention_keep_within" {
  type        = string
  default     = ""
  description = "BACKUP_RETENTION_KEEP_WITHIN: keep every backup younger than this before the newest one (restic's duration, e.g. 2d, 36h, 1y6m; m = months)."
  validation {
    condition     = var.backup_retention_keep_within == "" || can(regex("^([0-9]{1,5}y)?([0-9]{1,5}m)?([0-9]{1,5}d)?([0-9]{1,6}h)?$", var.backup_retention_keep_within))
    error_message = "backup_retention_keep_within must be years, months, days and hours in that order, such as 2d or 1y6m."
  }
}

variable "backup_timezone" {
  type        = string
  default     = ""
  description = "BACKUP_TIMEZONE: the IANA time zone retention tiers count hours, days, weeks, months and years in (default UTC)."
}

variable "backup_retention_orphans" {
  type        = string
  default     = ""
  description = "BACKUP_RETENTION_ORPHANS: backups of deleted or no longer selected volumes: keep-last-one (apply the rules, never the newest; default) or keep."
  validation {
    condition     = contains(["", "keep-last-one", "keep"], var.backup_retention_orphans)
    error_message = "backup_retention_orphans must be keep-last-one or keep."
  }
}

variable "backup_retention_max_deletes" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_MAX_DELETES: most backups one invocation deletes, in all (default 1000)."
}

variable "backup_retention_max_deletes_per_volume" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_MAX_DELETES_PER_VOLUME: most backups of one volume (or of its copies) one invocation deletes (default 10)."
}

variable "backup_retention_min_keep" {
  type        = number
  default     = null
  description = "BACKUP_RETENTION_MIN_KEEP: the newest N AVAILABLE backups of each volume are never deleted (default 1)."
}

variable "backup_retention_grace" {
  type        = string
  default     = ""
  description = "BACKUP_RETENTION_GRACE: a due backup is marked first and deleted only when still due this long after (<n>h or <n>d; empty: at once)."
  validation {
    condition     = var.backup_retention_grace == "" || can(regex("^[1-9][0-9]{0,3}(h|d)$", var.backup_retention_grace))
    error_message = "backup_retention_grace must be <n>h or <n>d, such as 7d."
  }
}

# Full backups on a cadence and volume tags copied onto backups.

variable "backup_full_every" {
  type        = string
  default     = ""
  description = "BACKUP_FULL_EVERY: a backup is FULL when this deployment's newest FULL backup of the target is this much older (<n>h, <n>d, <n>w, <n>mo, <n>y, such as 7d or 1mo); otherwise BACKUP_TYPE. Empty: always BACKUP_TYPE."
  validation {
    condition     = var.backup_full_every == "" || can(regex("^[1-9][0-9]{0,3}(h|d|w|mo|y)$", var.backup_full_every))
    error_message = "backup_full_every must be <n>h, <n>d, <n>w, <n>mo or <n>y, such as 7d."
  }
}

variable "backup_copy_volume_tags" {
  type        = string
  default     = ""
  description = "BACKUP_COPY_VOLUME_TAGS: free-form tag keys copied from each volume onto its backups, comma-separated (CostCenter,Owner) or a JSON list; at most 16. Stamped tags, BACKUP_FREEFORM_TAGS and an invoker's freeformTags win."
  validation {
    condition     = length(var.backup_copy_volume_tags) <= 2048
    error_message = "backup_copy_volume_tags must be at most 2048 characters."
  }
}

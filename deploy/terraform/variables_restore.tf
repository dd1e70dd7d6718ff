# ---------------------------------------------------------------------------------------------------------------------
# Restore tests (README "Restore tests"): each schedule tick restores the newest backup of a few volumes into a
# sandbox compartment, checks it, records the result on the backup and deletes the test volume. The function may
# create, read and delete volumes in the sandbox and nowhere else (grants.json, feature restoreTests).
# ---------------------------------------------------------------------------------------------------------------------
variable "backup_restore_test_compartment_id" {
  type        = string
  default     = ""
  description = "BACKUP_RESTORE_TEST_COMPARTMENT_ID: the sandbox compartment restore tests run in (empty: no restore tests). Keep it the function's own: never the volumes' compartment."
  validation {
    condition     = var.backup_restore_test_compartment_id == "" || can(regex("^ocid1\\.(compartment|tenancy)\\.[a-z0-9]+\\.[a-z0-9-]*\\.[a-z0-9]+$", var.backup_restore_test_compartment_id))
    error_message = "backup_restore_test_compartment_id must be a compartment OCID."
  }
}

variable "backup_restore_test_max" {
  type        = number
  default     = null
  description = "BACKUP_RESTORE_TEST_MAX: most restore-test volumes at once (1 to 50; default 1)."
  validation {
    condition     = var.backup_restore_test_max == null || (try(floor(var.backup_restore_test_max) == var.backup_restore_test_max, false) && try(var.backup_restore_test_max >= 1 && var.backup_restore_test_max <= 50, false))
    error_message = "backup_restore_test_max must be a whole number from 1 to 50."
  }
}

variable "backup_restore_test_every" {
  type        = string
  default     = ""
  description = "BACKUP_RESTORE_TEST_EVERY: how often each volume's newest backup is restore-tested (<n>h, <n>d, <n>w, <n>mo, <n>y; default 7d)."
  validation {
    condition     = var.backup_restore_test_every == "" || can(regex("^[1-9][0-9]{0,3}(h|d|w|mo|y)$", var.backup_restore_test_every))
    error_message = "backup_restore_test_every must be <n>h, <n>d, <n>w, <n>mo or <n>y, such as 7d."
  }
}

variable "backup_restore_test_ttl" {
  type        = string
  default     = ""
  description = "BACKUP_RESTORE_TEST_TTL: a restore not AVAILABLE after this long fails and its volume is deleted (<n>h or <n>d, at most 30d; default 24h)."
  validation {
    condition     = var.backup_restore_test_ttl == "" || can(regex("^[1-9][0-9]{0,3}(h|d)$", var.backup_restore_test_ttl))
    error_message = "backup_restore_test_ttl must be <n>h or <n>d, such as 24h."
  }
}

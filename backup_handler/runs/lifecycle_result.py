"""What one lifecycle run did: deletions, copies, what it kept and why, what it left alone, and its failures.

``errors`` (``{resourceId, code, message, status, ...}``, at most :data:`MAX_LISTED`) and ``retryable``
(whether a redelivery could do what failed) are what the answer is built from; :meth:`document` gives
the rest of what the answer says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from backup_handler.errors import BackupError, Failure

# Entries listed per kind in an answer; the rest are counted.
MAX_LISTED = 100
Cap = Literal["volume", "run"]
"""Which deletion cap held a backup back: ``BACKUP_RETENTION_MAX_DELETES_PER_VOLUME`` or ``_MAX_DELETES``."""


@dataclass
class LifecycleResult:
    deleted: list[dict[str, Any]] = field(default_factory=list)
    copied: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    retryable: bool = False

    deleted_count: int = 0
    copied_count: int = 0
    already_deleted: int = 0
    """Deletions another run (another container with the same event) had already done."""
    foreign_own: int = 0
    """Backups with the function's tags but another deployment's identity, or none: never touched."""
    members: int = 0
    """Member backups of volume group backups seen and left to their group."""
    protected: int = 0
    """Backups the retention rule would delete but a lock, hold or prevent-deletion keeps."""
    copies_locked: int = 0
    deferred: list[dict[str, Any]] = field(default_factory=list)
    """Copies left for a later run (a copy of the same boot volume in progress, the copy limit reached)."""
    deferred_count: int = 0
    not_copyable: int = 0
    """Boot volume backups OCI refuses to copy for good, left alone (said once, when first refused)."""
    kept: list[dict[str, Any]] = field(default_factory=list)
    """Backups the retention rules keep, each with the rules that keep it."""
    kept_count: int = 0
    kept_by_min_keep: int = 0
    """Backups no rule keeps, kept because they are among the newest BACKUP_RETENTION_MIN_KEEP."""
    marked: list[dict[str, Any]] = field(default_factory=list)
    """Due backups waiting out the grace period (marked in this run, or earlier)."""
    marked_count: int = 0
    unmarked: int = 0
    """Marked backups the rules keep again, whose mark was removed."""
    held: int = 0
    """Due backups a deletion cap held back for a later run."""
    held_by: dict[Cap, int] = field(default_factory=lambda: {"volume": 0, "run": 0})
    """``held``, by the cap that held each back."""
    cap: str | None = None
    orphans: dict[str, Any] = field(default_factory=dict)
    """What the sweep of a schedule tick found of volumes deleted or no longer selected."""
    complete: bool = False

    def fail(self, resource_id: str, exc: BackupError, *, retryable: bool | None = None) -> None:
        """Record a failure; ``retryable`` overrides the error's own verdict (a copy limit is retried later)."""
        failure = exc.failure()
        if retryable is not None:
            failure = Failure(failure.code, failure.message, failure.status, retryable, failure.extra)
        if len(self.errors) < MAX_LISTED:
            self.errors.append({"resourceId": resource_id, **failure.to_json()})
        self.retryable = self.retryable or failure.retryable

    def record(self, kind: Literal["deleted", "copied", "deferred", "kept", "marked"], entry: dict[str, Any]) -> None:
        listed = {
            "deleted": self.deleted,
            "copied": self.copied,
            "deferred": self.deferred,
            "kept": self.kept,
            "marked": self.marked,
        }[kind]
        if len(listed) < MAX_LISTED:
            listed.append(entry)
        if kind == "deleted":
            self.deleted_count += 1
        elif kind == "copied":
            self.copied_count += 1
        elif kind == "kept":
            self.kept_count += 1
        elif kind == "marked":
            self.marked_count += 1
        else:
            self.deferred_count += 1

    def hold(self, which: Cap, cap: str) -> None:
        """A due backup a deletion cap held back (``which`` cap; ``cap`` says why, the first one reached is
        reported)."""
        self.held += 1
        self.held_by[which] += 1
        self.cap = self.cap or cap

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "deleted": self.deleted,
            "copied": self.copied,
            "deletedCount": self.deleted_count,
            "copiedCount": self.copied_count,
            "alreadyDeletedCount": self.already_deleted,
            "foreignOwnBackups": self.foreign_own,
            "memberBackups": self.members,
            "keptByProtection": self.protected,
        }
        if self.deferred_count:
            document["deferredCopies"] = self.deferred
            document["deferredCopyCount"] = self.deferred_count
        if self.copies_locked:
            document["copiesLocked"] = self.copies_locked
        if self.not_copyable:
            document["notCopyableCount"] = self.not_copyable
        if self.kept_count:
            document["kept"] = self.kept
            document["keptCount"] = self.kept_count
        if self.kept_by_min_keep:
            document["keptByMinKeep"] = self.kept_by_min_keep
        if self.marked_count or self.unmarked:
            document["marked"] = self.marked
            document["markedCount"] = self.marked_count
            document["unmarkedCount"] = self.unmarked
        if self.held:
            document["retentionCapped"] = {
                "reason": f"{self.cap}: the rest of what is due is deleted by later runs",
                "heldCount": self.held,
                "heldByVolumeCap": self.held_by["volume"],
                "heldByRunCap": self.held_by["run"],
            }
        if self.orphans:
            document["orphans"] = self.orphans
        return document

"""What one invocation's answer amounts to: the counts and particulars metrics and notifications share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backup_handler.answers.response import Reply

if TYPE_CHECKING:
    from backup_handler.reporting.retention import RetentionTally

# Triggers sent by an OCI service rather than a person: an error answer reaches no one but the log.
SOURCE_TRIGGERS = frozenset({"event", "alarm", "schedule", "batch"})
UNRECOGNISED = "unrecognised"


@dataclass(frozen=True)
class Tally:
    """What one invocation's answer amounts to, in numbers and the first few particulars."""

    trigger: str
    status: int
    created: int
    failed: int
    """Targets without a confirmed backup: backup outcomes only, never retention or copies."""
    skipped: int
    seconds: float
    errors: tuple[dict[str, Any], ...] = ()
    pending: tuple[str, ...] = ()
    not_attempted: tuple[str, ...] = ()
    error: dict[str, Any] | None = None
    """The error document, when the answer is one."""
    restore_tests: Mapping[str, Any] | None = None
    """The answer's ``restoreTests`` section, when it has one."""
    lifecycle_failed: int = 0
    """Backups retention or copies failed for (``lifecycleErrors``), apart from the backups themselves."""
    lifecycle_errors: tuple[dict[str, Any], ...] = ()
    retention: RetentionTally | None = None
    """What retention and copies did, when the answer says (a lifecycle ran)."""

    @classmethod
    def of(cls, reply: Reply, seconds: float) -> Tally:
        """Count a reply: a run summary's lists, a single backup, or an error document (one failure)."""
        document = reply.document
        trigger = reply.trigger or UNRECOGNISED
        seconds = round(max(seconds, 0.0), 3)
        if isinstance(document.get("backups"), list):
            errors = tuple(item for item in _items(document, "errors") if isinstance(item, dict))
            pending = tuple(_ids(document, "pending"))
            not_attempted = tuple(_ids(document, "notAttempted"))
            lifecycle = tuple(item for item in _items(document, "lifecycleErrors") if isinstance(item, dict))
            return cls(
                trigger,
                reply.status,
                created=len(document["backups"]),
                failed=sum(_targets(document, key) for key in ("errors", "pending", "notAttempted")),
                skipped=len(_items(document, "skipped")),
                seconds=seconds,
                errors=errors,
                pending=pending,
                not_attempted=not_attempted,
                restore_tests=document["restoreTests"] if isinstance(document.get("restoreTests"), dict) else None,
                lifecycle_failed=len(lifecycle),
                lifecycle_errors=lifecycle,
                retention=_retention(document),
            )
        if trigger == "audit" and reply.status == 200:  # an audit makes nothing (reporting/audit.py counts it)
            return cls(trigger, reply.status, 0, 0, 0, seconds)
        if "wouldCreate" in document:  # a dry run: nothing was made
            return cls(trigger, reply.status, 0, 0, len(_items(document, "skipped")), seconds)
        if reply.status == 200 and "code" not in document:  # a single manual backup, as the API returned it
            return cls(trigger, reply.status, 1, 0, 0, seconds)
        return cls(trigger, reply.status, 0, 1, 0, seconds, error=document)

    @property
    def needs_attention(self) -> bool:
        """Whether an operator should hear of this run: targets not backed up, retention or copies that failed,
        a deletion cap that held deletions back, or a source trigger refused."""
        if self.errors or self.pending or self.not_attempted or self.lifecycle_errors:
            return True
        if self.retention is not None and self.retention.capped:
            return True
        return self.error is not None and self.trigger in SOURCE_TRIGGERS


def _retention(document: Mapping[str, Any]) -> RetentionTally | None:
    """The answer's lifecycle counts; the module that reads them is loaded only for an answer that has them."""
    if "deletedCount" not in document:
        return None
    from backup_handler.reporting.retention import RetentionTally

    return RetentionTally.of(document)


def _items(document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    return value if isinstance(value, list) else []


def _targets(document: Mapping[str, Any], key: str) -> int:
    """Targets a list stands for: one per entry, or an entry's ``targets`` when it stands for a batch or chain."""
    total = 0
    for item in _items(document, key):
        count = item.get("targets") if isinstance(item, dict) else None
        total += count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
    return total


def _ids(document: Mapping[str, Any], key: str) -> list[str]:
    return [str(item.get("resourceId")) for item in _items(document, key) if isinstance(item, dict)]

"""Retention's outcome as operators hear of it: metrics and the failure summary's part, from the answer.

An answer carries what retention and copies did (``deletedCount``, ``copiedCount``, ``markedCount``,
``retentionCapped``, ``orphans``; see :mod:`backup_handler.runs.lifecycle_result`) whenever a lifecycle ran:
after a schedule tick, on a backup-end event. :meth:`RetentionTally.of` reads those counts (whole numbers
only; anything else counts as absent) and :func:`values` turns them into metrics, posted with the
invocation's other metrics and with the same dimensions, only for what the answer says and the
configuration does (a manual backup, or a deployment without retention, posts none of them):

- with retention on (any ``BACKUP_RETENTION_*`` rule): ``retention_deleted`` — backups retention deleted
  (copies in the copy region and orphans included); ``retention_held`` — due backups a deletion cap held
  back for a later run, split into ``retention_held_volume_cap`` (``BACKUP_RETENTION_MAX_DELETES_PER_VOLUME``)
  and ``retention_held_run_cap`` (``BACKUP_RETENTION_MAX_DELETES``). A cap reached means a misconfiguration
  (keep-last lowered sharply) or a backlog: ``retention_held[1h].sum() > 0`` is what an operator pages on;
- with ``BACKUP_RETENTION_GRACE`` too: ``retention_marked`` — due backups waiting out the grace period;
- when the answer swept orphans (a schedule tick with retention on): ``retention_orphans_deleted``;
- with ``BACKUP_COPY_REGION``: ``backups_copied`` — copies started in the copy region.

Lifecycle failures are ``lifecycle_failed`` (:mod:`backup_handler.reporting.metrics`). A cap reached makes
the run one an operator hears of (:attr:`RetentionTally.capped`); the summary carries :func:`summary`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backup_handler.settings import Settings

DELETED = "retention_deleted"
HELD = "retention_held"
HELD_VOLUME_CAP = "retention_held_volume_cap"
HELD_RUN_CAP = "retention_held_run_cap"
MARKED = "retention_marked"
ORPHANS_DELETED = "retention_orphans_deleted"
COPIED = "backups_copied"
NAMES = (DELETED, HELD, HELD_VOLUME_CAP, HELD_RUN_CAP, MARKED, ORPHANS_DELETED, COPIED)


@dataclass(frozen=True)
class RetentionTally:
    """What one answer says retention and copies did, in counts (None: the answer does not say)."""

    deleted: int
    copied: int
    held: int = 0
    held_volume_cap: int = 0
    held_run_cap: int = 0
    cap_reason: str | None = None
    """The answer's own wording of the first cap reached (the notification shows it made plain)."""
    marked: int | None = None
    orphans_deleted: int | None = None

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> RetentionTally | None:
        """The lifecycle counts of an answer; None when it has none (no lifecycle ran)."""
        deleted = _count(document.get("deletedCount"))
        if deleted is None:
            return None
        capped = document.get("retentionCapped")
        capped = capped if isinstance(capped, dict) else {}
        orphans = document.get("orphans")
        reason = capped.get("reason")
        return cls(
            deleted=deleted,
            copied=_count(document.get("copiedCount")) or 0,
            held=_count(capped.get("heldCount")) or 0,
            held_volume_cap=_count(capped.get("heldByVolumeCap")) or 0,
            held_run_cap=_count(capped.get("heldByRunCap")) or 0,
            cap_reason=reason if isinstance(reason, str) else None,
            marked=_count(document.get("markedCount")),
            orphans_deleted=_count(orphans.get("deleted")) if isinstance(orphans, dict) else None,
        )

    @property
    def capped(self) -> bool:
        """Whether a deletion cap held anything back: an operator should hear of it."""
        return self.held > 0


def values(tally: RetentionTally, settings: Settings) -> list[tuple[str, list[float], str]]:
    """(metric name, datapoint values, unit) for one answer's lifecycle counts, as configured."""
    found: list[tuple[str, list[float], str]] = []
    if settings.retention:
        found += [
            (DELETED, [float(tally.deleted)], "count"),
            (HELD, [float(tally.held)], "count"),
            (HELD_VOLUME_CAP, [float(tally.held_volume_cap)], "count"),
            (HELD_RUN_CAP, [float(tally.held_run_cap)], "count"),
        ]
        if settings.retention_grace:
            found.append((MARKED, [float(tally.marked or 0)], "count"))
        if tally.orphans_deleted is not None:
            found.append((ORPHANS_DELETED, [float(tally.orphans_deleted)], "count"))
    if settings.copy_region:
        found.append((COPIED, [float(tally.copied)], "count"))
    return found


def title(tally: RetentionTally) -> str | None:
    """The title's part for a cap reached (None when none was): which cap, and how much it held back."""
    if not tally.capped:
        return None
    caps = [
        name
        for name, count in (
            ("BACKUP_RETENTION_MAX_DELETES_PER_VOLUME", tally.held_volume_cap),
            ("BACKUP_RETENTION_MAX_DELETES", tally.held_run_cap),
        )
        if count
    ]
    return f"retention held back {tally.held} deletion(s) at {' and '.join(caps) or 'a deletion cap'}"


def summary(tally: RetentionTally) -> dict[str, Any]:
    """The summary body's ``retention`` part: counts only (``capReason`` is made plain by the caller)."""
    part: dict[str, Any] = {"deleted": tally.deleted}
    if tally.capped:
        part |= {
            "held": tally.held,
            "heldByVolumeCap": tally.held_volume_cap,
            "heldByRunCap": tally.held_run_cap,
            "capReason": tally.cap_reason,
        }
    if tally.marked is not None:
        part["marked"] = tally.marked
    if tally.orphans_deleted is not None:
        part["orphansDeleted"] = tally.orphans_deleted
    part["copied"] = tally.copied
    return part


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

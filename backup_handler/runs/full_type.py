"""Full backups on a cadence: whether one create is FULL or the configured type (``BACKUP_FULL_EVERY``).

A backup is FULL when this deployment's newest FULL backup of the target (volume, boot volume or
volume group) lies ``BACKUP_FULL_EVERY`` or more periods before the trigger's time
(:func:`backup_handler.runs.cadence.full_due`), otherwise of the configured type. An invoker's explicit
``type`` always wins.

What counts as a FULL backup of the target: one :class:`~backup_handler.runs.ownership.Ownership` judges
this deployment's own (its stamps, made through the API, of that target, in its compartment), manual
ones included, in ``REQUEST_RECEIVED``, ``CREATING`` or ``AVAILABLE``: a FULL still being made counts,
so two triggers close together do not both make one. A FAULTY or deleted one does not.

The decision is stable across redeliveries, because the create's body (and so its retry token's
request) must not change: the cadence is measured at the trigger's own time (the event's, the alarm
message's, the schedule slot's), not the moment of the call, and when the listing already holds this
trigger's backup of the target (its ``backup-source`` stamp), that backup's type is the decision.

One list call per target: the target's backups sorted newest first, a page of :data:`PAGE` at a time,
read only while they are within the cadence's window, at most :data:`MAX_PAGES` pages. When the
listing fails, the deadline is too near, or the window holds more backups than that, the backup is
made with the configured type and the answer says why (``notes``): the cadence never fails a backup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from backup_handler.errors import BackupError, DeadlineExceeded
from backup_handler.oci.api import OciApi
from backup_handler.runs.cadence import Cadence, full_due, parse_cadence, period_index
from backup_handler.runs.ownership import KINDS, LIVE_STATES, Ownership, parse_time, tags_of
from backup_handler.vocabulary.fields import SOURCE_TAG
from backup_handler.vocabulary.ocids import TargetKind

BackupType = Literal["FULL", "INCREMENTAL"]
PAGE = 100
MAX_PAGES = 3
# The listing is not started with less than this left before the answer (the create needs time too).
MIN_LIST_SECONDS = 1.0


@dataclass(frozen=True)
class TypeDecision:
    type: BackupType
    why: str
    unread: bool = False
    """The cadence could not be read: the configured type was used (reported)."""


class FullCadence:
    """Decides each create's type under ``BACKUP_FULL_EVERY``; counts the list calls it makes."""

    def __init__(self, every: str, identity: str | None, api: OciApi, tz: tzinfo | None = None) -> None:
        self.every: Cadence = parse_cadence(every)
        self._ownership = Ownership(identity) if identity else None
        self._api = api
        self._tz = tz
        self.list_calls = 0

    def decide(
        self,
        *,
        kind: TargetKind,
        target_id: str,
        compartment_id: str | None,
        source_ref: str,
        configured: BackupType,
        as_of: datetime,
        remaining: Callable[[], float],
    ) -> TypeDecision:
        if self._ownership is None:
            return _unread(configured, "this deployment has no identity (BACKUP_DEPLOYMENT_ID) to find its FULLs by")
        if compartment_id is None:
            return _unread(configured, "the target's compartment is not known")
        if remaining() < MIN_LIST_SECONDS:
            return _unread(configured, "the deadline was too near to list the target's backups")
        spec = KINDS[kind]
        zone = self._zone()
        window_start = period_index(as_of, self.every.unit, *zone) - self.every.count + 1
        query = {
            "compartmentId": compartment_id,
            spec.id_field: target_id,
            "sortBy": "TIMECREATED",
            "sortOrder": "DESC",
        }
        due = TypeDecision("FULL", f"no FULL backup of the target in the last {self.every}")
        try:
            pages = self._api.pages(spec.list_op, query=query, budget=_budget(remaining), limit=PAGE)
            for number, page in enumerate(pages):
                self.list_calls += 1
                for backup in page:
                    created = parse_time(backup.get("timeCreated"))
                    verdict = self._ownership.judge(backup, spec, scope_id=target_id, compartment=compartment_id)
                    backup_type = backup.get("type")
                    replayed = verdict == "own" and tags_of(backup).get(SOURCE_TAG) == source_ref
                    if replayed and backup_type in ("FULL", "INCREMENTAL"):
                        return TypeDecision(backup_type, "this trigger's backup of the target exists: its type")
                    if created is not None and period_index(created, self.every.unit, *zone) < window_start:
                        return due  # sorted newest first: every backup from here on is older than the window
                    if verdict != "own" or backup_type != "FULL" or created is None:
                        continue
                    if backup.get("lifecycleState") not in LIVE_STATES:
                        continue
                    if full_due(created, as_of, self.every, *zone):
                        return due
                    return TypeDecision(configured, f"a FULL backup of the target is younger than {self.every}")
                if number + 1 >= MAX_PAGES:
                    return _unread(configured, f"more than {PAGE * MAX_PAGES} backups of the target are in the window")
        except BackupError as exc:
            return _unread(configured, f"the target's backups could not be listed ({exc.code})")
        return due

    def _zone(self) -> tuple[tzinfo, ...]:
        return (self._tz,) if self._tz is not None else ()


def _unread(configured: BackupType, why: str) -> TypeDecision:
    return TypeDecision(configured, f"the full-backup cadence could not be read ({why}): the configured type", True)


def _budget(remaining: Callable[[], float]) -> Callable[[], float]:
    """Each list call's seconds: half of what is left (the create needs the rest), raising when too little."""

    def budget() -> float:
        left = remaining()
        if left < MIN_LIST_SECONDS:
            raise DeadlineExceeded("the deadline was too near to list the target's backups")
        return left / 2

    return budget

"""A compartment's backups as the orphan sweep holds them: this deployment's own only, each as a compact record.

A compartment's list holds everyone's backups (people's, backup policies', other deployments'); as the SDK's
dicts they take about 2.4 KB each, so holding a whole list would let one busy compartment exhaust the
function's memory. While pages arrive, each backup is judged at once (:class:`.ownership.Ownership`): one
that is not this deployment's own is only counted and dropped; an own one is kept as :func:`compact` makes
it, grouped by its volume (boot volume, group). What is held is capped: a listing that would pass the cap
is abandoned whole (its partial view is never acted on) and the caller says so.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from backup_handler.runs.ownership import Kind, Ownership, tags_of
from backup_handler.vocabulary.fields import DEPLOYMENT_TAG

# What retention, grace marks, copies and ownership read of a listed backup. Free-form tags are kept whole:
# marking a backup replaces its free-form tags, so a record that dropped some would erase them.
KEPT_FIELDS = (
    "id",
    "compartmentId",
    "displayName",
    "lifecycleState",
    "timeCreated",
    "type",
    "sourceType",
    "volumeId",
    "bootVolumeId",
    "volumeGroupId",
    "volumeGroupBackupId",
    "sourceVolumeBackupId",
    "sourceBootVolumeBackupId",
    "sourceVolumeGroupBackupId",
    "isPreventDeletionEnabled",
    "isRetentionLockEnabled",
    "isIndefiniteRetentionEnabled",
    "timeRetentionExpiresAt",
    "freeformTags",
)
# Fields many records share (the same compartment, the same volume): one string object for all of them.
_SHARED = frozenset({"compartmentId", "volumeId", "bootVolumeId", "volumeGroupId", "lifecycleState", "type"})
# Identities of other deployments remembered for the log, at most.
MAX_IDENTITIES = 5


def compact(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with only the fields the lifecycle reads (absent ones stay absent; nothing else survives)."""
    record: dict[str, Any] = {}
    for key in KEPT_FIELDS:
        if key not in item:
            continue
        value = item[key]
        if key == "freeformTags":
            value = dict(value) if isinstance(value, dict) else value
        elif key in _SHARED and isinstance(value, str):
            value = sys.intern(value)
        record[key] = value
    return record


@dataclass
class CompartmentListing:
    """One compartment's backups of one kind, as the pages arrive: own ones by scope, the rest counted."""

    ownership: Ownership
    kind: Kind
    compartment: str
    room: int
    """How many records this listing may hold."""
    by_scope: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    held: int = 0
    listed: int = 0
    foreign: int = 0
    """Backups with the function's tags but another deployment's identity (or none)."""
    members: int = 0
    others: int = 0
    """Backups that are not this deployment's at all (people's, policies', of nothing known)."""
    identities: set[str] = field(default_factory=set)

    @property
    def overflowed(self) -> bool:
        return self.held > self.room

    def take(self, page: Iterable[dict[str, Any]]) -> None:
        """One page: own backups kept compact under their scope (each OCID once), the rest counted."""
        for item in page:
            self.listed += 1
            scope_id = item.get(self.kind.id_field)
            if not isinstance(scope_id, str):
                self.others += 1
                continue
            verdict = self.ownership.judge(item, self.kind, scope_id=scope_id, compartment=self.compartment)
            if verdict == "foreign":
                self.foreign += 1
                if len(self.identities) < MAX_IDENTITIES:
                    self.identities.add(str(tags_of(item).get(DEPLOYMENT_TAG, "(none)"))[:80])
                continue
            if verdict == "member":
                self.members += 1
                continue
            if verdict != "own":
                self.others += 1
                continue
            scope = self.by_scope.setdefault(sys.intern(scope_id), {})
            backup_id = str(item.get("id"))
            if backup_id not in scope:  # a page boundary that shifts can list one twice
                scope[backup_id] = compact(item)
                self.held += 1

    def drop(self) -> None:
        """Forget what was held (a listing abandoned part way)."""
        self.by_scope.clear()
        self.held = 0

"""The orphan sweep of a schedule tick: this deployment's backups of volumes it no longer backs up.

Retention otherwise runs only for the volumes a run backed up or a backup-end event names, so the
backups of a volume that was deleted, or dropped from the selector, would never age out. After its
backups, a schedule tick lists the backups of whole compartments (ListVolumeBackups,
ListBootVolumeBackups, ListVolumeGroupBackups with ``compartmentId`` only, every page) and the
volumes, boot volumes and volume groups there (ListVolumes, ListBootVolumes, ListVolumeGroups, once
each). Each scope (a volume, boot volume or group) with backups of this deployment's own is then:

- **backed up by this tick**: retention as usual (from the compartment's list: no list per volume);
- **selected** (still there, and named by the tick or matched by its selector): left to its own run;
- **source gone** (listed TERMINATING/TERMINATED: deleted), **source unseen** (not listed in the
  compartment: purged after its deletion, moved to another compartment, or where the function cannot read
  it — OCI answers all three alike, so it is never called deleted), or **not selected** (still there, but
  neither named by the tick nor matched by its selector): an *orphan*, handled by
  ``BACKUP_RETENTION_ORPHANS``: ``keep-last-one`` (the default, as AWS DLM does) applies the retention
  rules as if it were still backed up — keep-last, tiers, max-age, min keep, grace and caps — which never
  delete the newest AVAILABLE backup; ``keep`` deletes none of them.

Which compartments: those of the backups the tick made and those its selector reached. Either mistake
in telling an orphan from a selected volume is safe: an orphan taken for selected is left alone this
tick, and a selected volume taken for an orphan gets the rules it gets anyway (or, with ``keep``,
nothing). The sweep starts at a compartment chosen by the tick, so a deadline that cuts it short does
not always leave out the same ones; one backup that cannot be deleted never stops the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from backup_handler.runs.selection import matches
from backup_handler.vocabulary.fields import Selector

OrphanKind = Literal["sourceGone", "sourceUnseen", "notSelected"]
Verdict = Literal["selected", "sourceGone", "sourceUnseen", "notSelected"]
GONE_SOURCE_STATES = frozenset({"TERMINATING", "TERMINATED"})
# Compartments one tick sweeps at most (a selector with includeSubcompartments may reach 1,000).
MAX_SWEPT_COMPARTMENTS = 1000
# Compartments the answer names as left by the sweep's cap, at most.
MAX_STOPPED_LISTED = 20


@dataclass(frozen=True)
class Sweep:
    """What a tick sweeps: ``compartments``; what it selected: ``selected`` (OCIDs it named or resolved) and,
    when it did not resolve its selector itself (its batches did), the ``selector`` and the compartments it
    reached (``selector_compartments``); ``rotation``: the tick's own key, where the sweep starts."""

    compartments: tuple[str, ...] = ()
    selected: frozenset[str] = frozenset()
    selector: Selector | None = None
    selector_compartments: frozenset[str] = frozenset()
    rotation: str = ""

    def order(self, more: Iterable[str] = ()) -> list[str]:
        """The compartments to sweep (with ``more``), each once, starting at the tick's own place."""
        unique = sorted(dict.fromkeys([*self.compartments, *more]))[:MAX_SWEPT_COMPARTMENTS]
        if not unique:
            return []
        start = int(hashlib.sha256(self.rotation.encode()).hexdigest()[:8], 16) % len(unique)
        return unique[start:] + unique[:start]

    def judge(self, kind: str, resource_id: str, inventory: Mapping[str, Mapping[str, Any]]) -> Verdict:
        """Whether a scope with backups in a swept compartment is still selected, or an orphan and why.

        ``inventory``: the compartment's volumes (boot volumes, groups) of that kind, by OCID, as listed.
        """
        source = inventory.get(resource_id)
        if source is None:  # not proof of a deletion: moved, or out of the function's sight, look the same
            return "sourceUnseen"
        if source.get("lifecycleState") in GONE_SOURCE_STATES:
            return "sourceGone"
        if resource_id in self.selected:
            return "selected"
        selector = self.selector
        if (
            selector is not None
            and kind in selector.kinds
            and source.get("compartmentId") in (self.selector_compartments or {selector.compartment_id})
            and matches(source, selector)
        ):
            return "selected"
        return "notSelected"


@dataclass
class OrphanCounts:
    """What the sweep found and did, as the answer says it (``orphans``)."""

    policy: str
    compartments: int = 0
    scopes: dict[str, int] = field(default_factory=lambda: {"sourceGone": 0, "sourceUnseen": 0, "notSelected": 0})
    backups: int = 0
    complete: bool = True
    held: int = 0
    """This deployment's backups the sweep holds (compact records), against BACKUP_RETENTION_SWEEP_MAX_BACKUPS."""
    others: int = 0
    """Listed backups that are not this deployment's (people's, policies', others'): counted, never held."""
    reason: str | None = None
    stopped: list[str] = field(default_factory=list)

    def stop(self, compartment: str, reason: str) -> None:
        """A compartment left this tick: its listing would pass the sweep's cap."""
        self.complete = False
        self.reason = self.reason or reason
        if len(self.stopped) < MAX_STOPPED_LISTED:
            self.stopped.append(compartment)

    def document(self, deleted: int) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "compartmentsSwept": self.compartments,
            "sourceGone": self.scopes["sourceGone"],
            "sourceUnseen": self.scopes["sourceUnseen"],
            "notSelected": self.scopes["notSelected"],
            "backups": self.backups,
            "deleted": deleted,
            "complete": self.complete,
            "otherBackupsListed": self.others,
            **({"reason": self.reason, "compartmentsLeft": self.stopped} if self.reason else {}),
        }

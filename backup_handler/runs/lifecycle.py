"""The lifecycle of this deployment's own backups: retention, cross-region copies, and when they run.

It runs on the backup-end event of a backup (``createvolumebackup.end``,
``createbootvolumebackup.end``, and ``createvolumegroupbackup.end`` should a tenancy emit it; an
Events rule with the function as action), after a schedule tick as a catch-up for what the tick
backed up (with retention on, from whole compartments' lists, sweeping the tick's orphans too), and
as a preview of that catch-up in a schedule's dry run. Each acts on one *scope* at a time: the
backups of one volume, boot volume or volume group, in one compartment.

The seams:

- :mod:`.ownership` — whose backup is it: only this deployment's own are ever deleted or copied
  (its identity and every other stamped condition; members of group backups are left to their group;
  other deployments' backups are counted in ``foreignOwnBackups`` and logged, never touched);
- :mod:`.retention` — the pure keep/delete decision over a scope's AVAILABLE own backups (restic's tiers
  in :mod:`.tiers`, max age, min keep), with the rules that keep each;
- :mod:`.pruning` — carrying it out: deletion caps, grace marks (:mod:`.grace`), locks, 404s;
- :mod:`.orphans` — which scopes a schedule tick's sweep takes for orphans, and the policy for them;
- :mod:`.copies` — copies, their limits and locks; :mod:`.lifecycle_calls` — the budgeted API calls;
- :mod:`.lifecycle_result` — what a run did.

Volume group backups are kept and deleted as units (DeleteVolumeGroupBackup deletes their members);
a member's own backup-end event drives its group's retention. Retention applies to the copies in the
destination region too, under the same rule, counting copies only and ranking each by its source.

A dry run lists (reads are fine) and reports what it would delete, mark and copy, calling no mutating API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backup_handler import logs
from backup_handler.errors import BackupError, ConfigurationError, DeadlineExceeded
from backup_handler.oci.api import OciApi
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.runs.copies import Copier
from backup_handler.runs.lifecycle_calls import LifecycleCalls
from backup_handler.runs.lifecycle_listing import CompartmentListing
from backup_handler.runs.lifecycle_result import MAX_LISTED, LifecycleResult
from backup_handler.runs.orphans import OrphanCounts, OrphanKind, Sweep
from backup_handler.runs.ownership import (
    KINDS,
    RETAINED_TRIGGERS,
    BackupKind,
    Kind,
    Ownership,
    kind_of_backup,
    parse_time,
    tags_of,
    target_kind,
)
from backup_handler.runs.pruning import Place, Pruner
from backup_handler.runs.retention import Candidate, Rule, newest_first
from backup_handler.runs.tiers import parse_within
from backup_handler.settings import Settings
from backup_handler.vocabulary.fields import DEPLOYMENT_TAG, TRIGGER_TAG
from backup_handler.vocabulary.zones import load_zone

__all__ = ["MAX_LISTED", "Lifecycle", "LifecycleResult", "Sweep", "kind_of_backup", "rule_of"]

logger = logging.getLogger(__name__)
# Identities of other deployments named in one log line, at most.
MAX_LOGGED_IDENTITIES = 5


@dataclass(frozen=True)
class Scope:
    """The backups of one volume, boot volume or volume group, in one compartment."""

    kind: BackupKind
    resource_id: str
    compartment: str


class Lifecycle:
    """Retention and copies for the volumes a run backed up, for one backup-end event, or as a preview."""

    def __init__(self, settings: Settings, api: OciApi, limiter: AdaptiveLimiter) -> None:
        self._settings = settings
        self._api = api
        self._limiter = limiter

    # ------------------------------------------------------------ entry points

    def after_backup(
        self, backup_id: str, answer_by: float, *, dry_run: bool, result: LifecycleResult | None = None
    ) -> LifecycleResult:
        """A backup-end event: retention (and copies) for the scope of that backup, if this deployment made it."""
        result = result if result is not None else LifecycleResult()
        kind = kind_of_backup(backup_id)
        if kind is None or (run := self._start(answer_by, dry_run, result, backup_id)) is None:
            return result
        try:
            run.event(KINDS[kind], backup_id)
        except BackupError as exc:
            result.fail(backup_id, exc)
        return result

    def catch_up(
        self,
        created: list[dict[str, Any]],
        answer_by: float,
        *,
        dry_run: bool,
        result: LifecycleResult | None = None,
        sweep: Sweep | None = None,
    ) -> LifecycleResult:
        """After a schedule tick: for each volume (group) backed up, apply retention and copy what has no copy;
        with ``sweep``, from whole compartments' lists, and the tick's orphans too (:mod:`.orphans`)."""
        result = result if result is not None else LifecycleResult()
        scopes = []
        for backup in created:
            kind = kind_of_backup(backup.get("id"))
            scope_id = backup.get(KINDS[kind].id_field) if kind else None
            compartment = backup.get("compartmentId")
            if kind is not None and isinstance(scope_id, str) and isinstance(compartment, str):
                scopes.append(Scope(kind, scope_id, compartment))
        sweeping = sweep is not None and self._settings.retention and bool(sweep.order(s.compartment for s in scopes))
        if not scopes and not sweeping:
            return result
        first = scopes[0].resource_id if scopes else "orphans"
        if (run := self._start(answer_by, dry_run, result, first)) is not None:
            if sweep is not None and sweeping:
                run.sweep(scopes, sweep)
            else:
                run.scopes(scopes)
        return result

    def preview(
        self,
        targets: Iterable[tuple[str, str]],
        answer_by: float,
        *,
        result: LifecycleResult | None = None,
        sweep: Sweep | None = None,
    ) -> LifecycleResult:
        """A schedule's dry run: what the catch-up would delete, mark and copy for ``(kind, resource id)`` targets
        (and, with ``sweep``, for the tick's orphans).

        Calls no mutating API; each target is read for its compartment (the backup lists need it).
        """
        result = result if result is not None else LifecycleResult()
        targets = list(targets)
        if not targets or (run := self._start(answer_by, True, result, targets[0][1])) is None:
            return result
        scopes = []
        for kind_name, resource_id in targets:
            kind = target_kind(kind_name)
            if kind is None:
                continue
            spec = KINDS[kind]
            try:
                target = run.calls.get(spec.target_get_op, {spec.target_path_param: resource_id})
            except BackupError as exc:
                result.fail(resource_id, exc)
                continue
            compartment = target.get("compartmentId") if isinstance(target, dict) else None
            if isinstance(compartment, str):
                scopes.append(Scope(kind, resource_id, compartment))
        if sweep is not None and self._settings.retention:
            run.sweep(scopes, sweep)
        else:
            run.scopes(scopes)
        return result

    def _start(self, answer_by: float, dry_run: bool, result: LifecycleResult, resource_id: str) -> _Run | None:
        identity = self._settings.deployment_id
        if not identity:
            result.fail(
                resource_id,
                ConfigurationError(
                    "retention and copies act only on this deployment's own backups, and its identity is "
                    "unknown: set BACKUP_DEPLOYMENT_ID (OCI Functions sets FN_APP_NAME and FN_FN_NAME, "
                    "the default)"
                ),
            )
            return None
        calls = LifecycleCalls(self._api, self._limiter, answer_by)
        return _Run(self._settings, Ownership(identity), calls, result, dry_run)


class _Run:
    """One lifecycle run: its calls, what it found and did, and the copies it started."""

    def __init__(
        self, settings: Settings, ownership: Ownership, calls: LifecycleCalls, result: LifecycleResult, dry_run: bool
    ) -> None:
        self.settings = settings
        self.ownership = ownership
        self.calls = calls
        self.result = result
        self.dry_run = dry_run
        self.rule = rule_of(settings)
        self.now = datetime.now(UTC)
        self.pruner = Pruner(settings, ownership.identity, self.rule, calls, result, dry_run=dry_run, now=self.now)
        self.copier = Copier(settings, ownership, calls, result, dry_run=dry_run) if settings.copy_region else None

    # ------------------------------------------------------------ what to act on

    def event(self, kind: Kind, backup_id: str) -> None:
        backup = self.calls.get(kind.get_op, {kind.path_param: backup_id})
        verdict = self.ownership.judge(backup, kind)
        if verdict == "member":
            self.result.members += 1
            self._group_of_member(backup)
            return
        if verdict == "foreign":
            self.result.foreign_own += 1
            self._log_foreign(backup_id, 1, [_identity(backup)])
            return
        scope_id, compartment = backup.get(kind.id_field), backup.get("compartmentId")
        if verdict != "own" or not isinstance(scope_id, str) or not isinstance(compartment, str):
            logs.emit(logger, logging.INFO, "lifecycle", backupId=backup_id, outcome="not this deployment's own")
            return
        self.scope(Scope(kind.name, scope_id, compartment))

    def _group_of_member(self, member: dict[str, Any]) -> None:
        """A member backup's event: its group backup's scope, when the group is this deployment's own."""
        group_id = member.get("volumeGroupBackupId")
        group_kind = KINDS["volumeGroup"]
        if kind_of_backup(group_id) != "volumeGroup":
            logs.emit(logger, logging.INFO, "lifecycle", backupId=member.get("id"), outcome="member backup")
            return
        group = self.calls.get(group_kind.get_op, {group_kind.path_param: str(group_id)})
        if self.ownership.judge(group, group_kind) == "own" and isinstance(group.get("volumeGroupId"), str):
            self.scope(Scope("volumeGroup", group["volumeGroupId"], str(group.get("compartmentId"))))
        else:
            logs.emit(logger, logging.INFO, "lifecycle", backupId=member.get("id"), outcome="member of another's group")

    def scopes(self, scopes: list[Scope]) -> None:
        for scope in dict.fromkeys(scopes):
            try:
                self.scope(scope)
            except BackupError as exc:
                self.result.fail(scope.resource_id, exc)

    # --------------------------------------------------------------- the rules

    def scope(self, scope: Scope, listed: list[dict[str, Any]] | None = None) -> None:
        """Retention and copies for one scope; ``listed``: its backups from a compartment's list, if read already."""
        kind = KINDS[scope.kind]
        if listed is None:
            query = {"compartmentId": scope.compartment, kind.id_field: scope.resource_id}
            listed = self.calls.list(kind.list_op, query)
        own, foreign = [], []
        for item in listed:
            verdict = self.ownership.judge(item, kind, scope_id=scope.resource_id, compartment=scope.compartment)
            if verdict == "own":
                own.append(item)
            elif verdict == "foreign":
                foreign.append(item)
            elif verdict == "member":
                self.result.members += 1
        if foreign:
            self.result.foreign_own += len(foreign)
            self._log_foreign(scope.resource_id, len(foreign), {_identity(item) for item in foreign})
        candidates = newest_first(
            [
                Candidate(item, created)
                for item in own
                if item.get("lifecycleState") == "AVAILABLE"
                and tags_of(item).get(TRIGGER_TAG) in RETAINED_TRIGGERS
                and (created := parse_time(item.get("timeCreated"))) is not None
            ]
        )
        dropped = self._retain(kind, "source", scope.resource_id, candidates)
        if self.copier is None or kind.copy_op is None:
            return
        # Copied: what the rule keeps (never a backup kept only by a lock) and every manual backup.
        wanted = newest_first(
            [
                Candidate(item, created)
                for item in own
                if item.get("lifecycleState") == "AVAILABLE"
                and str(item.get("id")) not in dropped
                and (created := parse_time(item.get("timeCreated"))) is not None
            ]
        )
        source_times = {str(item.get("id")): parse_time(item.get("timeCreated")) for item in own}
        try:
            listed, copies = self._copies_of(kind, scope)
            self.copier.copy(kind, scope.resource_id, scope.compartment, [c.backup for c in wanted], listed)
        except BackupError as exc:
            self.result.fail(scope.resource_id, exc)
            return
        ranked = [
            Candidate(copy, when)
            for copy in copies
            if copy.get("lifecycleState") == "AVAILABLE"
            and tags_of(copy).get(TRIGGER_TAG) in RETAINED_TRIGGERS
            and (when := source_times.get(str(copy.get(kind.source_field))) or parse_time(copy.get("timeCreated")))
            is not None
        ]
        # The copy of a source the rule keeps is kept too, whatever its rank among the copies (a copy of a newer
        # source deleted meanwhile can outrank it): pruning it would only make it be copied again next run.
        wanted_ids = {str(candidate.backup.get("id")) for candidate in wanted}
        dropped_copies = self.pruner.apply(
            kind,
            "copies",
            scope.resource_id,
            newest_first(ranked),
            spare=lambda copy: str(copy.get(kind.source_field)) in wanted_ids,
        )
        self.copier.lock(kind, [copy for copy in copies if str(copy.get("id")) not in dropped_copies])

    def _copies_of(self, kind: Kind, scope: Scope) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every backup in the destination that says it is of the scope's volume, and of those this deployment's
        copies (each checked to be a copy of this volume: a copy that does not say its volume is never pruned)."""
        assert kind.list_copies_op is not None
        query = {"compartmentId": scope.compartment, kind.id_field: scope.resource_id}
        listed = [
            item for item in self.calls.list(kind.list_copies_op, query) if item.get(kind.id_field) == scope.resource_id
        ]
        own = [
            item
            for item in listed
            if self.ownership.judge(item, kind, scope_id=scope.resource_id, compartment=scope.compartment, copy=True)
            == "own"
        ]
        return listed, own

    def _retain(self, kind: Kind, place: Place, scope_id: str, candidates: list[Candidate]) -> set[str]:
        return self.pruner.apply(kind, place, scope_id, candidates)

    # ---------------------------------------------------------------- sweep

    def sweep(self, created: list[Scope], sweep: Sweep) -> None:
        """The scopes a tick backed up, from whole compartments' lists, then its orphans (:mod:`.orphans`)."""
        counts = OrphanCounts(self.settings.retention_orphans)
        pending: dict[tuple[str, str], Scope] = {(scope.kind, scope.resource_id): scope for scope in created}
        orphans: list[tuple[Scope, OrphanKind, list[dict[str, Any]]]] = []
        try:
            for compartment in sweep.order(scope.compartment for scope in created):
                counts.compartments += 1
                for kind in KINDS.values():
                    self._sweep_listing(kind, compartment, sweep, pending, orphans, counts)
        except DeadlineExceeded as exc:
            counts.complete = False
            self.result.fail("orphans", exc)
        self.scopes(list(pending.values()))  # any whose compartment could not be listed: one by one
        before = self.pruner.deletions
        for scope, why, items in orphans:
            counts.scopes[why] += 1
            if self.settings.retention_orphans == "keep":
                continue
            try:
                self.scope(scope, items)
            except DeadlineExceeded as exc:
                counts.complete = False
                self.result.fail(scope.resource_id, exc)
                break
            except BackupError as exc:
                self.result.fail(scope.resource_id, exc)
        self.result.orphans = counts.document(self.pruner.deletions - before)
        logs.emit(logger, logging.INFO, "orphans", dryRun=self.dry_run or None, **self.result.orphans)

    def _sweep_listing(
        self,
        kind: Kind,
        compartment: str,
        sweep: Sweep,
        pending: dict[tuple[str, str], Scope],
        orphans: list[tuple[Scope, OrphanKind, list[dict[str, Any]]]],
        counts: OrphanCounts,
    ) -> None:
        """One compartment's backups of one kind: retention for the tick's own scopes there, orphans noted.

        Only this deployment's own backups are held, compact (:mod:`.lifecycle_listing`); a listing that would
        hold more than the sweep has room for is abandoned whole: nothing in it is decided on a partial view (the
        tick's own scopes there are then listed one by one)."""
        listing = CompartmentListing(
            self.ownership, kind, compartment, self.settings.retention_sweep_max_backups - counts.held
        )
        try:
            for page in self.calls.pages(kind.list_op, {"compartmentId": compartment}):
                for item in page:
                    self.pruner.saw(parse_time(item.get("timeCreated")))
                listing.take(page)
                if listing.overflowed:
                    break
        except DeadlineExceeded:
            raise
        except BackupError as exc:
            self.result.fail(compartment, exc)
            counts.complete = False
            return
        self.result.foreign_own += listing.foreign
        self.result.members += listing.members
        counts.others += listing.others
        if listing.foreign:
            self._log_foreign(compartment, listing.foreign, listing.identities)
        if listing.overflowed:
            listing.drop()
            counts.stop(
                compartment,
                f"more of this deployment's backups than BACKUP_RETENTION_SWEEP_MAX_BACKUPS "
                f"({self.settings.retention_sweep_max_backups}) holds in one sweep: none of its {kind.name} "
                "backups there were decided or deleted",
            )
            return
        inventory: dict[str, dict[str, Any]] | None = None
        for scope_id, held in listing.by_scope.items():
            items = list(held.values())
            scope = Scope(kind.name, scope_id, compartment)
            if pending.pop((kind.name, scope_id), None) is not None:
                try:
                    self.scope(scope, items)
                except DeadlineExceeded:
                    raise
                except BackupError as exc:
                    self.result.fail(scope_id, exc)
                continue
            own = [
                item
                for item in items
                if item.get("lifecycleState") == "AVAILABLE" and tags_of(item).get(TRIGGER_TAG) in RETAINED_TRIGGERS
            ]
            if not own:
                continue
            if inventory is None:
                inventory = self._inventory(kind, compartment)
                if inventory is None:
                    counts.complete = False
                    return
            verdict = sweep.judge(kind.name, scope_id, inventory)
            if verdict != "selected":
                counts.backups += len(own)
                counts.held += len(items)
                orphans.append((scope, verdict, items))

    def _inventory(self, kind: Kind, compartment: str) -> dict[str, dict[str, Any]] | None:
        """The compartment's volumes (boot volumes, groups) of ``kind``, by OCID; None when they cannot be listed
        (then nothing there is taken for an orphan)."""
        assert kind.target_list_op is not None
        try:
            listed = self.calls.list(kind.target_list_op, {"compartmentId": compartment})
        except DeadlineExceeded:
            raise
        except BackupError as exc:
            self.result.fail(compartment, exc)
            return None
        return {str(item["id"]): item for item in listed if isinstance(item.get("id"), str)}

    # ------------------------------------------------------------------- calls

    def _log_foreign(self, resource_id: str, count: int, identities: Iterable[str]) -> None:
        logs.emit(
            logger,
            logging.WARNING,
            "foreign-backups",
            resourceId=resource_id,
            count=count,
            identities=sorted(identities)[:MAX_LOGGED_IDENTITIES],
            deployment=self.ownership.identity,
            note="backups with the function's tags but another deployment's identity (or none) are never "
            "deleted or copied; see the README to move them to this deployment",
        )


def _identity(backup: dict[str, Any]) -> str:
    return str(tags_of(backup).get(DEPLOYMENT_TAG, "(none)"))[:80]


def rule_of(settings: Settings) -> Rule:
    """The retention rule the configuration sets (counted in BACKUP_TIMEZONE)."""
    within = settings.retention_keep_within
    return Rule(
        keep_last=settings.retention_keep_last,
        max_age_days=settings.retention_max_age_days,
        hourly=settings.retention_keep_hourly,
        daily=settings.retention_keep_daily,
        weekly=settings.retention_keep_weekly,
        monthly=settings.retention_keep_monthly,
        yearly=settings.retention_keep_yearly,
        within=parse_within(within) if within else None,
        tz=load_zone(settings.timezone),
        min_keep=settings.retention_min_keep,
    )

"""The lifecycle of this deployment's own backups: retention, cross-region copies, and when they run.

It runs on the backup-end event of a backup (``createvolumebackup.end``,
``createbootvolumebackup.end``, and ``createvolumegroupbackup.end`` should a tenancy emit it; an
Events rule with the function as action), after a schedule tick as a catch-up for what the tick
backed up, and as a preview of that catch-up in a schedule's dry run. Each acts on one *scope*
at a time: the backups of one volume, boot volume or volume group, in one compartment.

The seams:

- :mod:`.ownership` — whose backup is it: only this deployment's own are ever deleted or copied
  (its identity and every other stamped condition; members of group backups are left to their group;
  other deployments' backups are counted in ``foreignOwnBackups`` and logged, never touched);
- :mod:`.retention` — the pure keep/delete decision over a scope's AVAILABLE own backups, newest first;
- :mod:`.copies` — copies, their limits and locks; :mod:`.lifecycle_calls` — the budgeted API calls;
- :mod:`.lifecycle_result` — what a run did.

Deletion: what the rule deletes is deleted unless a hold, prevent-deletion or a running retention
period protects it (counted in ``keptByProtection``). A 404 on a deletion is checked: a backup
already TERMINATING or TERMINATED (another container handled the same event) counts as already
deleted, anything else is an error (OCI answers 404 for a missing grant too). A refusal (a lock the
list did not show, whatever status it comes with) is reported and never counted as a deletion.
Volume group backups are kept and deleted as units (DeleteVolumeGroupBackup deletes their members);
a member's own backup-end event drives its group's retention. Retention applies to the copies in the
destination region too, under the same rule, counting copies only and ranking each by its source.

A dry run lists (reads are fine) and reports what it would delete and copy, calling no mutating API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from backup_handler import logs
from backup_handler.errors import ApiError, BackupError, ConfigurationError
from backup_handler.oci.api import OciApi
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.runs.copies import Copier
from backup_handler.runs.lifecycle_calls import LifecycleCalls
from backup_handler.runs.lifecycle_result import MAX_LISTED, LifecycleResult
from backup_handler.runs.ownership import (
    GONE_STATES,
    KINDS,
    RETAINED_TRIGGERS,
    BackupKind,
    Kind,
    Ownership,
    kind_of_backup,
    parse_time,
    protection,
    tags_of,
    target_kind,
)
from backup_handler.runs.retention import Candidate, Rule, decide, newest_first
from backup_handler.settings import Settings
from backup_handler.vocabulary.fields import DEPLOYMENT_TAG, TRIGGER_TAG

__all__ = ["MAX_LISTED", "Lifecycle", "LifecycleResult", "kind_of_backup"]

logger = logging.getLogger(__name__)

Place = Literal["source", "copies"]
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
        self, created: list[dict[str, Any]], answer_by: float, *, dry_run: bool, result: LifecycleResult | None = None
    ) -> LifecycleResult:
        """After a schedule tick: for each volume (group) backed up, apply retention and copy what has no copy."""
        result = result if result is not None else LifecycleResult()
        scopes = []
        for backup in created:
            kind = kind_of_backup(backup.get("id"))
            scope_id = backup.get(KINDS[kind].id_field) if kind else None
            compartment = backup.get("compartmentId")
            if kind is not None and isinstance(scope_id, str) and isinstance(compartment, str):
                scopes.append(Scope(kind, scope_id, compartment))
        if scopes and (run := self._start(answer_by, dry_run, result, scopes[0].resource_id)) is not None:
            run.scopes(scopes)
        return result

    def preview(
        self, targets: Iterable[tuple[str, str]], answer_by: float, *, result: LifecycleResult | None = None
    ) -> LifecycleResult:
        """A schedule's dry run: what the catch-up would delete and copy for ``(kind, resource id)`` targets.

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
        self.rule = Rule(settings.retention_keep_last, settings.retention_max_age_days)
        self.now = datetime.now(UTC)
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
            self._log_foreign(backup_id, [backup])
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

    def scope(self, scope: Scope) -> None:
        kind = KINDS[scope.kind]
        listed = self.calls.list(kind.list_op, {"compartmentId": scope.compartment, kind.id_field: scope.resource_id})
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
            self._log_foreign(scope.resource_id, foreign)
        candidates = newest_first(
            [
                Candidate(item, created)
                for item in own
                if item.get("lifecycleState") == "AVAILABLE"
                and tags_of(item).get(TRIGGER_TAG) in RETAINED_TRIGGERS
                and (created := parse_time(item.get("timeCreated"))) is not None
            ]
        )
        dropped = self._retain(kind, "source", candidates)
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
        dropped_copies = self._retain(
            kind, "copies", newest_first(ranked), spare=lambda copy: str(copy.get(kind.source_field)) in wanted_ids
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

    def _retain(
        self,
        kind: Kind,
        place: Place,
        candidates: list[Candidate],
        spare: Callable[[dict[str, Any]], bool] = lambda backup: False,
    ) -> set[str]:
        """Apply the rule to ``candidates`` (newest first), except to what ``spare`` keeps; the OCIDs the rule
        drops (deleted, or kept only because something protects them)."""
        dropped: set[str] = set()
        if not self.rule.active:
            return dropped
        for decision in decide(candidates, self.rule, self.now):
            backup_id = str(decision.backup.get("id"))
            if decision.keep or spare(decision.backup):
                continue
            dropped.add(backup_id)
            protected = protection(decision.backup, self.now)
            if protected is not None:
                self.result.protected += 1
                logs.emit(
                    logger, logging.INFO, "retention", backupId=backup_id, outcome="kept", reason=protected, place=place
                )
                continue
            self._delete(kind, place, decision.backup, decision.reason)
        return dropped

    # ------------------------------------------------------------------- calls

    def _delete(self, kind: Kind, place: Place, item: dict[str, Any], reason: str) -> None:
        backup_id = str(item.get("id"))
        region = self.settings.copy_region if place == "copies" else None
        entry = {"backupId": backup_id, kind.id_field: item.get(kind.id_field), "reason": reason, "region": region}
        if not self.dry_run:
            op = kind.delete_copy_op if place == "copies" else kind.delete_op
            assert op is not None
            try:
                self.calls.mutate(op, path={kind.path_param: backup_id})
            except ApiError as exc:
                if exc.status == 404 and self._gone(kind, place, backup_id):
                    self.result.already_deleted += 1
                    logs.emit(logger, logging.INFO, "retention", backupId=backup_id, outcome="already deleted")
                    return
                self.result.fail(backup_id, exc)
                return
            except BackupError as exc:
                self.result.fail(backup_id, exc)
                return
        self.result.record("deleted", {key: value for key, value in entry.items() if value is not None})
        logs.emit(logger, logging.INFO, "retention", dryRun=self.dry_run or None, **entry)

    def _gone(self, kind: Kind, place: Place, backup_id: str) -> bool:
        """After a 404 on a deletion: whether the backup is TERMINATING or TERMINATED (deleted by another run)."""
        op = kind.get_copy_op if place == "copies" else kind.get_op
        if op is None:
            return False
        try:
            backup = self.calls.get(op, {kind.path_param: backup_id})
        except BackupError:
            return False
        return isinstance(backup, dict) and backup.get("lifecycleState") in GONE_STATES

    def _log_foreign(self, resource_id: str, backups: list[dict[str, Any]]) -> None:
        identities = sorted({str(tags_of(b).get(DEPLOYMENT_TAG, "(none)"))[:80] for b in backups})
        logs.emit(
            logger,
            logging.WARNING,
            "foreign-backups",
            resourceId=resource_id,
            count=len(backups),
            identities=identities[:MAX_LOGGED_IDENTITIES],
            deployment=self.ownership.identity,
            note="backups with the function's tags but another deployment's identity (or none) are never "
            "deleted or copied; see the README to move them to this deployment",
        )

"""Carrying out the retention decision for one run: keep, mark, wait, delete — bounded and reversible.

:meth:`Pruner.apply` takes one scope's candidates (a volume's, a volume group's or their copies', this
deployment's own AVAILABLE backups), asks :func:`.retention.decide` and acts on the answer:

- a backup a rule keeps is listed with its reasons (``kept``); if it carries a due mark, the mark is removed
  (the rules keep it again: the deletion is called off);
- a backup no rule keeps is left alone while a lock, a hold or prevent-deletion protects it
  (``keptByProtection``); with a grace period (:mod:`.grace`) it is marked first, and deleted only by a later
  run that finds it due still, under the same rule, the whole period after its mark;
- deletions go oldest first, at most ``BACKUP_RETENTION_MAX_DELETES_PER_VOLUME`` per scope and
  ``BACKUP_RETENTION_MAX_DELETES`` per run, each deletion asked for counting whatever its answer (one whose
  answer was lost may have been done); past either the run deletes nothing more there and says so
  (``retentionCapped``, a WARNING log line): what it held back is due again on the next run.

A 404 on a deletion is checked: a backup already TERMINATING or TERMINATED (another container handled the
same event) counts as already deleted, anything else is an error (OCI answers 404 for a missing grant
too). A refusal (a lock the list did not show, whatever status it comes with) is reported and never
counted as a deletion. A dry run calls no mutating API and reports what it would delete and mark.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from backup_handler import logs
from backup_handler.errors import ApiError, BackupError
from backup_handler.runs import grace as grace_marks
from backup_handler.runs.grace import Grace
from backup_handler.runs.lifecycle_calls import LifecycleCalls
from backup_handler.runs.lifecycle_result import MAX_LISTED, Cap, LifecycleResult
from backup_handler.runs.ownership import GONE_STATES, Kind, protection, tags_of
from backup_handler.runs.retention import Candidate, Decision, Rule, decide, newest_first
from backup_handler.settings import Settings
from backup_handler.vocabulary.fields import RETENTION_DUE_TAG

logger = logging.getLogger(__name__)

Place = Literal["source", "copies"]


class Pruner:
    """Retention's actions for one lifecycle run: the run's deletion count and caps, and its grace marks."""

    def __init__(
        self,
        settings: Settings,
        identity: str,
        rule: Rule,
        calls: LifecycleCalls,
        result: LifecycleResult,
        *,
        dry_run: bool,
        now: datetime,
    ) -> None:
        self.settings = settings
        self.rule = rule
        self.calls = calls
        self.result = result
        self.dry_run = dry_run
        self.now = now
        hours = settings.retention_grace_hours
        self.grace = Grace(identity, rule.describe(), timedelta(hours=hours)) if hours else None
        self.deletions = 0  # in this run, in all (a dry run's would-be deletions too)
        self.attempts = 0  # deletions asked for in this run, whatever their answer: what the caps count
        self.latest = now  # the later of this clock and the newest time the API wrote in the run

    def saw(self, moment: datetime | None) -> None:
        """A time the API wrote (a backup's ``timeCreated``): the run's clock is never behind it."""
        if moment is not None and moment > self.latest:
            self.latest = moment

    def apply(
        self,
        kind: Kind,
        place: Place,
        scope_id: str,
        candidates: list[Candidate],
        spare: Callable[[dict[str, Any]], bool] = lambda backup: False,
    ) -> set[str]:
        """Apply the rule to one scope's ``candidates``, except to what ``spare`` keeps; the OCIDs the rule
        drops (deleted, marked, held back by a cap, or kept only because something protects them)."""
        dropped: set[str] = set()
        if not self.rule.active or not candidates:
            return dropped
        ranked = newest_first(candidates)
        floors = grace_marks.floors([(str(c.backup.get("id")), c.time) for c in ranked])
        # The later of this clock and the newest time the API wrote in the run (a clock behind the service's does
        # not make backups look younger, nor a grace period longer); a lock is judged by this clock (fail closed).
        self.saw(ranked[0].time)
        now = self.latest
        decisions = decide(ranked, self.rule, now)
        kept: list[dict[str, Any]] = []
        due: list[Decision] = []
        for decision in decisions:
            if decision.keep or spare(decision.backup):
                kept.append(self._keep(kind, place, decision))
            else:
                due.append(decision)
        deleted_here = asked_here = held = 0
        for decision in reversed(due):  # oldest first
            backup = decision.backup
            backup_id = str(backup.get("id"))
            dropped.add(backup_id)
            protected = protection(backup, self.now)
            if protected is not None:
                self.result.protected += 1
                logs.emit(
                    logger, logging.INFO, "retention", backupId=backup_id, outcome="kept", reason=protected, place=place
                )
                continue
            if self.grace is not None and not self._grace_over(kind, place, decision, floors[backup_id], now):
                continue
            capped = self._cap(asked_here)
            if capped is not None:
                if not self.result.held:
                    logs.emit(
                        logger,
                        logging.WARNING,
                        "retention-capped",
                        reason=capped[1],
                        resourceId=scope_id,
                        note="no more is deleted here in this run; later runs delete the rest if it is still due",
                    )
                self.result.hold(*capped)
                held += 1
                continue
            # Every deletion asked for counts toward the caps, whatever its answer: one whose answer was lost may
            # have been done (its retry then meets a 404), and one refused may be done by a retry of its own.
            asked_here += 1
            self.attempts += 1
            if self._delete(kind, place, decision):
                deleted_here += 1
        logs.emit(
            logger,
            logging.INFO,
            "retention",
            resourceId=scope_id,
            place=place,
            keptCount=len(kept),
            kept=kept[:MAX_LISTED],
            due=len(due),
            deleted=deleted_here,
            held=held or None,
            dryRun=self.dry_run or None,
        )
        return dropped

    # -------------------------------------------------------------- keeping

    def _keep(self, kind: Kind, place: Place, decision: Decision) -> dict[str, Any]:
        backup = decision.backup
        reasons = list(decision.reasons) if decision.keep else ["its source backup is kept"]
        entry = self._entry(kind, place, backup) | {"reasons": reasons}
        self.result.record("kept", entry)
        if decision.min_keep:
            self.result.kept_by_min_keep += 1
        if RETENTION_DUE_TAG in tags_of(backup):
            self._unmark(kind, place, backup)
        return {"backupId": entry["backupId"], "reasons": reasons}

    def _unmark(self, kind: Kind, place: Place, backup: dict[str, Any]) -> None:
        """The rules keep a marked backup again: take the mark off (this deployment's own backup only)."""
        tags = {key: value for key, value in tags_of(backup).items() if key != RETENTION_DUE_TAG}
        if self._tag(kind, place, backup, tags):
            self.result.unmarked += 1
            logs.emit(logger, logging.INFO, "retention", backupId=backup.get("id"), outcome="unmarked", place=place)

    # ---------------------------------------------------------------- grace

    def _grace_over(self, kind: Kind, place: Place, decision: Decision, floor: datetime, now: datetime) -> bool:
        """Whether a due backup's grace period is over; marks it (or reports its mark) when not."""
        assert self.grace is not None
        backup = decision.backup
        backup_id = str(backup.get("id"))
        since = self.grace.since(backup, floor, now)
        if since is not None and self.grace.deletable(since, now):
            return True
        entry = self._entry(kind, place, backup) | {"reason": decision.reason}
        if since is None:
            why: grace_marks.Why = "max-age" if decision.reason.startswith("older than") else "rules"
            value = self.grace.mark(backup_id, now, why)
            if not self._tag(kind, place, backup, {**tags_of(backup), RETENTION_DUE_TAG: value}):
                return False
            since, entry["new"] = now, True
        entry |= {
            "markedAt": grace_marks.stamp(since),
            "deletableAfter": grace_marks.stamp(since + self.grace.period),
        }
        self.result.record("marked", entry)
        logs.emit(logger, logging.INFO, "retention", outcome="marked", dryRun=self.dry_run or None, **entry)
        return False

    def _tag(self, kind: Kind, place: Place, backup: dict[str, Any], tags: dict[str, Any]) -> bool:
        """Replace the backup's free-form tags (its defined tags are left as they are); whether it was done."""
        if self.dry_run:
            return True
        op = kind.update_copy_op if place == "copies" else kind.update_op
        backup_id = str(backup.get("id"))
        if op is None:
            return False
        try:
            self.calls.mutate(op, path={kind.path_param: backup_id}, body={"freeformTags": tags})
        except BackupError as exc:
            self.result.fail(backup_id, exc)
            return False
        return True

    # ------------------------------------------------------------- deleting

    def _cap(self, asked_here: int) -> tuple[Cap, str] | None:
        """Which cap forbids deleting more here in this run, and why (``asked_here``: deletions asked for in this
        scope); or None."""
        if self.attempts >= self.settings.retention_max_deletes:
            return "run", f"BACKUP_RETENTION_MAX_DELETES ({self.settings.retention_max_deletes}) reached in this run"
        if asked_here >= self.settings.retention_max_deletes_per_volume:
            return "volume", (
                f"BACKUP_RETENTION_MAX_DELETES_PER_VOLUME ({self.settings.retention_max_deletes_per_volume}) "
                "reached for a volume in this run"
            )
        return None

    def _delete(self, kind: Kind, place: Place, decision: Decision) -> bool:
        """Delete one backup; whether it counts as deleted by this run."""
        item = decision.backup
        backup_id = str(item.get("id"))
        entry = self._entry(kind, place, item) | {"reason": decision.reason}
        if not self.dry_run:
            op = kind.delete_copy_op if place == "copies" else kind.delete_op
            assert op is not None
            try:
                self.calls.mutate(op, path={kind.path_param: backup_id})
            except ApiError as exc:
                if exc.status == 404 and self._gone(kind, place, backup_id):
                    self.result.already_deleted += 1
                    logs.emit(logger, logging.INFO, "retention", backupId=backup_id, outcome="already deleted")
                    return False
                self.result.fail(backup_id, exc)
                return False
            except BackupError as exc:
                self.result.fail(backup_id, exc)
                return False
        self.deletions += 1
        self.result.record("deleted", entry)
        logs.emit(logger, logging.INFO, "retention", dryRun=self.dry_run or None, **entry)
        return True

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

    def _entry(self, kind: Kind, place: Place, backup: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"backupId": str(backup.get("id")), kind.id_field: backup.get(kind.id_field)}
        if place == "copies":
            entry["region"] = self.settings.copy_region
        return entry

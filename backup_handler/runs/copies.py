"""Cross-region copies of this deployment's backups, as OCI limits them, and the lock on each copy.

:meth:`Copier.copy` copies each source backup the caller wants copied (those the retention rule
keeps, never one kept only by a lock: its copy would be pruned again on every run), newest first,
so on a day the copy limit is reached the newest backups have taken the slots. A source is copied
when this deployment has no live copy of it in the destination (listed by its source OCID there,
which does not depend on what the copy says its volume is).

- **Retry tokens** are a pure function of the source, the request (destination region, copy key, name)
  and a generation: the number of this deployment's copies of that source that are FAULTY or gone. A copy
  that turned FAULTY is therefore made again, with a new token, and the answer says which copy it
  replaces. The copy the API answers is read back in the destination: a replayed token answers the
  first copy, which may since have been deleted, and a copy that is gone is never reported as copied.
- **Limits.** OCI allows a number of copies in progress per source region, and one copy at a time
  per boot volume; the status and code of its refusal are undocumented. A refusal that can be a
  limit (429, any 409, a 400/403 naming a limit, a 5xx) is retried later: the failure is retryable,
  and the rest of the run's copies are deferred (listed in ``deferredCopies``) rather than refused
  one by one. A boot volume with a copy in progress is not asked for another.
- **Boot volumes of custom images.** OCI copies boot volume backups of platform images (and custom
  images built from them) only. Any other 400 for a boot volume backup is taken as that refusal:
  reported once, and the source is tagged ``backup-copy: notCopyable`` (UpdateBootVolumeBackup) so
  no later run asks again; the function's other backups of that boot volume are left alone too.
- **Locks.** With a retention period (and lock or prevent-deletion) configured, each of this
  deployment's AVAILABLE copies gets the same retention fields (UpdateVolumeBackup in the
  destination): a copy cannot be created with them (CopyVolumeBackupDetails has no such fields).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from backup_handler import logs
from backup_handler.errors import ApiError, BackupError, InvalidResponse
from backup_handler.runs.lifecycle_calls import LifecycleCalls
from backup_handler.runs.lifecycle_result import LifecycleResult
from backup_handler.runs.ownership import GONE_STATES, LIVE_STATES, Kind, Ownership, tags_of
from backup_handler.settings import Settings
from backup_handler.vocabulary.fields import COPY_TAG

logger = logging.getLogger(__name__)

NOT_COPYABLE = "notCopyable"
DEAD_STATES = GONE_STATES | {"FAULTY"}
IN_PROGRESS_STATES = frozenset({"REQUEST_RECEIVED", "CREATING"})
# Codes a refusal may carry when it is a limit on work in progress or a quota (retried later).
LIMIT_CODES = frozenset(
    {"TooManyRequests", "LimitExceeded", "QuotaExceeded", "Conflict", "IncorrectState", "TooManyCopies"}
)


def is_limit(exc: ApiError) -> bool:
    """Whether a copy's refusal can be a limit that frees by itself (so the copy is retried later)."""
    return (
        exc.status in (409, 429)
        or exc.status >= 500
        or (exc.status in (400, 403) and (exc.code in LIMIT_CODES or "limit" in exc.code.lower()))
    )


def copy_token(source_id: str, body: dict[str, Any], generation: int) -> str:
    """The copy's retry token: the same copy request (source, destination region, key, name), and only it,
    always sends the same one; a new generation asks for a new copy."""
    material = json.dumps(["copy", source_id, body, generation], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


class Copier:
    """The copies of one lifecycle run (limits reached are remembered for the rest of the run)."""

    def __init__(
        self,
        settings: Settings,
        ownership: Ownership,
        calls: LifecycleCalls,
        result: LifecycleResult,
        *,
        dry_run: bool,
    ) -> None:
        assert settings.copy_region is not None
        self._settings = settings
        self._region: str = settings.copy_region
        self._ownership = ownership
        self._calls = calls
        self._result = result
        self._dry_run = dry_run
        self._limit: str | None = None  # why no more copies are asked for in this run
        self._busy: set[str] = set()  # boot volumes with a copy in progress
        self._refused: set[str] = set()  # boot volumes OCI will not copy

    # ------------------------------------------------------------- copying

    def copy(
        self, kind: Kind, volume_id: str, compartment: str, wanted: list[dict[str, Any]], copies: list[dict[str, Any]]
    ) -> None:
        """Copy each of ``wanted`` (newest first) without a live copy; ``copies``: what the destination lists of
        the volume (anyone's: a boot volume with any copy in progress is asked for no other)."""
        if kind.name == "bootVolume" and any(c.get("lifecycleState") in IN_PROGRESS_STATES for c in copies):
            self._busy.add(volume_id)
        live = {
            str(c.get(kind.source_field))
            for c in copies
            if c.get("lifecycleState") in LIVE_STATES and self._ownership.judge(c, kind, copy=True) == "own"
        }
        for source in wanted:
            source_id = str(source.get("id"))
            if source_id in live:
                continue
            if kind.name == "bootVolume" and (
                volume_id in self._refused or tags_of(source).get(COPY_TAG) == NOT_COPYABLE
            ):
                self._result.not_copyable += 1
                self._refused.add(volume_id)
                continue
            if self._limit is not None:
                self._defer(kind, source, volume_id, self._limit)
                continue
            if kind.name == "bootVolume" and volume_id in self._busy:
                self._defer(kind, source, volume_id, "a copy of this boot volume is in progress (one at a time)")
                continue
            try:
                self._copy_one(kind, source, volume_id, compartment)
            except ApiError as exc:
                self._refusal(kind, source, volume_id, exc)
            except BackupError as exc:
                self._result.fail(source_id, exc)

    def _copy_one(self, kind: Kind, source: dict[str, Any], volume_id: str, compartment: str) -> None:
        assert kind.copy_op is not None and kind.list_copies_op is not None
        source_id = str(source.get("id"))
        listed = self._calls.list(kind.list_copies_op, {"compartmentId": compartment, kind.source_field: source_id})
        ours = [c for c in listed if self._ownership.judge(c, kind, copy=True, copy_of=source_id) == "own"]
        if any(c.get("lifecycleState") in LIVE_STATES for c in ours):
            if kind.name == "bootVolume" and any(c.get("lifecycleState") in IN_PROGRESS_STATES for c in ours):
                self._busy.add(volume_id)
            return
        dead = {str(c.get("id")) for c in ours if c.get("lifecycleState") in DEAD_STATES}
        faulty = sorted(str(c.get("id")) for c in ours if c.get("lifecycleState") == "FAULTY")
        body: dict[str, Any] = {"destinationRegion": self._region, "displayName": self._ownership.copy_name(source)}
        if self._settings.copy_kms_key_id:
            body["kmsKeyId"] = self._settings.copy_kms_key_id
        entry: dict[str, Any] = {"backupId": source_id, "copyId": None, "region": self._region}
        if faulty:
            entry |= {"replaces": faulty, "reason": "the earlier copy is FAULTY"}
        if self._dry_run:
            self._copied(kind, volume_id, entry)
            return
        generation = len(dead)
        for _ in range(2):
            token = copy_token(source_id, body, generation)
            answer = self._calls.mutate(kind.copy_op, path={kind.path_param: source_id}, body=body, retry_token=token)
            copy = answer.data if isinstance(answer.data, dict) else {}
            copy_id = copy.get("id")
            if not isinstance(copy_id, str):
                raise InvalidResponse("the copy was accepted without the copy's OCID in the answer")
            state = self._state_of(kind, copy_id, copy)
            if copy_id not in dead and state not in DEAD_STATES:
                self._copied(kind, volume_id, {**entry, "copyId": copy_id})
                return
            # A replayed token answered a copy that is gone or FAULTY: the next generation makes a new one.
            logs.emit(logger, logging.WARNING, "copy", backupId=source_id, copyId=copy_id, state=state, replay=True)
            dead.add(copy_id)
            generation += 1
        raise InvalidResponse("the copy's retry token answered copies that are gone; the next run copies again")

    def _state_of(self, kind: Kind, copy_id: str, answered: dict[str, Any]) -> Any:
        """The copy's state as the destination shows it now (the answer's own, if it cannot be read)."""
        assert kind.get_copy_op is not None
        try:
            current = self._calls.get(kind.get_copy_op, {kind.path_param: copy_id})
        except BackupError:
            return answered.get("lifecycleState")
        return current.get("lifecycleState") if isinstance(current, dict) else answered.get("lifecycleState")

    def _copied(self, kind: Kind, volume_id: str, entry: dict[str, Any]) -> None:
        if kind.name == "bootVolume":
            self._busy.add(volume_id)
        self._result.record("copied", entry)
        logs.emit(logger, logging.INFO, "copy", **entry, dryRun=self._dry_run or None)

    def _defer(self, kind: Kind, source: dict[str, Any], volume_id: str, reason: str) -> None:
        entry = {"backupId": source.get("id"), kind.id_field: volume_id, "reason": reason}
        self._result.record("deferred", entry)
        logs.emit(logger, logging.INFO, "copy", outcome="deferred", **entry)

    def _refusal(self, kind: Kind, source: dict[str, Any], volume_id: str, exc: ApiError) -> None:
        source_id = str(source.get("id"))
        if is_limit(exc):
            # Retried later, never a loss. A boot volume's refusal may be its one-at-a-time limit only.
            if kind.name == "bootVolume":
                self._busy.add(volume_id)
            else:
                self._limit = "the copy limit was reached earlier in this run"
            self._result.fail(source_id, exc, retryable=True)
            return
        if kind.name == "bootVolume" and exc.status == 400:
            self._refused.add(volume_id)
            self._result.not_copyable += 1
            self._result.fail(
                source_id,
                ApiError(
                    exc.code,
                    "OCI refuses to copy this boot volume backup: copies are made only for boot volumes of "
                    "platform images, or of custom images built from them. It is not asked again "
                    f"(tagged {COPY_TAG}={NOT_COPYABLE}). {exc.message}"[:600],
                    exc.status,
                    exc.opc_request_id,
                ),
                retryable=False,
            )
            self._remember_refusal(kind, source)
            return
        self._result.fail(source_id, exc)

    def _remember_refusal(self, kind: Kind, source: dict[str, Any]) -> None:
        """Tag the source so later runs skip it; a failure here only means one more refusal later."""
        assert kind.update_op is not None
        source_id = str(source.get("id"))
        tags = {**tags_of(source), COPY_TAG: NOT_COPYABLE}
        try:
            self._calls.mutate(kind.update_op, path={kind.path_param: source_id}, body={"freeformTags": tags})
        except BackupError as exc:
            logs.emit(logger, logging.WARNING, "copy", backupId=source_id, outcome="not tagged", code=exc.code)

    # ---------------------------------------------------------------- locks

    def lock(self, kind: Kind, copies: list[dict[str, Any]]) -> None:
        """Give each AVAILABLE copy the configured retention fields it lacks (UpdateVolumeBackup there)."""
        fields = self._settings.retention_fields()
        if not fields or kind.update_copy_op is None:
            return
        for copy in copies:
            if copy.get("lifecycleState") != "AVAILABLE" or all(copy.get(k) == v for k, v in fields.items()):
                continue
            copy_id = str(copy.get("id"))
            if not self._dry_run:
                try:
                    self._calls.mutate(kind.update_copy_op, path={kind.path_param: copy_id}, body=fields)
                except BackupError as exc:
                    self._result.fail(copy_id, exc)
                    continue
            self._result.copies_locked += 1
            logs.emit(
                logger, logging.INFO, "copy-lock", copyId=copy_id, region=self._region, dryRun=self._dry_run or None
            )

"""The lifecycle of the function's own backups: retention and cross-region copies.

It runs on the ``createvolumebackup.end`` / ``createbootvolumebackup.end`` event of a
backup this function made (an Events rule with the function as action), and after a
schedule tick as a catch-up for the volumes it backed up. It only ever acts on the
function's **own** backups: those carrying the tags it stamps (``backup-trigger`` and
``backup-source``), made through the API (``sourceType`` MANUAL) and not copies from
elsewhere. Backups made by people, by OCI backup policies (``sourceType`` SCHEDULED)
or copied in are never touched.

Retention (configuration only: ``BACKUP_RETENTION_KEEP_LAST``, ``BACKUP_RETENTION_MAX_AGE_DAYS``):

- only AVAILABLE backups count toward keep-last: one still CREATING, or FAULTY, never
  pushes a good one out, and is not deleted either;
- a volume's newest AVAILABLE backup is never deleted, whatever the rule says;
- a backup whose retention period is still running (``timeRetentionExpiresAt`` in the
  future, or an indefinite retention) is never deleted: the API would refuse a locked one;
- a delete that finds the backup already gone is fine, so redeliveries are safe.

Copies (``BACKUP_COPY_REGION``): each of the function's AVAILABLE backups is copied once
(CopyVolumeBackup, called in the source region with ``destinationRegion``). Before copying,
the destination is listed by ``sourceVolumeBackupId``; the copy carries a retry token that
is a pure function of the source backup. OCI allows at most 10 copies in progress per
source region: a limit answer is a retryable failure, never a loss. Retention applies to
the copies in the destination region too, under the same rule, counting copies only.

A dry run lists (reads are fine) and reports what it would copy and delete, calling no
mutating API. Deletions and copies go through the run's throttle.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from backup_handler import logs
from backup_handler.errors import ApiError, BackupError, DeadlineExceeded
from backup_handler.oci.api import OciApi
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.settings import Settings
from backup_handler.vocabulary.fields import SOURCE_TAG, TRIGGER_TAG

logger = logging.getLogger(__name__)

BackupKind = Literal["volume", "bootVolume"]
Place = Literal["source", "copies"]
MIN_CALL_SECONDS = 0.25
# Retention manages the backups the function makes on its own account. A manual backup was asked for by
# a person ("before the upgrade") and is theirs to delete; counting it would also let anyone who may
# invoke the function push the automatic backups out of keep-last with a few manual requests.
RETAINED_TRIGGERS = frozenset({"event", "alarm", "schedule"})
# Every backup the function made, manual ones included, is copied.
TRIGGERS = frozenset({"manual", *RETAINED_TRIGGERS})
# What a copy made by the function is named: how its copies are told from a person's copy of its backups.
COPY_SUFFIX = " (copy)"
# Entries listed per kind in an answer; the rest are counted.
MAX_LISTED = 100


@dataclass(frozen=True)
class _Kind:
    id_field: str
    source_field: str
    list_op: str
    get_op: str
    delete_op: str
    copy_op: str
    list_copies_op: str
    delete_copy_op: str
    path_param: str


KINDS: dict[BackupKind, _Kind] = {
    "volume": _Kind(
        "volumeId",
        "sourceVolumeBackupId",
        "ListVolumeBackups",
        "GetVolumeBackup",
        "DeleteVolumeBackup",
        "CopyVolumeBackup",
        "ListCopiedVolumeBackups",
        "DeleteCopiedVolumeBackup",
        "volumeBackupId",
    ),
    "bootVolume": _Kind(
        "bootVolumeId",
        "sourceBootVolumeBackupId",
        "ListBootVolumeBackups",
        "GetBootVolumeBackup",
        "DeleteBootVolumeBackup",
        "CopyBootVolumeBackup",
        "ListCopiedBootVolumeBackups",
        "DeleteCopiedBootVolumeBackup",
        "bootVolumeBackupId",
    ),
}


def kind_of_backup(backup_id: str) -> BackupKind | None:
    if backup_id.startswith("ocid1.volumebackup."):
        return "volume"
    if backup_id.startswith("ocid1.bootvolumebackup."):
        return "bootVolume"
    return None


def is_own(backup: dict[str, Any], kind: BackupKind, *, copy: bool = False) -> bool:
    """Made by this function (its stamped tags, through the API); a copy only when ``copy`` is asked for."""
    tags = backup.get("freeformTags") or {}
    if not isinstance(tags, dict) or tags.get(TRIGGER_TAG) not in TRIGGERS or not tags.get(SOURCE_TAG):
        return False
    if backup.get("sourceType", "MANUAL") != "MANUAL":
        return False
    return bool(backup.get(KINDS[kind].source_field)) == copy


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def locked(backup: dict[str, Any], now: datetime) -> bool:
    """Whether a retention period, lock, prevent-deletion or legal hold may still protect the backup.

    Fails closed: an expiry that cannot be read counts as still running.
    """
    if backup.get("isIndefiniteRetentionEnabled"):
        return True
    raw = backup.get("timeRetentionExpiresAt")
    if raw is None:
        return bool(backup.get("isPreventDeletionEnabled"))
    expires = _time(raw)
    return expires is None or expires > now


def copy_name(backup: dict[str, Any]) -> str:
    name = backup.get("displayName") if isinstance(backup.get("displayName"), str) else backup.get("id")
    return f"{str(name)[: 255 - len(COPY_SUFFIX)]}{COPY_SUFFIX}"


@dataclass
class LifecycleResult:
    deleted: list[dict[str, Any]] = field(default_factory=list)
    copied: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    retryable: bool = False

    deleted_count: int = 0
    copied_count: int = 0
    complete: bool = False

    def fail(self, resource_id: str, exc: BackupError) -> None:
        failure = exc.failure()
        if len(self.errors) < MAX_LISTED:
            self.errors.append({"resourceId": resource_id, **failure.to_json()})
        self.retryable = self.retryable or failure.retryable

    def record(self, kind: Literal["deleted", "copied"], entry: dict[str, Any]) -> None:
        listed = self.deleted if kind == "deleted" else self.copied
        if len(listed) < MAX_LISTED:
            listed.append(entry)
        if kind == "deleted":
            self.deleted_count += 1
        else:
            self.copied_count += 1

    def document(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "copied": self.copied,
            "deletedCount": self.deleted_count,
            "copiedCount": self.copied_count,
        }


class Lifecycle:
    """Retention and copies for the volumes a run backed up, or for one backup-end event."""

    def __init__(self, settings: Settings, api: OciApi, limiter: AdaptiveLimiter) -> None:
        self._settings = settings
        self._api = api
        self._limiter = limiter

    # ------------------------------------------------------------ entry points

    def after_backup(
        self, backup_id: str, answer_by: float, *, dry_run: bool, result: LifecycleResult | None = None
    ) -> LifecycleResult:
        """A backup-end event: apply retention to its volume and copy it, if the function made it."""
        result = result if result is not None else LifecycleResult()
        kind = kind_of_backup(backup_id)
        if kind is None:
            return result
        try:
            spec = KINDS[kind]
            backup = self._api.call(
                spec.get_op, path={spec.path_param: backup_id}, budget_seconds=self._budget(answer_by)
            ).data
            if not isinstance(backup, dict) or not is_own(backup, kind):
                logs.emit(logger, logging.INFO, "lifecycle", backupId=backup_id, outcome="not the function's own")
                return result
            self._volume(kind, backup, answer_by, dry_run, result)
        except BackupError as exc:
            result.fail(backup_id, exc)
        return result

    def catch_up(
        self, created: list[dict[str, Any]], answer_by: float, *, dry_run: bool, result: LifecycleResult | None = None
    ) -> LifecycleResult:
        """After a schedule tick: for each volume backed up, apply retention and copy what has no copy yet."""
        result = result if result is not None else LifecycleResult()
        seen: set[str] = set()
        for backup in created:
            backup_id = backup.get("id")
            kind = kind_of_backup(backup_id) if isinstance(backup_id, str) else None
            volume_id = backup.get(KINDS[kind].id_field) if kind else None
            if kind is None or not isinstance(volume_id, str) or volume_id in seen:
                continue
            seen.add(volume_id)
            try:
                self._volume(kind, backup, answer_by, dry_run, result)
            except BackupError as exc:
                result.fail(volume_id, exc)
        return result

    # --------------------------------------------------------------- the rules

    def _volume(
        self, kind: BackupKind, backup: dict[str, Any], answer_by: float, dry_run: bool, result: LifecycleResult
    ) -> None:
        spec = KINDS[kind]
        volume_id, compartment = backup.get(spec.id_field), backup.get("compartmentId")
        if not isinstance(volume_id, str) or not isinstance(compartment, str):
            return
        own = [
            item
            for item in self._list(spec.list_op, compartment, {spec.id_field: volume_id}, answer_by)
            if is_own(item, kind)
        ]
        # Retention first: a backup about to be deleted is not worth copying.
        retained = [item for item in own if (item.get("freeformTags") or {}).get(TRIGGER_TAG) in RETAINED_TRIGGERS]
        deleted = self._retain(kind, "source", retained, answer_by, dry_run, result)
        if not self._settings.copy_region:
            return
        kept = [item for item in own if item.get("id") not in deleted and item.get("lifecycleState") == "AVAILABLE"]
        kept.sort(key=lambda item: _time(item.get("timeCreated")) or datetime.min.replace(tzinfo=UTC))
        source_times = {item.get("id"): _time(item.get("timeCreated")) for item in own}
        try:
            for item in kept:  # oldest first
                self._copy(kind, item, compartment, answer_by, dry_run, result)
            copies = [
                item
                for item in self._list(spec.list_copies_op, compartment, {spec.id_field: volume_id}, answer_by)
                if is_own(item, kind, copy=True)
                and str(item.get("displayName", "")).endswith(COPY_SUFFIX)
                and (item.get("freeformTags") or {}).get(TRIGGER_TAG) in RETAINED_TRIGGERS
            ]
        except BackupError as exc:
            result.fail(volume_id, exc)
            return

        # A copy ranks by its source backup's time where the source is known, so pruning the copies keeps
        # the copies of the newest backups, whatever order the copies themselves were made in.
        def ranked(item: dict[str, Any]) -> datetime | None:
            return source_times.get(item.get(spec.source_field)) or _time(item.get("timeCreated"))

        self._retain(kind, "copies", copies, answer_by, dry_run, result, ranked)

    def _retain(
        self,
        kind: BackupKind,
        place: Place,
        own: list[dict[str, Any]],
        answer_by: float,
        dry_run: bool,
        result: LifecycleResult,
        ranked: Callable[[dict[str, Any]], datetime | None] | None = None,
    ) -> set[str]:
        """Delete what falls outside the rule; the ids deleted (or, in a dry run, that would be)."""
        keep_last, max_age = self._settings.retention_keep_last, self._settings.retention_max_age_days
        deleted: set[str] = set()
        if not keep_last and not max_age:
            return deleted
        now = datetime.now(UTC)
        when = ranked or (lambda item: _time(item.get("timeCreated")))
        available = [item for item in own if item.get("lifecycleState") == "AVAILABLE" and when(item) is not None]
        available.sort(key=lambda item: when(item) or now, reverse=True)
        for position, item in enumerate(available[1:], start=1):  # the newest AVAILABLE one always stays
            created = when(item) or now
            reason = None
            if keep_last and position >= keep_last:
                reason = f"beyond the newest {keep_last} AVAILABLE backups of the volume"
            elif max_age and now - created > timedelta(days=max_age):
                reason = f"older than {max_age} days"
            if reason is None or locked(item, now):
                continue
            if self._delete(kind, place, item, reason, answer_by, dry_run, result):
                deleted.add(str(item.get("id")))
        return deleted

    # ------------------------------------------------------------------- calls

    def _budget(self, answer_by: float) -> float:
        budget = answer_by - time.monotonic()
        if budget < MIN_CALL_SECONDS:
            raise DeadlineExceeded("the deadline came before the backup lifecycle was done")
        return budget

    def _list(self, op: str, compartment: str, query: dict[str, str], answer_by: float) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self._api.pages(
            op, query={"compartmentId": compartment, **query}, budget=lambda: self._budget(answer_by)
        ):
            found.extend(page)
        return found

    def _mutate(self, op: str, answer_by: float, **kwargs: Any) -> Any:
        with self._limiter.slot(answer_by - MIN_CALL_SECONDS) as slot:
            if not slot:
                raise DeadlineExceeded("the deadline came before the backup lifecycle was done")
            try:
                return self._api.call(op, budget_seconds=self._budget(answer_by), **kwargs)
            except ApiError as exc:
                if exc.status == 429:
                    slot.mark_throttled()
                raise

    def _delete(
        self,
        kind: BackupKind,
        place: Place,
        item: dict[str, Any],
        reason: str,
        answer_by: float,
        dry_run: bool,
        result: LifecycleResult,
    ) -> bool:
        spec = KINDS[kind]
        backup_id = str(item.get("id"))
        region = self._settings.copy_region if place == "copies" else None
        entry = {"backupId": backup_id, "volumeId": item.get(spec.id_field), "reason": reason, "region": region}
        if not dry_run:
            op = spec.delete_copy_op if place == "copies" else spec.delete_op
            try:
                self._mutate(op, answer_by, path={spec.path_param: backup_id})
            except BackupError as exc:
                # A 404 too: OCI answers NotAuthorizedOrNotFound for a missing grant as for a missing backup,
                # and a backup gone already is listed TERMINATED, never offered for deletion again.
                result.fail(backup_id, exc)
                return False
        result.record("deleted", {key: value for key, value in entry.items() if value is not None})
        logs.emit(logger, logging.INFO, "retention", dryRun=dry_run or None, **entry)
        return True

    def _copy(
        self,
        kind: BackupKind,
        item: dict[str, Any],
        compartment: str,
        answer_by: float,
        dry_run: bool,
        result: LifecycleResult,
    ) -> None:
        spec = KINDS[kind]
        backup_id = str(item.get("id"))
        existing = self._list(spec.list_copies_op, compartment, {spec.source_field: backup_id}, answer_by)
        if any(copy.get("lifecycleState") not in ("TERMINATING", "TERMINATED") for copy in existing):
            return
        region = self._settings.copy_region
        body: dict[str, Any] = {"destinationRegion": region, "displayName": copy_name(item)}
        if self._settings.copy_kms_key_id:
            body["kmsKeyId"] = self._settings.copy_kms_key_id
        copy_id = None
        if not dry_run:
            token = hashlib.sha256(f"copy\n{backup_id}\n{region}".encode()).hexdigest()
            try:
                answer = self._mutate(
                    spec.copy_op, answer_by, path={spec.path_param: backup_id}, body=body, retry_token=token
                )
            except ApiError as exc:
                result.fail(backup_id, exc)
                return
            copy_id = answer.data.get("id") if isinstance(answer.data, dict) else None
        result.record("copied", {"backupId": backup_id, "copyId": copy_id, "region": region})
        logs.emit(
            logger, logging.INFO, "copy", backupId=backup_id, copyId=copy_id, region=region, dryRun=dry_run or None
        )

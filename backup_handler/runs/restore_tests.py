"""Restore tests: a backup is proven only by restoring it, so schedule ticks restore some, check them, and clean up.

With ``BACKUP_RESTORE_TEST_COMPARTMENT_ID`` (the *sandbox*: a compartment where the function may create
and delete volumes, and nowhere else), each schedule tick, after its backups and their lifecycle:

1. **Sweeps the sandbox.** It lists the sandbox's volumes and boot volumes and settles each restore-test
   volume of this deployment: AVAILABLE (and hydrated) → verified; FAULTY → failed; still provisioning
   after ``BACKUP_RESTORE_TEST_TTL`` → failed. A settled volume's result is recorded on its source backup
   and the volume is deleted. This is also how boot volumes are verified: Oracle's event catalogue has
   ``createbootvolume.begin`` but no ``.end``.
2. **Starts new tests.** Among the volumes and boot volumes the tick backed up, those whose last *passed*
   test is older than ``BACKUP_RESTORE_TEST_EVERY`` (the full-backup cadence grammar of
   :mod:`backup_handler.runs.cadence`: ``7d``, ``1w``, ``1mo``...) are due; the ones tested longest ago go
   first; a volume carrying a pair ``BACKUP_SELECTOR`` excludes is never tested (``ignored``, with the
   pair). The newest AVAILABLE backup of each (made by anyone) is restored into the sandbox
   (CreateVolume / CreateBootVolume from the backup) with the restore-test stamp and a retry token that is
   a pure function of this deployment, the backup and the tick's slot, so a redelivered tick gets the same
   volume back. At most ``BACKUP_RESTORE_TEST_MAX`` test volumes exist at once: the sweep counts them first.

A volume's ``createvolume.end`` event settles it at once (:meth:`RestoreTests.after_create`).

**Verification**: the test volume is AVAILABLE, not reported as still hydrating (``isHydrated`` false), and
its ``sizeInGBs`` equals the source backup's. The restore time is from the volume's ``timeCreated`` to its
``createvolume.end`` event, or to when a sweep first saw it settled (an upper bound). **The record** is one
freeform tag on the source backup, ``backup-restore-test`` = ``passed:<UTC time>:<seconds>`` or
``failed:<UTC time>:<seconds>`` (UpdateVolumeBackup / UpdateBootVolumeBackup, the backup's other tags
kept; OCI's 64-tag limit is checked first), so one list call per compartment shows every volume's last
test. A backup another deployment tested counts too.

**The stamp** on a test volume is two freeform tags: ``backup-restore-test-of`` = the source backup's
OCID and ``backup-deployment`` = this deployment's identity (``BACKUP_DEPLOYMENT_ID``, by default
``<FN_APP_NAME>/<FN_FN_NAME>``). A test volume is
deleted only when all three hold, each read from the API's own record of the volume (never from an event):

- it is in the sandbox compartment;
- its ``backup-deployment`` tag is this deployment's;
- its ``backup-restore-test-of`` tag equals its ``sourceDetails.id`` (and the source's type is a backup of
  its kind): a stamp copied onto a blank volume, or onto another restore, is not enough.

Anything else in the sandbox is never touched; a volume stamped for this deployment that fails the third
condition is reported (``ignored``) and counted against the maximum, never deleted.

The time ages are judged against is the later of this machine's clock and the newest time the API
itself wrote in this run (a backup's or a volume's ``timeCreated``, an event's ``eventTime``): an age is
never judged against a clock that is behind the service.

A dry run lists (reads are fine) and answers what it would start, verify and delete, calling no mutating API.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from backup_handler import logs
from backup_handler.errors import ApiError, BackupError, DeadlineExceeded, Failure, InvalidResponse
from backup_handler.oci.api import OciApi
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.runs.cadence import Cadence, full_due, parse_cadence
from backup_handler.runs.selection import exclusion
from backup_handler.settings import Settings
from backup_handler.vocabulary.fields import DEPLOYMENT_TAG, MAX_TAGS, RESTORE_RESULT_TAG, RESTORE_TEST_TAG

logger = logging.getLogger(__name__)

Kind = Literal["volume", "bootVolume"]
# The deployment's identity on what it makes (the same tag key and value the lifecycle stamps on backups).
MAX_TAG_VALUE_CHARS = 256
MIN_CALL_SECONDS = 0.25
# Entries listed per kind in an answer; the rest are counted.
MAX_LISTED = 100
# A tick's due volumes in one compartment up to this many: their backups are listed volume by volume;
# beyond, the compartment's AVAILABLE backups are listed once and grouped.
PER_VOLUME_LISTING = 10
TEST_NAME_PREFIX = "restore-test-"
_TAG_TIME = "%Y-%m-%dT%H:%M:%SZ"
_GONE = frozenset({"TERMINATING", "TERMINATED"})


def ttl_of(text: str) -> timedelta:
    """``BACKUP_RESTORE_TEST_TTL`` (``<n>h`` or ``<n>d``) as a duration."""
    cadence = parse_cadence(text)
    if cadence.unit == "h":
        return timedelta(hours=cadence.count)
    if cadence.unit == "d":
        return timedelta(days=cadence.count)
    raise ValueError(f"a restore-test TTL is <n>h or <n>d, not {text!r}")


@dataclass(frozen=True)
class _Kind:
    list_volumes: str
    get_volume: str
    create_volume: str
    delete_volume: str
    volume_param: str
    volume_prefix: str
    source_type: str
    list_backups: str
    get_backup: str
    update_backup: str
    backup_param: str
    backup_prefix: str
    backup_volume_field: str


KINDS: dict[Kind, _Kind] = {
    "volume": _Kind(
        "ListVolumes",
        "GetVolume",
        "CreateVolume",
        "DeleteVolume",
        "volumeId",
        "ocid1.volume.",
        "volumeBackup",
        "ListVolumeBackups",
        "GetVolumeBackup",
        "UpdateVolumeBackup",
        "volumeBackupId",
        "ocid1.volumebackup.",
        "volumeId",
    ),
    "bootVolume": _Kind(
        "ListBootVolumes",
        "GetBootVolume",
        "CreateBootVolume",
        "DeleteBootVolume",
        "bootVolumeId",
        "ocid1.bootvolume.",
        "bootVolumeBackup",
        "ListBootVolumeBackups",
        "GetBootVolumeBackup",
        "UpdateBootVolumeBackup",
        "bootVolumeBackupId",
        "ocid1.bootvolumebackup.",
        "bootVolumeId",
    ),
}


def kind_of_volume(volume_id: str) -> Kind | None:
    for kind, spec in KINDS.items():
        if volume_id.startswith(spec.volume_prefix):
            return kind
    return None


def kind_of_backup(backup_id: str) -> Kind | None:
    for kind, spec in KINDS.items():
        if backup_id.startswith(spec.backup_prefix):
            return kind
    return None


def stamp(backup_id: str, identity: str) -> dict[str, str]:
    """The freeform tags a restore-test volume of ``backup_id`` is created with."""
    return {RESTORE_TEST_TAG: backup_id, DEPLOYMENT_TAG: identity}


def why_not_own(volume: Mapping[str, Any], sandbox: str, identity: str) -> str | None:
    """None when ``volume`` (as the API shows it) is a restore test of this deployment; else why not.

    Three conditions, all required: in the sandbox; stamped with this deployment's identity; its stamp
    names the backup it was really restored from (``sourceDetails``).
    """
    volume_id = volume.get("id")
    kind = kind_of_volume(volume_id) if isinstance(volume_id, str) else None
    if kind is None:
        return "not a volume or boot volume"
    if volume.get("compartmentId") != sandbox:
        return "not in the restore-test compartment"
    tags = volume.get("freeformTags")
    source = tags.get(RESTORE_TEST_TAG) if isinstance(tags, dict) else None
    if not isinstance(source, str):
        return "carries no restore-test stamp"
    if tags.get(DEPLOYMENT_TAG) != identity:  # type: ignore[union-attr]
        return "stamped by another deployment"
    spec = KINDS[kind]
    details = volume.get("sourceDetails")
    if (
        not source.startswith(spec.backup_prefix)
        or not isinstance(details, dict)
        or details.get("type") != spec.source_type
        or details.get("id") != source
    ):
        return "its stamp does not name the backup it was restored from"
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RestoreRecord:
    """A restore test's result as recorded on its source backup."""

    passed: bool
    at: datetime
    seconds: int

    def tag(self) -> str:
        return f"{'passed' if self.passed else 'failed'}:{self.at.astimezone(UTC).strftime(_TAG_TIME)}:{self.seconds}"

    @classmethod
    def parse(cls, value: Any) -> RestoreRecord | None:
        """The record a tag value holds; None when it is not one (a person's edit, another format)."""
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_CHARS:
            return None
        status, _, rest = value.partition(":")
        moment, _, seconds = rest.rpartition(":")
        if status not in ("passed", "failed") or not seconds.isdigit():
            return None
        try:
            at = datetime.strptime(moment, _TAG_TIME).replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(status == "passed", at, int(seconds))


@dataclass
class RestoreTestResult:
    """What restore tests did in one invocation: the answer's ``restoreTests`` section."""

    started: list[dict[str, Any]] = field(default_factory=list)
    verified: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    cleaned: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"started": 0, "verified": 0, "failed": 0, "cleaned": 0, "ignored": 0, "errors": 0}
    )
    in_progress: int = 0
    retryable: bool = False

    def record(
        self, kind: Literal["started", "verified", "failed", "cleaned", "ignored"], entry: dict[str, Any]
    ) -> None:
        listed: list[dict[str, Any]] = getattr(self, kind)
        if len(listed) < MAX_LISTED:
            listed.append({key: value for key, value in entry.items() if value is not None})
        self.counts[kind] += 1

    def fail(self, resource_id: str | None, failure: Failure) -> None:
        if len(self.errors) < MAX_LISTED:
            self.errors.append({"resourceId": resource_id, **failure.to_json()})
        self.counts["errors"] += 1
        self.retryable = self.retryable or failure.retryable

    def document(self) -> dict[str, Any]:
        """A snapshot: work the deadline left running may still add to the lists."""
        return {
            "started": list(self.started),
            "verified": list(self.verified),
            "failed": list(self.failed),
            "cleaned": list(self.cleaned),
            "ignored": list(self.ignored),
            "errors": list(self.errors),
            **{f"{kind}Count": count for kind, count in dict(self.counts).items()},
            "inProgress": self.in_progress,
        }


@dataclass(frozen=True)
class _Candidate:
    kind: Kind
    volume_id: str
    backup: dict[str, Any]
    last_attempt: datetime | None


class RestoreTests:
    """Restore tests of one deployment in one sandbox compartment."""

    def __init__(self, settings: Settings, api: OciApi, limiter: AdaptiveLimiter, identity: str) -> None:
        if settings.restore_test_compartment_id is None:
            raise ValueError("restore tests need BACKUP_RESTORE_TEST_COMPARTMENT_ID")
        self._sandbox: str = settings.restore_test_compartment_id
        self._max = settings.restore_test_max
        self._every: Cadence = parse_cadence(settings.restore_test_every)
        self._ttl = ttl_of(settings.restore_test_ttl)
        self._api = api
        self._limiter = limiter
        self._identity = identity
        self._selector = settings.selector
        """Its exclusions hold for every volume: one they leave out is never restored (BACKUP_SELECTOR)."""
        self._api_now: datetime | None = None

    # ------------------------------------------------------------ entry points

    def catch_up(
        self,
        created: list[dict[str, Any]],
        slot_key: str,
        answer_by: float,
        *,
        dry_run: bool,
        result: RestoreTestResult | None = None,
    ) -> RestoreTestResult:
        """After a schedule tick: settle the sandbox's test volumes, then start tests of the volumes it backed up."""
        result = result if result is not None else RestoreTestResult()
        for backup in created:
            self._observe(backup.get("timeCreated"))
        try:
            existing = self._sweep(answer_by, dry_run, result)
        except BackupError as exc:
            # Without the count of test volumes that exist, starting one could pass the maximum.
            result.fail(self._sandbox, exc.failure())
            return result
        result.in_progress = len(existing)
        room = self._max - len(existing)
        if room <= 0:
            return result
        testing = {source for source in existing.values() if source}
        for candidate in self._due(created, testing, slot_key, answer_by, result):
            if room <= 0:
                break
            room -= self._start(candidate, slot_key, answer_by, dry_run, result)
        return result

    def after_create(
        self,
        volume_id: str,
        event_time: datetime | None,
        answer_by: float,
        *,
        dry_run: bool,
        result: RestoreTestResult | None = None,
    ) -> RestoreTestResult:
        """A ``createvolume.end`` event from the sandbox: settle the volume if it is this deployment's test."""
        result = result if result is not None else RestoreTestResult()
        kind = kind_of_volume(volume_id)
        if kind is None:
            return result
        spec = KINDS[kind]
        try:
            volume = self._call(spec.get_volume, answer_by, path={spec.volume_param: volume_id}).data
        except BackupError as exc:
            result.fail(volume_id, exc.failure())
            return result
        why = why_not_own(volume, self._sandbox, self._identity) if isinstance(volume, dict) else "no volume"
        if why is not None:
            result.record("ignored", {"testVolumeId": volume_id, "reason": why})
            logs.emit(logger, logging.INFO, "restore-test", testVolumeId=volume_id, outcome="ignored", reason=why)
            return result
        if event_time is not None:
            self._observe(event_time.isoformat())
        if self._settle(kind, volume, answer_by, dry_run, result, observed_at=event_time):
            result.in_progress = 1
        return result

    # ------------------------------------------------------------------ sweep

    def _sweep(self, answer_by: float, dry_run: bool, result: RestoreTestResult) -> dict[str, str | None]:
        """Settle every test volume of this deployment in the sandbox; those that still exist → their source."""
        existing: dict[str, str | None] = {}
        for kind, spec in KINDS.items():
            for volume in self._list(spec.list_volumes, {"compartmentId": self._sandbox}, answer_by):
                volume_id = volume.get("id")
                if not isinstance(volume_id, str) or volume.get("lifecycleState") in _GONE:
                    continue
                self._observe(volume.get("timeCreated"))
                why = why_not_own(volume, self._sandbox, self._identity)
                raw = volume.get("freeformTags")
                tags: dict[str, Any] = raw if isinstance(raw, dict) else {}
                if why is not None:
                    if tags.get(DEPLOYMENT_TAG) == self._identity and RESTORE_TEST_TAG in tags:
                        # Stamped for this deployment but not provably its own: kept, reported, and counted.
                        existing[volume_id] = None
                        result.record("ignored", {"testVolumeId": volume_id, "reason": why})
                    continue
                if self._settle(kind, volume, answer_by, dry_run, result, observed_at=None):
                    existing[volume_id] = tags.get(RESTORE_TEST_TAG)
        return existing

    def _settle(
        self,
        kind: Kind,
        volume: dict[str, Any],
        answer_by: float,
        dry_run: bool,
        result: RestoreTestResult,
        *,
        observed_at: datetime | None,
    ) -> bool:
        """Verify, fail or leave one test volume of this deployment; whether it still exists afterwards."""
        state = volume.get("lifecycleState")
        if state in _GONE:
            return False
        volume_id = str(volume["id"])
        source = str(volume["freeformTags"][RESTORE_TEST_TAG])
        now = self._now()
        created = _time(volume.get("timeCreated"))
        seconds = max(int(((observed_at or now) - created).total_seconds()), 0) if created else 0
        backup: dict[str, Any] | None = None
        if state == "AVAILABLE" and volume.get("isHydrated") is not False:
            try:
                backup = self._backup(kind, source, answer_by)
            except BackupError as exc:
                failure = exc.failure()
                result.fail(source, failure)
                if failure.retryable and not (isinstance(exc, ApiError) and exc.status == 404):
                    return True  # a redelivery or the next tick verifies it
                return not self._delete(
                    kind, volume_id, source, "its source backup cannot be read", answer_by, dry_run, result
                )
            reason = _mismatch(volume, backup)
        elif state == "FAULTY":
            reason = "the restore ended FAULTY"
        elif created is None or now - created > self._ttl:
            what = "hydrated" if state == "AVAILABLE" else "AVAILABLE"
            reason = f"not {what} within {self._ttl_text()} (state {state})"
        else:
            return True  # still restoring: it counts against the maximum
        record = RestoreRecord(reason is None, now, seconds)
        entry = {"testVolumeId": volume_id, "backupId": source, "seconds": seconds, "reason": reason}
        result.record("verified" if record.passed else "failed", entry)
        logs.emit(
            logger,
            logging.INFO if record.passed else logging.WARNING,
            "restore-test",
            outcome="passed" if record.passed else "failed",
            dryRun=dry_run or None,
            **entry,
        )
        if not dry_run:
            self._record(kind, source, backup, record, answer_by, result)
        why = "verified" if record.passed else "failed"
        return not self._delete(kind, volume_id, source, why, answer_by, dry_run, result)

    def _backup(self, kind: Kind, backup_id: str, answer_by: float) -> dict[str, Any]:
        spec = KINDS[kind]
        data = self._call(spec.get_backup, answer_by, path={spec.backup_param: backup_id}).data
        if not isinstance(data, dict):
            raise InvalidResponse(f"{spec.get_backup} answered with something that is not a backup")
        return data

    def _record(
        self,
        kind: Kind,
        backup_id: str,
        backup: dict[str, Any] | None,
        record: RestoreRecord,
        answer_by: float,
        result: RestoreTestResult,
    ) -> None:
        """Write the result on the source backup, keeping its other tags (UpdateVolumeBackup replaces them all)."""
        spec = KINDS[kind]
        try:
            backup = backup or self._backup(kind, backup_id, answer_by)
            tags = dict(backup.get("freeformTags") or {})
            defined = backup.get("definedTags") or {}
            defined_count = sum(len(keys) for keys in defined.values() if isinstance(keys, dict))
            tags[RESTORE_RESULT_TAG] = record.tag()
            if len(tags) + defined_count > MAX_TAGS:
                result.fail(
                    backup_id,
                    Failure(
                        "TooManyTags",
                        f"the result could not be recorded: the backup would carry more than {MAX_TAGS} tags",
                        400,
                        False,
                    ),
                )
                return
            self._mutate(
                spec.update_backup, answer_by, path={spec.backup_param: backup_id}, body={"freeformTags": tags}
            )
        except BackupError as exc:
            result.fail(backup_id, exc.failure())

    def _delete(
        self,
        kind: Kind,
        volume_id: str,
        source: str,
        reason: str,
        answer_by: float,
        dry_run: bool,
        result: RestoreTestResult,
    ) -> bool:
        """Delete a test volume already proven this deployment's own; whether it is (or, dry, would be) gone."""
        spec = KINDS[kind]
        if not dry_run:
            try:
                self._mutate(spec.delete_volume, answer_by, path={spec.volume_param: volume_id})
            except BackupError as exc:
                result.fail(volume_id, exc.failure())
                return False
        result.record("cleaned", {"testVolumeId": volume_id, "backupId": source, "reason": reason})
        logs.emit(
            logger, logging.INFO, "restore-test", outcome="deleted", testVolumeId=volume_id, dryRun=dry_run or None
        )
        return True

    # ------------------------------------------------------------------ start

    def _due(
        self,
        created: list[dict[str, Any]],
        testing: set[str],
        slot_key: str,
        answer_by: float,
        result: RestoreTestResult,
    ) -> list[_Candidate]:
        """The volumes the tick backed up whose test is due, longest since an attempt first."""
        groups: dict[tuple[Kind, str], set[str]] = {}
        for backup in created:
            backup_id = backup.get("id")
            kind = kind_of_backup(backup_id) if isinstance(backup_id, str) else None
            if kind is None:
                continue
            volume_id, compartment = backup.get(KINDS[kind].backup_volume_field), backup.get("compartmentId")
            if isinstance(volume_id, str) and isinstance(compartment, str) and compartment != self._sandbox:
                groups.setdefault((kind, compartment), set()).add(volume_id)
        listed: list[tuple[Kind, dict[str, list[dict[str, Any]]]]] = []
        for (kind, compartment), volumes in groups.items():
            try:
                listed.append((kind, self._available_backups(kind, compartment, volumes, answer_by)))
            except BackupError as exc:
                result.fail(compartment, exc.failure())
        now = self._now()  # after the listings: the times they hold are the API's own
        due: list[_Candidate] = []
        for kind, by_volume in listed:
            for volume_id, backups in by_volume.items():
                if any(backup.get("id") in testing for backup in backups):
                    continue  # a test of this volume is under way
                records = [RestoreRecord.parse((b.get("freeformTags") or {}).get(RESTORE_RESULT_TAG)) for b in backups]
                passed = [r.at for r in records if r is not None and r.passed]
                attempts = [r.at for r in records if r is not None]
                if not full_due(max(passed, default=None), now, self._every):
                    continue
                newest = max(backups, key=lambda b: _time(b.get("timeCreated")) or datetime.min.replace(tzinfo=UTC))
                due.append(_Candidate(kind, volume_id, newest, max(attempts, default=None)))

        def order(candidate: _Candidate) -> tuple[datetime, str]:
            rotation = hashlib.sha256(f"{slot_key}\n{candidate.volume_id}".encode()).hexdigest()
            return (candidate.last_attempt or datetime.min.replace(tzinfo=UTC), rotation)

        return sorted(due, key=order)

    def _available_backups(
        self, kind: Kind, compartment: str, volumes: set[str], answer_by: float
    ) -> dict[str, list[dict[str, Any]]]:
        """Each volume's AVAILABLE backups: listed volume by volume when few, else the compartment once."""
        spec = KINDS[kind]
        found: dict[str, list[dict[str, Any]]] = {}
        query = {"compartmentId": compartment, "lifecycleState": "AVAILABLE"}
        queries = (
            [{**query, spec.backup_volume_field: volume_id} for volume_id in sorted(volumes)]
            if len(volumes) <= PER_VOLUME_LISTING
            else [query]
        )
        for each in queries:
            for backup in self._list(spec.list_backups, each, answer_by):
                volume_id = backup.get(spec.backup_volume_field)
                if (
                    volume_id in volumes
                    and backup.get("lifecycleState") == "AVAILABLE"
                    and _time(backup.get("timeCreated"))
                ):
                    found.setdefault(str(volume_id), []).append(backup)
                    self._observe(backup.get("timeCreated"))
        return found

    def _start(
        self, candidate: _Candidate, slot_key: str, answer_by: float, dry_run: bool, result: RestoreTestResult
    ) -> bool:
        """Start one test (dry: say so); whether it took a place among the tests that may exist at once
        (an attempt that failed does; a volume the configured selector's exclusions leave out does not)."""
        spec = KINDS[candidate.kind]
        backup_id = str(candidate.backup.get("id"))
        entry: dict[str, Any] = {"volumeId": candidate.volume_id, "backupId": backup_id}
        try:
            source = self._call(spec.get_volume, answer_by, path={spec.volume_param: candidate.volume_id}).data
            excluded = exclusion(source, self._selector) if self._selector and isinstance(source, dict) else None
            if excluded is not None:  # a restore is a copy of the volume's data: never of one left out
                result.record("ignored", {**entry, "reason": f"left out by the selector: {excluded}"})
                logs.emit(logger, logging.INFO, "restore-test", outcome="excluded", reason=excluded, **entry)
                return False
            domain = source.get("availabilityDomain") if isinstance(source, dict) else None
            if not isinstance(domain, str):
                raise InvalidResponse(f"{spec.get_volume} answered without the volume's availability domain")
            body = {
                "compartmentId": self._sandbox,
                "availabilityDomain": domain,
                "displayName": f"{TEST_NAME_PREFIX}{backup_id.rsplit('.', 1)[-1][-12:]}",
                "sourceDetails": {"type": spec.source_type, "id": backup_id},
                "freeformTags": stamp(backup_id, self._identity),
            }
            if not dry_run:
                token = hashlib.sha256(f"restore-test\n{self._identity}\n{backup_id}\n{slot_key}".encode()).hexdigest()
                try:
                    answer = self._mutate(spec.create_volume, answer_by, body=body, retry_token=token)
                except ApiError as exc:
                    if exc.status == 409 and exc.code == "InvalidatedRetryToken":
                        # This slot's test of this backup was made and deleted already (a redelivered tick).
                        logs.emit(logger, logging.INFO, "restore-test", outcome="already tested this slot", **entry)
                        return True
                    raise
                made = answer.data if isinstance(answer.data, dict) else {}
                entry["testVolumeId"] = made.get("id")
                self._observe(made.get("timeCreated"))
        except BackupError as exc:
            result.fail(candidate.volume_id, exc.failure())
            return True
        result.record("started", entry)
        logs.emit(logger, logging.INFO, "restore-test", outcome="started", dryRun=dry_run or None, **entry)
        return True

    # ------------------------------------------------------------------- calls

    def _observe(self, value: Any) -> None:
        moment = _time(value)
        if moment is not None and (self._api_now is None or moment > self._api_now):
            self._api_now = moment

    def _now(self) -> datetime:
        now = datetime.now(UTC)
        return max(now, self._api_now) if self._api_now else now

    def _ttl_text(self) -> str:
        hours = int(self._ttl.total_seconds()) // 3600
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"

    def _budget(self, answer_by: float) -> float:
        budget = answer_by - time.monotonic()
        if budget < MIN_CALL_SECONDS:
            raise DeadlineExceeded("the deadline came before the restore tests were done")
        return budget

    def _call(self, op: str, answer_by: float, **kwargs: Any) -> Any:
        return self._api.call(op, budget_seconds=self._budget(answer_by), **kwargs)

    def _list(self, op: str, query: dict[str, str], answer_by: float) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        budget: Callable[[], float] = lambda: self._budget(answer_by)  # noqa: E731
        for page in self._api.pages(op, query=query, budget=budget):
            found.extend(page)
        return found

    def _mutate(self, op: str, answer_by: float, **kwargs: Any) -> Any:
        with self._limiter.slot(answer_by - MIN_CALL_SECONDS) as slot:
            if not slot:
                raise DeadlineExceeded("the deadline came before the restore tests were done")
            try:
                return self._api.call(op, budget_seconds=self._budget(answer_by), **kwargs)
            except ApiError as exc:
                if exc.status == 429:
                    slot.mark_throttled()
                raise


def _mismatch(volume: Mapping[str, Any], backup: Mapping[str, Any]) -> str | None:
    """Why a restored volume does not match its backup; None when it does."""
    expected, actual = backup.get("sizeInGBs"), volume.get("sizeInGBs")
    if not isinstance(expected, int) or isinstance(expected, bool):
        return "the backup states no size (sizeInGBs) to compare the restored volume with"
    if actual != expected:
        return f"the restored volume has {actual} GB; the backup is of {expected} GB"
    return None

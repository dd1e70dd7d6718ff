"""The coverage audit: is every selected volume, boot volume and volume group protected, right now?

Each resource the selector selects (:mod:`backup_handler.runs.selection`: AVAILABLE, carrying
the selector's tags and none it excludes, in its compartment and, when asked, those below, never
the restore-test sandbox) is checked against the rules configuration turns on (a resource an
exclusion leaves out is not unprotected: it is counted in ``excluded``):

- ``rpo`` (always): its newest AVAILABLE backup, made by anyone (this function, a backup
  policy, a person, a volume group backup), is younger than ``BACKUP_AUDIT_RPO_HOURS``;
- ``copy`` (with ``BACKUP_COPY_REGION``; volumes and boot volumes): that backup, or a newer
  one, has an AVAILABLE copy in the copy region. Backups younger than
  ``BACKUP_AUDIT_COPY_GRACE_HOURS`` may still be copying: the rule then checks the newest
  one older than that (or any newer one) instead;
- ``lock`` (with ``BACKUP_RETENTION_LOCK``): the newest AVAILABLE backup this deployment
  made is retention-locked, and its lock has not expired;
- ``key`` (with ``BACKUP_KMS_KEY_ID`` or ``BACKUP_ALLOWED_KMS_KEY_IDS``; volumes and boot
  volumes): every AVAILABLE backup is encrypted with one of those keys;
- ``restore_test``: reserved for restore tests; off until they are configured.

A resource with no AVAILABLE backup at all is reported once, under ``rpo``: the other rules
judge backups, and there is none to judge. A backup dated more than an hour ahead of the function's
clock is counted (storage, keys) but trusted for nothing a newer backup would satisfy: a wrong or
forged ``timeCreated`` cannot make a stale volume look protected.

It only reads, and reads in bulk: backups are listed per compartment (ListVolumeBackups,
ListBootVolumeBackups, ListVolumeGroupBackups with ``compartmentId`` and, where the API has
it, ``lifecycleState=AVAILABLE``; the copy region's alike) and folded into a few numbers per
resource as pages arrive, never fetched per volume: 10,000 volumes cost tens of list calls.
No mutating operation can be called from here (:meth:`Auditor._pages` refuses one).

Storage is each AVAILABLE backup's ``uniqueSizeInGBs`` (a group backup's
``uniqueSizeInGbs``) in the function's region, per resource and in total; a member backup of a
group backup the audit counted is not counted twice in the total.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from backup_handler import logs
from backup_handler.errors import DeadlineExceeded, InternalError, InvalidRequest
from backup_handler.oci.api import OPERATIONS, OciApi
from backup_handler.runs.selection import Resolution
from backup_handler.settings import Settings
from backup_handler.triggers.audit import AuditRequest
from backup_handler.triggers.request import Target
from backup_handler.vocabulary.ocids import TargetKind, kind_of, normalize

logger = logging.getLogger(__name__)

Rule = Literal["rpo", "copy", "lock", "key", "restore_test"]
RULES: tuple[Rule, ...] = ("rpo", "copy", "lock", "key", "restore_test")
RESTORE_TEST: Rule = "restore_test"
"""Reserved: a restore test of one of the resource's backups passed recently. Off until restore tests exist."""

# Violations listed in an answer (the rest are counted), and resources listed with their storage.
MAX_LISTED = 100
# Resources one audit checks; a selection beyond it is refused (narrow the selector).
MAX_AUDITED = 50_000
# Backups younger than the copy grace remembered per resource (a copy of any of them satisfies the copy rule).
MAX_RECENT = 32
MIN_CALL_SECONDS = 0.25
AVAILABLE = "AVAILABLE"
# No backup stores more than this (a block volume is at most 32 TB): a larger size is not believed, nor counted.
MAX_BACKUP_GBS = 1_048_576
# A backup dated further ahead of the function's clock than this is not believed to satisfy any rule.
MAX_CLOCK_SKEW_SECONDS = 3600


@dataclass(frozen=True)
class _BackupList:
    id_field: str
    list_op: str
    copies_op: str | None
    source_field: str | None
    size_field: str
    available_filter: bool
    """Whether the list API filters by lifecycleState (ListVolumeGroupBackups has no such filter)."""


_LISTS: dict[TargetKind, _BackupList] = {
    "volume": _BackupList(
        "volumeId", "ListVolumeBackups", "ListCopiedVolumeBackups", "sourceVolumeBackupId", "uniqueSizeInGBs", True
    ),
    "bootVolume": _BackupList(
        "bootVolumeId",
        "ListBootVolumeBackups",
        "ListCopiedBootVolumeBackups",
        "sourceBootVolumeBackupId",
        "uniqueSizeInGBs",
        True,
    ),
    "volumeGroup": _BackupList("volumeGroupId", "ListVolumeGroupBackups", None, None, "uniqueSizeInGbs", False),
}


def made_by_deployment(backup: dict[str, Any], kind: TargetKind, identity: str | None) -> bool:
    """Whether this deployment made ``backup`` (not a copy): the one ownership check the audit uses, the
    lifecycle's own (:class:`~backup_handler.runs.ownership.Ownership`). Without an identity, nothing is."""
    from backup_handler.runs.ownership import KINDS, Ownership

    return identity is not None and Ownership(identity).judge(backup, KINDS[kind]) == "own"


def restore_test_rule(settings: Settings) -> bool:
    """Whether the ``restore_test`` rule is checked: not until restore tests are configured."""
    return False


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _size(value: Any) -> float:
    """A size in GB as the API reports it; anything that is not a plausible size counts as nothing."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) if 0 <= value <= MAX_BACKUP_GBS else 0.0
    return 0.0


def _hours(seconds: float) -> float:
    return round(max(seconds, 0.0) / 3600, 2)


class _Resource:
    """What the audit keeps of one selected resource while pages arrive: a few numbers and ids."""

    __slots__ = (
        "backups",
        "checked_id",
        "checked_time",
        "copied",
        "future",
        "gbs",
        "kind",
        "newest_id",
        "newest_time",
        "own_id",
        "own_lock",
        "own_time",
        "recent",
        "wrong_key",
        "wrong_key_id",
        "wrong_key_time",
        "wrong_key_value",
    )

    def __init__(self, kind: TargetKind) -> None:
        self.kind = kind
        self.backups = 0
        self.future = 0  # AVAILABLE backups dated implausibly far ahead: counted in storage, trusted for nothing
        self.gbs = 0.0
        self.newest_time: float | None = None
        self.newest_id: str | None = None
        self.checked_time: float | None = None  # newest AVAILABLE backup older than the copy grace
        self.checked_id: str | None = None
        self.recent: list[tuple[float, str]] | None = None  # AVAILABLE backups within the copy grace
        self.copied = False
        self.own_time: float | None = None
        self.own_id: str | None = None
        self.own_lock: str | None = None  # why the deployment's newest backup is not locked (None: it is)
        self.wrong_key = 0
        self.wrong_key_id: str | None = None
        self.wrong_key_time = 0.0
        self.wrong_key_value: str | None = None


@dataclass
class AuditResult:
    """The audit's findings: counts, the first violations, storage, and what it cost."""

    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked: int = 0
    compliant: int = 0
    violations: list[dict[str, str]] = field(default_factory=list)
    violation_count: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    without_backup: int = 0
    excluded: int = 0
    """Resources the selector's exclusions leave out: never checked, so never a violation."""
    oldest_newest_hours: float | None = None
    total_gbs: float = 0.0
    per_resource: list[dict[str, Any]] = field(default_factory=list)
    list_calls: int = 0
    seconds: float = 0.0
    complete: bool = False

    def add(self, resource_id: str, rule: Rule, detail: str) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + 1
        self.violation_count += 1
        if len(self.violations) < MAX_LISTED:
            self.violations.append({"resourceId": resource_id, "rule": rule, "detail": detail})


class Auditor:
    """One audit over one selection, reading through ``api`` until ``answer_by`` (a monotonic time)."""

    def __init__(self, settings: Settings, api: OciApi) -> None:
        self._settings = settings
        self._api = api
        allowed = {*settings.allowed_kms_key_ids, *([settings.kms_key_id] if settings.kms_key_id else [])}
        self._allowed_keys = frozenset(key.lower() for key in allowed)
        self._latest_believable = math.inf

    # ------------------------------------------------------------------ rules

    def rules(self) -> dict[str, dict[str, Any]]:
        """The rules configuration turns on, with what each checks against."""
        settings = self._settings
        rules: dict[str, dict[str, Any]] = {"rpo": {"hours": settings.audit_rpo_hours}}
        if settings.copy_region:
            rules["copy"] = {"region": settings.copy_region, "graceHours": settings.audit_copy_grace_hours}
        if settings.retention_lock:
            rules["lock"] = {}
        if self._allowed_keys:
            rules["key"] = {"allowed": len(self._allowed_keys)}
        if restore_test_rule(settings):
            rules[RESTORE_TEST] = {}
        return rules

    # ------------------------------------------------------------------ run

    def run(self, request: AuditRequest, answer_by: float, result: AuditResult) -> AuditResult:
        """Audit ``request``'s selection into ``result`` (filled as it goes; ``complete`` once done)."""
        started = time.monotonic()
        now = time.time()
        rules = self.rules()
        result.rules = rules
        self._latest_believable = now + MAX_CLOCK_SKEW_SECONDS
        result.counts = {rule: 0 for rule in rules}

        def budget() -> float:
            left = answer_by - time.monotonic()
            if left < MIN_CALL_SECONDS:
                raise DeadlineExceeded(
                    "the deadline came before the audit was done: give the function more time "
                    "(its timeout; run large audits detached) or narrow the selector"
                )
            return left

        sandbox = self._settings.restore_test_compartment_id  # its volumes are restore tests: never backed up
        resolution = Resolution(request.selector, self._api, budget, exclude=frozenset({sandbox} if sandbox else ()))
        resources = self._select(resolution)
        result.list_calls = resolution.list_calls
        result.excluded = resolution.excluded
        compartments = resolution.compartments
        kinds = {resource.kind for resource in resources.values()}
        cutoff = now - self._settings.audit_copy_grace_hours * 3600
        counted_group_backups: set[str] = set()

        for kind in ("volumeGroup", "volume", "bootVolume"):  # groups first: their members' backups count once
            if kind not in kinds:
                continue
            spec = _LISTS[kind]
            query: dict[str, Any] = {"lifecycleState": AVAILABLE} if spec.available_filter else {}
            for compartment in compartments:
                for page in self._pages(spec.list_op, {"compartmentId": compartment, **query}, budget, result):
                    for item in page:
                        self._fold(kind, spec, item, resources, cutoff, counted_group_backups, result)

        if "copy" in rules:
            self._copies(resources, compartments, cutoff, budget, result)

        self._judge(resources, now, result)
        result.seconds = round(time.monotonic() - started, 3)
        result.complete = True
        logs.emit(
            logger,
            logging.INFO,
            "audit",
            checked=result.checked,
            compliant=result.compliant,
            counts=result.counts,
            listCalls=result.list_calls,
            seconds=result.seconds,
        )
        return result

    def _select(self, resolution: Resolution) -> dict[str, _Resource]:
        """Every selected resource, members of selected groups included (each is a volume of its own too)."""
        resources: dict[str, _Resource] = {}
        for found in resolution:
            resource_id = normalize(found.resource_id) if found.resource_id else None
            kind = found.kind if isinstance(found, Target) else (kind_of(resource_id) if resource_id else None)
            if resource_id is None or kind is None or resource_id in resources:
                continue
            if len(resources) >= MAX_AUDITED:
                raise InvalidRequest(
                    f"the selector selects more than {MAX_AUDITED} volumes, boot volumes and volume groups; "
                    "audit narrower selections (one compartment, or a tag) one at a time",
                    errors=[{"field": "selector", "problem": f"selects more than {MAX_AUDITED} resources"}],
                )
            resources[resource_id] = _Resource(kind)
        return resources

    def _pages(
        self, op: str, query: dict[str, Any], budget: Callable[[], float], result: AuditResult
    ) -> Iterator[list[dict[str, Any]]]:
        if OPERATIONS[op].mutating:  # the audit only reads: a mutating operation here is a defect
            raise InternalError(f"the audit may not call {op}")
        for page in self._api.pages(op, query=query, budget=budget):
            result.list_calls += 1
            yield page

    def _fold(
        self,
        kind: TargetKind,
        spec: _BackupList,
        item: dict[str, Any],
        resources: dict[str, _Resource],
        cutoff: float,
        counted_group_backups: set[str],
        result: AuditResult,
    ) -> None:
        """Fold one listed backup into its resource's numbers (anything else listed is passed over)."""
        owner = item.get(spec.id_field)
        backup_id = item.get("id")
        if not isinstance(owner, str) or not isinstance(backup_id, str) or item.get("lifecycleState") != AVAILABLE:
            return
        resource = resources.get(normalize(owner))
        created = _epoch(item.get("timeCreated"))
        if resource is None or resource.kind != kind or created is None:
            return
        gbs = _size(item.get(spec.size_field))
        resource.backups += 1
        resource.gbs += gbs
        if kind == "volumeGroup":
            counted_group_backups.add(backup_id)
            result.total_gbs += gbs
        elif item.get("volumeGroupBackupId") not in counted_group_backups:
            result.total_gbs += gbs
        if self._allowed_keys and kind != "volumeGroup":
            key = item.get("kmsKeyId")
            if not isinstance(key, str) or key.lower() not in self._allowed_keys:
                resource.wrong_key += 1
                if resource.wrong_key_id is None or created > resource.wrong_key_time:
                    resource.wrong_key_id, resource.wrong_key_time = backup_id, created
                    resource.wrong_key_value = key[:255] if isinstance(key, str) else None
        if created > self._latest_believable:  # trusted for no rule that a newer backup would satisfy
            resource.future += 1
            return
        if resource.newest_time is None or created > resource.newest_time:
            resource.newest_time, resource.newest_id = created, backup_id
        if spec.copies_op is not None:
            if created > cutoff:
                recent = resource.recent if resource.recent is not None else []
                recent.append((created, backup_id))
                if len(recent) > MAX_RECENT:  # keep the newest: a copy of any of them will do
                    recent = heapq.nlargest(MAX_RECENT, recent)
                resource.recent = recent
            elif resource.checked_time is None or created > resource.checked_time:
                resource.checked_time, resource.checked_id = created, backup_id
        if (
            self._settings.retention_lock
            and made_by_deployment(item, kind, self._settings.deployment_id)
            and (resource.own_time is None or created > resource.own_time)
        ):
            resource.own_time, resource.own_id, resource.own_lock = created, backup_id, _lock_problem(item)

    def _copies(
        self,
        resources: dict[str, _Resource],
        compartments: tuple[str, ...],
        cutoff: float,
        budget: Callable[[], float],
        result: AuditResult,
    ) -> None:
        """Mark each resource whose checked backup (or a newer one) has an AVAILABLE copy in the copy region."""
        wanted: dict[str, _Resource] = {}
        kinds: set[TargetKind] = set()
        for resource in resources.values():
            if _LISTS[resource.kind].copies_op is None or resource.newest_time is None:
                continue
            kinds.add(resource.kind)
            for _, backup_id in resource.recent or ():
                wanted[backup_id] = resource
            if resource.checked_id is not None:
                wanted[resource.checked_id] = resource
        for kind in ("volume", "bootVolume"):
            if kind not in kinds:
                continue
            spec = _LISTS[kind]
            assert spec.copies_op is not None and spec.source_field is not None
            for compartment in compartments:
                query = {"compartmentId": compartment, "lifecycleState": AVAILABLE}
                for page in self._pages(spec.copies_op, query, budget, result):
                    for copy in page:
                        source = copy.get(spec.source_field)
                        if copy.get("lifecycleState") == AVAILABLE and isinstance(source, str) and source in wanted:
                            wanted[source].copied = True

    # ------------------------------------------------------------------ judging

    def _judge(self, resources: dict[str, _Resource], now: float, result: AuditResult) -> None:
        rules = result.rules
        rpo_seconds = self._settings.audit_rpo_hours * 3600
        oldest: float | None = None
        largest: list[tuple[float, str, int]] = []
        for resource_id, resource in resources.items():
            result.checked += 1
            before = result.violation_count
            if resource.gbs > 0 or resource.backups:
                entry = (resource.gbs, resource_id, resource.backups)
                if len(largest) < MAX_LISTED:
                    heapq.heappush(largest, entry)
                else:
                    heapq.heappushpop(largest, entry)
            if resource.newest_time is None:
                result.without_backup += 1
                detail = "no AVAILABLE backup"
                if resource.future:
                    detail += f" dated now or earlier ({resource.future} dated in the future, which no clock explains)"
                result.add(resource_id, "rpo", detail)
                continue
            age = now - resource.newest_time
            oldest = age if oldest is None else max(oldest, age)
            if age > rpo_seconds:
                result.add(
                    resource_id,
                    "rpo",
                    f"newest AVAILABLE backup {resource.newest_id} is {_hours(age)} h old "
                    f"(RPO {self._settings.audit_rpo_hours} h)",
                )
            # Only backups within the copy grace (checked_id None): still copying, not yet a violation.
            copyable = _LISTS[resource.kind].copies_op is not None and resource.checked_id is not None
            if "copy" in rules and copyable and not resource.copied:
                result.add(
                    resource_id,
                    "copy",
                    f"no AVAILABLE copy in {self._settings.copy_region} of backup {resource.checked_id} or a newer one",
                )
            if "lock" in rules:
                if resource.own_id is None:
                    result.add(resource_id, "lock", "no AVAILABLE backup made by this deployment, so none is locked")
                elif resource.own_lock is not None:
                    result.add(
                        resource_id,
                        "lock",
                        f"the newest backup this deployment made ({resource.own_id}) {resource.own_lock}",
                    )
            if "key" in rules and resource.wrong_key:
                key = resource.wrong_key_value or "an Oracle-managed key"
                result.add(
                    resource_id,
                    "key",
                    f"{resource.wrong_key} of {resource.backups} AVAILABLE backups are not encrypted with an "
                    f"allowed key (newest: {resource.wrong_key_id}, encrypted with {key})",
                )
            if result.violation_count == before:
                result.compliant += 1
        result.oldest_newest_hours = _hours(oldest) if oldest is not None else None
        result.total_gbs = round(result.total_gbs, 3)
        result.per_resource = [
            {"resourceId": resource_id, "gbs": round(gbs, 3), "backups": backups}
            for gbs, resource_id, backups in sorted(largest, reverse=True)
        ]


def _lock_problem(backup: dict[str, Any]) -> str | None:
    """Why a backup is not retention-locked now; None when it is (an indefinite retention counts)."""
    if backup.get("isRetentionLockEnabled") is not True:
        return "is not retention-locked"
    if backup.get("isIndefiniteRetentionEnabled") is True:
        return None
    raw = backup.get("timeRetentionExpiresAt")
    expires = _epoch(raw)
    if expires is None:
        return "is retention-locked with no readable expiry (timeRetentionExpiresAt)"
    if expires <= time.time():
        return f"had its retention lock expire at {str(raw)[:64]}"
    return None

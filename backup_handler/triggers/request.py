"""The envelope step: a decoded body from any trigger → one normalized :class:`BackupRequest`.

:func:`recognise` names the trigger by the body's shape; :func:`build_request`
validates it with its model from :mod:`backup_handler.triggers.events` and reduces it to
what the backup step needs: the targets, what was skipped and why, the
idempotency key, and the fields of each CreateVolumeBackup body.

The body of every create is a pure function of the trigger's idempotency key and
the target (tags and display name included): a redelivery must send the same body
with the same retry token, or the API would treat it as a different request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from backup_handler import logs
from backup_handler.errors import InvalidRequest, NoTargets, UnrecognizedEvent
from backup_handler.settings import Settings
from backup_handler.triggers.events import (
    MANUAL_FIELDS,
    AlarmMessage,
    BatchBody,
    CloudEvent,
    ManualRequest,
    ScheduleTick,
)
from backup_handler.triggers.payload import EMPTY
from backup_handler.vocabulary.fields import (
    DEPLOYMENT_TAG,
    KIND_TAG,
    MAX_TAGS,
    RESERVED_TAGS,
    RESTORE_TEST_TAG,
    SOURCE_TAG,
    STAMPED_TAGS,
    TRIGGER_TAG,
    Selector,
    narrowed,
)
from backup_handler.vocabulary.ocids import TargetKind, is_backup, kind_of, normalize
from backup_handler.vocabulary.tags import defined_name, freeform_value, same_freeform_key
from backup_handler.vocabulary.validation import bounded_field, describe

logger = logging.getLogger(__name__)

Trigger = Literal["manual", "event", "alarm", "schedule"]
# A body's shape: a trigger, a batch a parent invocation of this function handed on, or a coverage audit
# (its own request kind: backup_handler.triggers.audit builds it; it is never a BackupRequest).
Shape = Literal["manual", "event", "alarm", "schedule", "batch", "audit"]
NOTIFICATION_MESSAGE_ID_HEADER = "x-oci-ns-messageid"
# Resources among an alarm's dimensions that are not volumes are listed in `skipped` up to this many (then counted).
MAX_LISTED_SKIPS = 20
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_MANUAL_KEYS = frozenset(name.lower() for name in MANUAL_FIELDS)


class Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: TargetKind
    resource_id: str
    compartment_id: str | None = None
    """Where the target is, when a list said so (a selector's): a body shaped from the target reads it there."""
    listed_tags: tuple[tuple[str, str], ...] | None = None
    """The target's free-form tags as its list said, when it was listed (None: not read yet)."""


def listed_facts(resource: Mapping[str, Any]) -> dict[str, Any]:
    """What a listed target carries on to its backup's body: its compartment and free-form tags."""
    compartment, tags = resource.get("compartmentId"), resource.get("freeformTags")
    if not isinstance(compartment, str):
        return {}
    pairs = tags.items() if isinstance(tags, dict) else ()
    return {
        "compartment_id": compartment,
        "listed_tags": tuple((k, v) for k, v in pairs if isinstance(k, str) and isinstance(v, str)),
    }


class Skip(BaseModel):
    model_config = ConfigDict(frozen=True)

    resource_id: str | None
    reason: str
    group: str | None = None
    """The volume group this target is backed up through (it then ends in the group's state)."""

    def to_json(self) -> dict[str, Any]:
        return {"resourceId": self.resource_id, "reason": self.reason}


class BackupRequest(BaseModel):
    """What to back up, however it was asked for."""

    model_config = ConfigDict(frozen=True)

    trigger: Trigger
    source_ref: str
    """What caused this run (event id, alarm dedupe key and time, schedule slot, ...): stamped as a tag."""
    idempotency_key: str
    """Redeliveries of the same trigger share it; retry tokens are derived from it."""
    targets: tuple[Target, ...] = ()
    skipped: tuple[Skip, ...] = ()
    selector: Selector | None = None
    """Targets still to be resolved by listing (:mod:`backup_handler.runs.selection`), besides ``targets``."""
    batch: int | None = None
    """The index of this batch when a parent invocation handed it on."""
    chain: int = 0
    """The chain this batch is a link of."""
    link: int = 0
    """Which link of its chain this batch is."""
    handoff: dict[str, Any] | None = None
    """The body of the next link of this batch's chain, handed on when this batch is done (None: the last)."""
    handoff_targets: int = 0
    """How many targets the links after this one hold."""
    dry_run: bool = False
    """Answer what would be done; call no mutating API."""
    compartments: tuple[str, ...] = ()
    """The compartments a selector reached, handed to batches whose bodies are shaped from their targets."""
    retention: dict[str, Any] = {}
    """Immutability fields every create carries (from configuration only)."""
    lifecycle_backup: str | None = None
    """A backup-end event of this backup: retention and copies to run (never a new backup)."""
    restore_test_volume: str | None = None
    """A restore-test volume's creation event: the test to settle (never a backup)."""
    single: bool = False
    """A manual request for one backup: answered with the VolumeBackup itself."""
    nothing_to_do: str | None = None
    """Why a valid trigger backs up nothing (an alarm clearing, a backup event)."""
    time_label: str
    backup_type: Literal["FULL", "INCREMENTAL"]
    type_given: bool = False
    """The invoker asked for ``backup_type`` itself: it wins over BACKUP_FULL_EVERY."""
    display_name: str | None = None
    freeform_tags: dict[str, str] = {}
    defined_tags: dict[str, dict[str, Any]] | None = None
    kms_key_id: str | None = None

    def api_body(self, target: Target, template: str) -> dict[str, Any]:
        """The CreateVolumeBackup (CreateBootVolumeBackup, CreateVolumeGroupBackup) body for one target."""
        id_field = {"volume": "volumeId", "bootVolume": "bootVolumeId", "volumeGroup": "volumeGroupId"}[target.kind]
        name = self.display_name or template.format(
            trigger=self.trigger,
            resource_id=target.resource_id,
            resource_suffix=target.resource_id.rsplit(".", 1)[-1][-12:],
            time=self.time_label,
        )
        body: dict[str, Any] = {
            id_field: target.resource_id,
            "type": self.backup_type,
            "displayName": name[:255],
            "freeformTags": {**self.freeform_tags, KIND_TAG: target.kind},
        }
        if self.defined_tags:
            body["definedTags"] = self.defined_tags
        if self.kms_key_id and target.kind != "volumeGroup":  # a group backup uses its volumes' own keys
            body["kmsKeyId"] = self.kms_key_id
        body.update(self.retention)
        return body

    def batch_body(
        self, index: int, targets: list[Target], *, chain: int = 0, link: int = 0, rest: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The body of a detached invocation that backs up ``targets`` exactly as this request would,
        then hands ``rest`` on as the next link of its chain."""
        return {
            "source": "batch",
            "trigger": self.trigger,
            "sourceRef": self.source_ref,
            "idempotencyKey": self.idempotency_key,
            "timeLabel": self.time_label,
            "batch": index,
            "chain": chain,
            "link": link,
            "type": self.backup_type,
            **({"typeGiven": True} if self.type_given else {}),
            "displayName": self.display_name,
            "dryRun": self.dry_run,
            "freeformTags": {k: v for k, v in self.freeform_tags.items() if k not in STAMPED_TAGS},
            "definedTags": self.defined_tags,
            "kmsKeyId": self.kms_key_id,
            "targets": [{"kind": target.kind, "id": target.resource_id} for target in targets],
            "next": list(rest),
            **({"compartments": list(self.compartments)} if self.compartments else {}),
        }


def recognise(value: Any) -> Shape:
    """Which trigger a decoded body (or :data:`~backup_handler.triggers.payload.EMPTY`) comes from, by its shape."""
    if value is EMPTY:
        return "schedule"
    if not isinstance(value, dict):
        raise UnrecognizedEvent(
            f"the request body must be a JSON object, not a JSON {_json_kind(value)}; "
            "send an OCI event, an alarm message, a schedule body or a backup request"
        )
    if "specversion" in value:
        raise UnrecognizedEvent(
            "the request body is a CloudEvents 1.0 event (specversion); OCI Events delivers "
            "CloudEvents 0.1 (cloudEventsVersion, eventType, eventID): send the event as OCI emits it"
        )
    if "cloudEventsVersion" in value or "eventType" in value:
        return "event"
    if "alarmMetaData" in value or "dedupeKey" in value:
        return "alarm"
    if value.get("source") == "batch":
        return "batch"
    if value.get("source") == "audit":
        return "audit"
    if value.get("source") == "schedule" or "volumeIds" in value:
        return "schedule"
    if any(isinstance(key, str) and key.lower() in _MANUAL_KEYS for key in value):
        return "manual"
    raise UnrecognizedEvent(
        "the request body is not a recognised trigger: expected an OCI event (cloudEventsVersion), "
        'an alarm message (alarmMetaData), a schedule body ({"source": "schedule"}), '
        'an audit ({"source": "audit"}) or a backup request (volumeId or bootVolumeId)'
    )


def build_request(
    value: Any,
    *,
    headers: Mapping[str, str],
    settings: Settings,
    now: datetime,
    trigger: Shape | None = None,
) -> BackupRequest:
    """Normalize a decoded body of the given (or recognised) trigger."""
    trigger = trigger or recognise(value)
    if trigger == "audit":  # answered by the audit (backup_handler.triggers.audit), never as backups
        raise UnrecognizedEvent("an audit body is not a backup request")
    request, dry_run = _from_body(value, trigger, headers, settings, now)
    # Each model types dryRun strictly (a JSON true, nothing else), so this is the one place it is read.
    request = request.model_copy(
        update={
            "retention": settings.retention_fields(),
            "dry_run": settings.dry_run or dry_run,
            # A batch's key is its parent's, already this deployment's own.
            "idempotency_key": request.idempotency_key
            if trigger == "batch"
            else _deployment_key(request.idempotency_key, settings),
        }
    )
    if len(request.targets) > settings.max_targets:
        raise InvalidRequest(
            f"the {trigger} names {len(request.targets)} volumes; at most {settings.max_targets} "
            "are backed up per invocation (BACKUP_MAX_TARGETS)",
            errors=[{"field": "(targets)", "problem": f"more than {settings.max_targets} volumes"}],
        )
    return request


def _from_body(
    value: Any, trigger: Shape, headers: Mapping[str, str], settings: Settings, now: datetime
) -> tuple[BackupRequest, bool]:
    """The request a body of ``trigger`` makes, and whether the body asks for a dry run."""
    if trigger == "batch":
        batch: BatchBody = _validate(BatchBody, value, "batch")
        return _from_batch(batch, settings), batch.dry_run
    if trigger == "event":
        event: CloudEvent = _validate(CloudEvent, value, "OCI event")
        return _from_event(event, settings), event.dry_run
    if trigger == "alarm":
        alarm: AlarmMessage = _validate(AlarmMessage, value, "alarm message")
        return _from_alarm(alarm, headers, settings), alarm.dry_run
    if trigger == "schedule":
        tick = ScheduleTick(source="schedule") if value is EMPTY else _validate(ScheduleTick, value, "schedule body")
        return _from_schedule(tick, settings, now, empty=value is EMPTY), tick.dry_run
    manual: ManualRequest = _validate(ManualRequest, value, "backup request")
    return _from_manual(manual, settings, now), manual.dry_run


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null"


def _validate(model: type[Any], value: dict[str, Any], what: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = describe(exc, MANUAL_FIELDS if model is ManualRequest else ())
        raise InvalidRequest(
            f"the {what} is invalid: {problems.summary()}",
            errors=problems.items,
            moreErrors=problems.more or None,
        ) from None


def _invalid(field: str, problem: str, what: str = "backup request") -> InvalidRequest:
    return InvalidRequest(f"the {what} is invalid: {field} {problem}", errors=[{"field": field, "problem": problem}])


def _deployment_key(key: str, settings: Settings) -> str:
    """The idempotency key of this deployment's response to a trigger.

    Two deployments answering the same event, alarm or schedule slot each make (and own) a backup: their
    bodies differ by the deployment's tag, so a shared retry token would be refused as another request's.
    """
    return f"{key}@{settings.deployment_id}" if settings.deployment_id else key


def _stamp(settings: Settings, trigger: str, source_ref: str) -> dict[str, str]:
    """The configured tags and what the function stamps: the trigger, its source and the deployment's identity.

    (The kind of backup is stamped per target: :meth:`BackupRequest.api_body`.)
    """
    stamped = {**settings.freeform_tags, TRIGGER_TAG: trigger, SOURCE_TAG: source_ref[:256]}
    if settings.deployment_id:
        stamped[DEPLOYMENT_TAG] = settings.deployment_id
    return stamped


# What events and alarms back up: volumes and boot volumes. Volume groups only when a body names them.
_SOURCE_KINDS: frozenset[TargetKind] = frozenset({"volume", "bootVolume"})


def _distinct(
    resource_ids: list[str], kinds: frozenset[TargetKind] = _SOURCE_KINDS
) -> tuple[tuple[Target, ...], tuple[Skip, ...]]:
    """Distinct volumes (lower-case OCIDs) among ``resource_ids``, and the rest as skips, bounded."""
    targets: dict[str, Target] = {}
    skipped: dict[str, Skip] = {}
    unlisted: set[str] = set()
    for resource_id in resource_ids:
        kind = kind_of(resource_id)
        if kind is not None and kind in kinds:
            ocid = normalize(resource_id)
            targets.setdefault(ocid, Target(kind=kind, resource_id=ocid))
        elif resource_id in skipped or resource_id in unlisted:
            continue
        elif len(skipped) < MAX_LISTED_SKIPS:
            skipped[resource_id] = Skip(resource_id=bounded_field(resource_id), reason="not a volume or boot volume")
        else:
            unlisted.add(resource_id)
    listed = tuple(skipped.values())
    if unlisted:
        listed += (Skip(resource_id=None, reason=f"and {len(unlisted)} more resources that are not volumes"),)
    return tuple(targets.values()), listed


# ---------------------------------------------------------------- OCI Events


def is_about_a_backup(event: CloudEvent) -> bool:
    """The loop guard: an event about a backup never starts a backup.

    An event is about a backup when its type names one (``createvolumebackup``,
    ``updatevolumebackup``, ``deletebootvolumebackup``, ``changevolumebackupcompartment``,
    ``copyvolumebackup``, ...: "backup" anywhere in the type) or its resource is a backup
    OCID. A rule that matches such events therefore cannot make backups that trigger
    more backups.
    """
    resource_id = event.data.resource_id if event.data else None
    return "backup" in event.event_type.lower() or (isinstance(resource_id, str) and is_backup(resource_id))


# The last is not in the catalogue the function was checked against: accepted should a tenancy emit it.
_BACKUP_END_TYPES = ("createvolumebackup.end", "createbootvolumebackup.end", "createvolumegroupbackup.end")


def _is_backup_end(event: CloudEvent) -> bool:
    """A backup finished successfully: the event that drives retention and copies."""
    details = (event.data.additional_details if event.data else None) or {}
    return event.event_type.lower().endswith(_BACKUP_END_TYPES) and details.get("status") != "operationFailed"


_VOLUME_CREATED_TYPES = ("createvolume.end", "createbootvolume.end")


def restore_test_reason(event: CloudEvent, settings: Settings) -> str | None:
    """Why the volume an event is about is a restore-test volume, never backed up; None when it is not one.

    Only an event about the volume itself (``data.resourceId`` names it) says where the volume is (an
    attach event's compartment is the instance's). It is one when it is in the restore-test compartment
    (``BACKUP_RESTORE_TEST_COMPARTMENT_ID``), or carries a restore-test stamp: real events may omit tags,
    so the compartment decides too.
    """
    data = event.data
    if data is None or not isinstance(data.resource_id, str) or kind_of(data.resource_id) not in _SOURCE_KINDS:
        return None
    sandbox = settings.restore_test_compartment_id
    named = (data.compartment_id, (event.extensions or {}).get("compartmentId"))
    if sandbox is not None and sandbox in {normalize(c) for c in named if isinstance(c, str)}:
        return "it is in the restore-test compartment"
    if isinstance(data.freeform_tags, dict) and RESTORE_TEST_TAG in data.freeform_tags:
        return f"it carries the {RESTORE_TEST_TAG} stamp"
    return None


def _restore_test(event: CloudEvent, settings: Settings, common: dict[str, Any]) -> BackupRequest | None:
    """The request for an event about a restore-test volume: never a backup; its creation settles the test."""
    why = restore_test_reason(event, settings)
    if why is None or event.data is None or event.data.resource_id is None:
        return None
    volume_id = normalize(event.data.resource_id)
    reason = f"a restore-test volume is never backed up ({why})"
    skipped = (Skip(resource_id=volume_id, reason=reason),)
    if settings.restore_tests and event.event_type.lower().endswith(_VOLUME_CREATED_TYPES):
        return BackupRequest(**common, restore_test_volume=volume_id, skipped=skipped)
    return BackupRequest(**common, nothing_to_do=reason, skipped=skipped)


def _from_event(event: CloudEvent, settings: Settings) -> BackupRequest:
    common: dict[str, Any] = {
        "trigger": "event",
        "source_ref": event.event_id,
        "idempotency_key": f"event:{event.event_id}",
        "time_label": (event.event_time or datetime.now(UTC)).strftime(_TIME_FORMAT),
        "backup_type": settings.type,
        "freeform_tags": _stamp(settings, "event", event.event_id),
        "kms_key_id": settings.kms_key_id,
    }
    data = event.data
    resource_id = bounded_field(data.resource_id) if data and data.resource_id else None
    if is_about_a_backup(event):
        if settings.lifecycle and _is_backup_end(event) and resource_id and is_backup(resource_id):
            return BackupRequest(**common, lifecycle_backup=normalize(resource_id))
        reason = f"{event.event_type} is about a backup; events about backups never start backups"
        return BackupRequest(**common, nothing_to_do=reason, skipped=(Skip(resource_id=resource_id, reason=reason),))
    if data is None:
        raise NoTargets(f"the {event.event_type} event carries no data, so it names no volume to back up")
    restore_test = _restore_test(event, settings, common)
    if restore_test is not None:
        return restore_test
    candidates = [resource_id, (data.additional_details or {}).get("volumeId")]
    for candidate in candidates:
        if isinstance(candidate, str) and (kind := kind_of(candidate)) in _SOURCE_KINDS and kind is not None:
            return BackupRequest(**common, targets=(Target(kind=kind, resource_id=normalize(candidate)),))
    raise NoTargets(
        f"the {event.event_type} event names no volume or boot volume "
        "(neither data.resourceId nor data.additionalDetails.volumeId is one)",
        resourceId=resource_id,
    )


# ---------------------------------------------------------- Monitoring alarm


def _from_alarm(alarm: AlarmMessage, headers: Mapping[str, str], settings: Settings) -> BackupRequest:
    # Oracle's guidance: de-duplicate on dedupeKey + timestampEpochMillis. The same message reaches
    # the function once per subscription, each delivery with its own x-oci-ns-messageid, so the
    # message id is only a reference in the log, never part of the key or of the backup's body.
    source_ref = f"{alarm.dedupe_key}:{alarm.timestamp_epoch_millis}"
    logs.emit(
        logger,
        logging.INFO,
        "alarm",
        source=source_ref,
        type=alarm.type,
        version=alarm.version,
        messageId=headers.get(NOTIFICATION_MESSAGE_ID_HEADER),
    )
    if alarm.version >= 2:
        logs.emit(logger, logging.WARNING, "alarm-format", version=alarm.version, note="unknown major version")
    time = datetime.fromtimestamp(alarm.timestamp_epoch_millis / 1000, UTC)
    common: dict[str, Any] = {
        "trigger": "alarm",
        "source_ref": source_ref,
        "idempotency_key": f"alarm:{source_ref}",
        "time_label": time.strftime(_TIME_FORMAT),
        "backup_type": settings.type,
        "freeform_tags": _stamp(settings, "alarm", source_ref),
        "kms_key_id": settings.kms_key_id,
    }
    if alarm.type not in settings.alarm_transitions:
        configured = ",".join(settings.alarm_transitions)
        reason = f"alarm transition {alarm.type} does not start backups (BACKUP_ALARM_TRANSITIONS={configured})"
        return BackupRequest(**common, nothing_to_do=reason)
    targets, skipped = _distinct(alarm.resource_ids())
    if not targets:
        raise NoTargets(
            "the alarm's dimensions name no volume or boot volume (resourceId)",
            skipped=[skip.to_json() for skip in skipped],
        )
    return BackupRequest(**common, targets=targets, skipped=skipped)


# ------------------------------------------------------------------ Schedule


def _from_schedule(tick: ScheduleTick, settings: Settings, now: datetime, *, empty: bool) -> BackupRequest:
    resource_ids = list(settings.targets) if empty else tick.resource_ids
    selector = settings.selector if empty else narrowed(tick.selector, settings.selector)
    if not resource_ids and selector is None:
        raise NoTargets(
            "the schedule names no volumes: its body has no volumeIds, bootVolumeIds, volumeGroupIds or selector, "
            "and neither BACKUP_TARGETS nor BACKUP_SELECTOR is configured"
        )
    slot_seconds = settings.schedule_slot_seconds
    slot_start = int(now.timestamp()) // slot_seconds * slot_seconds
    slot_time = datetime.fromtimestamp(slot_start, UTC)
    slot_ref = f"{slot_time.strftime(_TIME_FORMAT)}/{slot_seconds}s"
    # every id was validated as a volume, boot volume or volume group
    targets, _ = _distinct(resource_ids, frozenset({"volume", "bootVolume", "volumeGroup"}))
    return BackupRequest(
        selector=selector,
        trigger="schedule",
        source_ref=slot_ref,
        idempotency_key=f"schedule:{slot_start}:{slot_seconds}",
        targets=targets,
        time_label=slot_time.strftime(_TIME_FORMAT),
        backup_type=settings.type,
        freeform_tags=_stamp(settings, "schedule", slot_ref),
        kms_key_id=settings.kms_key_id,
    )


# -------------------------------------------------------------------- Manual


def _extra_tags(requested: dict[str, str], defined: dict[str, Any] | None, settings: Settings) -> dict[str, str]:
    """An invoker's freeform tags under the configured ones: configured and stamped tags cannot be overridden.

    Free-form keys are compared as OCI compares them (:mod:`backup_handler.vocabulary.tags`): exactly. Defined
    tags only in the namespaces configuration names: the deployment grants `use tag-namespaces` on exactly those,
    so an invoker cannot stamp a tag that IAM conditions elsewhere may rely on.
    """
    for key, value in requested.items():
        if any(same_freeform_key(key, reserved) for reserved in RESERVED_TAGS):
            raise _invalid(f"freeformTags.{bounded_field(key)}", "is set by the function and cannot be given")
        configured = freeform_value(settings.freeform_tags, key)
        if configured is not None and configured != value:
            raise _invalid(
                f"freeformTags.{bounded_field(key)}",
                "is set by the function's configuration (BACKUP_FREEFORM_TAGS) and cannot be changed",
            )
    allowed = {defined_name(namespace) for namespace in settings.defined_tag_namespaces}
    for namespace in defined or {}:
        if defined_name(namespace) not in allowed:  # IAM lets the function apply defined tags of these only
            raise _invalid(
                f"definedTags.{bounded_field(namespace)}",
                "is not a tag namespace this function is configured to apply (BACKUP_DEFINED_TAG_NAMESPACES)",
            )
    tags = {**requested, **settings.freeform_tags}
    defined_count = sum(len(keys) for keys in (defined or {}).values())
    if len(tags) + len(RESERVED_TAGS) + defined_count > MAX_TAGS:
        raise _invalid("freeformTags", f"with definedTags and the function's own tags makes more than {MAX_TAGS} tags")
    return tags


def _from_manual(manual: ManualRequest, settings: Settings, now: datetime) -> BackupRequest:
    kms_key_id = _allowed_kms_key(manual.kms_key_id, settings) or settings.kms_key_id
    key = manual.idempotency_key
    source_ref = key or f"manual:{uuid.uuid4().hex}"
    kind = kind_of(manual.target) if manual.target else None  # the model validated the OCID's kind
    targets = (Target(kind=kind, resource_id=manual.target),) if kind is not None else ()
    return BackupRequest(
        trigger="manual",
        source_ref=source_ref,
        idempotency_key=f"manual:{key}" if key else source_ref,
        targets=targets,
        selector=narrowed(manual.selector, settings.selector),
        single=manual.selector is None,
        # A caller's retry must send the same body, so with a key the name cannot hold the time.
        time_label=key if key else now.astimezone(UTC).strftime(_TIME_FORMAT),
        backup_type=manual.type or settings.type,
        type_given=manual.type is not None,
        display_name=manual.display_name,
        freeform_tags={
            **_extra_tags(manual.freeform_tags or {}, manual.defined_tags, settings),
            **_stamp(settings, "manual", source_ref),
        },
        defined_tags=manual.defined_tags,
        kms_key_id=kms_key_id,
    )


def _allowed_kms_key(requested: str | None, settings: Settings) -> str | None:
    """A key a body names, if configuration allows it: an invoker cannot pick the key backups are encrypted with."""
    allowed = {*settings.allowed_kms_key_ids, *([settings.kms_key_id] if settings.kms_key_id else [])}
    if requested and requested not in allowed:
        raise InvalidRequest(
            "the backup request is invalid: kmsKeyId is not one of the keys this function is configured "
            "to allow (BACKUP_ALLOWED_KMS_KEY_IDS)",
            errors=[{"field": "kmsKeyId", "problem": "is not an allowed key"}],
        )
    return requested


# --------------------------------------------------------------------- Batch


def _next_link(batch: BatchBody, batch_size: int) -> dict[str, Any] | None:
    """The next link of a batch's chain: the same body (the parent's key, source and shape, so the same
    retry tokens), its next ``batch_size`` targets, and the rest after them."""
    if not batch.next:
        return None
    head, tail = batch.next[:batch_size], batch.next[batch_size:]
    return {
        **batch.model_dump(mode="json", by_alias=True),
        "batch": batch.batch + 1,
        "link": batch.link + 1,
        "targets": [{"kind": kind_of(ocid), "id": ocid} for ocid in head],
        "next": tail,
    }


def _from_batch(batch: BatchBody, settings: Settings) -> BackupRequest:
    """A batch is checked as its parent's request was: configuration still decides tags and keys."""
    targets = {target.ocid: Target(kind=target.kind, resource_id=target.ocid) for target in batch.targets}
    return BackupRequest(
        chain=batch.chain,
        link=batch.link,
        handoff=_next_link(batch, settings.batch_size),
        handoff_targets=len(batch.next),
        trigger=batch.trigger,
        source_ref=batch.source_ref,
        idempotency_key=f"batch:{batch.scope()}:{batch.idempotency_key}",
        targets=tuple(targets.values()),
        display_name=batch.display_name,
        batch=batch.batch,
        time_label=batch.time_label,
        backup_type=batch.type,
        type_given=batch.type_given,
        freeform_tags={
            **_extra_tags(batch.freeform_tags, batch.defined_tags, settings),
            **_stamp(settings, batch.trigger, batch.source_ref),
        },
        defined_tags=batch.defined_tags,
        kms_key_id=_allowed_kms_key(batch.kms_key_id, settings) or settings.kms_key_id,
        compartments=tuple(batch.compartments),
    )

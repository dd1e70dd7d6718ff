"""The envelope step: a decoded body from any trigger → one normalized :class:`BackupRequest`.

:func:`build_request` recognises the trigger by its shape, validates it with its
model from :mod:`backup_handler.events`, and reduces it to what the backup step
needs: the targets, what was skipped and why, the idempotency key, and the
fields of each CreateVolumeBackup body.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from backup_handler.errors import InvalidRequest, NoTargets, UnrecognizedEvent
from backup_handler.events import (
    FIRING_TRANSITIONS,
    MANUAL_FIELDS,
    AlarmMessage,
    CloudEvent,
    ManualRequest,
    ScheduleTick,
)
from backup_handler.ocids import TargetKind, kind_of
from backup_handler.payload import EMPTY
from backup_handler.settings import Settings
from backup_handler.validation import describe

Trigger = Literal["manual", "event", "alarm", "schedule"]
NOTIFICATION_MESSAGE_ID_HEADER = "x-oci-ns-messageid"
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_MANUAL_KEYS = frozenset(name.lower() for name in MANUAL_FIELDS)


class Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: TargetKind
    resource_id: str


class Skip(BaseModel):
    model_config = ConfigDict(frozen=True)

    resource_id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"resourceId": self.resource_id, "reason": self.reason}


class BackupRequest(BaseModel):
    """What to back up, however it was asked for."""

    model_config = ConfigDict(frozen=True)

    trigger: Trigger
    source_ref: str
    """What caused this run (event id, message id, schedule slot, ...): stamped as a tag."""
    idempotency_key: str
    """Redeliveries of the same trigger share it; retry tokens are derived from it."""
    targets: tuple[Target, ...] = ()
    skipped: tuple[Skip, ...] = ()
    single: bool = False
    """A manual request for one backup: answered with the VolumeBackup itself."""
    nothing_to_do: str | None = None
    """Why a valid trigger backs up nothing (an alarm clearing, a backup event)."""
    time_label: str
    backup_type: Literal["FULL", "INCREMENTAL"]
    display_name: str | None = None
    freeform_tags: dict[str, str] = {}
    defined_tags: dict[str, dict[str, Any]] | None = None
    kms_key_id: str | None = None

    def api_body(self, target: Target, template: str) -> dict[str, Any]:
        """The CreateVolumeBackup (or CreateBootVolumeBackup) body for one target."""
        id_field = "volumeId" if target.kind == "volume" else "bootVolumeId"
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
            "freeformTags": self.freeform_tags,
        }
        if self.defined_tags:
            body["definedTags"] = self.defined_tags
        if self.kms_key_id:
            body["kmsKeyId"] = self.kms_key_id
        return body


def build_request(
    value: Any,
    *,
    headers: Mapping[str, str],
    settings: Settings,
    now: datetime,
) -> BackupRequest:
    """Recognise the trigger in a decoded body (or :data:`~backup_handler.payload.EMPTY`) and normalize it."""
    if value is EMPTY:
        return _from_schedule(ScheduleTick(source="schedule"), settings, now)
    if not isinstance(value, dict):
        raise UnrecognizedEvent(
            f"the request body must be a JSON object, not a JSON {_json_kind(value)}; "
            "send an OCI event, an alarm message, a schedule body or a backup request"
        )
    if "cloudEventsVersion" in value or "eventType" in value:
        return _from_event(_validate(CloudEvent, value, "OCI event"), settings)
    if "alarmMetaData" in value or "dedupeKey" in value:
        return _from_alarm(_validate(AlarmMessage, value, "alarm message"), headers, settings)
    if value.get("source") == "schedule" or "volumeIds" in value:
        return _from_schedule(_validate(ScheduleTick, value, "schedule body"), settings, now)
    if any(key.lower() in _MANUAL_KEYS for key in value):
        return _from_manual(_validate(ManualRequest, value, "backup request"), settings, now)
    raise UnrecognizedEvent(
        "the request body is not a recognised trigger: expected an OCI event (cloudEventsVersion), "
        'an alarm message (alarmMetaData), a schedule body ({"source": "schedule"}) '
        "or a backup request (volumeId or bootVolumeId)"
    )


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
        known = MANUAL_FIELDS if model is ManualRequest else ()
        problems = describe(exc, known)
        summary = "; ".join(f"{p['field']} {p['problem']}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InvalidRequest(f"the {what} is invalid: {summary}{more}", errors=problems) from None


def _stamp(settings: Settings, trigger: Trigger, source_ref: str, extra: Mapping[str, str] = {}) -> dict[str, str]:
    return {**settings.freeform_tags, **extra, "backup-trigger": trigger, "backup-source": source_ref[:256]}


def _distinct(resource_ids: list[str]) -> tuple[tuple[Target, ...], tuple[Skip, ...]]:
    targets: dict[str, Target] = {}
    skipped: dict[str, Skip] = {}
    for resource_id in resource_ids:
        kind = kind_of(resource_id)
        if kind is not None:
            targets.setdefault(resource_id, Target(kind=kind, resource_id=resource_id))
        else:
            skipped.setdefault(resource_id, Skip(resource_id=resource_id, reason="not a volume or boot volume"))
    return tuple(targets.values()), tuple(skipped.values())


def _from_event(event: CloudEvent, settings: Settings) -> BackupRequest:
    common: dict[str, Any] = {
        "trigger": "event",
        "source_ref": event.event_id,
        "idempotency_key": f"event:{event.event_id}",
        "time_label": (event.event_time or datetime.now(UTC)).astimezone(UTC).strftime(_TIME_FORMAT),
        "backup_type": settings.type,
        "freeform_tags": _stamp(settings, "event", event.event_id),
        "kms_key_id": settings.kms_key_id,
    }
    data = event.data
    resource_id = data.resource_id if data else None
    action = event.event_type.rsplit(".", 2)[-2] if event.event_type.count(".") >= 2 else event.event_type
    if "backup" in action.lower():
        reason = f"{event.event_type} is a backup event; backup events never start backups"
        return BackupRequest(**common, nothing_to_do=reason, skipped=(Skip(resource_id=resource_id, reason=reason),))
    if data is None:
        raise NoTargets(f"the {event.event_type} event carries no data, so it names no volume to back up")
    candidates = [resource_id, (data.additional_details or {}).get("volumeId")]
    for candidate in candidates:
        if isinstance(candidate, str) and (kind := kind_of(candidate)) is not None:
            return BackupRequest(**common, targets=(Target(kind=kind, resource_id=candidate),))
    raise NoTargets(
        f"the {event.event_type} event names no volume or boot volume "
        "(neither data.resourceId nor data.additionalDetails.volumeId is one)",
        resourceId=resource_id,
    )


def _from_alarm(alarm: AlarmMessage, headers: Mapping[str, str], settings: Settings) -> BackupRequest:
    message_id = headers.get(NOTIFICATION_MESSAGE_ID_HEADER) or f"{alarm.dedupe_key}:{alarm.timestamp_epoch_millis}"
    time = datetime.fromtimestamp(alarm.timestamp_epoch_millis / 1000, UTC)
    common: dict[str, Any] = {
        "trigger": "alarm",
        "source_ref": message_id,
        "idempotency_key": f"alarm:{message_id}",
        "time_label": time.strftime(_TIME_FORMAT),
        "backup_type": settings.type,
        "freeform_tags": _stamp(settings, "alarm", message_id),
        "kms_key_id": settings.kms_key_id,
    }
    if alarm.type not in FIRING_TRANSITIONS:
        return BackupRequest(**common, nothing_to_do=f"alarm transition {alarm.type} does not start backups")
    targets, skipped = _distinct(alarm.resource_ids())
    if not targets:
        raise NoTargets(
            "the alarm's dimensions name no volume or boot volume (resourceId)",
            skipped=[skip.to_json() for skip in skipped],
        )
    return BackupRequest(**common, targets=targets, skipped=skipped)


def _from_schedule(tick: ScheduleTick, settings: Settings, now: datetime) -> BackupRequest:
    resource_ids = list(tick.volume_ids or settings.targets)
    if not resource_ids:
        raise NoTargets("the schedule names no volumes: its body has no volumeIds and BACKUP_TARGETS is not configured")
    slot_seconds = settings.schedule_slot_seconds
    slot_start = int(now.timestamp()) // slot_seconds * slot_seconds
    slot_time = datetime.fromtimestamp(slot_start, UTC)
    slot_ref = f"{slot_time.strftime(_TIME_FORMAT)}/{slot_seconds}s"
    targets, _ = _distinct(resource_ids)  # every id was validated as a volume or boot volume
    return BackupRequest(
        trigger="schedule",
        source_ref=slot_ref,
        idempotency_key=f"schedule:{slot_start}:{slot_seconds}",
        targets=targets,
        time_label=slot_time.strftime(_TIME_FORMAT),
        backup_type=settings.type,
        freeform_tags=_stamp(settings, "schedule", slot_ref),
        kms_key_id=settings.kms_key_id,
    )


def _from_manual(manual: ManualRequest, settings: Settings, now: datetime) -> BackupRequest:
    kms_key_id = manual.kms_key_id or settings.kms_key_id
    allowed = {*settings.allowed_kms_key_ids, *([settings.kms_key_id] if settings.kms_key_id else [])}
    if manual.kms_key_id and manual.kms_key_id not in allowed:
        raise InvalidRequest(
            "the backup request is invalid: kmsKeyId is not one of the keys this function is configured "
            "to allow (BACKUP_ALLOWED_KMS_KEY_IDS)",
            errors=[{"field": "kmsKeyId", "problem": "is not an allowed key"}],
        )
    key = manual.idempotency_key
    source_ref = key or f"manual:{uuid.uuid4().hex}"
    kind: TargetKind = "volume" if manual.volume_id else "bootVolume"
    return BackupRequest(
        trigger="manual",
        source_ref=source_ref,
        idempotency_key=f"manual:{key}" if key else source_ref,
        targets=(Target(kind=kind, resource_id=manual.target),),
        single=True,
        # A caller's retry must send the same body, so with a key the name cannot hold the time.
        time_label=key if key else now.astimezone(UTC).strftime(_TIME_FORMAT),
        backup_type=manual.type or settings.type,
        display_name=manual.display_name,
        freeform_tags=_stamp(settings, "manual", source_ref, manual.freeform_tags or {}),
        defined_tags=manual.defined_tags,
        kms_key_id=kms_key_id,
    )

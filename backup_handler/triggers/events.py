"""One pydantic model per trigger, shaped like what each source really sends.

- :class:`CloudEvent` — an OCI Events rule (CloudEvents 0.1 as OCI emits it), directly
  or through a Notifications topic.
- :class:`AlarmMessage` — a Monitoring alarm message (format 1.0–1.5) through a topic.
- :class:`ScheduleTick` — an OCI Resource Scheduler invocation with a body.
- :class:`ManualRequest` — ``fn invoke``: the CreateVolumeBackup body as the API takes it.

Source models accept the extra fields their sources add over time; the manual
request, typed by people, refuses unknown fields so a typo is not ignored.

Every collection is bounded before its items are validated (:func:`at_most`), so
a body of a million bad items costs one validation error, not a million.

Every boolean and number that changes what is written (``dryRun``, ``includeSubcompartments``,
a batch's index, an alarm's timestamp, which keys its backups) is strict: ``"true"``, ``1`` or
``"yes"`` for a boolean, ``"3"`` or ``3.0`` for an integer are refused with the field's name,
never coerced and never ignored. Enums (``type``, ``kinds``, ``trigger``) are exact strings.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from backup_handler.vocabulary.fields import (
    MAX_BATCH_CHAINS,
    MAX_EPOCH_MILLIS,
    MAX_SCHEDULE_TARGETS,
    BackupType,
    DefinedTags,
    DisplayName,
    FreeformTags,
    KmsKeyId,
    Selector,
    TargetList,
    at_most,
)
from backup_handler.vocabulary.ocids import (
    AnyTargetOcid,
    BootVolumeOcid,
    CompartmentOcid,
    TargetKind,
    VolumeGroupOcid,
    VolumeOcid,
    kind_of,
    normalize,
)

# Models of the triggers a manual backup does not use are built on first use (defer_build), not at every cold
# start; App.warm() builds them all (build_deferred).
_SOURCE = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)


def _utc(value: datetime | None) -> datetime | None:
    """A timestamp in UTC (naive ones are taken as UTC); out-of-range ones are refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


def _no_other_dry_run(data: Any) -> Any:
    """Refuse a dry run asked for under another spelling (``dryrun``, ``Dry-Run``, full-width letters...): the
    models of sources that add fields over time would otherwise keep it as one of those, and the run write."""
    if isinstance(data, dict):
        for key in data:
            if not isinstance(key, str) or key in ("dryRun", "dry_run") or len(key) > 64:
                continue
            folded = unicodedata.normalize("NFKC", key).casefold()
            if "".join(c for c in folded if c.isalnum()) == "dryrun":
                raise ValueError(f'{json.dumps(key)} asks for a dry run under another name: spell it "dryRun"')
    return data


# ---------------------------------------------------------------- OCI Events


class CloudEventData(BaseModel):
    model_config = _SOURCE

    compartment_id: str | None = Field(None, alias="compartmentId")
    compartment_name: str | None = Field(None, alias="compartmentName")
    resource_name: str | None = Field(None, alias="resourceName")
    resource_id: str | None = Field(None, alias="resourceId")
    availability_domain: str | None = Field(None, alias="availabilityDomain")
    freeform_tags: dict[str, Any] | None = Field(None, validation_alias=AliasChoices("freeformTags", "freeFormTags"))
    defined_tags: dict[str, Any] | None = Field(None, alias="definedTags")
    additional_details: dict[str, Any] | None = Field(None, alias="additionalDetails")


class CloudEvent(BaseModel):
    """An OCI event: ``{"eventType", "cloudEventsVersion": "0.1", "eventID", "data": {...}}``."""

    model_config = _SOURCE

    event_type: str = Field(alias="eventType", min_length=1, max_length=512)
    cloud_events_version: str = Field(alias="cloudEventsVersion", max_length=16)
    event_type_version: str | None = Field(None, alias="eventTypeVersion")
    source: str | None = None
    event_time: datetime | None = Field(None, alias="eventTime")
    content_type: str | None = Field(None, alias="contentType")
    event_id: str = Field(alias="eventID", min_length=1, max_length=256)
    extensions: dict[str, Any] | None = None
    data: CloudEventData | None = None
    dry_run: StrictBool = Field(False, alias="dryRun")

    _dry_run_spelling = model_validator(mode="before")(_no_other_dry_run)

    @field_validator("event_time")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


# ---------------------------------------------------------- Monitoring alarm

# Oracle caps an alarm message's dimensions list at 100 entries; these bounds leave room to grow.
MAX_ALARM_METADATA = 100
MAX_ALARM_DIMENSIONS = 1000


class AlarmMetadata(BaseModel):
    model_config = _SOURCE

    id: str | None = None
    status: str | None = None
    severity: str | None = None
    query: str | None = None
    dimensions: Annotated[list[dict[str, Any]], at_most(MAX_ALARM_DIMENSIONS)] = []


class AlarmMessage(BaseModel):
    """A Monitoring alarm message as a Notifications topic delivers it (versions 1.0–1.5 and later).

    Any ``version`` from 1.0 on is accepted as long as the fields below are there, so a
    format bump does not stop backups; ``type`` is any upper-case transition name, and
    only the configured ones start backups.
    """

    model_config = _SOURCE

    dedupe_key: str = Field(alias="dedupeKey", min_length=1, max_length=256)
    title: str | None = None
    body: str | None = None
    type: str = Field(pattern=r"^[A-Z][A-Z_]{0,63}$")
    severity: str | None = None
    timestamp_epoch_millis: StrictInt = Field(alias="timestampEpochMillis", ge=0, le=MAX_EPOCH_MILLIS)
    alarm_meta_data: Annotated[list[AlarmMetadata], at_most(MAX_ALARM_METADATA)] = Field(alias="alarmMetaData")
    version: float = Field(ge=1.0, lt=1000)
    dry_run: StrictBool = Field(False, alias="dryRun")

    _dry_run_spelling = model_validator(mode="before")(_no_other_dry_run)

    def resource_ids(self) -> list[str]:
        """Every ``resourceId`` (or ``resourceID``) among all dimensions, in order, as sent."""
        found = []
        for metadata in self.alarm_meta_data:
            for dimension in metadata.dimensions:
                value = dimension.get("resourceId", dimension.get("resourceID"))
                if isinstance(value, str):
                    found.append(value)
        return found


class ScheduleTick(BaseModel):
    """A Resource Scheduler invocation whose BODY names its targets: OCIDs, a selector, or both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)

    source: Literal["schedule"]
    volume_ids: TargetList | None = Field(None, alias="volumeIds", min_length=1)
    boot_volume_ids: Annotated[list[BootVolumeOcid], at_most(MAX_SCHEDULE_TARGETS)] | None = Field(
        None, alias="bootVolumeIds", min_length=1
    )
    volume_group_ids: Annotated[list[VolumeGroupOcid], at_most(MAX_SCHEDULE_TARGETS)] | None = Field(
        None, alias="volumeGroupIds", min_length=1
    )
    selector: Selector | None = None
    dry_run: StrictBool = Field(False, alias="dryRun")

    @property
    def resource_ids(self) -> list[str]:
        return [*(self.volume_ids or ()), *(self.boot_volume_ids or ()), *(self.volume_group_ids or ())]


# -------------------------------------------------------------------- Manual


class ManualRequest(BaseModel):
    """The CreateVolumeBackup body (or CreateBootVolumeBackup's, CreateVolumeGroupBackup's), or a selector."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    volume_id: VolumeOcid | None = Field(None, alias="volumeId")
    boot_volume_id: BootVolumeOcid | None = Field(None, alias="bootVolumeId")
    volume_group_id: VolumeGroupOcid | None = Field(None, alias="volumeGroupId")
    selector: Selector | None = None
    type: BackupType | None = None
    display_name: DisplayName | None = Field(None, alias="displayName")
    freeform_tags: FreeformTags | None = Field(None, alias="freeformTags")
    defined_tags: DefinedTags | None = Field(None, alias="definedTags")
    kms_key_id: KmsKeyId | None = Field(None, alias="kmsKeyId")
    dry_run: StrictBool = Field(False, alias="dryRun")
    idempotency_key: str | None = Field(
        None, alias="idempotencyKey", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"
    )

    @model_validator(mode="before")
    @classmethod
    def _few_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_MANUAL_FIELDS:
            raise ValueError(f"has {len(data)} fields; a backup request has at most {len(MANUAL_FIELDS)}")
        return data

    @model_validator(mode="after")
    def _exactly_one_target(self) -> ManualRequest:
        given = [self.volume_id, self.boot_volume_id, self.volume_group_id, self.selector]
        if sum(item is not None for item in given) != 1:
            raise ValueError("give exactly one of volumeId, bootVolumeId, volumeGroupId or selector")
        if self.volume_group_id is not None and self.kms_key_id is not None:
            raise ValueError("kmsKeyId does not apply to a volume group backup (its volumes' own keys are used)")
        return self

    @property
    def target(self) -> str:
        return self.volume_id or self.boot_volume_id or self.volume_group_id or ""


MANUAL_FIELDS: tuple[str, ...] = tuple(field.alias or name for name, field in ManualRequest.model_fields.items())
# Beyond this many fields a body is refused whole, rather than one "unknown field" problem per key.
MAX_MANUAL_FIELDS = 32


# --------------------------------------------------------------------- Batch


class BatchTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: TargetKind
    id: str = Field(max_length=255)

    @model_validator(mode="after")
    def _id_of_its_kind(self) -> BatchTarget:
        if kind_of(self.id) != self.kind:
            raise ValueError(f"id must be a {self.kind} OCID")
        return self

    @property
    def ocid(self) -> str:
        return normalize(self.id)


# The most compartments a batch names (a selector reaches at most this many: runs/selection.py).
MAX_REACHED_COMPARTMENTS = 1001
# The most targets a chain's remaining links may carry (the body's byte limit binds first).
MAX_CHAIN_TARGETS = 50_000


class BatchBody(BaseModel):
    """Part of a large trigger, handed by this function to a detached invocation of itself.

    It carries the parent's idempotency key, source and time label, so each backup's body
    and retry token are the ones the parent would have used: redeliveries of the parent or
    of a batch never duplicate a backup. Tags and keys are checked against configuration
    again, as for any body.

    A batch is one link of a chain: ``targets`` are its own, ``next`` the OCIDs the links after
    it back up. When its own targets are done, the link hands ``next`` on to the next link
    (``link`` + 1, ``batch`` + 1); so a chain runs one batch at a time.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)

    source: Literal["batch"]
    trigger: Literal["manual", "event", "alarm", "schedule"]
    source_ref: str = Field(alias="sourceRef", min_length=1, max_length=256)
    idempotency_key: str = Field(alias="idempotencyKey", min_length=1, max_length=300)
    time_label: str = Field(alias="timeLabel", min_length=1, max_length=255)
    batch: StrictInt = Field(ge=0, le=100_000)
    chain: StrictInt = Field(0, ge=0, lt=MAX_BATCH_CHAINS)
    link: StrictInt = Field(0, ge=0, le=100_000)
    type: BackupType
    type_given: StrictBool = Field(False, alias="typeGiven")
    """The parent's invoker asked for ``type`` itself (it then wins over BACKUP_FULL_EVERY)."""
    display_name: DisplayName | None = Field(None, alias="displayName")
    freeform_tags: FreeformTags = Field({}, alias="freeformTags")
    defined_tags: DefinedTags | None = Field(None, alias="definedTags")
    kms_key_id: KmsKeyId | None = Field(None, alias="kmsKeyId")
    dry_run: StrictBool = Field(False, alias="dryRun")
    targets: Annotated[list[BatchTarget], at_most(MAX_SCHEDULE_TARGETS)] = Field(min_length=1)
    next: Annotated[list[AnyTargetOcid], at_most(MAX_CHAIN_TARGETS)] = []
    compartments: Annotated[list[CompartmentOcid], at_most(MAX_REACHED_COMPARTMENTS)] = []
    """The compartments the parent's selector reached: where a batch whose bodies are shaped from their targets
    (BACKUP_FULL_EVERY, BACKUP_COPY_VOLUME_TAGS) lists its targets once per compartment, rather than reading
    each. It does not shape a body: not part of :meth:`scope`."""

    def scope(self) -> str:
        """A digest of everything that shapes a backup's body: part of the batch's retry tokens.

        A body sent by someone else, shaped differently under a real parent's key, then gets
        tokens of its own: it can make its own backups, never collide with the real ones.
        """
        unshaped = {
            "batch",
            "chain",
            "link",
            "targets",
            "next",
            "compartments",
            *(() if self.type_given else ("type_given",)),
        }
        shape = self.model_dump(mode="json", by_alias=True, exclude=unshaped)
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:32]


def build_deferred() -> None:
    """Build the models left to their first use now (a prewarmed container pays for them before any call)."""
    for model in (CloudEventData, CloudEvent, AlarmMetadata, AlarmMessage, ScheduleTick, BatchTarget, BatchBody):
        model.model_rebuild()

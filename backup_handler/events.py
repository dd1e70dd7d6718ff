"""One pydantic model per trigger, shaped like what each source really sends.

- :class:`CloudEvent` — an OCI Events rule (CloudEvents 0.1 as OCI emits it), directly
  or through a Notifications topic.
- :class:`AlarmMessage` — a Monitoring alarm message (format 1.0–1.5) through a topic.
- :class:`ScheduleTick` — an OCI Resource Scheduler invocation with a body.
- :class:`ManualRequest` — ``fn invoke``: the CreateVolumeBackup body as the API takes it.

Source models accept the extra fields their sources add over time; the manual
request, typed by people, refuses unknown fields so a typo is not ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from backup_handler.ocids import BootVolumeOcid, TargetOcid, VolumeOcid

_SOURCE = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

BackupType = Literal["FULL", "INCREMENTAL"]
DisplayName = Annotated[str, Field(min_length=1, max_length=255)]
FreeformTags = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=256)]],
    Field(max_length=50),
]
DefinedTags = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        Annotated[dict[Annotated[str, Field(min_length=1, max_length=100)], Any], Field(max_length=50)],
    ],
    Field(max_length=50),
]
KmsKeyId = Annotated[str, Field(pattern=r"^ocid1\.key\.[a-z0-9.-]+$", max_length=255)]


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


# ---------------------------------------------------------- Monitoring alarm

AlarmTransition = Literal["OK_TO_FIRING", "FIRING_TO_OK", "REPEAT", "RESET", "RESEND"]
FIRING_TRANSITIONS: frozenset[str] = frozenset({"OK_TO_FIRING", "REPEAT", "RESEND"})


class AlarmMetadata(BaseModel):
    model_config = _SOURCE

    id: str | None = None
    status: str | None = None
    severity: str | None = None
    query: str | None = None
    dimensions: list[dict[str, Any]] = []


class AlarmMessage(BaseModel):
    """A Monitoring alarm message as a Notifications topic delivers it (versions 1.0–1.5)."""

    model_config = _SOURCE

    dedupe_key: str = Field(alias="dedupeKey", min_length=1, max_length=256)
    title: str | None = None
    body: str | None = None
    type: AlarmTransition
    severity: str | None = None
    timestamp_epoch_millis: int = Field(alias="timestampEpochMillis", ge=0)
    alarm_meta_data: list[AlarmMetadata] = Field(alias="alarmMetaData")
    version: float = Field(ge=1.0, lt=2.0)

    def resource_ids(self) -> list[str]:
        """Every ``resourceId`` (or ``resourceID``) among all dimensions, in order."""
        found = []
        for metadata in self.alarm_meta_data:
            for dimension in metadata.dimensions:
                value = dimension.get("resourceId", dimension.get("resourceID"))
                if isinstance(value, str):
                    found.append(value)
        return found


# ------------------------------------------------------------------ Schedule


class ScheduleTick(BaseModel):
    """A Resource Scheduler invocation whose BODY names its targets."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    source: Literal["schedule"]
    volume_ids: list[TargetOcid] | None = Field(None, alias="volumeIds", min_length=1, max_length=1000)


# -------------------------------------------------------------------- Manual


class ManualRequest(BaseModel):
    """The CreateVolumeBackup body, or CreateBootVolumeBackup's with ``bootVolumeId``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    volume_id: VolumeOcid | None = Field(None, alias="volumeId")
    boot_volume_id: BootVolumeOcid | None = Field(None, alias="bootVolumeId")
    type: BackupType | None = None
    display_name: DisplayName | None = Field(None, alias="displayName")
    freeform_tags: FreeformTags | None = Field(None, alias="freeformTags")
    defined_tags: DefinedTags | None = Field(None, alias="definedTags")
    kms_key_id: KmsKeyId | None = Field(None, alias="kmsKeyId")
    idempotency_key: str | None = Field(
        None, alias="idempotencyKey", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"
    )

    @model_validator(mode="after")
    def _exactly_one_target(self) -> ManualRequest:
        if (self.volume_id is None) == (self.boot_volume_id is None):
            raise ValueError("give exactly one of volumeId or bootVolumeId")
        return self

    @property
    def target(self) -> str:
        return self.volume_id or self.boot_volume_id or ""


MANUAL_FIELDS: tuple[str, ...] = tuple(field.alias or name for name, field in ManualRequest.model_fields.items())

"""Volume backups and boot volume backups: the store, Create (with retry tokens), Get and List.

Like the service, a create 404s an unknown volume, refuses a second backup of a volume while
one is in progress (409 ``Conflict``), and keeps ``opc-retry-token`` semantics for 24 hours of the
service's clock: the same token with the same body returns the original response; with a
different body, 409 ``Conflict``; a token whose backup was deleted answers 409
``InvalidatedRetryToken``. A backup is ``CREATING``
for the service's ``in_progress_seconds`` (a copy: its own window), then ``AVAILABLE``; only a
``CREATING`` backup moves on by itself (a ``TERMINATED`` or seeded one keeps its state). A create
takes the retention fields of :mod:`.retention` and is stamped with the service's clock.

ListVolumeBackups / ListBootVolumeBackups take what the SDK sends: ``compartmentId`` (required,
400 ``MissingParameter`` otherwise), ``volumeId`` / ``bootVolumeId``, ``lifecycleState``,
``sourceVolumeBackupId`` / ``sourceBootVolumeBackupId``, ``displayName``, ``sortBy``
(``TIMECREATED``, newest first by default, or ``DISPLAYNAME``, A to Z by default, case-sensitive)
and ``sortOrder`` (``ASC`` / ``DESC``). Without ``sortBy``, items keep the order they were made in.
Delete, Update and Copy are in :mod:`.lifecycle` and :mod:`.copies`.

Sizes: a backup's ``sizeInGBs`` is its volume's and ``uniqueSizeInGBs`` what it stores (all of the
volume for a FULL backup, a tenth for an INCREMENTAL one: the emulator's assumption); like the
service, they are null while the backup is in progress.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from localdev.emulator import retention
from localdev.emulator.api import (
    ErrorResponse,
    Request,
    Response,
    Service,
    json_object,
    new_ocid,
    not_found,
    query_choice,
    query_value,
)
from localdev.emulator.clock import parse, stamp
from localdev.emulator.pagination import page
from localdev.emulator.volumes import VolumeStore


class BackupsOnly(Protocol):
    """The one store a look-up of a backup reads (other families' handlers call :func:`find`)."""

    @property
    def backups(self) -> BackupStore: ...


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def backups(self) -> BackupStore: ...

    @property
    def volumes(self) -> VolumeStore: ...


Kind = Literal["volume", "bootVolume"]
ID_FIELD: dict[Kind, str] = {"volume": "volumeId", "bootVolume": "bootVolumeId"}
SOURCE_FIELD: dict[Kind, str] = {"volume": "sourceVolumeBackupId", "bootVolume": "sourceBootVolumeBackupId"}
_OCID_TYPE: dict[Kind, str] = {"volume": "volumebackup", "bootVolume": "bootvolumebackup"}
_OPTIONAL_FIELDS = frozenset({"type", "displayName", "freeformTags", "definedTags", "kmsKeyId"}) | retention.FIELDS
STATES = frozenset({"CREATING", "AVAILABLE", "TERMINATING", "TERMINATED", "FAULTY", "REQUEST_RECEIVED"})
SIZE_FIELDS = ("sizeInGBs", "sizeInMBs", "uniqueSizeInGBs", "uniqueSizeInMbs")


def unknown_sizes(backup: Mapping[str, Any]) -> dict[str, None]:
    """The size fields of ``backup`` blanked (in progress): only those its model has (BootVolumeBackup: no MBs)."""
    return {name: None for name in SIZE_FIELDS if name in backup}


# What an incremental backup stores of its volume (a full one stores all of it): the emulator's assumption.
INCREMENTAL_SHARE = 10
SOURCE_TYPES = frozenset({"MANUAL", "SCHEDULED"})


@dataclass
class TokenRecord:
    """What an ``opc-retry-token`` was first used for: the body's digest, the answer, the backup made."""

    body_digest: str
    response: dict[str, Any]
    backup_id: str
    issued: datetime | None = None  # by the service's clock


# Block Storage keeps a retry token for 24 hours.
TOKEN_LIFETIME = timedelta(hours=24)


def remembered(tokens: dict[str, TokenRecord], token: str | None, now: datetime) -> TokenRecord | None:
    """What ``token`` was used for, unless it was never used or 24 hours (by the service's clock) have passed."""
    record = tokens.get(token) if token is not None else None
    if record is not None and record.issued is not None and now - record.issued >= TOKEN_LIFETIME:
        del tokens[token]  # type: ignore[arg-type]
        return None
    return record


@dataclass
class BackupStore:
    """Every backup of either kind, by OCID, with what retry tokens, in-progress checks and events need."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: dict[str, float] = field(default_factory=dict)  # monotonic
    windows: dict[str, float] = field(default_factory=dict)  # an in-progress window of its own (copies)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)  # volume → its newest backup
    announce: list[str] = field(default_factory=list)  # created backups whose end is not yet announced

    def state(self, backup_id: str, in_progress_seconds: float) -> str:
        """The backup's lifecycle state now."""
        state: str = self.records[backup_id]["lifecycleState"]
        window = self.windows.get(backup_id, in_progress_seconds)
        if state == "CREATING" and time.monotonic() - self.created_at[backup_id] >= window:
            return "AVAILABLE"
        return state

    def view(self, backup_id: str, in_progress_seconds: float) -> dict[str, Any]:
        """The backup as the API shows it now (its sizes are known once it is no longer in progress)."""
        backup = dict(self.records[backup_id])
        backup["lifecycleState"] = self.state(backup_id, in_progress_seconds)
        if backup["lifecycleState"] in ("CREATING", "REQUEST_RECEIVED"):
            backup.update(unknown_sizes(backup))
        return backup

    def in_progress(self, volume_id: str, in_progress_seconds: float) -> bool:
        backup_id = self.latest.get(volume_id)
        return (
            backup_id is not None
            and backup_id in self.records
            and self.state(backup_id, in_progress_seconds) == "CREATING"
        )

    def live(self, backup_id: str) -> bool:
        """Whether the backup exists and is not terminated (what a retry token needs to stay valid)."""
        record = self.records.get(backup_id)
        return record is not None and record["lifecycleState"] not in ("TERMINATING", "TERMINATED")

    def delete(self, backup_id: str) -> None:
        """Forget a backup altogether; a retry token that created it is then invalidated."""
        self.records.pop(backup_id, None)

    def ended(self, in_progress_seconds: float) -> list[dict[str, Any]]:
        """Created backups that have become ``AVAILABLE`` since last asked, each once, in order."""
        ended, waiting = [], []
        for backup_id in self.announce:
            state = self.state(backup_id, in_progress_seconds) if backup_id in self.records else "GONE"
            if state == "AVAILABLE":
                ended.append(self.view(backup_id, in_progress_seconds))
            elif state == "CREATING":
                waiting.append(backup_id)
        self.announce = waiting
        return ended


def kind_of(backup: Mapping[str, Any]) -> Kind | None:
    """The kind of a backup record, by its OCID (a copy need not say its volume)."""
    backup_type = str(backup.get("id", "")).split(".")[1:2]
    return next((kind for kind, name in _OCID_TYPE.items() if [name] == backup_type), None)


def find(service: Service[BackupsOnly], backup_id: str, kind: Kind) -> dict[str, Any]:
    """A backup of ``kind`` that is not terminated (404 ``NotAuthorizedOrNotFound`` otherwise)."""
    record = service.state.backups.records.get(backup_id)
    if record is None or kind_of(record) != kind or record["lifecycleState"] == "TERMINATED":
        raise not_found(backup_id)
    return record


def create_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _create(service, "volume", json_object(request.body), request.retry_token)


def create_boot_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _create(service, "bootVolume", json_object(request.body), request.retry_token)


def get_backup(service: Service[Stores], request: Request) -> Response:
    """GetVolumeBackup / GetBootVolumeBackup."""
    backup_id = request.params["backupId"]
    if backup_id not in service.state.backups.records:
        raise ErrorResponse(404, "NotAuthorizedOrNotFound", "Backup not found")
    return Response(200, service.state.backups.view(backup_id, service.in_progress_seconds))


def list_volume_backups(service: Service[Stores], request: Request) -> Response:
    return _list(service, request, "volume")


def list_boot_volume_backups(service: Service[Stores], request: Request) -> Response:
    return _list(service, request, "bootVolume")


def _list(service: Service[Stores], request: Request, kind: Kind) -> Response:
    wanted = {
        "compartmentId": query_value(request, "compartmentId", required=True),
        ID_FIELD[kind]: query_value(request, ID_FIELD[kind]),
        SOURCE_FIELD[kind]: query_value(request, SOURCE_FIELD[kind]),
        "displayName": query_value(request, "displayName"),
        "lifecycleState": query_choice(request, "lifecycleState", STATES),
    }
    sort_by = query_choice(request, "sortBy", frozenset({"TIMECREATED", "DISPLAYNAME"}))
    sort_order = query_choice(request, "sortOrder", frozenset({"ASC", "DESC"}))
    state = wanted.pop("lifecycleState")
    filters = [(name, value) for name, value in wanted.items() if value is not None]
    store = service.state.backups
    seconds = service.in_progress_seconds
    # Filtered on the stored records, and only the page's items are shown: the same answer as showing every
    # backup first, without copying thousands of records for each page of a large compartment.
    prefix = f"ocid1.{_OCID_TYPE[kind]}."  # what kind_of() reads, without splitting every OCID
    records = [
        record
        for backup_id, record in store.records.items()
        if backup_id.startswith(prefix)
        and all(record.get(name) == value for name, value in filters)
        and (state is None or store.state(backup_id, seconds) == state)
    ]
    if sort_by == "DISPLAYNAME":
        records.sort(key=lambda backup: str(backup["displayName"]), reverse=sort_order == "DESC")
    elif sort_by == "TIMECREATED" or sort_order is not None:
        records.sort(key=lambda backup: parse(backup["timeCreated"]), reverse=sort_order != "ASC")
    answer = page(records, request.query, service.page_size)
    return Response(answer.status, [store.view(item["id"], seconds) for item in answer.document], answer.headers)


def validate_create(body: dict[str, Any], id_field: str, allowed: frozenset[str], token: str | None) -> str:
    """The resource a create body names (``id_field``); raises 400 ``InvalidParameter`` for what the API refuses.

    Shared by every create (volume, boot volume and volume group backups): ``allowed`` are its optional fields.
    """
    unknown = set(body) - allowed - {id_field}
    if unknown:
        raise ErrorResponse(400, "InvalidParameter", f"Unknown field(s): {', '.join(sorted(unknown))}")
    resource_id = body.get(id_field)
    if not isinstance(resource_id, str):
        raise ErrorResponse(400, "InvalidParameter", f"{id_field} is required")
    if body.get("type", "INCREMENTAL") not in ("FULL", "INCREMENTAL"):
        raise ErrorResponse(400, "InvalidParameter", "type must be FULL or INCREMENTAL")
    name = body.get("displayName")
    if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 255):
        raise ErrorResponse(400, "InvalidParameter", "displayName must be 1 to 255 characters")
    if token is not None and not 1 <= len(token) <= 64:
        raise ErrorResponse(400, "InvalidParameter", "opc-retry-token must be 1 to 64 characters")
    retention.validate(body)
    return resource_id


def _create(service: Service[Stores], kind: Kind, body: dict[str, Any], token: str | None) -> Response:
    """CreateVolumeBackup / CreateBootVolumeBackup."""
    volume_id = validate_create(body, ID_FIELD[kind], _OPTIONAL_FIELDS, token)
    store = service.state.backups
    digest = hashlib.sha256(json.dumps([kind, body], sort_keys=True).encode()).hexdigest()
    if (record := remembered(store.tokens, token, service.clock.now())) is not None:
        if not store.live(record.backup_id):
            raise ErrorResponse(409, "InvalidatedRetryToken", "The retry token was invalidated by a later operation")
        if record.body_digest != digest:
            raise ErrorResponse(409, "Conflict", "The retry token was already used for a different request")
        return Response(200, record.response)
    volume = service.state.volumes.find(volume_id, boot=kind == "bootVolume")
    if volume is None:
        raise not_found(volume_id)
    if store.in_progress(volume_id, service.in_progress_seconds):
        raise ErrorResponse(409, "Conflict", f"A backup of volume {volume_id} is already in progress")
    backup = add_backup(service, body, volume)
    store.announce.append(backup["id"])
    answer = {**backup, **unknown_sizes(backup)}  # in progress: sizes not known yet
    if token is not None:
        store.tokens[token] = TokenRecord(digest, answer, backup["id"], service.clock.now())
    return Response(200, answer)


def add_backup(
    service: Service[Stores], body: Mapping[str, Any], volume: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Start a backup of ``volume`` (either kind) as ``body`` asks, with ``extra`` fields; it is in progress."""
    backup = new_backup(service, body, volume, service.clock.stamp())
    backup.update(extra or {})
    store = service.state.backups
    store.records[backup["id"]] = backup
    store.created_at[backup["id"]] = time.monotonic()
    store.latest[volume["id"]] = backup["id"]
    return backup


def seed_backup(
    service: Service[Stores],
    volume: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    time_created: datetime | str | None,
    source_type: str,
    lifecycle_state: str,
    extra: Mapping[str, Any],
) -> str:
    """Add a backup made outside the API (by a person, a backup policy, a copy from elsewhere); its OCID.

    It keeps ``lifecycle_state`` (a ``CREATING`` one stays so), and is not announced as ended.
    """
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"source_type must be one of {sorted(SOURCE_TYPES)}")
    if lifecycle_state not in STATES:
        raise ValueError(f"lifecycle_state must be one of {sorted(STATES)}")
    created = time_created.isoformat() if isinstance(time_created, datetime) else time_created
    try:
        backup = new_backup(service, body, volume, created or service.clock.stamp())
    except ErrorResponse as refused:
        raise ValueError(refused.response.document["message"]) from None
    backup.update(sourceType=source_type, lifecycleState=lifecycle_state, **extra)
    store = service.state.backups
    store.records[backup["id"]] = backup
    store.created_at[backup["id"]] = time.monotonic()
    store.windows[backup["id"]] = float("inf")
    return str(backup["id"])


def new_backup(
    service: Service[Stores], body: Mapping[str, Any], volume: Mapping[str, Any], created: str
) -> dict[str, Any]:
    """A new backup record of ``volume`` (either kind), made at ``created`` as ``body`` asks."""
    kind: Kind = "bootVolume" if volume["boot"] else "volume"
    created = _normalized(created)
    backup: dict[str, Any] = {
        "id": new_ocid(_OCID_TYPE[kind], service.region),
        "compartmentId": volume["compartmentId"],
        ID_FIELD[kind]: volume["id"],
        "displayName": body.get("displayName") or f"{volume['displayName']}-backup",
        "type": body.get("type", "INCREMENTAL"),
        "sourceType": "MANUAL",
        "lifecycleState": "CREATING",
        "freeformTags": dict(body.get("freeformTags") or {}),
        "definedTags": dict(body.get("definedTags") or {}),
        "systemTags": {},
        "kmsKeyId": body.get("kmsKeyId"),
        "expirationTime": None,
        **sizes(volume.get("sizeInGBs"), str(body.get("type") or "INCREMENTAL")),
        "timeCreated": created,
        "timeRequestReceived": created,
        "volumeGroupBackupId": None,
        **retention.fields(body, created),
    }
    backup.update(service.extra_backup_fields)  # fields a newer API version might add
    backup[SOURCE_FIELD[kind]] = None
    if kind == "bootVolume":  # BootVolumeBackup has no MB sizes (the SDK's model): GB only, and an image
        del backup["sizeInMBs"], backup["uniqueSizeInMbs"]
        backup["imageId"] = volume.get("imageId")
    return backup


def sizes(volume_gbs: Any, backup_type: str) -> dict[str, int | None]:
    """A backup's size fields: the volume's size, and what it stores of it (``uniqueSizeInGBs``)."""
    if not isinstance(volume_gbs, int) or isinstance(volume_gbs, bool) or volume_gbs < 0:
        return dict.fromkeys(SIZE_FIELDS)
    unique = volume_gbs if backup_type == "FULL" else max(1, volume_gbs // INCREMENTAL_SHARE)
    return {
        "sizeInGBs": volume_gbs,
        "sizeInMBs": volume_gbs * 1024,
        "uniqueSizeInGBs": unique,
        "uniqueSizeInMbs": unique * 1024,
    }


def _normalized(moment: str) -> str:
    """A time as the API writes it (400 ``InvalidParameter`` when it is not one)."""
    try:
        return stamp(parse(moment))
    except ValueError:
        raise ErrorResponse(400, "InvalidParameter", f"Invalid time: {moment[:64]}") from None

"""Volume backups and boot volume backups: Create (with retry tokens), Get and List.

Like the service, a create 404s an unknown volume, refuses a second backup of a volume while
one is in progress (409 ``Conflict``), and keeps ``opc-retry-token`` semantics: the same token
with the same body returns the original response; with a different body, 409 ``Conflict``; a
token whose backup was deleted answers 409 ``InvalidatedRetryToken``. A backup is ``CREATING``
for the service's ``in_progress_seconds``, then ``AVAILABLE``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from localdev.emulator.api import ErrorResponse, Request, Response, Service, json_object, not_found, now
from localdev.emulator.pagination import page

Kind = Literal["volume", "bootVolume"]
_ID_FIELD: dict[Kind, str] = {"volume": "volumeId", "bootVolume": "bootVolumeId"}
_OCID_TYPE: dict[Kind, str] = {"volume": "volumebackup", "bootVolume": "bootvolumebackup"}
_OPTIONAL_FIELDS = frozenset({"type", "displayName", "freeformTags", "definedTags", "kmsKeyId"})


@dataclass
class TokenRecord:
    """What an ``opc-retry-token`` was first used for: the body's digest, the answer, the backup made."""

    body_digest: str
    response: dict[str, Any]
    backup_id: str


@dataclass
class BackupStore:
    """Every backup of either kind, by OCID, with what retry tokens and in-progress checks need."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: dict[str, float] = field(default_factory=dict)  # monotonic
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)  # volume → its newest backup

    def view(self, backup_id: str, in_progress_seconds: float) -> dict[str, Any]:
        """The backup as the API shows it now (``AVAILABLE`` once no longer in progress)."""
        backup = dict(self.records[backup_id])
        if time.monotonic() - self.created_at[backup_id] >= in_progress_seconds:
            backup["lifecycleState"] = "AVAILABLE"
        return backup

    def in_progress(self, volume_id: str, in_progress_seconds: float) -> bool:
        backup_id = self.latest.get(volume_id)
        return (
            backup_id is not None
            and backup_id in self.records
            and time.monotonic() - self.created_at[backup_id] < in_progress_seconds
        )

    def delete(self, backup_id: str) -> None:
        """Delete a backup; a retry token that created it is then invalidated."""
        self.records.pop(backup_id, None)


def create_volume_backup(service: Service, request: Request) -> Response:
    return _create(service, "volume", json_object(request.body), request.retry_token)


def create_boot_volume_backup(service: Service, request: Request) -> Response:
    return _create(service, "bootVolume", json_object(request.body), request.retry_token)


def get_backup(service: Service, request: Request) -> Response:
    """GetVolumeBackup / GetBootVolumeBackup."""
    backup_id = request.params["backupId"]
    if backup_id not in service.state.backups.records:
        raise ErrorResponse(404, "NotAuthorizedOrNotFound", "Backup not found")
    return Response(200, service.state.backups.view(backup_id, service.in_progress_seconds))


def list_volume_backups(service: Service, request: Request) -> Response:
    return _list(service, request, "volume")


def list_boot_volume_backups(service: Service, request: Request) -> Response:
    return _list(service, request, "bootVolume")


def _list(service: Service, request: Request, kind: Kind) -> Response:
    id_field = _ID_FIELD[kind]
    wanted = request.query.get(id_field)
    store = service.state.backups
    items = [
        store.view(backup_id, service.in_progress_seconds)
        for backup_id, backup in store.records.items()
        if id_field in backup and (wanted is None or backup[id_field] == wanted[0])
    ]
    return page(items, request.query, service.page_size)


def _validate(kind: Kind, body: dict[str, Any], token: str | None) -> str:
    """The volume a create names; raises 400 ``InvalidParameter`` for what the API refuses."""
    id_field = _ID_FIELD[kind]
    unknown = set(body) - _OPTIONAL_FIELDS - {id_field}
    if unknown:
        raise ErrorResponse(400, "InvalidParameter", f"Unknown field(s): {', '.join(sorted(unknown))}")
    volume_id = body.get(id_field)
    if not isinstance(volume_id, str):
        raise ErrorResponse(400, "InvalidParameter", f"{id_field} is required")
    if body.get("type", "INCREMENTAL") not in ("FULL", "INCREMENTAL"):
        raise ErrorResponse(400, "InvalidParameter", "type must be FULL or INCREMENTAL")
    name = body.get("displayName")
    if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 255):
        raise ErrorResponse(400, "InvalidParameter", "displayName must be 1 to 255 characters")
    if token is not None and not 1 <= len(token) <= 64:
        raise ErrorResponse(400, "InvalidParameter", "opc-retry-token must be 1 to 64 characters")
    return volume_id


def _create(service: Service, kind: Kind, body: dict[str, Any], token: str | None) -> Response:
    """CreateVolumeBackup / CreateBootVolumeBackup."""
    volume_id = _validate(kind, body, token)
    store = service.state.backups
    digest = hashlib.sha256(json.dumps([kind, body], sort_keys=True).encode()).hexdigest()
    if token is not None and token in store.tokens:
        record = store.tokens[token]
        if record.backup_id not in store.records:
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
    if token is not None:
        store.tokens[token] = TokenRecord(digest, backup, backup["id"])
    return Response(200, backup)


def add_backup(
    service: Service, body: dict[str, Any], volume: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Start a backup of ``volume`` (either kind) as ``body`` asks, with ``extra`` fields; it is in progress."""
    kind: Kind = "bootVolume" if volume["boot"] else "volume"
    backup = _new_backup(kind, body, volume, service.extra_backup_fields)
    backup.update(extra or {})
    store = service.state.backups
    store.records[backup["id"]] = backup
    store.created_at[backup["id"]] = time.monotonic()
    store.latest[volume["id"]] = backup["id"]
    return backup


def _new_backup(
    kind: Kind, body: dict[str, Any], volume: dict[str, Any], extra_fields: dict[str, Any]
) -> dict[str, Any]:
    backup_id = f"ocid1.{_OCID_TYPE[kind]}.oc1.iad.{uuid.uuid4().hex}{uuid.uuid4().hex[:20]}"
    created = now()
    backup: dict[str, Any] = {
        "id": backup_id,
        "compartmentId": volume["compartmentId"],
        _ID_FIELD[kind]: volume["id"],
        "displayName": body.get("displayName") or f"{volume['displayName']}-backup",
        "type": body.get("type", "INCREMENTAL"),
        "sourceType": "MANUAL",
        "lifecycleState": "CREATING",
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
        "systemTags": {},
        "kmsKeyId": body.get("kmsKeyId"),
        "expirationTime": None,
        "sizeInGBs": None,
        "sizeInMBs": None,
        "uniqueSizeInGBs": None,
        "uniqueSizeInMbs": None,
        "timeCreated": created,
        "timeRequestReceived": created,
    }
    backup.update(extra_fields)  # fields a newer API version might add
    if kind == "volume":
        backup["sourceVolumeBackupId"] = None
    else:
        backup["imageId"] = None
        backup["sourceBootVolumeBackupId"] = None
    return backup

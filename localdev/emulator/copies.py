"""Cross-region copies of volume backups and boot volume backups (CopyVolumeBackup, CopyBootVolumeBackup).

An emulator serves one region (``region``); another region is another emulator linked to it
(:meth:`~.service.BlockStorageEmulator.add_region`). ``POST …/{id}/actions/copy`` with
``{destinationRegion, displayName?, kmsKeyId?}`` copies an ``AVAILABLE`` backup into the linked
region's store, where it is ``CREATING`` for the source's ``copy_seconds``, then ``AVAILABLE``. The
copy keeps the source's volume, compartment, type and tags, carries the source's OCID in
``sourceVolumeBackupId`` / ``sourceBootVolumeBackupId`` and ``sourceType`` ``MANUAL`` (a copy is an
operator's action, whatever made the source), and none of its retention settings. The answer is
the new backup, as the destination region shows it. ``opc-retry-token``: the same token with the
same request answers the first copy again; with a different one, 409 ``Conflict``.

Refusals: an unknown or terminated source, 404 ``NotAuthorizedOrNotFound``; a source not
``AVAILABLE``, 409 ``IncorrectState`` (it will be, so retrying helps); a destination that is this
region or not linked, 400 ``InvalidParameter``. Like the service, at most ``max_concurrent_copies``
(10 by default) copies from one source region may be in progress at once, and at most one copy of
the backups of one boot volume; beyond that the copy is refused with the copy-limit refusal
(``variants.copy_limit_refusal``; OCI does not document it: 429 ``TooManyRequests`` by default) — a
limit on concurrent work that frees by itself. A boot volume backup is copied only when its
``imageId`` is one of ``platform_images`` (platform images, and custom images built from them); any
other is refused with ``variants.boot_copy_refusal`` (400 ``InvalidParameter`` by default), every time.

What the copy says in the destination where OCI does not document it follows the destination's
variants: ``volumeId`` / ``bootVolumeId`` (``copy_volume_id``) and ``sourceType`` (``copy_source_type``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from localdev.emulator.api import ErrorResponse, Request, Response, Service, json_object, new_ocid
from localdev.emulator.backups import (
    ID_FIELD,
    SOURCE_FIELD,
    BackupStore,
    Kind,
    TokenRecord,
    find,
    kind_of,
    remembered,
    unknown_sizes,
)


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def copies(self) -> CopyStore: ...

    @property
    def backups(self) -> BackupStore: ...


_FIELDS = frozenset({"destinationRegion", "displayName", "kmsKeyId"})
_KEPT = ("compartmentId", "type", "sizeInGBs", "sizeInMBs", "uniqueSizeInGBs", "uniqueSizeInMbs", "imageId")
_OCID_TYPE = {"volumeId": "volumebackup", "bootVolumeId": "bootvolumebackup"}


@dataclass
class CopyStore:
    """Copies this region started (for the concurrency limit) and the retry tokens they used."""

    started: dict[str, tuple[float, float]] = field(default_factory=dict)  # copy → (monotonic start, window)
    of_volume: dict[str, str] = field(default_factory=dict)  # copy → the volume its source is a backup of
    tokens: dict[str, TokenRecord] = field(default_factory=dict)

    def in_flight(self, volume_id: str | None = None) -> int:
        """Copies in progress (of backups of ``volume_id``, when given)."""
        moment = time.monotonic()
        return sum(
            1
            for copy_id, (start, window) in self.started.items()
            if moment - start < window and (volume_id is None or self.of_volume.get(copy_id) == volume_id)
        )


def copy_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _copy(service, request, "volume")


def copy_boot_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _copy(service, request, "bootVolume")


def _copy(service: Service[Stores], request: Request, kind: Kind) -> Response:
    body = json_object(request.body)
    backup_id = request.params["backupId"]
    region = _validate(body, request.retry_token)
    store = service.state.copies
    token = request.retry_token
    digest = hashlib.sha256(json.dumps([kind, backup_id, body], sort_keys=True).encode()).hexdigest()
    if (record := remembered(store.tokens, token, service.clock.now())) is not None:
        if record.body_digest != digest:
            raise ErrorResponse(409, "Conflict", "The retry token was already used for a different request")
        return Response(200, record.response)
    find(service, backup_id, kind)
    source = service.state.backups.view(backup_id, service.in_progress_seconds)
    if source["lifecycleState"] != "AVAILABLE":
        raise ErrorResponse(409, "IncorrectState", f"Backup {backup_id} is {source['lifecycleState']}, not AVAILABLE")
    if region == service.region:
        raise ErrorResponse(400, "InvalidParameter", "destinationRegion must be another region")
    peer = service.peer(region)
    if peer is None:
        raise ErrorResponse(400, "InvalidParameter", f"Unknown or unsubscribed destinationRegion: {region[:64]}")
    volume_id = str(source[ID_FIELD[kind]])
    if kind == "bootVolume":
        if source.get("imageId") not in service.platform_images:
            status, code = service.variants.boot_copy_refusal
            raise ErrorResponse(
                status, code, "Only backups of boot volumes of platform images (or custom images from them) copy"
            )
        if store.in_flight(volume_id):
            status, code = service.variants.copy_limit_refusal
            raise ErrorResponse(status, code, f"A copy of a backup of boot volume {volume_id} is in progress")
    if store.in_flight() >= service.max_concurrent_copies:
        status, code = service.variants.copy_limit_refusal
        raise ErrorResponse(status, code, f"At most {service.max_concurrent_copies} backup copies may be in progress")
    copy = peer.accept_copy(source, body, service.copy_seconds)
    store.started[copy["id"]] = (time.monotonic(), service.copy_seconds)
    store.of_volume[copy["id"]] = volume_id
    if token is not None:
        store.tokens[token] = TokenRecord(digest, copy, copy["id"], service.clock.now())
    return Response(200, copy)


def _validate(body: Mapping[str, Any], token: str | None) -> str:
    """The destination region a copy names; raises 400 for what the API refuses."""
    unknown = set(body) - _FIELDS
    if unknown:
        raise ErrorResponse(400, "InvalidParameter", f"Unknown field(s): {', '.join(sorted(unknown))}")
    region = body.get("destinationRegion")
    if not isinstance(region, str) or not region:
        raise ErrorResponse(400, "InvalidParameter", "destinationRegion is required")
    name = body.get("displayName")
    if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 255):
        raise ErrorResponse(400, "InvalidParameter", "displayName must be 1 to 255 characters")
    if body.get("kmsKeyId") is not None and not isinstance(body["kmsKeyId"], str):
        raise ErrorResponse(400, "InvalidParameter", "kmsKeyId must be a string")
    if token is not None and not 1 <= len(token) <= 64:
        raise ErrorResponse(400, "InvalidParameter", "opc-retry-token must be 1 to 64 characters")
    return region


def receive(
    service: Service[Stores], source: Mapping[str, Any], body: Mapping[str, Any], seconds: float
) -> dict[str, Any]:
    """Start, in ``service``'s region, a copy of another region's backup ``source``; the new backup."""
    kind = kind_of(source)
    assert kind is not None
    id_field = ID_FIELD[kind]
    created = service.clock.stamp()
    copy: dict[str, Any] = {
        "id": new_ocid(_OCID_TYPE[id_field], service.region),
        id_field: source[id_field],
        **{name: source[name] for name in _KEPT if name in source},
        "displayName": body.get("displayName") or source["displayName"],
        "sourceType": service.variants.copy_source_type,
        "lifecycleState": "CREATING",
        "freeformTags": dict(source.get("freeformTags") or {}),
        "definedTags": dict(source.get("definedTags") or {}),
        "systemTags": {},
        "kmsKeyId": body.get("kmsKeyId"),
        "expirationTime": None,
        "timeCreated": created,
        "timeRequestReceived": created,
        "volumeGroupBackupId": None,
        "retentionPeriod": None,
        "isPreventDeletionEnabled": False,
        "isRetentionLockEnabled": False,
        "isIndefiniteRetentionEnabled": False,
        "timeRetentionExpiresAt": None,
        SOURCE_FIELD[kind]: source["id"],
    }
    if service.variants.copy_source_type is None:
        del copy["sourceType"]
    if not service.variants.copy_volume_id:
        del copy[id_field]
    store = service.state.backups
    store.records[copy["id"]] = copy
    store.created_at[copy["id"]] = time.monotonic()
    store.windows[copy["id"]] = seconds
    return {**copy, **unknown_sizes(copy)}  # in progress: sizes not known yet

"""Volumes and boot volumes restored from backups: CreateVolume / CreateBootVolume, DeleteVolume /
DeleteBootVolume, and their progress on the emulator's clock.

CreateVolume takes what the SDK's ``CreateVolumeDetails`` sends (``compartmentId`` required; the other
fields optional), CreateBootVolume ``CreateBootVolumeDetails`` (``compartmentId`` and ``sourceDetails``
required); an unknown field is 400 ``InvalidParameter``. The emulator restores from backups only:
``sourceDetails`` ``{"type": "volumeBackup", "id"}`` (or the older ``volumeBackupId``) for a volume,
``{"type": "bootVolumeBackup", "id"}`` for a boot volume; a blank volume or a clone is 400. The backup
must exist, be of the kind, and be AVAILABLE (409 ``IncorrectState`` while it is being made); a restore
needs ``availabilityDomain`` (backups are regional, volumes are not). The new volume has the backup's
size (``sizeInGBs`` may ask for more, never less) and the freeform and defined tags the body gives (at
most 64 together), and keeps ``opc-retry-token`` semantics as backups do.

A restore is ``PROVISIONING`` (``isHydrated`` false) for :attr:`RestoreStore.seconds` on the emulator's
clock, then ``AVAILABLE`` — or ``FAULTY`` when its backup, or the volume backed up, was marked with
:meth:`RestoreStore.fail_restores_of` — and ``isHydrated`` becomes true :attr:`RestoreStore.hydrate_seconds`
after that. A volume's end is announced once as ``com.oraclecloud.blockvolumes.createvolume.end``; a boot
volume's start as ``createbootvolume.begin`` (Oracle's catalogue lists no ``createbootvolume.end``).

DeleteVolume / DeleteBootVolume answer 204 for any volume of the kind that is not ``TERMINATED`` (the
emulator has no IAM: it deletes a production volume as readily as a test one, which is what lets tests
see that the function never asks): ``TERMINATING``, then ``TERMINATED`` after
:attr:`RestoreStore.terminate_seconds`; it stays listed. A repeated delete of a terminated volume is 404;
a retry token whose volume was deleted is then invalidated (409 ``InvalidatedRetryToken``).

Get and List of volumes settle what the clock has reached before answering (:func:`settle`), so a
restore's progress is what any reader sees.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from localdev.emulator import events, volumes
from localdev.emulator.api import ErrorResponse, Request, Response, Service, json_object, new_ocid, not_found
from localdev.emulator.backups import BackupStore, TokenRecord, find
from localdev.emulator.clock import parse
from localdev.emulator.volumes import VolumeStore, shown

Kind = Literal["volume", "bootVolume"]
MAX_TAGS = 64
# CreateVolumeDetails / CreateBootVolumeDetails, as the SDK (oci.core.models) names their JSON fields.
VOLUME_FIELDS = frozenset(
    {
        "availabilityDomain",
        "backupPolicyId",
        "compartmentId",
        "definedTags",
        "displayName",
        "freeformTags",
        "kmsKeyId",
        "vpusPerGB",
        "clusterPlacementGroupId",
        "sizeInGBs",
        "sizeInMBs",
        "sourceDetails",
        "volumeBackupId",
        "isAutoTuneEnabled",
        "blockVolumeReplicas",
        "autotunePolicies",
        "xrcKmsKeyId",
        "isReservationsEnabled",
    }
)
BOOT_VOLUME_FIELDS = frozenset(
    {
        "availabilityDomain",
        "backupPolicyId",
        "compartmentId",
        "definedTags",
        "displayName",
        "freeformTags",
        "kmsKeyId",
        "sizeInGBs",
        "clusterPlacementGroupId",
        "vpusPerGB",
        "sourceDetails",
        "isAutoTuneEnabled",
        "bootVolumeReplicas",
        "autotunePolicies",
        "xrcKmsKeyId",
    }
)
_SOURCE_TYPE: dict[Kind, str] = {"volume": "volumeBackup", "bootVolume": "bootVolumeBackup"}
_OCID_TYPE: dict[Kind, str] = {"volume": "volume", "bootVolume": "bootvolume"}


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def volumes(self) -> VolumeStore: ...

    @property
    def backups(self) -> BackupStore: ...

    @property
    def restores(self) -> RestoreStore: ...


@dataclass
class RestoreStore:
    """Restores in progress and deletions under way, on the emulator's clock; the settings a test turns."""

    seconds: float = 1.0
    """How long a restore is PROVISIONING (emulator-clock seconds)."""
    hydrate_seconds: float = 0.0
    """How long an AVAILABLE restore stays ``isHydrated`` false."""
    terminate_seconds: float = 0.0
    """How long a deleted volume is TERMINATING."""
    started: dict[str, datetime] = field(default_factory=dict)
    ends: dict[str, str] = field(default_factory=dict)  # volume → AVAILABLE or FAULTY
    deleted: dict[str, datetime] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    faulty: set[str] = field(default_factory=set)  # backups (or volumes: any of their backups) restoring FAULTY
    announce: list[tuple[str, str]] = field(default_factory=list)  # (event kind, volume) not yet announced

    def fail_restores_of(self, backup_or_volume_id: str) -> None:
        """Every later restore of this backup (of a volume: of any of its backups) ends FAULTY."""
        self.faulty.add(backup_or_volume_id)


def settle(service: Service[Stores]) -> None:
    """Move restores and deletions on to where the emulator's clock has reached."""
    now = service.clock.now()
    store = service.state.restores
    records = service.state.volumes.records
    for volume_id, started in store.started.items():
        volume = records.get(volume_id)
        if volume is None:
            continue
        ready = started + timedelta(seconds=store.seconds)
        if volume["lifecycleState"] == "PROVISIONING" and now >= ready:
            volume["lifecycleState"] = store.ends[volume_id]
            if not volume["boot"]:
                store.announce.append(("created", volume_id))
        if volume["lifecycleState"] == "AVAILABLE" and now >= ready + timedelta(seconds=store.hydrate_seconds):
            volume["isHydrated"] = True
    for volume_id, asked in store.deleted.items():
        volume = records.get(volume_id)
        if volume is None or volume["lifecycleState"] != "TERMINATING":
            continue
        if now >= asked + timedelta(seconds=store.terminate_seconds):
            volume["lifecycleState"] = "TERMINATED"


def announced(service: Service[Stores]) -> list[dict[str, Any]]:
    """The volume events not yet announced, oldest first, each once."""
    settle(service)
    store = service.state.restores
    found = []
    for what, volume_id in store.announce:
        volume = service.state.volumes.records.get(volume_id)
        if volume is None:
            continue
        if what == "created":
            found.append(events.volume_created(shown(volume), service.clock.stamp()))
        else:
            found.append(events.boot_volume_begun(shown(volume), service.clock.stamp()))
    store.announce = []
    return found


# ------------------------------------------------------------------ reads, settled first


def get_volume(service: Service[Stores], request: Request) -> Response:
    settle(service)
    return volumes.get_volume(service, request)


def get_boot_volume(service: Service[Stores], request: Request) -> Response:
    settle(service)
    return volumes.get_boot_volume(service, request)


def list_volumes(service: Service[Stores], request: Request) -> Response:
    settle(service)
    return volumes.list_volumes(service, request)


def list_boot_volumes(service: Service[Stores], request: Request) -> Response:
    settle(service)
    return volumes.list_boot_volumes(service, request)


# ------------------------------------------------------------------ create


def create_volume(service: Service[Stores], request: Request) -> Response:
    return _create(service, "volume", json_object(request.body), request.retry_token)


def create_boot_volume(service: Service[Stores], request: Request) -> Response:
    return _create(service, "bootVolume", json_object(request.body), request.retry_token)


def _create(service: Service[Stores], kind: Kind, body: dict[str, Any], token: str | None) -> Response:
    settle(service)
    store = service.state.restores
    backup_id = _validate(kind, body, token)
    digest = hashlib.sha256(json.dumps([kind, body], sort_keys=True).encode()).hexdigest()
    if token is not None and token in store.tokens:
        record = store.tokens[token]
        made = service.state.volumes.records.get(record.backup_id)
        if made is None or made["lifecycleState"] in ("TERMINATING", "TERMINATED"):
            raise ErrorResponse(409, "InvalidatedRetryToken", "The retry token was invalidated by a later operation")
        if record.body_digest != digest:
            raise ErrorResponse(409, "Conflict", "The retry token was already used for a different request")
        return Response(200, record.response)
    backup = find(service, backup_id, kind)
    state = service.state.backups.state(backup_id, service.in_progress_seconds)
    if state != "AVAILABLE":
        raise ErrorResponse(409, "IncorrectState", f"Backup {backup_id} is {state}, not AVAILABLE")
    size = backup.get("sizeInGBs") or _source_size(service, backup, kind)
    asked = body.get("sizeInGBs")
    if asked is not None:
        if not isinstance(asked, int) or isinstance(asked, bool) or asked < size:
            raise ErrorResponse(400, "InvalidParameter", f"sizeInGBs must be a whole number of at least {size}")
        size = asked
    volume_id = new_ocid(_OCID_TYPE[kind], service.region)
    service.state.volumes.add(
        volume_id,
        boot=kind == "bootVolume",
        display_name=body.get("displayName") or f"{backup['displayName']}-restored"[:255],
        compartment_id=body["compartmentId"],
        availability_domain=body["availabilityDomain"],
        freeform_tags=body.get("freeformTags"),
        defined_tags=body.get("definedTags"),
        lifecycle_state="PROVISIONING",
        size_in_gbs=size,
        time_created=service.clock.stamp(),
    )
    volume = service.state.volumes.records[volume_id]
    volume.update(
        sourceDetails={"type": _SOURCE_TYPE[kind], "id": backup_id},
        isHydrated=False,
        kmsKeyId=body.get("kmsKeyId"),
        vpusPerGB=body.get("vpusPerGB", 10),
    )
    if kind == "bootVolume":
        volume["imageId"] = backup.get("imageId")
        store.announce.append(("begun", volume_id))
    store.started[volume_id] = parse(volume["timeCreated"])
    source_volume = backup.get("volumeId" if kind == "volume" else "bootVolumeId")
    store.ends[volume_id] = "FAULTY" if store.faulty & {backup_id, source_volume} else "AVAILABLE"
    answer = shown(volume)
    if token is not None:
        store.tokens[token] = TokenRecord(digest, answer, volume_id)
    return Response(200, answer)


def _validate(kind: Kind, body: dict[str, Any], token: str | None) -> str:
    """The backup a create restores from; 400 ``InvalidParameter`` for what the API refuses."""
    allowed = VOLUME_FIELDS if kind == "volume" else BOOT_VOLUME_FIELDS
    unknown = set(body) - allowed
    if unknown:
        raise ErrorResponse(400, "InvalidParameter", f"Unknown field(s): {', '.join(sorted(unknown))}")
    compartment = body.get("compartmentId")
    if not isinstance(compartment, str) or not compartment.startswith(("ocid1.compartment.", "ocid1.tenancy.")):
        raise ErrorResponse(400, "InvalidParameter", "compartmentId is required")
    if token is not None and not 1 <= len(token) <= 64:
        raise ErrorResponse(400, "InvalidParameter", "opc-retry-token must be 1 to 64 characters")
    name = body.get("displayName")
    if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 255):
        raise ErrorResponse(400, "InvalidParameter", "displayName must be 1 to 255 characters")
    freeform, defined = body.get("freeformTags") or {}, body.get("definedTags") or {}
    if not isinstance(freeform, dict) or not all(isinstance(v, str) for v in freeform.values()):
        raise ErrorResponse(400, "InvalidParameter", "freeformTags must be an object of strings")
    if not isinstance(defined, dict) or not all(isinstance(v, dict) for v in defined.values()):
        raise ErrorResponse(400, "InvalidParameter", "definedTags must be an object of objects")
    if len(freeform) + sum(len(v) for v in defined.values()) > MAX_TAGS:
        raise ErrorResponse(400, "InvalidParameter", f"A resource can have at most {MAX_TAGS} tags")
    source = body.get("sourceDetails")
    legacy = body.get("volumeBackupId")
    if source is None and isinstance(legacy, str):
        source = {"type": "volumeBackup", "id": legacy}
    if not isinstance(source, dict) or source.get("type") != _SOURCE_TYPE[kind] or set(source) != {"type", "id"}:
        raise ErrorResponse(
            400,
            "InvalidParameter",
            f"the emulator restores from backups only: sourceDetails {{type: {_SOURCE_TYPE[kind]}, id}}",
        )
    if not isinstance(source.get("id"), str):
        raise ErrorResponse(400, "InvalidParameter", "sourceDetails.id is required")
    if not isinstance(body.get("availabilityDomain"), str):
        raise ErrorResponse(400, "InvalidParameter", "availabilityDomain is required to restore from a backup")
    return str(source["id"])


def _source_size(service: Service[Stores], backup: dict[str, Any], kind: Kind) -> int:
    """The size of the volume a backup was made of, when the backup states none."""
    volume_id = backup.get("volumeId" if kind == "volume" else "bootVolumeId")
    volume = service.state.volumes.records.get(volume_id) if isinstance(volume_id, str) else None
    return int(volume["sizeInGBs"]) if volume is not None else (100 if kind == "volume" else 50)


# ------------------------------------------------------------------ delete


def delete_volume(service: Service[Stores], request: Request) -> Response:
    return _delete(service, request.params["volumeId"], "volume")


def delete_boot_volume(service: Service[Stores], request: Request) -> Response:
    return _delete(service, request.params["bootVolumeId"], "bootVolume")


def _delete(service: Service[Stores], volume_id: str, kind: Kind) -> Response:
    settle(service)
    volume = service.state.volumes.find(volume_id, boot=kind == "bootVolume")
    if volume is None or volume["lifecycleState"] == "TERMINATED":
        raise not_found(volume_id)
    if volume["lifecycleState"] != "TERMINATING":
        volume["lifecycleState"] = "TERMINATING"
        service.state.restores.deleted[volume_id] = service.clock.now()
    settle(service)
    return Response(204, None)

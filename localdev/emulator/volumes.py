"""Volumes and boot volumes as an inventory: their records, Get and List.

A record holds the fields the API returns for a Volume / BootVolume, plus ``boot`` to tell the
two apart (never shown). A boot volume names the image it was made from (``imageId``; a platform
image, :data:`PLATFORM_IMAGE`, unless a test says otherwise), which its backups carry too.
ListVolumes and ListBootVolumes take the query parameters the SDK sends (``compartmentId``,
``availabilityDomain``, ``volumeGroupId``, ``displayName``, and for volumes ``lifecycleState``),
all optional in the API's signature; like the service, a list must be scoped by a compartment or
a volume group (400 ``MissingParameter`` otherwise). Items keep the order the volumes were added
in, so ``page`` tokens stay valid while volumes are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from localdev.credentials import COMPARTMENT
from localdev.emulator.api import (
    ErrorResponse,
    Request,
    Response,
    Service,
    not_found,
    now,
    query_choice,
    query_value,
)
from localdev.emulator.pagination import page


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def volumes(self) -> VolumeStore: ...


AD = "Uocm:US-ASHBURN-AD-1"
# The image a boot volume is made from unless a test says otherwise: a platform image (Oracle Linux).
PLATFORM_IMAGE = "ocid1.image.oc1.iad.aaaaaaaaplatformoraclelinux00000000000000000000000000000000"
LIFECYCLE_STATES = frozenset({"PROVISIONING", "RESTORING", "AVAILABLE", "TERMINATING", "TERMINATED", "FAULTY"})


@dataclass
class VolumeStore:
    """Every volume and boot volume, by OCID; ``boot`` tells the two apart."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(
        self,
        volume_id: str,
        *,
        boot: bool = False,
        display_name: str | None = None,
        compartment_id: str = COMPARTMENT,
        availability_domain: str = AD,
        freeform_tags: Mapping[str, str] | None = None,
        defined_tags: Mapping[str, Mapping[str, Any]] | None = None,
        lifecycle_state: str = "AVAILABLE",
        volume_group_id: str | None = None,
        size_in_gbs: int | None = None,
        time_created: str | None = None,
        image_id: str | None = PLATFORM_IMAGE,
    ) -> None:
        if lifecycle_state not in LIFECYCLE_STATES:
            raise ValueError(f"lifecycle_state must be one of {sorted(LIFECYCLE_STATES)}")
        size_gbs = size_in_gbs or (50 if boot else 100)
        record: dict[str, Any] = {
            "id": volume_id,
            "compartmentId": compartment_id,
            "availabilityDomain": availability_domain,
            "displayName": display_name or volume_id.rsplit(".", 1)[-1][:16],
            "lifecycleState": lifecycle_state,
            "sizeInGBs": size_gbs,
            "sizeInMBs": size_gbs * 1024,
            "freeformTags": dict(freeform_tags or {}),
            "definedTags": {namespace: dict(tags) for namespace, tags in (defined_tags or {}).items()},
            "systemTags": {},
            "volumeGroupId": volume_group_id,
            "isHydrated": True,
            "kmsKeyId": None,
            "vpusPerGB": 10,
            "isAutoTuneEnabled": False,
            "sourceDetails": None,
            "timeCreated": time_created or now(),
            "boot": boot,
        }
        if boot:
            record["imageId"] = image_id
        self.records[volume_id] = record

    def find(self, volume_id: str, *, boot: bool) -> dict[str, Any] | None:
        """The volume (or boot volume, with ``boot``), or None when there is no such one."""
        volume = self.records.get(volume_id)
        return volume if volume is not None and volume["boot"] == boot else None


def shown(volume: Mapping[str, Any]) -> dict[str, Any]:
    """A volume record as the API shows it."""
    return {name: value for name, value in volume.items() if name != "boot"}


def list_volumes(service: Service[Stores], request: Request) -> Response:
    return _list(service, request, boot=False)


def list_boot_volumes(service: Service[Stores], request: Request) -> Response:
    return _list(service, request, boot=True)


def get_volume(service: Service[Stores], request: Request) -> Response:
    return _get(service, request.params["volumeId"], boot=False)


def get_boot_volume(service: Service[Stores], request: Request) -> Response:
    return _get(service, request.params["bootVolumeId"], boot=True)


def _get(service: Service[Stores], volume_id: str, *, boot: bool) -> Response:
    volume = service.state.volumes.find(volume_id, boot=boot)
    if volume is None:
        raise not_found(volume_id)
    return Response(200, shown(volume))


def _list(service: Service[Stores], request: Request, *, boot: bool) -> Response:
    wanted = {
        "compartmentId": query_value(request, "compartmentId"),
        "availabilityDomain": query_value(request, "availabilityDomain"),
        "volumeGroupId": query_value(request, "volumeGroupId"),
        "displayName": query_value(request, "displayName"),
    }
    if not boot:
        wanted["lifecycleState"] = query_choice(request, "lifecycleState", LIFECYCLE_STATES)
    if wanted["compartmentId"] is None and wanted["volumeGroupId"] is None:
        raise ErrorResponse(400, "MissingParameter", "Missing required parameter: compartmentId")
    filters = [(name, value) for name, value in wanted.items() if value is not None]
    items = [
        shown(volume)
        for volume in service.state.volumes.records.values()
        if volume["boot"] == boot and all(volume[name] == value for name, value in filters)
    ]
    return page(items, request.query, service.page_size)

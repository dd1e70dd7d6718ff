"""Volumes and boot volumes: their records, and ListVolumes / ListBootVolumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from localdev.credentials import COMPARTMENT
from localdev.emulator.api import Request, Response, Service, now
from localdev.emulator.pagination import page

AD = "Uocm:US-ASHBURN-AD-1"


@dataclass
class VolumeStore:
    """Every volume and boot volume, by OCID; ``boot`` tells the two apart."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, volume_id: str, *, boot: bool = False, display_name: str | None = None) -> None:
        size_gbs = 50 if boot else 100
        self.records[volume_id] = {
            "id": volume_id,
            "compartmentId": COMPARTMENT,
            "availabilityDomain": AD,
            "displayName": display_name or volume_id.rsplit(".", 1)[-1][:16],
            "lifecycleState": "AVAILABLE",
            "sizeInGBs": size_gbs,
            "sizeInMBs": size_gbs * 1024,
            "timeCreated": now(),
            "boot": boot,
        }

    def find(self, volume_id: str, *, boot: bool) -> dict[str, Any] | None:
        """The volume (or boot volume, with ``boot``), or None when there is no such one."""
        volume = self.records.get(volume_id)
        return volume if volume is not None and volume["boot"] == boot else None


def list_volumes(service: Service, request: Request) -> Response:
    return _list(service, request, boot=False)


def list_boot_volumes(service: Service, request: Request) -> Response:
    return _list(service, request, boot=True)


def _list(service: Service, request: Request, *, boot: bool) -> Response:
    compartment = request.query.get("compartmentId", [""])[0]
    items = [
        {name: value for name, value in volume.items() if name != "boot"}
        for volume in service.state.volumes.records.values()
        if volume["boot"] == boot and volume["compartmentId"] == compartment
    ]
    return page(items, request.query, service.page_size)

"""Events as OCI Events delivers them (CloudEvents 0.1): backup ends, and volumes restored from backups.

When a backup created by CreateVolumeBackup / CreateBootVolumeBackup becomes ``AVAILABLE``, the
service emits ``com.oraclecloud.blockvolumes.createvolumebackup.end`` /
``createbootvolumebackup.end``; the emulator makes the same document (see
``events/event-backup-end.json``) when asked (:meth:`~.service.BlockStorageEmulator.backup_end_events`),
once per backup. Member backups of a volume group backup, seeded backups and copies are not
announced (the service announces those with events of their own).

A volume restored through the API is announced with ``createvolume.end`` when it stops provisioning
(AVAILABLE or FAULTY), a boot volume with ``createbootvolume.begin`` when its restore starts
(:mod:`.restores`; :meth:`~.service.BlockStorageEmulator.volume_events`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

_EVENT_TYPES = {
    "volumeId": "com.oraclecloud.blockvolumes.createvolumebackup.end",
    "bootVolumeId": "com.oraclecloud.blockvolumes.createbootvolumebackup.end",
}


def backup_end(backup: Mapping[str, Any], event_time: str) -> dict[str, Any]:
    """The event announcing that ``backup`` (either kind) has been made."""
    id_field = "volumeId" if "volumeId" in backup else "bootVolumeId"
    return {
        "eventType": _EVENT_TYPES[id_field],
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "BlockVolumes",
        "eventTime": event_time,
        "contentType": "application/json",
        "extensions": {"compartmentId": backup["compartmentId"]},
        "eventID": str(uuid.uuid4()),
        "data": {
            "compartmentId": backup["compartmentId"],
            "resourceName": backup["displayName"],
            "resourceId": backup["id"],
            "freeformTags": dict(backup.get("freeformTags") or {}),
            "definedTags": dict(backup.get("definedTags") or {}),
            "additionalDetails": {id_field: backup[id_field], "status": "operationSucceed"},
        },
    }


_VOLUME_EVENT_TYPES = {
    "created": "com.oraclecloud.blockvolumes.createvolume.end",
    "begun": "com.oraclecloud.blockvolumes.createbootvolume.begin",
}


def volume_created(volume: Mapping[str, Any], event_time: str) -> dict[str, Any]:
    """``createvolume.end`` for a volume the API made (shaped as ``events/event-createvolume.json``)."""
    return _volume_event("created", volume, event_time)


def boot_volume_begun(volume: Mapping[str, Any], event_time: str) -> dict[str, Any]:
    """``createbootvolume.begin``: the only creation event Oracle's catalogue lists for boot volumes."""
    return _volume_event("begun", volume, event_time)


def _volume_event(what: str, volume: Mapping[str, Any], event_time: str) -> dict[str, Any]:
    return {
        "eventType": _VOLUME_EVENT_TYPES[what],
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "BlockVolumes",
        "eventTime": event_time,
        "contentType": "application/json",
        "extensions": {"compartmentId": volume["compartmentId"]},
        "eventID": str(uuid.uuid4()),
        "data": {
            "compartmentId": volume["compartmentId"],
            "resourceName": volume["displayName"],
            "resourceId": volume["id"],
            "availabilityDomain": volume["availabilityDomain"],
            "freeformTags": dict(volume.get("freeformTags") or {}),
            "definedTags": dict(volume.get("definedTags") or {}),
            "additionalDetails": {},
        },
    }

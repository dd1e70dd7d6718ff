"""Events as OCI Events delivers them (CloudEvents 0.1): backup ends, and volumes restored from backups.

When a backup created by CreateVolumeBackup / CreateBootVolumeBackup becomes ``AVAILABLE``, the
service emits ``com.oraclecloud.blockvolumes.createvolumebackup.end`` /
``createbootvolumebackup.end``; the emulator makes the same document (see
``events/event-backup-end.json`` and ``events/event-bootbackup-end.json``) when asked
(:meth:`~.service.BlockStorageEmulator.backup_end_events`), once per backup. Both carry the volume
in ``additionalDetails.volumeId`` (the boot volume's OCID for a boot volume backup, which also
carries the backup's ``sourceType``). Seeded backups and copies are not announced (the service announces those
with events of their own). Whether member backups of a volume group backup are announced, and
whether a group backup is (``createvolumegroupbackup.end``, with ``additionalDetails.volumeGroupId``),
is undocumented: ``variants.members_announce_end`` and ``variants.group_announces_end``.

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
    "volumeGroupId": "com.oraclecloud.blockvolumes.createvolumegroupbackup.end",
}


def backup_end(backup: Mapping[str, Any], event_time: str) -> dict[str, Any]:
    """The event announcing that ``backup`` (a volume, boot volume or volume group backup) has been made."""
    id_field = next(name for name in _EVENT_TYPES if name in backup)
    details: dict[str, Any] = {"status": "operationSucceed"}
    if id_field == "volumeGroupId":
        details = {"volumeGroupId": backup[id_field], **details}
    elif id_field == "bootVolumeId":  # OCI names the boot volume volumeId here, with the backup's sourceType
        details = {"volumeId": backup[id_field], "sourceType": backup.get("sourceType"), **details}
    else:
        details = {"volumeId": backup[id_field], **details}
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
            "additionalDetails": details,
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

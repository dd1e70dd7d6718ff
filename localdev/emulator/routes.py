"""The routing table: (method, path pattern) → operation name → the handler in its family's module.

A new resource family is a new module with its handlers, its store in :class:`~.state.State`,
and its rows here; the server serves whatever this table lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from localdev.emulator import (
    backups,
    compartments,
    copies,
    groups,
    lifecycle,
    monitoring,
    notifications,
    restores,
)
from localdev.emulator.api import API, ErrorResponse, Handler, Request, Response, Service

_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """One API operation: where it is served and what serves it."""

    method: str
    pattern: str  # a path, ``{name}`` for one segment handed to the handler as ``params[name]``
    operation: str  # the API's operation name, as calls are recorded and faults matched
    handler: Handler
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAMETER.split(self.pattern)  # literal, name, literal, name, …, literal
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
        object.__setattr__(self, "regex", re.compile(regex))


ROUTES: tuple[Route, ...] = (
    Route("POST", f"{API}/volumeBackups", "createVolumeBackup", backups.create_volume_backup),
    Route("GET", f"{API}/volumeBackups", "listVolumeBackups", backups.list_volume_backups),
    Route("GET", f"{API}/volumeBackups/{{backupId}}", "getVolumeBackup", backups.get_backup),
    Route("PUT", f"{API}/volumeBackups/{{backupId}}", "updateVolumeBackup", lifecycle.update_volume_backup),
    Route("DELETE", f"{API}/volumeBackups/{{backupId}}", "deleteVolumeBackup", lifecycle.delete_volume_backup),
    Route("POST", f"{API}/volumeBackups/{{backupId}}/actions/copy", "copyVolumeBackup", copies.copy_volume_backup),
    Route("POST", f"{API}/bootVolumeBackups", "createBootVolumeBackup", backups.create_boot_volume_backup),
    Route("GET", f"{API}/bootVolumeBackups", "listBootVolumeBackups", backups.list_boot_volume_backups),
    Route("GET", f"{API}/bootVolumeBackups/{{backupId}}", "getBootVolumeBackup", backups.get_backup),
    Route(
        "PUT", f"{API}/bootVolumeBackups/{{backupId}}", "updateBootVolumeBackup", lifecycle.update_boot_volume_backup
    ),
    Route(
        "DELETE", f"{API}/bootVolumeBackups/{{backupId}}", "deleteBootVolumeBackup", lifecycle.delete_boot_volume_backup
    ),
    Route(
        "POST",
        f"{API}/bootVolumeBackups/{{backupId}}/actions/copy",
        "copyBootVolumeBackup",
        copies.copy_boot_volume_backup,
    ),
    # Volumes: reads settle restores in progress first (restores.py wraps volumes.py's handlers).
    Route("GET", f"{API}/volumes", "listVolumes", restores.list_volumes),
    Route("GET", f"{API}/volumes/{{volumeId}}", "getVolume", restores.get_volume),
    Route("POST", f"{API}/volumes", "createVolume", restores.create_volume),
    Route("DELETE", f"{API}/volumes/{{volumeId}}", "deleteVolume", restores.delete_volume),
    Route("GET", f"{API}/bootVolumes", "listBootVolumes", restores.list_boot_volumes),
    Route("GET", f"{API}/bootVolumes/{{bootVolumeId}}", "getBootVolume", restores.get_boot_volume),
    Route("POST", f"{API}/bootVolumes", "createBootVolume", restores.create_boot_volume),
    Route("DELETE", f"{API}/bootVolumes/{{bootVolumeId}}", "deleteBootVolume", restores.delete_boot_volume),
    Route("GET", f"{API}/volumeGroups", "listVolumeGroups", groups.list_volume_groups),
    Route("GET", f"{API}/volumeGroups/{{volumeGroupId}}", "getVolumeGroup", groups.get_volume_group),
    Route("POST", f"{API}/volumeGroupBackups", "createVolumeGroupBackup", groups.create_volume_group_backup),
    Route("GET", f"{API}/volumeGroupBackups", "listVolumeGroupBackups", groups.list_volume_group_backups),
    Route(
        "GET",
        f"{API}/volumeGroupBackups/{{volumeGroupBackupId}}",
        "getVolumeGroupBackup",
        groups.get_volume_group_backup,
    ),
    Route(
        "DELETE",
        f"{API}/volumeGroupBackups/{{volumeGroupBackupId}}",
        "deleteVolumeGroupBackup",
        groups.delete_volume_group_backup,
    ),
    Route(
        "PUT",
        f"{API}/volumeGroupBackups/{{volumeGroupBackupId}}",
        "updateVolumeGroupBackup",
        groups.update_volume_group_backup,
    ),
    # Identity, on the same base path
    Route("GET", f"{API}/compartments", "listCompartments", compartments.list_compartments),
    Route("GET", f"{API}/compartments/{{compartmentId}}", "getCompartment", compartments.get_compartment),
    # Monitoring (telemetry-ingestion) and Notifications: other hosts in OCI, other base paths here
    Route("POST", f"{monitoring.API}/metrics", "postMetricData", monitoring.post_metric_data),
    Route("POST", f"{notifications.API}/topics/{{topicId}}/messages", "publishMessage", notifications.publish_message),
)

METHODS = frozenset(route.method for route in ROUTES)


def _unknown_path(service: Service[Any], request: Request) -> Response:
    raise ErrorResponse(404, "NotAuthorizedOrNotFound", "Unknown path")


UNKNOWN = Route("", "", "unknown", _unknown_path)


def match(method: str, path: str) -> tuple[Route, Mapping[str, str]]:
    """The route serving a request, with its path parameters (:data:`UNKNOWN` when none does)."""
    for route in ROUTES:
        if route.method == method:
            found = route.regex.fullmatch(path)
            if found:
                return route, found.groupdict()
    return UNKNOWN, {}

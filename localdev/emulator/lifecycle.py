"""Deleting and updating volume backups and boot volume backups.

DeleteVolumeBackup / DeleteBootVolumeBackup answer 204. The backup goes ``TERMINATED`` and
stays visible (Get, and List with that state) as the service keeps terminated resources for a
while; a retry token that created it is then invalidated. The refusals, and why these codes:

- an unknown backup, one of the other kind, or one already ``TERMINATED``: 404
  ``NotAuthorizedOrNotFound`` (the service does not tell a terminated resource from a missing one;
  a repeated delete is therefore not silently idempotent);
- a backup still ``CREATING``: 409 ``IncorrectState`` — the resource is busy and will not be
  soon, which is what that code means and why the SDK's default strategy retries it;
- a backup its retention protects (:func:`.retention.deletion_refused`): OCI does not document the
  answer; ``variants.locked_delete_refusal`` (409 ``Conflict`` by default; 400 or 403 are as
  plausible) — retrying cannot help before the period runs out (days or years).

UpdateVolumeBackup / UpdateBootVolumeBackup (PUT) change ``displayName``, ``freeformTags``,
``definedTags``, ``kmsKeyId`` and the retention fields, and answer 200 with the backup. A retention
lock whose period has not run out cannot be removed or shortened (409 ``Conflict``, for the same
reason); a lock needs a period (400 ``InvalidParameter``). Unknown fields: 400.
"""

from __future__ import annotations

from typing import Any, Protocol

from localdev.emulator import retention
from localdev.emulator.api import ErrorResponse, Request, Response, Service, json_object
from localdev.emulator.backups import BackupStore, Kind, find


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def backups(self) -> BackupStore: ...


_UPDATE_FIELDS = frozenset({"displayName", "freeformTags", "definedTags", "kmsKeyId"}) | retention.FIELDS


def delete_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _delete(service, request.params["backupId"], "volume")


def delete_boot_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _delete(service, request.params["backupId"], "bootVolume")


def update_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _update(service, request.params["backupId"], "volume", json_object(request.body))


def update_boot_volume_backup(service: Service[Stores], request: Request) -> Response:
    return _update(service, request.params["backupId"], "bootVolume", json_object(request.body))


def _delete(service: Service[Stores], backup_id: str, kind: Kind) -> Response:
    backup = find(service, backup_id, kind)
    if service.state.backups.state(backup_id, service.in_progress_seconds) == "CREATING":
        raise ErrorResponse(409, "IncorrectState", f"Backup {backup_id} is still being created")
    why = retention.deletion_refused(backup, service.clock.now())
    if why is not None:
        status, code = service.variants.locked_delete_refusal
        raise ErrorResponse(status, code, f"Backup {backup_id} cannot be deleted: {why}")
    backup["lifecycleState"] = "TERMINATED"
    return Response(204, None)


def _update(service: Service[Stores], backup_id: str, kind: Kind, body: dict[str, Any]) -> Response:
    backup = find(service, backup_id, kind)
    retention.apply_update(backup, body, _UPDATE_FIELDS, service.clock.now(), f"Backup {backup_id}")
    return Response(200, service.state.backups.view(backup_id, service.in_progress_seconds))

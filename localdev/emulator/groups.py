"""Volume groups and volume group backups: Get and List groups; Create, Get, List, Update and Delete group backups.

A group backup starts one backup per member (a volume backup, or a boot volume backup for a
boot volume member), each carrying the group backup's OCID in ``volumeGroupBackupId``; the
group backup lists them in ``volumeBackupIds``. Whether the members carry the group backup's
tags is undocumented: ``variants.members_carry_group_tags`` (they do by default). Like the
service, a create 404s an unknown group, refuses (409 ``Conflict``) while a backup of the group
or of any member is in progress, and keeps ``opc-retry-token`` semantics as volume backups do.
While a member's backup is in progress, a separate backup of that volume is refused too (see
:mod:`.backups`). A group backup is ``CREATING`` for the service's ``in_progress_seconds``, then
``AVAILABLE``; its sizes (``sizeInGBs``, ``uniqueSizeInGbs``: the group's own spelling) are its members'
sum, shown once it is done. ListVolumeGroupBackups takes ``compartmentId`` (required), ``volumeGroupId``
``displayName``, ``sortBy`` and ``sortOrder`` (as ListVolumeBackups), as the SDK sends them; it has no
``lifecycleState`` filter.

UpdateVolumeGroupBackup changes a group backup's name, tags and retention fields (not its members').
DeleteVolumeGroupBackup deletes the group backup and its member backups (204; all ``TERMINATED``,
still listed). It 404s an unknown or terminated group backup, answers 409 ``IncorrectState`` while
it is in progress, and refuses (``variants.locked_delete_refusal``) when the group backup's
retention or any member's protects it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from localdev.emulator import retention
from localdev.emulator.api import (
    ErrorResponse,
    Request,
    Response,
    Service,
    json_object,
    new_ocid,
    not_found,
    now,
    query_choice,
    query_value,
)
from localdev.emulator.backups import (
    SIZE_FIELDS,
    BackupStore,
    TokenRecord,
    add_backup,
    new_backup,
    remembered,
    validate_create,
)
from localdev.emulator.clock import parse
from localdev.emulator.pagination import page
from localdev.emulator.volumes import VolumeStore

# A VolumeGroupBackup's size fields (its own spelling: uniqueSizeInGbs), in the order of backups.SIZE_FIELDS.
_SIZE_FIELDS = ("sizeInGBs", "sizeInMBs", "uniqueSizeInGbs", "uniqueSizeInMbs")
GROUP_BACKUP_STATES = frozenset(
    {"REQUEST_RECEIVED", "CREATING", "COMMITTED", "AVAILABLE", "TERMINATING", "TERMINATED", "FAULTY"}
)
GROUP_STATES = frozenset({"PROVISIONING", "AVAILABLE", "TERMINATING", "TERMINATED", "FAULTY"})
_BACKUP_STATES = frozenset({"REQUEST_RECEIVED", "CREATING", "AVAILABLE", "TERMINATING", "TERMINATED", "FAULTY"})
_CREATE_FIELDS = (
    frozenset({"volumeGroupId", "compartmentId", "type", "displayName", "freeformTags", "definedTags"})
    | retention.FIELDS
)


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def groups(self) -> GroupStore: ...

    @property
    def volumes(self) -> VolumeStore: ...

    @property
    def backups(self) -> BackupStore: ...


@dataclass
class GroupStore:
    """Volume groups and their backups, by OCID, with what retry tokens and in-progress checks need."""

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: dict[str, float] = field(default_factory=dict)  # monotonic, per group backup
    latest: dict[str, str] = field(default_factory=dict)  # group → its newest backup
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    announce: list[str] = field(default_factory=list)  # group backups whose end is not yet announced

    def add(
        self,
        volumes: VolumeStore,
        group_id: str,
        compartment_id: str,
        availability_domain: str,
        volume_ids: Sequence[str],
        *,
        freeform_tags: Mapping[str, str] | None = None,
        defined_tags: Mapping[str, Mapping[str, Any]] | None = None,
        display_name: str | None = None,
        time_created: str | None = None,
    ) -> None:
        """Add a group of existing volumes (either kind), and mark each member with the group."""
        missing = [volume_id for volume_id in volume_ids if volume_id not in volumes.records]
        if missing:
            raise ValueError(f"no such volume(s): {', '.join(missing)}")
        members = [volumes.records[volume_id] for volume_id in volume_ids]
        for member in members:
            member["volumeGroupId"] = group_id
        size_gbs = sum(int(member["sizeInGBs"]) for member in members)
        self.groups[group_id] = {
            "id": group_id,
            "compartmentId": compartment_id,
            "availabilityDomain": availability_domain,
            "displayName": display_name or group_id.rsplit(".", 1)[-1][:16],
            "lifecycleState": "AVAILABLE",
            "volumeIds": list(volume_ids),
            "sizeInGBs": size_gbs,
            "sizeInMBs": size_gbs * 1024,
            "freeformTags": dict(freeform_tags or {}),
            "definedTags": {namespace: dict(tags) for namespace, tags in (defined_tags or {}).items()},
            "sourceDetails": None,
            "isHydrated": True,
            "volumeGroupReplicas": None,
            "timeCreated": time_created or now(),
        }

    def state(self, backup_id: str, in_progress_seconds: float) -> str:
        """The group backup's lifecycle state now (``AVAILABLE`` once no longer in progress)."""
        state: str = self.backups[backup_id]["lifecycleState"]
        if state == "CREATING" and time.monotonic() - self.created_at[backup_id] >= in_progress_seconds:
            return "AVAILABLE"
        return state

    def view(self, backup_id: str, in_progress_seconds: float) -> dict[str, Any]:
        """The group backup as the API shows it now."""
        backup = dict(self.backups[backup_id])
        backup["volumeBackupIds"] = list(backup["volumeBackupIds"])
        backup["lifecycleState"] = self.state(backup_id, in_progress_seconds)
        if backup["lifecycleState"] == "CREATING":  # sizes are known once the backup is done
            backup.update(dict.fromkeys(_SIZE_FIELDS))
        return backup

    def ended(self, in_progress_seconds: float) -> list[dict[str, Any]]:
        """Group backups that have become ``AVAILABLE`` since last asked, each once, in order."""
        ended, waiting = [], []
        for backup_id in self.announce:
            state = self.state(backup_id, in_progress_seconds)
            if state == "AVAILABLE":
                ended.append(self.view(backup_id, in_progress_seconds))
            elif state == "CREATING":
                waiting.append(backup_id)
        self.announce = waiting
        return ended

    def in_progress(self, group_id: str, in_progress_seconds: float) -> bool:
        backup_id = self.latest.get(group_id)
        return backup_id is not None and time.monotonic() - self.created_at[backup_id] < in_progress_seconds


def get_volume_group(service: Service[Stores], request: Request) -> Response:
    group_id = request.params["volumeGroupId"]
    group = service.state.groups.groups.get(group_id)
    if group is None:
        raise not_found(group_id)
    return Response(200, dict(group))


def list_volume_groups(service: Service[Stores], request: Request) -> Response:
    wanted = {
        "compartmentId": query_value(request, "compartmentId", required=True),
        "availabilityDomain": query_value(request, "availabilityDomain"),
        "displayName": query_value(request, "displayName"),
        "lifecycleState": query_choice(request, "lifecycleState", GROUP_STATES),
    }
    filters = [(name, value) for name, value in wanted.items() if value is not None]
    items = [
        dict(group)
        for group in service.state.groups.groups.values()
        if all(group[name] == value for name, value in filters)
    ]
    return page(items, request.query, service.page_size)


def get_volume_group_backup(service: Service[Stores], request: Request) -> Response:
    backup_id = request.params["volumeGroupBackupId"]
    if backup_id not in service.state.groups.backups:
        raise not_found(backup_id)
    return Response(200, service.state.groups.view(backup_id, service.in_progress_seconds))


def list_volume_group_backups(service: Service[Stores], request: Request) -> Response:
    wanted = {
        "compartmentId": query_value(request, "compartmentId", required=True),
        "volumeGroupId": query_value(request, "volumeGroupId"),
        "displayName": query_value(request, "displayName"),
    }
    sort_by = query_choice(request, "sortBy", frozenset({"TIMECREATED", "DISPLAYNAME"}))
    sort_order = query_choice(request, "sortOrder", frozenset({"ASC", "DESC"}))
    filters = [(name, value) for name, value in wanted.items() if value is not None]
    store = service.state.groups
    items = [
        store.view(backup_id, service.in_progress_seconds)
        for backup_id, backup in store.backups.items()
        if all(backup[name] == value for name, value in filters)
    ]
    # As ListVolumeBackups: TIMECREATED newest first by default, DISPLAYNAME A to Z; unsorted, as made.
    if sort_by == "DISPLAYNAME":
        items.sort(key=lambda backup: str(backup["displayName"]), reverse=sort_order == "DESC")
    elif sort_by == "TIMECREATED" or sort_order is not None:
        items.sort(key=lambda backup: parse(backup["timeCreated"]), reverse=sort_order != "ASC")
    return page(items, request.query, service.page_size)


def delete_volume_group_backup(service: Service[Stores], request: Request) -> Response:
    """DeleteVolumeGroupBackup: the group backup and every member backup."""
    backup_id = request.params["volumeGroupBackupId"]
    store = service.state.groups
    if backup_id not in store.backups or store.backups[backup_id]["lifecycleState"] == "TERMINATED":
        raise not_found(backup_id)
    if store.state(backup_id, service.in_progress_seconds) == "CREATING":
        raise ErrorResponse(409, "IncorrectState", f"Volume group backup {backup_id} is still being created")
    group_backup = store.backups[backup_id]
    members = [
        service.state.backups.records[member_id]
        for member_id in group_backup["volumeBackupIds"]
        if member_id in service.state.backups.records
    ]
    moment = service.clock.now()
    why = next(
        (why for item in (group_backup, *members) if (why := retention.deletion_refused(item, moment)) is not None),
        None,
    )
    if why is not None:
        status, code = service.variants.locked_delete_refusal
        raise ErrorResponse(status, code, f"Volume group backup {backup_id} cannot be deleted: {why}")
    group_backup["lifecycleState"] = "TERMINATED"
    for member in members:
        member["lifecycleState"] = "TERMINATED"
    return Response(204, None)


_UPDATE_FIELDS = frozenset({"displayName", "freeformTags", "definedTags"}) | retention.FIELDS


def update_volume_group_backup(service: Service[Stores], request: Request) -> Response:
    """UpdateVolumeGroupBackup (PUT): its name, tags and retention fields, as for volume backups (the members
    are left as they are); 404 for an unknown or terminated group backup."""
    backup_id = request.params["volumeGroupBackupId"]
    store = service.state.groups
    backup = store.backups.get(backup_id)
    if backup is None or backup["lifecycleState"] == "TERMINATED":
        raise not_found(backup_id)
    retention.apply_update(
        backup, json_object(request.body), _UPDATE_FIELDS, service.clock.now(), f"Volume group backup {backup_id}"
    )
    return Response(200, store.view(backup_id, service.in_progress_seconds))


def create_volume_group_backup(service: Service[Stores], request: Request) -> Response:
    """CreateVolumeGroupBackup."""
    body = json_object(request.body)
    group_id = validate_create(body, "volumeGroupId", _CREATE_FIELDS, request.retry_token)
    store = service.state.groups
    token = request.retry_token
    digest = hashlib.sha256(json.dumps(["volumeGroup", body], sort_keys=True).encode()).hexdigest()
    if (record := remembered(store.tokens, token, service.clock.now())) is not None:
        if record.backup_id not in store.backups or store.backups[record.backup_id]["lifecycleState"] == "TERMINATED":
            raise ErrorResponse(409, "InvalidatedRetryToken", "The retry token was invalidated by a later operation")
        if record.body_digest != digest:
            raise ErrorResponse(409, "Conflict", "The retry token was already used for a different request")
        return Response(200, record.response)
    group = store.groups.get(group_id)
    if group is None:
        raise not_found(group_id)
    seconds = service.in_progress_seconds
    if store.in_progress(group_id, seconds):
        raise ErrorResponse(409, "Conflict", f"A backup of volume group {group_id} is already in progress")
    members = [service.state.volumes.records[volume_id] for volume_id in group["volumeIds"]]
    busy = [member["id"] for member in members if service.state.backups.in_progress(member["id"], seconds)]
    if busy:
        raise ErrorResponse(409, "Conflict", f"A backup of volume {busy[0]} is already in progress")
    backup = _new_group_backup(service, body, group)
    inherited = ["type", *retention.FIELDS]  # members keep the group's retention
    if service.variants.members_carry_group_tags:
        inherited += ["freeformTags", "definedTags"]
    member_body: dict[str, Any] = {name: body[name] for name in inherited if name in body}
    for member in members:
        member_backup = add_backup(
            service,
            {**member_body, "displayName": f"{backup['displayName']}-{member['displayName']}"[:255]},
            member,
            {"compartmentId": backup["compartmentId"], "volumeGroupBackupId": backup["id"]},
        )
        backup["volumeBackupIds"].append(member_backup["id"])
        _add_sizes(backup, member_backup)
        if service.variants.members_announce_end:
            service.state.backups.announce.append(member_backup["id"])
    store.backups[backup["id"]] = backup
    store.created_at[backup["id"]] = time.monotonic()
    store.latest[group_id] = backup["id"]
    store.announce.append(backup["id"])
    answer = {**backup, "volumeBackupIds": list(backup["volumeBackupIds"]), **dict.fromkeys(_SIZE_FIELDS)}
    if token is not None:
        store.tokens[token] = TokenRecord(digest, answer, backup["id"], service.clock.now())
    return Response(200, answer)


def seed_group_backup(
    service: Service[Stores],
    group_id: str,
    body: Mapping[str, Any],
    *,
    time_created: str,
    lifecycle_state: str,
    source_type: str = "MANUAL",
) -> str:
    """Add a group backup made outside the API (a person, a policy, or long ago) with its member backups; its OCID.

    It and its members keep ``lifecycle_state`` and ``time_created``, and are not announced as ended.
    """
    store = service.state.groups
    group = store.groups.get(group_id)
    if group is None:
        raise ValueError(f"no such volume group: {group_id}")
    if lifecycle_state not in _BACKUP_STATES:
        raise ValueError(f"lifecycle_state must be one of {sorted(_BACKUP_STATES)}")
    try:
        backup = _new_group_backup(service, dict(body), group, time_created)
    except ErrorResponse as refused:
        raise ValueError(refused.response.document["message"]) from None
    backup.update(sourceType=source_type, lifecycleState=lifecycle_state)
    inherited = ["type", *retention.FIELDS]
    if service.variants.members_carry_group_tags:
        inherited += ["freeformTags", "definedTags"]
    for volume_id in group["volumeIds"]:
        member = service.state.volumes.records[volume_id]
        member_body = {name: body[name] for name in inherited if name in body}
        member_body["displayName"] = f"{backup['displayName']}-{member['displayName']}"[:255]
        record = new_backup(service, member_body, member, backup["timeCreated"])
        record.update(sourceType=source_type, lifecycleState=lifecycle_state, compartmentId=backup["compartmentId"])
        record["volumeGroupBackupId"] = backup["id"]
        service.state.backups.records[record["id"]] = record
        service.state.backups.created_at[record["id"]] = time.monotonic()
        service.state.backups.windows[record["id"]] = float("inf")
        backup["volumeBackupIds"].append(record["id"])
        _add_sizes(backup, record)
    store.backups[backup["id"]] = backup
    store.created_at[backup["id"]] = time.monotonic()
    return str(backup["id"])


def _add_sizes(backup: dict[str, Any], member_backup: Mapping[str, Any]) -> None:
    """A group backup's sizes are its members' sum."""
    for name, member_name in zip(_SIZE_FIELDS, SIZE_FIELDS, strict=True):
        if isinstance(member_backup.get(member_name), int):
            backup[name] = (backup[name] or 0) + member_backup[member_name]


def _new_group_backup(
    service: Service[Stores], body: dict[str, Any], group: dict[str, Any], time_created: str | None = None
) -> dict[str, Any]:
    created = time_created or service.clock.stamp()
    return {
        "id": new_ocid("volumegroupbackup", service.region),
        "compartmentId": body.get("compartmentId") or group["compartmentId"],
        "volumeGroupId": group["id"],
        "displayName": body.get("displayName") or f"{group['displayName']}-backup",
        "type": body.get("type", "INCREMENTAL"),
        "sourceType": "MANUAL",
        "lifecycleState": "CREATING",
        "volumeBackupIds": [],
        "sourceVolumeGroupBackupId": None,
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
        "expirationTime": None,
        "sizeInGBs": None,
        "sizeInMBs": None,
        "uniqueSizeInGbs": None,
        "uniqueSizeInMbs": None,
        **retention.fields(body, created),
        "timeCreated": created,
        "timeRequestReceived": created,
    }

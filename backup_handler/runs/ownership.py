"""What this deployment made: its identity, the kinds of backup it manages, and what protects a backup.

A deployment of the function stamps every backup it makes with ``backup-trigger``, ``backup-source``,
``backup-deployment`` (its identity: ``BACKUP_DEPLOYMENT_ID``, by default ``<FN_APP_NAME>/<FN_FN_NAME>``)
and ``backup-kind`` (what the backup is of). Retention and copies act on a backup only when
:meth:`Ownership.judge` finds it ``own``, which takes every one of these conditions:

- the backup's OCID is of the kind being managed, and it is a backup of the volume (boot volume,
  volume group) and in the compartment being managed: a list's filter is never trusted, and a source
  backup whose ``volumeId`` (``bootVolumeId``, ``volumeGroupId``) is missing or no OCID of that kind is
  no one's;
- the function's tags: a known trigger, a source, this deployment's identity and the right kind;
- a source backup was made through the API (``sourceType`` exactly ``MANUAL``) and is no copy;
- a copy names its source (``sourceVolumeBackupId``) and carries this deployment's copy name
  (``<source name> (copy <mark>)``, the mark derived from the identity). A copy's ``volumeId`` and
  ``sourceType`` in the destination are not relied on for ownership;
- a volume or boot volume backup is not a member of a volume group backup (``volumeGroupBackupId``
  set, or a ``backup-kind`` of ``volumeGroup`` inherited from its group): members are kept and
  deleted with their group, never one by one.

A backup with the function's tags but another identity, or none, is ``foreign``: never touched,
logged and counted, so a renamed deployment does not silently orphan its backups.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from backup_handler.vocabulary.fields import DEPLOYMENT_TAG, KIND_TAG, SOURCE_TAG, TRIGGER_TAG
from backup_handler.vocabulary.ocids import kind_of as target_kind_of

BackupKind = Literal["volume", "bootVolume", "volumeGroup"]
Verdict = Literal["own", "foreign", "member", "none"]
# Retention manages the backups the function makes on its own account. A manual backup was asked for by
# a person ("before the upgrade") and is theirs to delete; counting it would also let anyone who may
# invoke the function push the automatic backups out of keep-last with a few manual requests.
RETAINED_TRIGGERS = frozenset({"event", "alarm", "schedule"})
# Every backup the function made, manual ones included, is copied.
TRIGGERS = frozenset({"manual", *RETAINED_TRIGGERS})
LIVE_STATES = frozenset({"REQUEST_RECEIVED", "CREATING", "AVAILABLE"})
GONE_STATES = frozenset({"TERMINATING", "TERMINATED"})


@dataclass(frozen=True)
class Kind:
    """One kind of backup: its fields and the operations that list, read, delete and copy it."""

    name: BackupKind
    ocid_type: str
    id_field: str
    source_field: str
    path_param: str
    list_op: str
    get_op: str
    delete_op: str
    target_get_op: str
    target_path_param: str
    copy_op: str | None = None
    list_copies_op: str | None = None
    get_copy_op: str | None = None
    delete_copy_op: str | None = None
    update_copy_op: str | None = None
    update_op: str | None = None
    target_list_op: str | None = None
    """What lists the volumes (boot volumes, groups) of a compartment: the orphan sweep's inventory."""


KINDS: dict[BackupKind, Kind] = {
    "volume": Kind(
        "volume",
        "volumebackup",
        "volumeId",
        "sourceVolumeBackupId",
        "volumeBackupId",
        "ListVolumeBackups",
        "GetVolumeBackup",
        "DeleteVolumeBackup",
        "GetVolume",
        "volumeId",
        copy_op="CopyVolumeBackup",
        list_copies_op="ListCopiedVolumeBackups",
        get_copy_op="GetCopiedVolumeBackup",
        delete_copy_op="DeleteCopiedVolumeBackup",
        update_copy_op="UpdateCopiedVolumeBackup",
        update_op="UpdateVolumeBackup",
        target_list_op="ListVolumes",
    ),
    "bootVolume": Kind(
        "bootVolume",
        "bootvolumebackup",
        "bootVolumeId",
        "sourceBootVolumeBackupId",
        "bootVolumeBackupId",
        "ListBootVolumeBackups",
        "GetBootVolumeBackup",
        "DeleteBootVolumeBackup",
        "GetBootVolume",
        "bootVolumeId",
        copy_op="CopyBootVolumeBackup",
        list_copies_op="ListCopiedBootVolumeBackups",
        get_copy_op="GetCopiedBootVolumeBackup",
        delete_copy_op="DeleteCopiedBootVolumeBackup",
        update_copy_op="UpdateCopiedBootVolumeBackup",
        update_op="UpdateBootVolumeBackup",
        target_list_op="ListBootVolumes",
    ),
    # Kept and deleted as units (DeleteVolumeGroupBackup deletes the members too); not copied.
    "volumeGroup": Kind(
        "volumeGroup",
        "volumegroupbackup",
        "volumeGroupId",
        "sourceVolumeGroupBackupId",
        "volumeGroupBackupId",
        "ListVolumeGroupBackups",
        "GetVolumeGroupBackup",
        "DeleteVolumeGroupBackup",
        "GetVolumeGroup",
        "volumeGroupId",
        update_op="UpdateVolumeGroupBackup",
        target_list_op="ListVolumeGroups",
    ),
}
_BY_OCID_TYPE = {kind.ocid_type: kind.name for kind in KINDS.values()}
_TARGET_KINDS: dict[str, BackupKind] = {"volume": "volume", "bootVolume": "bootVolume", "volumeGroup": "volumeGroup"}


def kind_of_backup(backup_id: Any) -> BackupKind | None:
    """The kind of backup an OCID names (``ocid1.volumebackup.``, ...), or None."""
    if not isinstance(backup_id, str) or len(backup_id) > 255:
        return None
    parts = backup_id.split(".")
    if len(parts) < 3 or parts[0] != "ocid1":
        return None
    return _BY_OCID_TYPE.get(parts[1])


def tags_of(backup: dict[str, Any]) -> dict[str, Any]:
    tags = backup.get("freeformTags")
    return tags if isinstance(tags, dict) else {}


def parse_time(value: Any) -> datetime | None:
    """An API timestamp as an aware datetime; None when there is none or it cannot be read."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def protection(backup: dict[str, Any], now: datetime) -> str | None:
    """Why the backup must not be deleted now (a hold, prevent-deletion, a running retention period), or None.

    Fails closed: an expiry that cannot be read counts as still running. Prevent-deletion protects the
    backup for as long as it is on, whatever its period.
    """
    if backup.get("isIndefiniteRetentionEnabled"):
        return "it is under indefinite retention (a legal hold)"
    if backup.get("isPreventDeletionEnabled"):
        return "prevent-deletion is on"
    raw = backup.get("timeRetentionExpiresAt")
    if raw is None:
        return "its retention lock has no expiry" if backup.get("isRetentionLockEnabled") else None
    expires = parse_time(raw)
    if expires is None:
        return "its retention expiry cannot be read"
    if expires > now:
        return f"its retention period runs until {raw}"
    return None


class Ownership:
    """This deployment's claim on backups: :meth:`judge` says whether one is its own."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        # Copies carry the source's tags, so a person's copy of one of this deployment's backups carries its
        # identity too; the copy's name, which only this deployment gives, tells the two apart.
        self.mark = hashlib.sha256(f"copy\n{identity}".encode()).hexdigest()[:8]
        self.copy_suffix = f" (copy {self.mark})"

    def copy_name(self, source: dict[str, Any]) -> str:
        name = source.get("displayName") if isinstance(source.get("displayName"), str) else source.get("id")
        return f"{str(name)[: 255 - len(self.copy_suffix)]}{self.copy_suffix}"

    def judge(
        self,
        backup: Any,
        kind: Kind,
        *,
        scope_id: str | None = None,
        compartment: str | None = None,
        copy_of: str | None = None,
        copy: bool = False,
    ) -> Verdict:
        """Whether ``backup`` is this deployment's own backup of ``kind`` (a copy, with ``copy``).

        ``scope_id`` and ``compartment``: what it must be a backup of, and where; ``copy_of``: the source
        a copy must name (None: any source backup of the kind).
        """
        if not isinstance(backup, dict) or kind_of_backup(backup.get("id")) != kind.name:
            return "none"
        tags = tags_of(backup)
        trigger, source = tags.get(TRIGGER_TAG), tags.get(SOURCE_TAG)
        if trigger not in TRIGGERS or not isinstance(source, str) or not source:
            return "none"
        of = backup.get(kind.id_field)
        if scope_id is not None and of != scope_id:
            return "none"
        if not copy and (not isinstance(of, str) or target_kind_of(of) != kind.name):
            return "none"  # a source backup that names no volume (boot volume, group) of its kind is of nothing known
        if compartment is not None and backup.get("compartmentId") != compartment:
            return "none"
        stamped_kind = tags.get(KIND_TAG)
        if kind.name != "volumeGroup" and (backup.get("volumeGroupBackupId") or stamped_kind == "volumeGroup"):
            return "member"
        if tags.get(DEPLOYMENT_TAG) != self.identity:
            return "foreign"
        if stamped_kind != kind.name:
            return "none"
        source_backup = backup.get(kind.source_field)
        if not copy:
            return "own" if backup.get("sourceType") == "MANUAL" and not source_backup else "none"
        if kind_of_backup(source_backup) != kind.name or (copy_of is not None and source_backup != copy_of):
            return "none"
        name = backup.get("displayName")
        return "own" if isinstance(name, str) and name.endswith(self.copy_suffix) else "none"


def target_kind(kind: str) -> BackupKind | None:
    """The kind of backup a target kind (``volume``, ``bootVolume``, ``volumeGroup``) makes."""
    return _TARGET_KINDS.get(kind)

"""A tenancy whose protection an audit can be checked against: volumes that break each rule, and ones that do not.

:func:`seed_audit_world` adds, in the local compartment, resources carrying ``tags`` (a selector
with those tags and kinds volume, bootVolume and volumeGroup selects exactly them):

- ``compliant``: a volume, a boot volume and a volume group whose newest backup was made by the
  deployment 2 hours ago, retention-locked for 30 days, encrypted with :data:`KEY` (a group
  backup uses its volumes' keys) and copied (AVAILABLE) to the copy region; and a volume whose
  newest backup is a person's (copied, with the key) while the deployment's newest one is locked;
- ``no_backup``: a volume with no backup at all (rule ``rpo``);
- ``stale``: a volume whose newest backup is 48 hours old (rule ``rpo``), otherwise protected;
- ``no_copy``: a volume whose newest backup has no copy, only an older one has (rule ``copy``);
- ``unlocked``: a volume whose newest backup by the deployment is not retention-locked (rule ``lock``);
- ``wrong_key``: a volume whose backup is encrypted with another key (rule ``key``);

and, outside the selection (no ``tags``), a volume with no backup and the volume group's
members. Audited with :func:`configuration` (RPO 24 h, the copy region, a lock, :data:`KEY`),
the violations are exactly :attr:`AuditWorld.expected`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.volumes import AD

KEY = "ocid1.key.oc1.iad.aaaaaaaaauditworldallowedkey0000000000000000000000000000000001"
OTHER_KEY = "ocid1.key.oc1.iad.aaaaaaaaauditworldforeignkey0000000000000000000000000000000001"
# The deployment audited, and what it stamps on the backups it makes (per kind of backup).
DEPLOYMENT = "backup-app/backup-handler"
OWN = {
    "backup-trigger": "schedule",
    "backup-source": "20261120T000000Z/3600s",
    "backup-deployment": DEPLOYMENT,
    "backup-kind": "volume",
}
OWN_BOOT = {**OWN, "backup-kind": "bootVolume"}
OWN_GROUP = {**OWN, "backup-kind": "volumeGroup"}
LOCK = {"retentionTimeUnit": "DAYS", "retentionTimeAmount": 30}
RPO_HOURS = 24
_PREFIX = "ocid1.{kind}.oc1.iad.abuwcljraudit{name:0>12}"


def _ocid(kind: str, name: str) -> str:
    return f"{_PREFIX.format(kind=kind, name=name)}{'0' * 40}"


@dataclass(frozen=True)
class AuditWorld:
    """What :func:`seed_audit_world` added: the selector body that selects it, and what an audit must find."""

    tags: Mapping[str, str]
    compliant: tuple[str, ...]
    expected: Mapping[str, frozenset[str]]
    """Rule → the resources that break it."""
    outside: tuple[str, ...]
    """Resources with no backup that the selector does not select."""
    backups: dict[str, list[str]] = field(default_factory=dict)
    """Resource → the backups seeded for it (source region)."""

    @property
    def selector(self) -> dict[str, Any]:
        return {
            "compartmentId": COMPARTMENT,
            "freeformTags": dict(self.tags),
            "kinds": ["volume", "bootVolume", "volumeGroup"],
        }

    @property
    def checked(self) -> int:
        broken = set().union(*self.expected.values())
        return len(broken) + len(self.compliant)


def configuration(peer: BlockStorageEmulator) -> dict[str, str]:
    """The function configuration the world is audited under (the copy region is ``peer``)."""
    return {
        "BACKUP_AUDIT_RPO_HOURS": str(RPO_HOURS),
        "BACKUP_COPY_REGION": peer.region,
        "BACKUP_COPY_ENDPOINT": peer.endpoint,
        "BACKUP_RETENTION_LOCK": "true",
        "BACKUP_RETENTION_PERIOD_DAYS": str(LOCK["retentionTimeAmount"]),
        "BACKUP_KMS_KEY_ID": KEY,
        "BACKUP_DEPLOYMENT_ID": DEPLOYMENT,
    }


def seed_audit_world(
    emulator: BlockStorageEmulator,
    peer: BlockStorageEmulator,
    *,
    tags: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> AuditWorld:
    """Add the world to ``emulator`` (its copies to ``peer``, the copy region) and describe it."""
    tags = dict(tags or {"audit": "seeded"})
    now = now or datetime.now(UTC)
    seeded: dict[str, list[str]] = {}

    def ago(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    def backup(
        volume_id: str,
        hours: float,
        *,
        own: bool = True,
        locked: bool = True,
        key: str | None = KEY,
        copied: bool = True,
        boot: bool = False,
    ) -> str:
        backup_id = emulator.add_backup(
            volume_id,
            time_created=ago(hours),
            freeform_tags=(OWN_BOOT if boot else OWN) if own else {"owner": "a person"},
            retention_period=LOCK if own and locked else None,
            is_retention_lock_enabled=own and locked,
            kms_key_id=key,
            boot=boot,
        )
        seeded.setdefault(volume_id, []).append(backup_id)
        if copied:
            peer.add_backup(
                volume_id,
                time_created=ago(hours - 0.5),
                freeform_tags=(OWN_BOOT if boot else OWN) if own else {"owner": "a person"},
                source_backup_id=backup_id,
                compartment_id=COMPARTMENT,
                boot=boot,
            )
        return backup_id

    volume = {name: _ocid("volume", name) for name in ("ok", "personal", "nobackup", "stale", "nocopy", "unlocked")}
    volume["wrongkey"] = _ocid("volume", "wrongkey")
    boot_volume = _ocid("bootvolume", "bootok")
    members = (_ocid("volume", "member1"), _ocid("volume", "member2"))
    group = _ocid("volumegroup", "groupok")
    outside = _ocid("volume", "outside")

    for volume_id in volume.values():
        emulator.add_volume(volume_id, freeform_tags=tags, size_in_gbs=200)
    emulator.add_volume(boot_volume, boot=True, freeform_tags=tags)
    emulator.add_volume(outside)
    for member in members:
        emulator.add_volume(member, size_in_gbs=500)
    emulator.add_volume_group(group, COMPARTMENT, AD, list(members), freeform_tags=tags, display_name="audit-group")

    backup(volume["ok"], 26, copied=True)  # an older one, then the newest
    backup(volume["ok"], 2)
    backup(boot_volume, 2, boot=True)
    emulator.add_volume_group_backup(
        group, time_created=ago(3), freeform_tags=OWN_GROUP, retention_period=LOCK, is_retention_lock_enabled=True
    )
    backup(volume["personal"], 5)  # the deployment's newest: locked
    backup(volume["personal"], 1, own=False)  # a person's, newer (not locked: not the deployment's)
    backup(volume["stale"], 48)
    backup(volume["nocopy"], 30)  # copied
    backup(volume["nocopy"], 2, copied=False)  # the newest: no copy
    backup(volume["unlocked"], 2, locked=False)
    backup(volume["wrongkey"], 2, key=OTHER_KEY)

    return AuditWorld(
        tags=tags,
        compliant=(volume["ok"], volume["personal"], boot_volume, group),
        expected={
            "rpo": frozenset({volume["nobackup"], volume["stale"]}),
            "copy": frozenset({volume["nocopy"]}),
            "lock": frozenset({volume["unlocked"]}),
            "key": frozenset({volume["wrongkey"]}),
        },
        outside=(outside, *members),
        backups=seeded,
    )

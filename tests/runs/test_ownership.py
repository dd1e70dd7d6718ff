"""Whose backup is it: every condition of this deployment's ownership, and what protects a backup."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.runs.ownership import KINDS, Ownership, kind_of_backup, protection
from backup_handler.settings import MAX_DEPLOYMENT_ID_CHARS, Settings, platform_deployment_id

ME = Ownership("backup-app/backup-handler")
VOLUME = "ocid1.volume.oc1.iad.v1"
COMPARTMENT = "ocid1.compartment.oc1..c1"
NOW = datetime(2026, 11, 27, tzinfo=UTC)
TAGS = {
    "backup-trigger": "schedule",
    "backup-source": "slot",
    "backup-deployment": "backup-app/backup-handler",
    "backup-kind": "volume",
}


def backup(**fields: Any) -> dict[str, Any]:
    return {
        "id": "ocid1.volumebackup.oc1.iad.b1",
        "volumeId": VOLUME,
        "compartmentId": COMPARTMENT,
        "sourceType": "MANUAL",
        "freeformTags": dict(TAGS),
        "sourceVolumeBackupId": None,
        "volumeGroupBackupId": None,
        **fields,
    }


def judge(item: Any, **kwargs: Any) -> str:
    return ME.judge(item, KINDS["volume"], scope_id=VOLUME, compartment=COMPARTMENT, **kwargs)


def test_a_backup_this_deployment_made_is_its_own() -> None:
    assert judge(backup()) == "own"


@pytest.mark.parametrize(
    ("fields", "verdict"),
    [
        ({"freeformTags": {**TAGS, "backup-deployment": "other/fn"}}, "foreign"),
        ({"freeformTags": {k: v for k, v in TAGS.items() if k != "backup-deployment"}}, "foreign"),
        ({"freeformTags": {"backup-trigger": "schedule"}}, "none"),
        ({"freeformTags": {**TAGS, "backup-trigger": "cron"}}, "none"),
        ({"freeformTags": {**TAGS, "Backup-Deployment": "x", "backup-deployment": "other"}}, "foreign"),
        ({"freeformTags": "backup-trigger=schedule"}, "none"),
        ({"freeformTags": {**TAGS, "backup-kind": "bootVolume"}}, "none"),
        ({"freeformTags": {**TAGS, "backup-kind": "volumeGroup"}}, "member"),
        ({"volumeGroupBackupId": "ocid1.volumegroupbackup.oc1.iad.g"}, "member"),
        ({"sourceType": "SCHEDULED"}, "none"),
        ({"sourceType": None}, "none"),
        ({"sourceVolumeBackupId": "ocid1.volumebackup.oc1.phx.src"}, "none"),
        ({"volumeId": "ocid1.volume.oc1.iad.other"}, "none"),
        ({"compartmentId": "ocid1.compartment.oc1..other"}, "none"),
        ({"id": "ocid1.bootvolumebackup.oc1.iad.b1"}, "none"),
    ],
)
def test_every_condition_of_ownership_is_needed(fields: dict[str, Any], verdict: str) -> None:
    assert judge(backup(**fields)) == verdict


def test_a_copy_is_this_deployments_by_its_source_and_its_name_never_by_its_volume_or_source_type() -> None:
    source = "ocid1.volumebackup.oc1.iad.src"
    copy = backup(
        id="ocid1.volumebackup.oc1.phx.c1", sourceVolumeBackupId=source, displayName=ME.copy_name({"displayName": "n"})
    )
    kind = KINDS["volume"]
    assert ME.judge(copy, kind, copy=True, copy_of=source) == "own"
    for changed in ({"sourceType": "SCHEDULED"}, {"sourceType": None}, {"volumeId": None}):
        assert ME.judge({**copy, **changed}, kind, copy=True, copy_of=source) == "own"
    assert ME.judge({**copy, "displayName": "n (copy)"}, kind, copy=True) == "none"  # a person's name
    assert ME.judge({**copy, "sourceVolumeBackupId": None}, kind, copy=True) == "none"
    assert ME.judge(copy, kind, copy=True, copy_of="ocid1.volumebackup.oc1.iad.else") == "none"
    assert Ownership("other/fn").judge(copy, kind, copy=True) == "foreign"
    assert Ownership("other/fn").copy_suffix != ME.copy_suffix
    assert len(ME.copy_name({"displayName": "x" * 300})) == 255


def test_protection_holds_for_holds_prevent_deletion_running_periods_and_unreadable_expiries() -> None:
    assert protection({"isIndefiniteRetentionEnabled": True}, NOW) is not None
    assert protection({"isPreventDeletionEnabled": True, "timeRetentionExpiresAt": "2020-01-01T00:00:00Z"}, NOW)
    assert protection({"timeRetentionExpiresAt": "2027-01-01T00:00:00Z"}, NOW) is not None
    assert protection({"timeRetentionExpiresAt": "soon"}, NOW) is not None
    assert protection({"isRetentionLockEnabled": True}, NOW) is not None
    assert protection({"timeRetentionExpiresAt": "2020-01-01T00:00:00Z"}, NOW) is None
    assert protection({}, NOW) is None


def test_backup_kinds_are_read_from_the_ocid() -> None:
    assert kind_of_backup("ocid1.volumebackup.oc1.iad.x") == "volume"
    assert kind_of_backup("ocid1.bootvolumebackup.oc1.iad.x") == "bootVolume"
    assert kind_of_backup("ocid1.volumegroupbackup.oc1.iad.x") == "volumeGroup"
    assert kind_of_backup("ocid1.volume.oc1.iad.x") is None and kind_of_backup(None) is None


def test_the_deployment_identity_comes_from_configuration_or_the_platforms_names() -> None:
    platform = {"FN_APP_NAME": "backup-app", "FN_FN_NAME": "backup-handler"}
    assert Settings.from_env(platform).deployment_id == "backup-app/backup-handler"
    assert Settings.from_env({**platform, "BACKUP_DEPLOYMENT_ID": "prod"}).deployment_id == "prod"
    assert Settings.from_env({"FN_APP_NAME": "a"}).deployment_id is None
    assert platform_deployment_id({"FN_APP_NAME": " ", "FN_FN_NAME": "f"}) is None
    long = platform_deployment_id({"FN_APP_NAME": "a" * 255, "FN_FN_NAME": "f g"})
    assert long is not None and len(long) <= MAX_DEPLOYMENT_ID_CHARS
    assert long != platform_deployment_id({"FN_APP_NAME": "a" * 255, "FN_FN_NAME": "f h"})
    assert Settings(deployment_id=long).deployment_id == long


@pytest.mark.parametrize("value", ["has space", "x" * 201, "-leading", "a\nb"])
def test_a_configured_deployment_identity_is_a_plain_bounded_tag_value(value: str) -> None:
    from backup_handler.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="BACKUP_DEPLOYMENT_ID"):
        Settings.from_env({"BACKUP_DEPLOYMENT_ID": value})

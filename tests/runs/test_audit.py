"""The audit's rules one at a time, in-process, reading the emulator through the real SDK client.

Each test seeds one situation a tenancy can hold and checks what the audit finds of it; the end-to-end
tests (tests/e2e/test_e2e_audit.py) run the whole function on the seeded world.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backup_handler.oci.api import OciApi
from backup_handler.runs.audit import MAX_RECENT, Auditor, AuditResult, made_by_deployment
from backup_handler.settings import Settings
from backup_handler.triggers.audit import AuditRequest
from backup_handler.vocabulary.fields import Selector
from localdev.audit_world import KEY, OTHER_KEY, OWN
from localdev.credentials import COMPARTMENT, function_environment
from localdev.emulator import BlockStorageEmulator
from localdev.stack import LocalStack
from tests.conftest import DEPLOYMENT, OWN_GROUP, PEER_REGION

TAGS = {"audit": "unit"}
LOCK = {"retentionTimeUnit": "DAYS", "retentionTimeAmount": 7}
VOLUME = "ocid1.volume.oc1.iad.abuwcljrauditunitvolume00000000000000000000000000000000000000001"
BOOT = "ocid1.bootvolume.oc1.iad.abuwcljrauditunitboot0000000000000000000000000000000000000001"
GROUP = "ocid1.volumegroup.oc1.iad.abuwcljrauditunitgroup000000000000000000000000000000000001"
MEMBER = "ocid1.volume.oc1.iad.abuwcljrauditunitmember0000000000000000000000000000000000000001"


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


@pytest.fixture
def run(
    stack: LocalStack, emulator: BlockStorageEmulator, peer: BlockStorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., AuditResult]:
    """Audit the resources tagged TAGS under the given configuration."""
    for name, value in function_environment(stack.credentials).items():
        monkeypatch.setenv(name, value)

    def audit(kinds: tuple[str, ...] = ("volume", "bootVolume", "volumeGroup"), **config: Any) -> AuditResult:
        settings = Settings(
            blockstorage_endpoint=emulator.endpoint,
            identity_endpoint=emulator.endpoint,
            deployment_id=DEPLOYMENT,
            **config,
        )
        selector = Selector.model_validate({"compartmentId": COMPARTMENT, "freeformTags": TAGS, "kinds": kinds})
        result = AuditResult()
        Auditor(settings, OciApi(settings)).run(AuditRequest(selector, False), time.monotonic() + 20, result)
        assert result.complete
        return result

    return audit


def found(result: AuditResult) -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for violation in result.violations:
        rules.setdefault(violation["rule"], set()).add(violation["resourceId"])
    return rules


@pytest.fixture
def volume(emulator: BlockStorageEmulator) -> str:
    emulator.add_volume(VOLUME, freeform_tags=TAGS, size_in_gbs=100)
    return VOLUME


def copies(peer: BlockStorageEmulator) -> dict[str, Any]:
    return {"copy_region": PEER_REGION, "copy_endpoint": peer.endpoint}


def test_only_an_available_backup_counts_toward_the_rpo(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, volume: str
) -> None:
    emulator.add_backup(volume, time_created=hours_ago(1), lifecycle_state="FAULTY")
    emulator.add_backup(volume, time_created=hours_ago(1), lifecycle_state="CREATING")
    emulator.add_backup(volume, time_created=hours_ago(30))

    result = run()

    assert found(result) == {"rpo": {volume}}
    assert "30.0 h old (RPO 24 h)" in result.violations[0]["detail"]
    assert result.oldest_newest_hours == pytest.approx(30, abs=0.1)


def test_a_backup_by_anyone_satisfies_the_rpo(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, volume: str
) -> None:
    emulator.add_backup(volume, time_created=hours_ago(3), source_type="SCHEDULED", expiration_time=hours_ago(-48))

    assert found(run()) == {}
    assert found(run(audit_rpo_hours=2)) == {"rpo": {volume}}


def test_a_copy_still_in_progress_is_no_copy_yet(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, peer: BlockStorageEmulator, volume: str
) -> None:
    backup = emulator.add_backup(volume, time_created=hours_ago(2))
    peer.add_backup(volume, time_created=hours_ago(1), source_backup_id=backup, lifecycle_state="CREATING")

    assert found(run(**copies(peer))) == {"copy": {volume}}
    peer.add_backup(volume, time_created=hours_ago(1), source_backup_id=backup)
    assert found(run(**copies(peer))) == {}


def test_many_recent_backups_keep_the_newest_in_mind_for_their_copies(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, peer: BlockStorageEmulator, volume: str
) -> None:
    backups = [emulator.add_backup(volume, time_created=hours_ago(5 - n / 100)) for n in range(MAX_RECENT + 10)]
    emulator.add_backup(volume, time_created=hours_ago(30))
    peer.add_backup(volume, source_backup_id=backups[-1])  # only the newest has a copy

    result = run(audit_copy_grace_hours=12, **copies(peer))

    assert found(result) == {}  # all recent, within the grace: the newest's copy will do


def test_a_lock_must_be_the_deployments_running_or_indefinite(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, volume: str
) -> None:
    lock = {"retention_lock": True, "retention_period_days": 7}
    emulator.add_backup(
        volume,
        time_created=hours_ago(24 * 10),
        freeform_tags=OWN,
        retention_period=LOCK,
        is_retention_lock_enabled=True,
    )  # expired: 7 days from 10 days ago
    emulator.add_backup(volume, time_created=hours_ago(1))  # a person's, newer, never locked

    (expired,) = run(audit_rpo_hours=48, **lock).violations
    emulator.add_backup(volume, time_created=hours_ago(2), freeform_tags=OWN, is_indefinite_retention_enabled=True)
    unlocked = run(audit_rpo_hours=48, **lock).violations
    emulator.add_backup(
        volume,
        time_created=hours_ago(1.5),
        freeform_tags=OWN,
        retention_period=LOCK,
        is_retention_lock_enabled=True,
        is_indefinite_retention_enabled=True,
    )

    assert expired["rule"] == "lock" and "had its retention lock expire" in expired["detail"]
    assert [v["detail"].rsplit(") ", 1)[-1] for v in unlocked] == ["is not retention-locked"]  # a hold is no lock
    assert run(audit_rpo_hours=48, **lock).violations == []


def test_a_copy_or_a_policys_backup_is_not_the_deployments(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, volume: str
) -> None:
    emulator.add_backup(volume, time_created=hours_ago(1), freeform_tags=OWN, source_type="SCHEDULED")
    emulator.add_backup(
        volume, time_created=hours_ago(1), freeform_tags=OWN, source_backup_id="ocid1.volumebackup.oc1.phx.x"
    )

    (violation,) = run(retention_lock=True, retention_period_days=7).violations

    assert violation["detail"] == "no AVAILABLE backup made by this deployment, so none is locked"
    group_backup = {
        "id": "ocid1.volumegroupbackup.oc1.iad.x",
        "volumeGroupId": "ocid1.volumegroup.oc1.iad.x",
        "freeformTags": OWN_GROUP,
        "sourceType": "MANUAL",
    }
    assert made_by_deployment(group_backup, "volumeGroup", DEPLOYMENT)
    assert not made_by_deployment(group_backup, "volumeGroup", "another-app/backup-handler")
    assert not made_by_deployment(group_backup, "volumeGroup", None)
    assert not made_by_deployment({**group_backup, "sourceVolumeGroupBackupId": "x"}, "volumeGroup", DEPLOYMENT)


def test_every_backup_must_have_an_allowed_key_and_none_is_oracles(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, volume: str
) -> None:
    emulator.add_backup(volume, time_created=hours_ago(1), kms_key_id=KEY)
    emulator.add_backup(volume, time_created=hours_ago(5), kms_key_id=OTHER_KEY)
    emulator.add_backup(volume, time_created=hours_ago(3))  # Oracle-managed

    (violation,) = run(kms_key_id=KEY).violations
    allowed = run(kms_key_id=KEY, allowed_kms_key_ids=(OTHER_KEY,)).violations

    assert violation["rule"] == "key"
    assert violation["detail"].startswith("2 of 3 AVAILABLE backups are not encrypted with an allowed key")
    assert "an Oracle-managed key" in violation["detail"]  # the newest offender has no kmsKeyId
    assert [v["detail"][:5] for v in allowed] == ["1 of "]


def test_a_group_is_checked_on_its_own_backups_and_its_members_on_theirs(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator
) -> None:
    emulator.add_volume(MEMBER, freeform_tags=TAGS, size_in_gbs=300)
    emulator.add_volume(BOOT, boot=True, freeform_tags=TAGS)
    emulator.add_volume_group(GROUP, COMPARTMENT, "Uocm:US-ASHBURN-AD-1", [MEMBER, BOOT], freeform_tags=TAGS)
    emulator.add_volume_group_backup(GROUP, time_created=hours_ago(2), freeform_tags=OWN)
    emulator.add_volume_group_backup(GROUP, time_created=hours_ago(1), lifecycle_state="FAULTY")

    result = run(kms_key_id=KEY)

    # The members' backups (made by the group backup) use the volumes' own keys: the key rule says so.
    assert found(result) == {"key": {MEMBER, BOOT}}
    assert result.checked == 3
    storage = {entry["resourceId"]: entry["gbs"] for entry in result.per_resource}
    assert storage == {GROUP: 35.0, MEMBER: 30.0, BOOT: 5.0}
    assert result.total_gbs == 35.0  # the members' backups are the group backup's: counted once


def test_rules_off_are_neither_checked_nor_counted(
    run: Callable[..., AuditResult], emulator: BlockStorageEmulator, volume: str
) -> None:
    emulator.add_backup(volume, time_created=hours_ago(1))

    result = run()

    assert result.rules == {"rpo": {"hours": 24}} and result.counts == {"rpo": 0}
    assert result.compliant == result.checked == 1

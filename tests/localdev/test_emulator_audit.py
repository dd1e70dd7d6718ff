"""What the coverage audit reads from the emulator, through the real SDK's generated client: backups listed per
compartment with no volume named, their sizes (known once a backup is done), seeded volume group backups, and
the audit world itself."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from localdev.audit_world import configuration, seed_audit_world
from localdev.credentials import COMPARTMENT, function_environment
from localdev.emulator import BlockStorageEmulator
from localdev.samples import VOLUME_GROUP, VOLUMES
from localdev.stack import LocalStack

OTHER = "ocid1.compartment.oc1..aaaaaaaaothercompartment0000000000000000000000000000000000"


@pytest.fixture
def client(stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import oci
    from oci.auth.signers import get_resource_principals_signer
    from oci.core import BlockstorageClient

    for name, value in function_environment(stack.identity.mint(tmp_path / "rp")).items():
        monkeypatch.setenv(name, value)
    return BlockstorageClient(
        {},
        signer=get_resource_principals_signer(),
        service_endpoint=emulator.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
    )


def test_backups_of_every_volume_of_a_compartment_are_listed_without_naming_one(
    client: Any, emulator: BlockStorageEmulator
) -> None:
    import oci

    ids = [emulator.add_backup(volume) for volume in VOLUMES]
    emulator.add_backup(VOLUMES[0], compartment_id=OTHER)
    emulator.add_backup(VOLUMES[1], lifecycle_state="FAULTY")

    listed = oci.pagination.list_call_get_all_results(
        client.list_volume_backups, compartment_id=COMPARTMENT, lifecycle_state="AVAILABLE", limit=2
    ).data

    assert [backup.id for backup in listed] == ids


def test_a_backups_unique_size_is_known_once_it_is_done(client: Any, emulator: BlockStorageEmulator) -> None:
    from oci.core.models import CreateVolumeBackupDetails

    emulator.in_progress_seconds = 0.5
    full = client.create_volume_backup(CreateVolumeBackupDetails(volume_id=VOLUMES[0], type="FULL")).data
    incremental = client.create_volume_backup(CreateVolumeBackupDetails(volume_id=VOLUMES[1])).data
    time.sleep(0.6)
    done = {b.id: b for b in client.list_volume_backups(compartment_id=COMPARTMENT).data}

    assert full.unique_size_in_gbs is None and full.lifecycle_state == "CREATING"
    assert (done[full.id].size_in_gbs, done[full.id].unique_size_in_gbs) == (100, 100)
    assert (done[incremental.id].unique_size_in_gbs, done[incremental.id].unique_size_in_mbs) == (10, 10 * 1024)


def test_a_group_backup_is_the_sum_of_its_members_and_a_seeded_one_keeps_its_state(
    client: Any, emulator: BlockStorageEmulator
) -> None:
    from oci.core.models import CreateVolumeGroupBackupDetails

    emulator.in_progress_seconds = 0
    made = client.create_volume_group_backup(CreateVolumeGroupBackupDetails(volume_group_id=VOLUME_GROUP)).data
    faulty = emulator.add_volume_group_backup(VOLUME_GROUP, lifecycle_state="FAULTY", freeform_tags={"a": "b"})
    listed = {b.id: b for b in client.list_volume_group_backups(compartment_id=COMPARTMENT).data}

    assert listed[made.id].unique_size_in_gbs == 10 and listed[made.id].lifecycle_state == "AVAILABLE"
    assert listed[faulty].lifecycle_state == "FAULTY" and listed[faulty].freeform_tags == {"a": "b"}
    members = [b for b in emulator.backups() if b["volumeGroupBackupId"] == faulty]
    assert [b["volumeId"] for b in members] == [VOLUMES[2]] and members[0]["lifecycleState"] == "FAULTY"
    with pytest.raises(ValueError):
        emulator.add_volume_group_backup(VOLUME_GROUP, lifecycle_state="GONE")


def test_the_audit_world_is_what_it_says(emulator: BlockStorageEmulator, peer: BlockStorageEmulator) -> None:
    world = seed_audit_world(emulator, peer)

    copies = peer.backups()
    assert world.checked == 9 and len(world.compliant) == 4
    assert all(backup.get("sourceVolumeBackupId") or backup.get("sourceBootVolumeBackupId") for backup in copies)
    (no_copy,) = world.expected["copy"]
    newest = max((b for b in emulator.backups() if b.get("volumeId") == no_copy), key=lambda b: str(b["timeCreated"]))
    assert newest["id"] not in {b.get("sourceVolumeBackupId") for b in copies}
    assert configuration(peer)["BACKUP_COPY_ENDPOINT"] == peer.endpoint

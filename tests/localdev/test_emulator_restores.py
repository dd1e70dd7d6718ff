"""The emulator's volume restores, driven through the real SDK's generated client: CreateVolume and
CreateBootVolume from backups (exactly the bodies the SDK's models send), progress on the emulator's
clock, the FAULTY switch, hydration, delete, retry tokens, faults and the volume events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT, function_environment
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.emulator.restores import BOOT_VOLUME_FIELDS, VOLUME_FIELDS
from localdev.samples import AD, BOOT_VOLUMES, SANDBOX, VOLUMES
from localdev.stack import LocalStack


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


def restore(client: Any, backup_id: str, **fields: Any) -> Any:
    from oci.core.models import CreateVolumeDetails, VolumeSourceFromVolumeBackupDetails

    details = CreateVolumeDetails(
        compartment_id=SANDBOX,
        availability_domain=AD,
        source_details=VolumeSourceFromVolumeBackupDetails(id=backup_id),
        freeform_tags={"backup-restore-test-of": backup_id},
        **fields,
    )
    return client.create_volume(details).data


def restore_boot(client: Any, backup_id: str, **kwargs: Any) -> Any:
    from oci.core.models import BootVolumeSourceFromBootVolumeBackupDetails, CreateBootVolumeDetails

    details = CreateBootVolumeDetails(
        compartment_id=SANDBOX,
        availability_domain=AD,
        source_details=BootVolumeSourceFromBootVolumeBackupDetails(id=backup_id),
    )
    return client.create_boot_volume(details, **kwargs).data


def test_the_emulator_accepts_every_field_the_sdk_models_send() -> None:
    from oci.core.models import CreateBootVolumeDetails, CreateVolumeDetails

    assert set(CreateVolumeDetails().attribute_map.values()) == VOLUME_FIELDS
    assert set(CreateBootVolumeDetails().attribute_map.values()) == BOOT_VOLUME_FIELDS


def test_a_volume_restored_from_a_backup_provisions_on_the_clock_then_is_available(
    client: Any, emulator: BlockStorageEmulator
) -> None:
    emulator.restore_seconds = 600
    backup = emulator.add_backup(VOLUMES[0])

    made = restore(client, backup, display_name="restore-test-1")
    provisioning = client.get_volume(made.id).data
    emulator.advance(seconds=600)
    available = client.get_volume(made.id).data

    assert (made.compartment_id, made.availability_domain, made.size_in_gbs) == (SANDBOX, AD, 100)
    assert made.source_details.type == "volumeBackup" and made.source_details.id == backup
    assert made.freeform_tags == {"backup-restore-test-of": backup}
    assert (provisioning.lifecycle_state, provisioning.is_hydrated) == ("PROVISIONING", False)
    assert (available.lifecycle_state, available.is_hydrated) == ("AVAILABLE", True)
    listed = client.list_volumes(compartment_id=SANDBOX).data
    assert [v.id for v in listed] == [made.id] and listed[0].lifecycle_state == "AVAILABLE"


def test_a_boot_volume_restored_from_a_backup_and_its_begin_event(client: Any, emulator: BlockStorageEmulator) -> None:
    emulator.restore_seconds = 0
    backup = emulator.add_backup(BOOT_VOLUMES[0])

    made = restore_boot(client, backup)
    events = emulator.volume_events()

    assert client.get_boot_volume(made.id).data.lifecycle_state == "AVAILABLE"
    assert made.source_details.type == "bootVolumeBackup" and made.size_in_gbs == 50
    assert [e["eventType"] for e in events] == ["com.oraclecloud.blockvolumes.createbootvolume.begin"]
    assert events[0]["data"]["resourceId"] == made.id and events[0]["data"]["compartmentId"] == SANDBOX


def test_createvolume_end_is_announced_once_when_the_restore_ends(client: Any, emulator: BlockStorageEmulator) -> None:
    emulator.restore_seconds = 60
    backup = emulator.add_backup(VOLUMES[0])
    made = restore(client, backup)

    before = emulator.volume_events()
    emulator.advance(seconds=60)
    [event] = emulator.volume_events()

    assert before == [] and emulator.volume_events() == []
    assert event["eventType"] == "com.oraclecloud.blockvolumes.createvolume.end"
    assert event["data"]["resourceId"] == made.id
    assert event["data"]["freeformTags"] == {"backup-restore-test-of": backup}


def test_the_faulty_switch_and_hydration(client: Any, emulator: BlockStorageEmulator) -> None:
    emulator.restore_seconds = 0
    emulator.state.restores.hydrate_seconds = 300
    bad = emulator.add_backup(VOLUMES[0])
    of_volume = emulator.add_backup(VOLUMES[1])
    good = emulator.add_backup(VOLUMES[2])
    emulator.fail_restores_of(bad)
    emulator.fail_restores_of(VOLUMES[1])

    states = [client.get_volume(restore(client, b).id).data for b in (bad, of_volume, good)]
    emulator.advance(seconds=300)

    assert [v.lifecycle_state for v in states] == ["FAULTY", "FAULTY", "AVAILABLE"]
    assert states[2].is_hydrated is False and client.get_volume(states[2].id).data.is_hydrated is True


def test_delete_terminates_and_a_second_delete_is_404(client: Any, emulator: BlockStorageEmulator) -> None:
    import oci

    emulator.restore_seconds = 0
    emulator.state.restores.terminate_seconds = 30
    made = restore(client, emulator.add_backup(VOLUMES[0]))

    client.delete_volume(made.id)
    terminating = client.get_volume(made.id).data.lifecycle_state
    emulator.advance(seconds=30)
    terminated = client.get_volume(made.id).data.lifecycle_state
    with pytest.raises(oci.exceptions.ServiceError) as again:
        client.delete_volume(made.id)

    assert (terminating, terminated, again.value.status) == ("TERMINATING", "TERMINATED", 404)


def test_a_retry_token_returns_the_same_volume_and_is_invalidated_by_its_delete(
    client: Any, emulator: BlockStorageEmulator
) -> None:
    import oci

    backup = emulator.add_backup(BOOT_VOLUMES[0])
    first = restore_boot(client, backup, opc_retry_token="restore-1")
    second = restore_boot(client, backup, opc_retry_token="restore-1")
    client.delete_boot_volume(first.id)

    with pytest.raises(oci.exceptions.ServiceError) as invalidated:
        restore_boot(client, backup, opc_retry_token="restore-1")

    assert first.id == second.id
    assert (invalidated.value.status, invalidated.value.code) == (409, "InvalidatedRetryToken")
    assert sum(1 for v in emulator.volumes() if v["compartmentId"] == SANDBOX) == 1


def _from(backup: str, **fields: Any) -> dict[str, Any]:
    return {
        "compartmentId": SANDBOX,
        "availabilityDomain": AD,
        "sourceDetails": {"type": "volumeBackup", "id": backup},
        **fields,
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (lambda b: {"compartmentId": SANDBOX, "availabilityDomain": AD}, 400, "InvalidParameter"),  # blank
        (lambda b: {k: v for k, v in _from(b).items() if k != "availabilityDomain"}, 400, "InvalidParameter"),
        (lambda b: {k: v for k, v in _from(b).items() if k != "compartmentId"}, 400, "InvalidParameter"),
        (lambda b: _from(b, sourceDetails={"type": "volume", "id": b}), 400, "InvalidParameter"),  # a clone
        (lambda b: _from(b, nickname="x"), 400, "InvalidParameter"),
        (lambda b: _from(b, sizeInGBs=10), 400, "InvalidParameter"),  # smaller than the backup
        (lambda b: _from(b, freeformTags={f"k{n}": "v" for n in range(65)}), 400, "InvalidParameter"),
        (lambda b: _from("ocid1.volumebackup.oc1.iad.none"), 404, "NotAuthorizedOrNotFound"),
        (lambda b: {**_from(b), "sourceDetails": {"type": "bootVolumeBackup", "id": b}}, 400, "InvalidParameter"),
    ],
)
def test_a_create_the_api_would_refuse_is_refused(
    client: Any, emulator: BlockStorageEmulator, body: Callable[[str], dict[str, Any]], status: int, code: str
) -> None:
    import oci

    backup = emulator.add_backup(VOLUMES[0])

    with pytest.raises(oci.exceptions.ServiceError) as refused:
        client.base_client.call_api(
            resource_path="/volumes",
            method="POST",
            body=body(backup),
            header_params={"content-type": "application/json"},
        )

    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_backup_still_being_made_cannot_be_restored_yet(client: Any, emulator: BlockStorageEmulator) -> None:
    import oci

    creating = emulator.add_backup(VOLUMES[0], lifecycle_state="CREATING")

    with pytest.raises(oci.exceptions.ServiceError) as refused:
        restore(client, creating)

    assert (refused.value.status, refused.value.code) == (409, "IncorrectState")


def test_faults_apply_to_restores_and_deletes(client: Any, emulator: BlockStorageEmulator) -> None:
    import oci

    backup = emulator.add_backup(VOLUMES[0])
    emulator.inject(Fault("createVolume", status=500), Fault("deleteVolume", status=503))

    with pytest.raises(oci.exceptions.ServiceError) as created:
        restore(client, backup)
    made = restore(client, backup)
    with pytest.raises(oci.exceptions.ServiceError) as deleted:
        client.delete_volume(made.id)

    assert (created.value.status, deleted.value.status) == (500, 503)
    assert [v["id"] for v in emulator.volumes() if v["compartmentId"] == SANDBOX] == [made.id]


def test_a_production_volume_can_be_deleted_too_so_tests_can_see_that_nobody_asks(
    client: Any, emulator: BlockStorageEmulator
) -> None:
    """The emulator has no IAM: the function's own checks are what keep production volumes alive."""
    client.delete_volume(VOLUMES[0])

    assert client.get_volume(VOLUMES[0]).data.lifecycle_state in ("TERMINATING", "TERMINATED")
    assert client.get_volume(VOLUMES[0]).data.compartment_id == COMPARTMENT

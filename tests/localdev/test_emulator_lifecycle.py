"""The emulator's backup lifecycle APIs, driven through the real SDK's generated client: filtered,
sorted and paginated backup lists, retention fields, delete, update, cross-region copies into a
linked region, and the test controls that make lifecycle testable (seeded backups, a clock that
moves forward, backup-end events)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT, function_environment
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.clock import parse
from localdev.emulator.routes import match
from localdev.samples import BOOT_VOLUMES, VOLUME_GROUP, VOLUMES
from localdev.stack import BackupEndPump, LocalStack

EVENTS = Path(__file__).resolve().parents[2] / "events"
PEER_REGION = "us-phoenix-1"
OTHER = "ocid1.compartment.oc1..aaaaaaaaothercompartment0000000000000000000000000000000000"
DAYS_30 = {"retentionTimeUnit": "DAYS", "retentionTimeAmount": 30}


@pytest.fixture
def signer(stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SDK's resource-principal signer for a session of its own (other tests revoke the stack's)."""
    from oci.auth.signers import get_resource_principals_signer

    for name, value in function_environment(stack.identity.mint(tmp_path / "rp")).items():
        monkeypatch.setenv(name, value)
    return get_resource_principals_signer()


def _client(signer: Any, endpoint: str) -> Any:
    import oci
    from oci.core import BlockstorageClient

    return BlockstorageClient(
        {},
        signer=signer,
        service_endpoint=endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
    )


@pytest.fixture
def client(emulator: BlockStorageEmulator, signer: Any) -> Any:
    return _client(signer, emulator.endpoint)


@pytest.fixture
def peer(stack: LocalStack, emulator: BlockStorageEmulator) -> Iterator[BlockStorageEmulator]:
    """A second region's emulator, linked to the session's one (which reset() unlinks)."""
    with BlockStorageEmulator(stack.identity, region=PEER_REGION) as other:
        emulator.add_region(other)
        yield other


@pytest.fixture
def peer_client(peer: BlockStorageEmulator, signer: Any) -> Any:
    return _client(signer, peer.endpoint)


def _refusal(call: Callable[[], Any]) -> tuple[int, str]:
    from oci.exceptions import ServiceError

    with pytest.raises(ServiceError) as refused:
        call()
    return refused.value.status, refused.value.code


def _all(method: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
    import oci

    return list(oci.pagination.list_call_get_all_results(method, *args, **kwargs).data)


def _create(client: Any, volume_id: str = VOLUMES[0], *, token: str | None = None, **fields: Any) -> Any:
    from oci.core.models import CreateVolumeBackupDetails

    details = CreateVolumeBackupDetails(volume_id=volume_id, **fields)
    if token is None:
        return client.create_volume_backup(details).data
    return client.create_volume_backup(details, opc_retry_token=token).data


def _signed(signer: Any, method: str, url: str, document: dict[str, Any] | None = None) -> Any:
    from oci._vendor import requests

    return requests.request(
        method,
        url,
        data=json.dumps(document) if document is not None else None,
        headers={"content-type": "application/json", "accept": "application/json"},
        auth=signer,
        timeout=10,
    )


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


# ------------------------------------------------------------------ routing


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("DELETE", "/20160918/volumeBackups/b", "deleteVolumeBackup"),
        ("DELETE", "/20160918/bootVolumeBackups/b", "deleteBootVolumeBackup"),
        ("PUT", "/20160918/volumeBackups/b", "updateVolumeBackup"),
        ("PUT", "/20160918/bootVolumeBackups/b", "updateBootVolumeBackup"),
        ("POST", "/20160918/volumeBackups/b/actions/copy", "copyVolumeBackup"),
        ("POST", "/20160918/bootVolumeBackups/b/actions/copy", "copyBootVolumeBackup"),
    ],
)
def test_the_routing_table_serves_the_lifecycle_operations(method: str, path: str, operation: str) -> None:
    route, params = match(method, path)
    assert route.operation == operation
    assert params == {"backupId": "b"}


# ------------------------------------------------------------------ lists


def test_backup_lists_filter_sort_and_paginate_through_the_sdk(emulator: BlockStorageEmulator, client: Any) -> None:
    for n, (volume_id, name) in enumerate([(VOLUMES[0], "b"), (VOLUMES[1], "a"), (VOLUMES[0], "c")]):
        emulator.add_backup(volume_id, display_name=name, time_created=_days_ago(10 - n))
    emulator.add_backup(VOLUMES[0], display_name="old", time_created=_days_ago(20), lifecycle_state="TERMINATED")
    emulator.add_backup(VOLUMES[0], display_name="elsewhere", compartment_id=OTHER)
    emulator.add_backup(BOOT_VOLUMES[0], display_name="boot")

    everything = _all(client.list_volume_backups, COMPARTMENT, limit=2, sort_by="TIMECREATED")
    assert [backup.display_name for backup in everything] == ["c", "a", "b", "old"]  # newest first
    oldest_first = _all(client.list_volume_backups, COMPARTMENT, sort_by="TIMECREATED", sort_order="ASC")
    assert [backup.display_name for backup in oldest_first] == ["old", "b", "a", "c"]
    by_name = _all(client.list_volume_backups, COMPARTMENT, sort_by="DISPLAYNAME", limit=1)
    assert [backup.display_name for backup in by_name] == ["a", "b", "c", "old"]
    by_name_desc = _all(client.list_volume_backups, COMPARTMENT, sort_by="DISPLAYNAME", sort_order="DESC")
    assert [backup.display_name for backup in by_name_desc] == ["old", "c", "b", "a"]

    of_volume = _all(client.list_volume_backups, COMPARTMENT, volume_id=VOLUMES[0], lifecycle_state="AVAILABLE")
    assert sorted(backup.display_name for backup in of_volume) == ["b", "c"]
    assert [b.display_name for b in _all(client.list_volume_backups, COMPARTMENT, display_name="a")] == ["a"]
    assert [b.display_name for b in _all(client.list_volume_backups, OTHER)] == ["elsewhere"]
    boot = _all(client.list_boot_volume_backups, COMPARTMENT, boot_volume_id=BOOT_VOLUMES[0])
    assert [backup.display_name for backup in boot] == ["boot"]

    first = client.list_volume_backups(COMPARTMENT, limit=3)
    assert len(first.data) == 3 and first.has_next_page and first.next_page


def test_a_backup_list_needs_a_compartment_and_known_choices(emulator: BlockStorageEmulator, signer: Any) -> None:
    base = emulator.endpoint + "/20160918/volumeBackups"
    missing = _signed(signer, "GET", base)
    assert missing.status_code == 400 and missing.json()["code"] == "MissingParameter"
    assert missing.headers["opc-request-id"]
    for query in ("sortBy=SIZE", "sortOrder=UP", "lifecycleState=GONE"):
        wrong = _signed(signer, "GET", f"{base}?compartmentId={COMPARTMENT}&{query}")
        assert wrong.status_code == 400 and wrong.json()["code"] == "InvalidParameter", query


def test_listed_items_carry_every_volume_backup_field(emulator: BlockStorageEmulator, client: Any) -> None:
    import oci

    _create(client, display_name="full")
    [listed] = client.list_volume_backups(COMPARTMENT).data
    [created] = emulator.backups()  # the JSON the API answers with, None fields included
    attributes = oci.core.models.VolumeBackup().attribute_map
    assert set(attributes.values()) <= set(created)
    assert oci.util.to_dict(listed)["id"] == created["id"]
    assert created["sourceVolumeBackupId"] is None and created["sourceType"] == "MANUAL"


# ------------------------------------------------------------------ retention on create


def test_retention_fields_round_trip_on_create(emulator: BlockStorageEmulator, client: Any) -> None:
    from oci.core.models import CreateBootVolumeBackupDetails, RetentionDuration

    backup = _create(
        client,
        retention_period=RetentionDuration(retention_time_unit="DAYS", retention_time_amount=30),
        is_retention_lock_enabled=True,
        is_prevent_deletion_enabled=True,
    )
    assert backup.retention_period.retention_time_unit == "DAYS"
    assert backup.retention_period.retention_time_amount == 30
    assert backup.is_retention_lock_enabled and backup.is_prevent_deletion_enabled
    assert backup.is_indefinite_retention_enabled is False
    assert backup.time_retention_expires_at - backup.time_created == timedelta(days=30)
    fetched = client.get_volume_backup(backup.id).data
    assert fetched.time_retention_expires_at == backup.time_retention_expires_at

    boot = client.create_boot_volume_backup(
        CreateBootVolumeBackupDetails(
            boot_volume_id=BOOT_VOLUMES[0],
            retention_period=RetentionDuration(retention_time_unit="YEARS", retention_time_amount=2),
        )
    ).data
    assert boot.time_retention_expires_at.year == boot.time_created.year + 2
    plain = _create(client, VOLUMES[1])
    assert plain.retention_period is None and plain.time_retention_expires_at is None


def test_a_group_backup_and_its_members_carry_the_retention(emulator: BlockStorageEmulator, client: Any) -> None:
    from oci.core.models import CreateVolumeGroupBackupDetails, RetentionDuration

    group_backup = client.create_volume_group_backup(
        CreateVolumeGroupBackupDetails(
            volume_group_id=VOLUME_GROUP,
            retention_period=RetentionDuration(retention_time_unit="DAYS", retention_time_amount=7),
            is_retention_lock_enabled=True,
        )
    ).data
    assert group_backup.time_retention_expires_at - group_backup.time_created == timedelta(days=7)
    [member_id] = group_backup.volume_backup_ids
    member = client.get_volume_backup(member_id).data
    assert member.is_retention_lock_enabled and member.volume_group_backup_id == group_backup.id


def test_a_create_still_refuses_unknown_and_malformed_retention_fields(
    emulator: BlockStorageEmulator, signer: Any
) -> None:
    url = emulator.endpoint + "/20160918/volumeBackups"
    for extra in (
        {"sourceType": "SCHEDULED"},
        {"retentionPeriod": 1},
        {"retentionPeriod": {"retentionTimeUnit": "WEEKS", "retentionTimeAmount": 1}},
        {"retentionPeriod": {"retentionTimeUnit": "DAYS", "retentionTimeAmount": 0}},
        {"isRetentionLockEnabled": "yes"},
        {"isRetentionLockEnabled": True},  # a lock needs a period
    ):
        answer = _signed(signer, "POST", url, {"volumeId": VOLUMES[0], **extra})
        assert answer.status_code == 400 and answer.json()["code"] == "InvalidParameter", extra
    assert emulator.backups() == []


# ------------------------------------------------------------------ delete


def test_delete_terminates_a_backup_which_stays_listed(emulator: BlockStorageEmulator, client: Any) -> None:
    backup_id = emulator.add_backup(VOLUMES[0])
    response = client.delete_volume_backup(backup_id)
    assert response.status == 204 and response.request_id
    assert client.get_volume_backup(backup_id).data.lifecycle_state == "TERMINATED"
    terminated = _all(client.list_volume_backups, COMPARTMENT, lifecycle_state="TERMINATED")
    assert [backup.id for backup in terminated] == [backup_id]
    assert _refusal(lambda: client.delete_volume_backup(backup_id)) == (404, "NotAuthorizedOrNotFound")
    assert _refusal(lambda: client.delete_volume_backup("ocid1.volumebackup.oc1.iad.nosuch")) == (
        404,
        "NotAuthorizedOrNotFound",
    )
    boot_id = emulator.add_backup(BOOT_VOLUMES[0])
    assert _refusal(lambda: client.delete_volume_backup(boot_id)) == (404, "NotAuthorizedOrNotFound")
    assert client.delete_boot_volume_backup(boot_id).status == 204


def test_a_backup_in_progress_cannot_be_deleted_yet(emulator: BlockStorageEmulator, client: Any) -> None:
    emulator.in_progress_seconds = 60
    backup = _create(client)
    assert _refusal(lambda: client.delete_volume_backup(backup.id)) == (409, "IncorrectState")


def test_deleting_through_the_api_invalidates_the_retry_token(emulator: BlockStorageEmulator, client: Any) -> None:
    emulator.in_progress_seconds = 0
    backup = _create(client, token="lifecycle-token")
    assert _create(client, token="lifecycle-token").id == backup.id
    client.delete_volume_backup(backup.id)
    assert _refusal(lambda: _create(client, token="lifecycle-token")) == (409, "InvalidatedRetryToken")
    other = _create(client, VOLUMES[1], token="control-token")
    emulator.delete_backup(other.id)  # the test control forgets the backup altogether
    assert _refusal(lambda: _create(client, VOLUMES[1], token="control-token")) == (
        409,
        "InvalidatedRetryToken",
    )


def test_retention_refuses_deletion_until_its_period_runs_out(emulator: BlockStorageEmulator, client: Any) -> None:
    locked = emulator.add_backup(VOLUMES[0], retention_period=DAYS_30, is_retention_lock_enabled=True)
    prevented = emulator.add_backup(VOLUMES[1], retention_period=DAYS_30, is_prevent_deletion_enabled=True)
    switched = emulator.add_backup(VOLUMES[2], is_prevent_deletion_enabled=True)  # no period: until turned off
    held = emulator.add_backup(VOLUMES[0], is_indefinite_retention_enabled=True)
    unlocked = emulator.add_backup(VOLUMES[1], retention_period=DAYS_30)  # a period alone protects nothing
    for backup_id in (locked, prevented, switched, held):
        assert _refusal(partial(client.delete_volume_backup, backup_id)) == (409, "Conflict")
    assert client.delete_volume_backup(unlocked).status == 204

    emulator.advance(days=31)
    assert client.delete_volume_backup(locked).status == 204
    assert client.delete_volume_backup(prevented).status == 204
    for backup_id in (switched, held):
        assert _refusal(partial(client.delete_volume_backup, backup_id)) == (409, "Conflict")


# ------------------------------------------------------------------ update


def test_update_changes_names_tags_and_retention(emulator: BlockStorageEmulator, client: Any) -> None:
    from oci.core.models import RetentionDuration, UpdateBootVolumeBackupDetails, UpdateVolumeBackupDetails

    backup_id = emulator.add_backup(VOLUMES[0], display_name="before", time_created=_days_ago(1))
    updated = client.update_volume_backup(
        backup_id,
        UpdateVolumeBackupDetails(
            display_name="after",
            freeform_tags={"keep": "yes"},
            retention_period=RetentionDuration(retention_time_unit="DAYS", retention_time_amount=10),
            is_retention_lock_enabled=True,
        ),
    ).data
    assert updated.display_name == "after" and updated.freeform_tags == {"keep": "yes"}
    assert updated.is_retention_lock_enabled
    assert updated.time_retention_expires_at - updated.time_created == timedelta(days=10)
    assert client.get_volume_backup(backup_id).data.display_name == "after"

    boot_id = emulator.add_backup(BOOT_VOLUMES[0])
    boot = client.update_boot_volume_backup(boot_id, UpdateBootVolumeBackupDetails(display_name="boot-after")).data
    assert boot.display_name == "boot-after"


def test_a_locked_retention_cannot_be_shortened_or_unlocked(emulator: BlockStorageEmulator, client: Any) -> None:
    from oci.core.models import RetentionDuration, UpdateVolumeBackupDetails

    def days(amount: int) -> RetentionDuration:
        return RetentionDuration(retention_time_unit="DAYS", retention_time_amount=amount)

    backup_id = emulator.add_backup(VOLUMES[0], retention_period=DAYS_30, is_retention_lock_enabled=True)
    shorten = UpdateVolumeBackupDetails(retention_period=days(10))
    unlock = UpdateVolumeBackupDetails(is_retention_lock_enabled=False)
    assert _refusal(lambda: client.update_volume_backup(backup_id, shorten)) == (409, "Conflict")
    assert _refusal(lambda: client.update_volume_backup(backup_id, unlock)) == (409, "Conflict")
    longer = client.update_volume_backup(backup_id, UpdateVolumeBackupDetails(retention_period=days(60))).data
    assert longer.time_retention_expires_at - longer.time_created == timedelta(days=60)

    emulator.advance(days=61)  # the lock has run out: it may be removed
    assert client.update_volume_backup(backup_id, unlock).data.is_retention_lock_enabled is False
    free = emulator.add_backup(VOLUMES[1], retention_period=DAYS_30)
    assert client.update_volume_backup(free, shorten).data.retention_period.retention_time_amount == 10


def test_an_update_refuses_unknown_fields_and_terminated_backups(
    emulator: BlockStorageEmulator, client: Any, signer: Any
) -> None:
    from oci.core.models import UpdateVolumeBackupDetails

    backup_id = emulator.add_backup(VOLUMES[0])
    answer = _signed(signer, "PUT", f"{emulator.endpoint}/20160918/volumeBackups/{backup_id}", {"type": "FULL"})
    assert answer.status_code == 400 and answer.json()["code"] == "InvalidParameter"
    client.delete_volume_backup(backup_id)
    details = UpdateVolumeBackupDetails(display_name="x")
    assert _refusal(lambda: client.update_volume_backup(backup_id, details)) == (404, "NotAuthorizedOrNotFound")


# ------------------------------------------------------------------ cross-region copies


def test_a_copy_lands_in_the_peer_region_and_lists_by_its_source(
    emulator: BlockStorageEmulator, peer: BlockStorageEmulator, client: Any, peer_client: Any
) -> None:
    from oci.core.models import CopyBootVolumeBackupDetails, CopyVolumeBackupDetails

    emulator.copy_seconds = 0.3
    source_id = emulator.add_backup(VOLUMES[0], display_name="nightly", freeform_tags={"backup": "daily"})
    copy = client.copy_volume_backup(
        source_id, CopyVolumeBackupDetails(destination_region=PEER_REGION, display_name="nightly-dr")
    ).data
    assert ".phx." in copy.id and copy.lifecycle_state == "CREATING"
    assert copy.source_volume_backup_id == source_id and copy.source_type == "MANUAL"
    assert copy.volume_id == VOLUMES[0] and copy.freeform_tags == {"backup": "daily"}
    assert _refusal(lambda: client.get_volume_backup(copy.id)) == (404, "NotAuthorizedOrNotFound")

    listed = _all(peer_client.list_volume_backups, COMPARTMENT, source_volume_backup_id=source_id)
    assert [(backup.id, backup.display_name) for backup in listed] == [(copy.id, "nightly-dr")]
    assert _wait_until(lambda: peer_client.get_volume_backup(copy.id).data.lifecycle_state == "AVAILABLE")
    assert _all(client.list_volume_backups, COMPARTMENT, source_volume_backup_id=source_id) == []

    boot_id = emulator.add_backup(BOOT_VOLUMES[0])
    boot_copy = client.copy_boot_volume_backup(
        boot_id, CopyBootVolumeBackupDetails(destination_region=PEER_REGION)
    ).data
    listed_boot = _all(peer_client.list_boot_volume_backups, COMPARTMENT, source_boot_volume_backup_id=boot_id)
    assert [backup.id for backup in listed_boot] == [boot_copy.id]


def test_a_copy_keeps_retry_token_semantics(
    emulator: BlockStorageEmulator, peer: BlockStorageEmulator, client: Any
) -> None:
    from oci.core.models import CopyVolumeBackupDetails

    source_id = emulator.add_backup(VOLUMES[0])
    details = CopyVolumeBackupDetails(destination_region=PEER_REGION)
    first = client.copy_volume_backup(source_id, details, opc_retry_token="copy-1").data
    again = client.copy_volume_backup(source_id, details, opc_retry_token="copy-1").data
    assert again.id == first.id and len(peer.backups()) == 1
    renamed = CopyVolumeBackupDetails(destination_region=PEER_REGION, display_name="other")
    assert _refusal(lambda: client.copy_volume_backup(source_id, renamed, opc_retry_token="copy-1")) == (
        409,
        "Conflict",
    )


def test_a_copy_is_refused_for_a_source_not_available_or_an_unknown_region(
    emulator: BlockStorageEmulator, peer: BlockStorageEmulator, client: Any
) -> None:
    from oci.core.models import CopyVolumeBackupDetails

    to_peer = CopyVolumeBackupDetails(destination_region=PEER_REGION)
    emulator.in_progress_seconds = 60
    creating = _create(client)
    assert _refusal(lambda: client.copy_volume_backup(creating.id, to_peer)) == (409, "IncorrectState")
    source_id = emulator.add_backup(VOLUMES[1])
    for region in ("eu-frankfurt-1", emulator.region):
        details = CopyVolumeBackupDetails(destination_region=region)
        assert _refusal(partial(client.copy_volume_backup, source_id, details)) == (
            400,
            "InvalidParameter",
        )
    client.delete_volume_backup(source_id)
    assert _refusal(lambda: client.copy_volume_backup(source_id, to_peer)) == (404, "NotAuthorizedOrNotFound")
    assert peer.backups() == []


def test_copies_in_progress_are_limited_per_source_region(
    emulator: BlockStorageEmulator, peer: BlockStorageEmulator, client: Any
) -> None:
    from oci.core.models import CopyVolumeBackupDetails

    assert emulator.max_concurrent_copies == 10
    emulator.max_concurrent_copies = 2
    emulator.copy_seconds = 0.5
    sources = [emulator.add_backup(VOLUMES[n]) for n in range(3)]
    details = CopyVolumeBackupDetails(destination_region=PEER_REGION)
    client.copy_volume_backup(sources[0], details)
    client.copy_volume_backup(sources[1], details)
    assert _refusal(lambda: client.copy_volume_backup(sources[2], details)) == (429, "TooManyRequests")
    assert _wait_until(lambda: all(backup["lifecycleState"] == "AVAILABLE" for backup in peer.backups()))
    assert client.copy_volume_backup(sources[2], details).status == 200
    assert len(peer.backups()) == 3


# ------------------------------------------------------------------ seeding and time travel


def test_seeded_backups_and_a_clock_that_moves_forward(emulator: BlockStorageEmulator, client: Any) -> None:
    emulator.in_progress_seconds = 0
    expires = _days_ago(-5)
    scheduled = emulator.add_backup(
        VOLUMES[0], source_type="SCHEDULED", time_created=_days_ago(2), expiration_time=expires
    )
    copied = emulator.add_backup(VOLUMES[1], source_backup_id="ocid1.volumebackup.oc1.phx.elsewhere")
    gone = emulator.add_backup("ocid1.volume.oc1.iad.deletedvolume", display_name="orphan")
    policy = client.get_volume_backup(scheduled).data
    assert policy.source_type == "SCHEDULED" and abs(policy.expiration_time - expires) < timedelta(seconds=1)
    assert client.get_volume_backup(copied).data.source_volume_backup_id.endswith("elsewhere")
    assert client.get_volume_backup(gone).data.display_name == "orphan"

    before = _create(client).time_created
    emulator.advance(days=10)
    after = _create(client, VOLUMES[1]).time_created
    assert timedelta(days=10) <= after - before < timedelta(days=10, minutes=1)
    seeded_now = parse(emulator.backups()[-1]["timeCreated"])
    assert seeded_now > datetime.now(UTC) + timedelta(days=9)

    with pytest.raises(ValueError):
        emulator.add_backup(VOLUMES[0], source_type="COPY")
    with pytest.raises(ValueError):
        emulator.add_backup(VOLUMES[0], lifecycle_state="GONE")
    with pytest.raises(ValueError):
        emulator.add_backup(VOLUMES[0], is_retention_lock_enabled=True)  # a lock needs a period
    with pytest.raises(ValueError):
        emulator.advance(days=-1)
    emulator.reset()
    assert emulator.clock.offset == timedelta()


def test_a_seeded_backup_keeps_its_state_and_does_not_block_creates(
    emulator: BlockStorageEmulator, client: Any
) -> None:
    emulator.in_progress_seconds = 0
    creating = emulator.add_backup(VOLUMES[0], lifecycle_state="CREATING")
    faulty = emulator.add_backup(VOLUMES[0], lifecycle_state="FAULTY")
    assert client.get_volume_backup(creating).data.lifecycle_state == "CREATING"
    assert client.get_volume_backup(faulty).data.lifecycle_state == "FAULTY"
    assert _create(client).volume_id == VOLUMES[0]


# ------------------------------------------------------------------ backup-end events


def test_backup_end_events_announce_created_backups_once(emulator: BlockStorageEmulator, client: Any) -> None:
    from oci.core.models import CreateBootVolumeBackupDetails

    emulator.in_progress_seconds = 1.0
    heard: list[dict[str, Any]] = []
    emulator.on_backup_end(heard.append)
    emulator.add_backup(VOLUMES[1])  # seeded: not announced
    volume_backup = _create(client, display_name="nightly", freeform_tags={"backup": "daily"})
    boot_backup = client.create_boot_volume_backup(CreateBootVolumeBackupDetails(boot_volume_id=BOOT_VOLUMES[0])).data
    assert emulator.backup_end_events() == []

    found: list[dict[str, Any]] = []
    assert _wait_until(lambda: len(found.__iadd__(emulator.backup_end_events())) >= 2)
    assert emulator.backup_end_events() == []
    assert heard == found
    by_type = {event["eventType"]: event for event in found}
    volume_event = by_type["com.oraclecloud.blockvolumes.createvolumebackup.end"]
    boot_event = by_type["com.oraclecloud.blockvolumes.createbootvolumebackup.end"]
    real = json.loads((EVENTS / "event-backup-end.json").read_text())
    assert set(real) <= set(volume_event) and set(real["data"]) <= set(volume_event["data"])
    assert volume_event["cloudEventsVersion"] == "0.1" and volume_event["source"] == "BlockVolumes"
    assert volume_event["eventID"] != boot_event["eventID"]
    assert volume_event["data"]["resourceId"] == volume_backup.id
    assert volume_event["data"]["resourceName"] == "nightly"
    assert volume_event["data"]["compartmentId"] == COMPARTMENT == volume_event["extensions"]["compartmentId"]
    assert volume_event["data"]["freeformTags"] == {"backup": "daily"}
    assert volume_event["data"]["additionalDetails"] == {"volumeId": VOLUMES[0], "status": "operationSucceed"}
    assert boot_event["data"]["resourceId"] == boot_backup.id
    real_boot = json.loads((EVENTS / "event-bootbackup-end.json").read_text())
    assert set(real_boot["data"]["additionalDetails"]) == set(boot_event["data"]["additionalDetails"])
    assert boot_event["data"]["additionalDetails"] == {
        "volumeId": BOOT_VOLUMES[0],
        "sourceType": "MANUAL",
        "status": "operationSucceed",
    }
    parse(volume_event["eventTime"])


def test_the_stack_pump_delivers_backup_end_events(emulator: BlockStorageEmulator, client: Any) -> None:
    emulator.in_progress_seconds = 0.1
    delivered = threading.Event()
    heard: list[dict[str, Any]] = []

    def listener(event: dict[str, Any]) -> None:
        heard.append(event)
        delivered.set()

    emulator.on_backup_end(listener)
    with BackupEndPump(emulator, interval=0.02):
        backup = _create(client)
        assert delivered.wait(10)
    assert [event["data"]["resourceId"] for event in heard] == [backup.id]


# ------------------------------------------------------------------ group backups, boot copies, variants


def test_the_routing_table_serves_group_backup_deletion() -> None:
    route, params = match("DELETE", "/20160918/volumeGroupBackups/g")
    assert route.operation == "deleteVolumeGroupBackup" and params == {"volumeGroupBackupId": "g"}


def test_deleting_a_group_backup_deletes_its_members_and_a_lock_on_any_of_them_refuses_it(
    emulator: BlockStorageEmulator, client: Any
) -> None:
    emulator.in_progress_seconds = 0
    group_backup = emulator.add_group_backup(VOLUME_GROUP, freeform_tags={"team": "db"})
    locked = emulator.add_group_backup(
        VOLUME_GROUP, retention_period=DAYS_30, is_retention_lock_enabled=True, time_created=_days_ago(1)
    )
    members = client.get_volume_group_backup(group_backup).data.volume_backup_ids

    client.delete_volume_group_backup(group_backup)

    assert client.get_volume_group_backup(group_backup).data.lifecycle_state == "TERMINATED"
    assert [client.get_volume_backup(m).data.lifecycle_state for m in members] == ["TERMINATED"]
    assert _refusal(lambda: client.delete_volume_group_backup(group_backup)) == (404, "NotAuthorizedOrNotFound")
    assert _refusal(lambda: client.delete_volume_group_backup(locked)) == (409, "Conflict")
    emulator.variants.locked_delete_refusal = (403, "NotAllowed")
    assert _refusal(lambda: client.delete_volume_group_backup(locked)) == (403, "NotAllowed")
    listed = _all(client.list_volume_group_backups, COMPARTMENT, volume_group_id=VOLUME_GROUP)
    assert {b.id: b.lifecycle_state for b in listed} == {group_backup: "TERMINATED", locked: "AVAILABLE"}


@pytest.mark.parametrize("carry", [True, False])
def test_group_members_carry_the_group_backups_tags_as_the_variant_says(
    emulator: BlockStorageEmulator, client: Any, carry: bool
) -> None:
    from oci.core.models import CreateVolumeGroupBackupDetails

    emulator.variants.members_carry_group_tags = carry
    emulator.variants.members_announce_end = True
    emulator.variants.group_announces_end = True
    emulator.in_progress_seconds = 0
    made = client.create_volume_group_backup(
        CreateVolumeGroupBackupDetails(volume_group_id=VOLUME_GROUP, freeform_tags={"team": "db"})
    ).data
    [member] = made.volume_backup_ids
    assert client.get_volume_backup(member).data.freeform_tags == ({"team": "db"} if carry else {})
    events = {event["data"]["resourceId"]: event for event in emulator.backup_end_events()}
    assert events[member]["eventType"].endswith("createvolumebackup.end")
    group_event = events[made.id]
    assert group_event["eventType"] == "com.oraclecloud.blockvolumes.createvolumegroupbackup.end"
    assert group_event["data"]["additionalDetails"] == {"volumeGroupId": VOLUME_GROUP, "status": "operationSucceed"}


def test_boot_volume_backups_copy_one_at_a_time_and_only_for_platform_images(
    emulator: BlockStorageEmulator, peer: BlockStorageEmulator, client: Any
) -> None:
    from oci.core.models import CopyBootVolumeBackupDetails

    custom_boot = "ocid1.bootvolume.oc1.iad.abuwcljrbootvolumecustom0000000000000000000000000000000001"
    emulator.add_volume(custom_boot, boot=True, image_id="ocid1.image.oc1.iad.aaaaaaaacustom")
    emulator.copy_seconds = 60
    details = CopyBootVolumeBackupDetails(destination_region=PEER_REGION)
    first, second = (emulator.add_backup(BOOT_VOLUMES[0]) for _ in range(2))
    custom = emulator.add_backup(custom_boot)
    assert client.get_boot_volume_backup(first).data.image_id is not None

    client.copy_boot_volume_backup(first, details)

    assert _refusal(lambda: client.copy_boot_volume_backup(second, details)) == (429, "TooManyRequests")
    assert _refusal(lambda: client.copy_boot_volume_backup(custom, details)) == (400, "InvalidParameter")
    emulator.variants.copy_limit_refusal = (409, "Conflict")
    emulator.variants.boot_copy_refusal = (400, "NotAllowed")
    assert _refusal(lambda: client.copy_boot_volume_backup(second, details)) == (409, "Conflict")
    assert _refusal(lambda: client.copy_boot_volume_backup(custom, details)) == (400, "NotAllowed")
    emulator.platform_images.add("ocid1.image.oc1.iad.aaaaaaaacustom")  # a custom image built from a platform one
    assert client.copy_boot_volume_backup(custom, details).status == 200
    assert len(peer.backups()) == 2


@pytest.mark.parametrize(("volume_id", "source_type"), [(True, "MANUAL"), (False, "SCHEDULED"), (False, None)])
def test_what_a_copy_says_of_its_volume_and_source_type_follows_the_destinations_variants(
    emulator: BlockStorageEmulator,
    peer: BlockStorageEmulator,
    client: Any,
    peer_client: Any,
    volume_id: bool,
    source_type: str | None,
) -> None:
    from oci.core.models import CopyVolumeBackupDetails

    peer.variants.copy_volume_id = volume_id
    peer.variants.copy_source_type = source_type
    source_id = emulator.add_backup(VOLUMES[0])
    copy = client.copy_volume_backup(source_id, CopyVolumeBackupDetails(destination_region=PEER_REGION)).data

    assert copy.volume_id == (VOLUMES[0] if volume_id else None) and copy.source_type == source_type
    by_source = _all(peer_client.list_volume_backups, COMPARTMENT, source_volume_backup_id=source_id)
    by_volume = _all(peer_client.list_volume_backups, COMPARTMENT, volume_id=VOLUMES[0])
    assert [b.id for b in by_source] == [copy.id] and [b.id for b in by_volume] == ([copy.id] if volume_id else [])
    assert peer_client.get_volume_backup(copy.id).data.id == copy.id


def test_a_deletion_refused_for_a_lock_answers_as_the_variant_says(emulator: BlockStorageEmulator, client: Any) -> None:
    locked = emulator.add_backup(VOLUMES[0], retention_period=DAYS_30, is_retention_lock_enabled=True)
    for answer in ((409, "Conflict"), (400, "InvalidParameter"), (403, "NotAllowed")):
        emulator.variants.locked_delete_refusal = answer
        assert _refusal(lambda: client.delete_volume_backup(locked)) == answer


def test_a_retry_token_is_remembered_for_24_hours_of_the_emulators_clock(
    emulator: BlockStorageEmulator, client: Any
) -> None:
    emulator.in_progress_seconds = 0
    first = _create(client, token="daily-slot")
    emulator.advance(hours=23)
    assert _create(client, token="daily-slot").id == first.id
    emulator.advance(hours=1)
    assert _create(client, token="daily-slot").id != first.id

"""Restore tests end to end: schedule ticks restore backups into a sandbox, events and ticks settle them.

The loop runs as in a tenancy: a tick backs up and starts restores (CreateVolume / CreateBootVolume from
the newest AVAILABLE backup), the emulator provisions the test volume on its clock and announces
``createvolume.end`` (a boot volume only ``createbootvolume.begin``), the event or the next tick verifies
it, records the result on the source backup and deletes the test volume.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT, TENANCY
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform, Invocation
from localdev.samples import AD, BOOT_VOLUMES, SANDBOX, VOLUMES
from localdev.stack import LocalStack
from tests.conftest import ago, event_json

pytestmark = pytest.mark.e2e

IDENTITY = "backup-app/backup-handler"  # FN_APP_NAME/FN_FN_NAME as the platform model sets them
RESULT = "backup-restore-test"
STAMP = "backup-restore-test-of"
TICK = event_json("schedule.json")  # VOLUMES[0] and BOOT_VOLUMES[0]
NAMESPACE = "backup_handler"


def tick(*volume_ids: str) -> dict[str, Any]:
    volumes = [v for v in volume_ids if v.startswith("ocid1.volume.")]
    boots = [v for v in volume_ids if v.startswith("ocid1.bootvolume.")]
    body: dict[str, Any] = {"source": "schedule"}
    if volumes:
        body["volumeIds"] = volumes
    if boots:
        body["bootVolumeIds"] = boots
    return body


def section(answer: Invocation) -> dict[str, Any]:
    assert answer.status == 200, answer.body
    found: dict[str, Any] = answer.json()["restoreTests"]
    return found


def sandbox(emulator: BlockStorageEmulator) -> list[dict[str, Any]]:
    """Test volumes that exist (not being or already deleted)."""
    return [
        v
        for v in emulator.volumes()
        if v["compartmentId"] == SANDBOX and v["lifecycleState"] not in ("TERMINATING", "TERMINATED")
    ]


def volume(emulator: BlockStorageEmulator, volume_id: str) -> dict[str, Any]:
    [found] = [v for v in emulator.volumes() if v["id"] == volume_id]
    return found


def tag(emulator: BlockStorageEmulator, backup_id: str) -> str | None:
    [backup] = [b for b in emulator.backups() if b["id"] == backup_id]
    value: str | None = backup["freeformTags"].get(RESULT)
    return value


def backed_up(emulator: BlockStorageEmulator) -> set[str]:
    """Every volume a backup was asked for."""
    return {call.resource_id for call in emulator.calls if call.operation.endswith("Backup") and call.resource_id}


def stamp_time(days_ago: float) -> str:
    return ago(days_ago).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def restoring(start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator) -> Callable[..., FnPlatform]:
    """A function with restore tests into the sandbox; backups stay CREATING, so ticks test older ones."""
    emulator.in_progress_seconds = 3600

    def start(**env: str) -> FnPlatform:
        return start_platform(BACKUP_RESTORE_TEST_COMPARTMENT_ID=SANDBOX, **env)

    return start


# ---------------------------------------------------------------- starting


def test_a_tick_restores_the_newest_available_backup_of_each_volume_into_the_sandbox_with_the_stamp(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_RESTORE_TEST_MAX="2")
    emulator.add_backup(VOLUMES[0], time_created=ago(3))
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags={"owner": "dba"})  # a person's
    emulator.add_backup(VOLUMES[0], time_created=ago(0.5), lifecycle_state="CREATING")
    emulator.add_backup(VOLUMES[0], time_created=ago(0.4), lifecycle_state="FAULTY")
    boot = emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(2), source_type="SCHEDULED")  # a policy's

    answer = platform.invoke(TICK)

    started = {entry["volumeId"]: entry for entry in section(answer)["started"]}
    assert {v: e["backupId"] for v, e in started.items()} == {VOLUMES[0]: newest, BOOT_VOLUMES[0]: boot}
    for entry in started.values():
        test = volume(emulator, entry["testVolumeId"])
        assert test["compartmentId"] == SANDBOX and test["availabilityDomain"] == AD
        assert test["freeformTags"] == {STAMP: entry["backupId"], "backup-deployment": IDENTITY}
        assert test["sourceDetails"]["id"] == entry["backupId"]
        assert test["lifecycleState"] == "PROVISIONING"
    creates = [call for call in emulator.calls if call.operation in ("createVolume", "createBootVolume")]
    assert len(creates) == 2 and all(call.retry_token for call in creates)
    assert len(answer.json()["backups"]) == 2  # the tick's backups themselves are untouched


def test_a_restore_whose_answer_was_lost_is_not_made_twice(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    emulator.inject(Fault("createVolume", drop="after"))  # made, but the connection drops before the answer

    answer = platform.invoke(tick(VOLUMES[0]))

    [started] = section(answer)["started"]
    [test] = sandbox(emulator)
    assert started["testVolumeId"] == test["id"] and test["sourceDetails"]["id"] == backup
    tokens = {call.retry_token for call in emulator.calls if call.operation == "createVolume"}
    assert len(tokens) == 1 and len([c for c in emulator.calls if c.operation == "createVolume"]) == 2


# -------------------------------------------------------------- settling


def test_createvolume_end_verifies_records_the_result_on_the_backup_and_deletes_the_test_volume(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    [started] = section(platform.invoke(tick(VOLUMES[0])))["started"]
    emulator.advance(seconds=90)  # the restore takes a second of the emulator's clock
    [event] = emulator.volume_events()

    answer = platform.invoke(event)

    assert event["eventType"] == "com.oraclecloud.blockvolumes.createvolume.end"
    assert event["data"]["resourceId"] == started["testVolumeId"]
    tests = section(answer)
    [verified] = tests["verified"]
    assert (verified["testVolumeId"], verified["backupId"]) == (started["testVolumeId"], backup)
    assert 80 <= verified["seconds"] <= 120  # from its timeCreated to the event's time
    assert [entry["testVolumeId"] for entry in tests["cleaned"]] == [started["testVolumeId"]]
    assert re.fullmatch(rf"passed:\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ:{verified['seconds']}", tag(emulator, backup) or "")
    assert volume(emulator, started["testVolumeId"])["lifecycleState"] in ("TERMINATING", "TERMINATED")
    assert started["testVolumeId"] not in backed_up(emulator)
    assert answer.json()["backups"] == [] and answer.json()["skipped"][0]["resourceId"] == started["testVolumeId"]


def test_a_redelivered_createvolume_end_changes_nothing_more(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    section(platform.invoke(tick(VOLUMES[0])))
    emulator.advance(seconds=5)
    [event] = emulator.volume_events()
    first = section(platform.invoke(event))
    deletes = [call for call in emulator.calls if call.operation == "deleteVolume"]

    again = section(platform.invoke(event))

    assert first["verifiedCount"] == 1 and first["cleanedCount"] == 1
    assert again["verifiedCount"] == again["cleanedCount"] == again["failedCount"] == again["errorsCount"] == 0
    assert [call for call in emulator.calls if call.operation == "deleteVolume"] == deletes


def test_a_boot_volume_restore_is_verified_and_deleted_by_the_next_tick(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    backup = emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(2))
    [started] = section(platform.invoke(tick(BOOT_VOLUMES[0])))["started"]
    [begin] = emulator.volume_events()
    on_begin = platform.invoke(begin)
    emulator.advance(seconds=30)

    assert emulator.volume_events() == []  # Oracle's catalogue: no createbootvolume.end
    next_tick = section(platform.invoke(tick(BOOT_VOLUMES[0])))

    assert begin["eventType"] == "com.oraclecloud.blockvolumes.createbootvolume.begin"
    assert on_begin.status == 200 and on_begin.json()["backups"] == []
    assert [entry["testVolumeId"] for entry in next_tick["verified"]] == [started["testVolumeId"]]
    assert [entry["testVolumeId"] for entry in next_tick["cleaned"]] == [started["testVolumeId"]]
    assert next_tick["started"] == []  # tested now: not due again
    assert (tag(emulator, backup) or "").startswith("passed:")
    assert sandbox(emulator) == [] and started["testVolumeId"] not in backed_up(emulator)


def test_a_faulty_restore_is_reported_failed_recorded_and_deleted_with_its_metrics(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_METRICS_NAMESPACE=NAMESPACE, BACKUP_METRICS_COMPARTMENT_ID=COMPARTMENT)
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    emulator.fail_restores_of(backup)
    [started] = section(platform.invoke(tick(VOLUMES[0])))["started"]
    emulator.advance(seconds=5)
    [event] = emulator.volume_events()

    tests = section(platform.invoke(event))

    [failed] = tests["failed"]
    assert failed["testVolumeId"] == started["testVolumeId"] and "FAULTY" in failed["reason"]
    assert tests["verified"] == [] and tests["cleanedCount"] == 1
    assert (tag(emulator, backup) or "").startswith("failed:")
    assert sandbox(emulator) == []
    posted = {
        item["name"]: item["datapoints"] for item in emulator.metrics() if item["dimensions"]["trigger"] == "event"
    }
    assert posted["restore_tests_failed"][0]["value"] == 1.0
    assert "restore_test_seconds" not in posted  # nothing was verified


def test_restore_test_seconds_are_posted_for_a_verified_test(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_METRICS_NAMESPACE=NAMESPACE, BACKUP_METRICS_COMPARTMENT_ID=COMPARTMENT)
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    platform.invoke(tick(VOLUMES[0]))
    emulator.advance(seconds=42)
    [event] = emulator.volume_events()

    [verified] = section(platform.invoke(event))["verified"]

    posted = {
        item["name"]: item["datapoints"] for item in emulator.metrics() if item["dimensions"]["trigger"] == "event"
    }
    assert posted["restore_test_seconds"] == [
        {"timestamp": posted["restore_tests_failed"][0]["timestamp"], "value": float(verified["seconds"])}
    ]
    assert posted["restore_tests_failed"][0]["value"] == 0.0
    schedule = {item["name"] for item in emulator.metrics() if item["dimensions"]["trigger"] == "schedule"}
    assert "restore_tests_failed" in schedule  # every tick with restore tests posts it, 0 included


def test_a_restored_volume_of_another_size_than_its_backup_fails(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    [started] = section(platform.invoke(tick(VOLUMES[0])))["started"]
    emulator.state.backups.records[backup]["sizeInGBs"] = 200  # the backup says 200 GB; 100 were restored
    emulator.advance(seconds=5)
    [event] = emulator.volume_events()

    [failed] = section(platform.invoke(event))["failed"]

    assert failed["testVolumeId"] == started["testVolumeId"] and "200 GB" in failed["reason"]
    assert (tag(emulator, backup) or "").startswith("failed:")


def test_a_volume_still_hydrating_is_verified_only_once_hydrated(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    emulator.state.restores.hydrate_seconds = 600
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    [started] = section(platform.invoke(tick(VOLUMES[0])))["started"]
    emulator.advance(seconds=5)
    [event] = emulator.volume_events()

    early = section(platform.invoke(event))
    emulator.advance(seconds=600)
    later = section(platform.invoke(tick(VOLUMES[0])))

    assert early["verified"] == early["failed"] == [] and early["inProgress"] == 1
    assert [entry["testVolumeId"] for entry in later["verified"]] == [started["testVolumeId"]]
    assert (tag(emulator, backup) or "").startswith("passed:")


# ------------------------------------------------------------------- rules


def test_at_most_max_test_volumes_exist_at_once_and_every_volume_gets_its_turn(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_RESTORE_TEST_MAX="2")
    emulator.restore_seconds = 3600
    for volume_id in VOLUMES:
        emulator.add_backup(volume_id, time_created=ago(2))
    body = tick(*VOLUMES)
    tested: list[str] = []
    most = 0
    for _ in range(3):
        tests = section(platform.invoke(body))
        tested += [entry["volumeId"] for entry in tests["started"]]
        most = max(most, len(sandbox(emulator)))
        second = section(platform.invoke(body))  # the same slot again, restores still provisioning
        assert second["started"] == [] and second["inProgress"] == len(sandbox(emulator))
        emulator.advance(seconds=3600)  # they finish; the next tick settles them

    assert most == 2
    assert sorted(set(tested)) == sorted(VOLUMES) and len(tested) == len(VOLUMES)


def test_a_volume_passed_within_every_is_not_tested_and_one_passed_before_it_is(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_RESTORE_TEST_MAX="3", BACKUP_RESTORE_TEST_EVERY="7d")
    emulator.add_backup(VOLUMES[0], time_created=ago(2), freeform_tags={RESULT: f"passed:{stamp_time(1)}:30"})
    stale = emulator.add_backup(VOLUMES[1], time_created=ago(9), freeform_tags={RESULT: f"passed:{stamp_time(8)}:30"})
    failed = emulator.add_backup(VOLUMES[2], time_created=ago(2), freeform_tags={RESULT: f"failed:{stamp_time(1)}:30"})

    tests = section(platform.invoke(tick(*VOLUMES)))

    assert sorted(entry["backupId"] for entry in tests["started"]) == sorted([stale, failed])


def test_a_volume_never_tried_goes_before_one_that_failed_recently(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_RESTORE_TEST_MAX="1")
    emulator.add_backup(VOLUMES[0], time_created=ago(2), freeform_tags={RESULT: f"failed:{stamp_time(1)}:30"})
    never = emulator.add_backup(VOLUMES[1], time_created=ago(2))

    [started] = section(platform.invoke(tick(VOLUMES[0], VOLUMES[1])))["started"]

    assert started["backupId"] == never


def test_a_leftover_older_than_the_ttl_is_reported_failed_and_deleted(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_RESTORE_TEST_TTL="1h")
    emulator.restore_seconds = 10**7  # never finishes
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    emulator.add_backup(VOLUMES[1], time_created=ago(2), freeform_tags={RESULT: f"passed:{stamp_time(0)}:1"})
    [started] = section(platform.invoke(tick(VOLUMES[0])))["started"]
    emulator.advance(hours=2)

    # A later tick: its new backup is stamped by the service two hours on.
    tests = section(platform.invoke(tick(VOLUMES[1])))

    [failed] = tests["failed"]
    assert failed["testVolumeId"] == started["testVolumeId"] and "within 1h" in failed["reason"]
    assert [entry["testVolumeId"] for entry in tests["cleaned"]] == [started["testVolumeId"]]
    assert (tag(emulator, backup) or "").startswith("failed:")
    assert sandbox(emulator) == []


def test_when_the_sandbox_cannot_be_counted_no_test_is_started(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_MAX_ATTEMPTS="1")
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    emulator.inject(Fault("listVolumes", status=500))

    answer = platform.invoke(tick(VOLUMES[0]))

    tests = section(answer)
    assert tests["started"] == [] and tests["errors"][0]["resourceId"] == SANDBOX
    assert answer.json()["errors"] == []  # the backups' own status is untouched
    assert not any(call.operation == "createVolume" for call in emulator.calls)


def test_a_result_that_cannot_be_recorded_is_reported_and_the_test_volume_still_deleted(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    """Whether OCI lets a retention-locked backup's tags change is undocumented: a refusal loses no volume."""
    platform = restoring(BACKUP_MAX_ATTEMPTS="1", BACKUP_RESTORE_TEST_MAX="2")
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    full = emulator.add_backup(
        VOLUMES[1], time_created=ago(2), freeform_tags={f"k{n}": "v" for n in range(64)}
    )  # no room left for the result tag
    section(platform.invoke(tick(VOLUMES[0], VOLUMES[1])))
    emulator.advance(seconds=5)
    emulator.inject(Fault("updateVolumeBackup", status=409, code="Conflict"))

    answers = [section(platform.invoke(event)) for event in emulator.volume_events()]

    codes = sorted(error["code"] for tests in answers for error in tests["errors"])
    assert codes == ["Conflict", "TooManyTags"]
    assert sum(tests["verifiedCount"] for tests in answers) == 2
    assert sandbox(emulator) == []
    assert tag(emulator, backup) is None and tag(emulator, full) is None


# ------------------------------------------------------- never backed up


def test_the_volume_created_trigger_never_backs_up_a_volume_in_the_sandbox_or_with_the_stamp(
    restoring: Callable[..., FnPlatform], platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    configured = restoring()
    in_sandbox = "ocid1.volume.oc1.iad.abuwcljrsandboxvolume00000000000000000000000000000000000001"
    emulator.add_volume(in_sandbox, compartment_id=SANDBOX)
    bare = event_json("event-createvolume.json")
    bare["data"] = {"resourceId": in_sandbox, "compartmentId": SANDBOX}  # real events may omit tags
    by_extension = event_json("event-createvolume.json")
    by_extension["data"] = {"resourceId": in_sandbox}
    by_extension["extensions"] = {"compartmentId": SANDBOX}
    stamped = event_json("event-createvolume-restore-test.json")  # the sample: a test volume of this deployment
    stamped["extensions"] = {}
    stamped["data"]["compartmentId"] = COMPARTMENT  # only the stamp says so
    emulator.add_volume(stamped["data"]["resourceId"], compartment_id=COMPARTMENT)

    answers = [configured.invoke(bare), configured.invoke(by_extension), configured.invoke(stamped)]
    unconfigured = [platform.invoke(stamped), platform.invoke(event_json("event-createvolume-restore-test.json"))]

    for answer in [*answers, *unconfigured]:
        assert answer.status == 200 and answer.json()["backups"] == [], answer.body
        assert "never backed up" in answer.json()["skipped"][0]["reason"]
    assert backed_up(emulator) == set()
    assert [v["lifecycleState"] for v in emulator.volumes() if v["id"] == in_sandbox] == ["AVAILABLE"]


def test_an_attach_event_in_the_sandbox_compartment_still_backs_up_the_production_volume(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    """An attach event's compartment is the instance's: only events about the volume itself say where it is."""
    platform = restoring()
    attach = event_json("event-attachvolume.json")
    attach["data"]["compartmentId"] = SANDBOX
    attach["extensions"] = {"compartmentId": SANDBOX}

    answer = platform.invoke(attach)

    assert answer.status == 200 and len(answer.json()["backups"]) == 1


def test_a_selector_never_reaches_into_the_sandbox(
    stack: LocalStack, restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.add_compartment(COMPARTMENT, TENANCY, "backups")
    emulator.add_compartment(SANDBOX, COMPARTMENT, "restore-tests")
    in_sandbox = "ocid1.volume.oc1.iad.abuwcljrsandboxvolume00000000000000000000000000000000000002"
    emulator.add_volume(in_sandbox, compartment_id=SANDBOX, freeform_tags={"backup": "daily"})
    platform = restoring(BACKUP_IDENTITY_ENDPOINT=stack.emulator.endpoint)
    below = {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "daily"}, "includeSubcompartments": True}

    wide = platform.invoke({"source": "schedule", "selector": below})
    direct = platform.invoke({"source": "schedule", "selector": {**below, "compartmentId": SANDBOX}})

    assert wide.status == 200 and len(wide.json()["backups"]) >= 3
    assert direct.json()["code"] == "NoTargets"
    assert in_sandbox not in backed_up(emulator)


def test_a_manual_request_cannot_stamp_a_test_result_on_a_backup(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()

    answer = platform.invoke({"volumeId": VOLUMES[0], "freeformTags": {RESULT: f"passed:{stamp_time(0)}:1"}})

    assert answer.json()["code"] == "InvalidRequest" and emulator.creates() == []


def test_a_dry_run_answers_what_it_would_verify_and_delete_and_mutates_nothing(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    dry = restoring(BACKUP_DRY_RUN="true")
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    [started] = section(platform.invoke(tick(VOLUMES[0])))["started"]
    emulator.advance(seconds=5)
    [event] = emulator.volume_events()
    before = len(emulator.calls)

    answer = dry.invoke(event)

    tests = section(answer)
    assert answer.json()["dryRun"] is True
    assert [e["testVolumeId"] for e in tests["verified"]] == [e["testVolumeId"] for e in tests["cleaned"]]
    assert tests["cleaned"][0]["testVolumeId"] == started["testVolumeId"]
    assert [call.method for call in emulator.calls[before:] if call.method != "GET"] == []
    assert [v["id"] for v in sandbox(emulator)] == [started["testVolumeId"]]


def test_a_tick_without_restore_tests_configured_never_creates_a_volume(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.add_backup(VOLUMES[0], time_created=ago(2))

    answer = platform.invoke(TICK)

    assert answer.status == 200 and "restoreTests" not in answer.json()
    assert not any(call.operation in ("createVolume", "createBootVolume") for call in emulator.calls)


# ---------------------------------------------------------------- deadlines


def test_a_restore_held_past_the_deadline_leaves_the_ticks_answer_in_time_and_about_its_backups(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    hold = threading.Event()
    emulator.inject(Fault("createVolume", hold=hold))
    try:
        answer = platform.invoke(tick(VOLUMES[0]), deadline_seconds=4)
    finally:
        hold.set()

    assert answer.status == 200 and len(answer.json()["backups"]) == 1
    assert "restore tests were done" in answer.json()["message"]
    assert answer.json()["restoreTests"]["started"] == []


def test_a_test_volume_event_the_deadline_cuts_short_is_redelivered(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    platform.invoke(tick(VOLUMES[0]))
    emulator.advance(seconds=5)
    [event] = emulator.volume_events()
    hold = threading.Event()
    emulator.inject(Fault("getVolume", hold=hold))
    try:
        late = platform.invoke(event, deadline_seconds=3)
    finally:
        hold.set()
    again = platform.invoke(event)

    assert (late.status, late.platform_error) == (504, "FunctionInvokeTimeout")
    assert late.wait().status == 504
    assert section(again)["verifiedCount"] == 1 and sandbox(emulator) == []


def test_a_batch_a_tick_handed_on_starts_no_restore_test(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    """Batches run at once and would each count the same test volumes: only the tick's own invocation tests."""
    platform = restoring()
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    batch = {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20260101T000000Z/3600s",
        "idempotencyKey": "schedule:1767225600:3600",
        "timeLabel": "20260101T000000Z",
        "batch": 0,
        "type": "INCREMENTAL",
        "targets": [{"kind": "volume", "id": VOLUMES[0]}],
    }

    answer = platform.invoke(batch)

    assert answer.status == 200 and len(answer.json()["backups"]) == 1
    assert "restoreTests" not in answer.json()
    assert not any(call.operation in ("createVolume", "createBootVolume", "listVolumes") for call in emulator.calls)

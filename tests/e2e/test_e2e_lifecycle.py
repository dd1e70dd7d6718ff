"""Retention of the function's own backups, immutability, cross-region copies and dry run, end to end.

The loop runs as in a tenancy: a backup becomes AVAILABLE, the emulator announces its
``createvolumebackup.end`` event, the event is delivered to the function, which applies
retention and copies the backup to the peer region's emulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES
from tests.conftest import COPY_SUFFIX, OWN, PEER_REGION, ago, backup_end, event_json, states

pytestmark = pytest.mark.e2e


def test_keep_last_deletes_only_the_functions_own_available_backups_beyond_n(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(days), freeform_tags=OWN) for days in (5, 4, 3, 2, 1)]
    people = emulator.add_backup(VOLUMES[0], time_created=ago(30), freeform_tags={"owner": "dba"})
    policy = emulator.add_backup(VOLUMES[0], time_created=ago(30), source_type="SCHEDULED")
    locked = emulator.add_backup(
        VOLUMES[0],
        time_created=ago(20),
        freeform_tags=OWN,
        retention_period={"retentionTimeUnit": "DAYS", "retentionTimeAmount": 365},
        is_retention_lock_enabled=True,
    )
    creating = emulator.add_backup(VOLUMES[0], time_created=ago(10), freeform_tags=OWN, lifecycle_state="CREATING")
    copied_in = emulator.add_backup(  # a copy from another region, even with the function's tags
        VOLUMES[0], time_created=ago(25), freeform_tags=OWN, source_backup_id="ocid1.volumebackup.oc1.phx.elsewhere"
    )
    other_volume = emulator.add_backup(VOLUMES[1], time_created=ago(40), freeform_tags=OWN)

    answer = platform.invoke(backup_end(own[-1]))

    assert answer.status == 200
    deleted = {entry["backupId"] for entry in answer.json()["deleted"]}
    assert deleted == set(own[:3])
    after = states(emulator)
    assert [after[b] for b in own] == ["TERMINATED"] * 3 + ["AVAILABLE"] * 2
    for survivor in (people, policy, locked, other_volume, copied_in):
        assert after[survivor] == "AVAILABLE"
    assert after[creating] == "CREATING"
    assert emulator.creates() == []  # a backup event never starts a backup


def test_max_age_deletes_older_own_backups_but_never_the_newest_available_one(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_MAX_AGE_DAYS="3")
    recent = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (1, 2)]
    old = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (4, 6)]
    only_old = [emulator.add_backup(VOLUMES[1], time_created=ago(d), freeform_tags=OWN) for d in (10, 20)]

    first = platform.invoke(backup_end(recent[0])).json()
    second = platform.invoke(backup_end(only_old[0], VOLUMES[1])).json()

    assert {entry["backupId"] for entry in first["deleted"]} == set(old)
    assert [entry["backupId"] for entry in second["deleted"]] == [only_old[1]]  # the newest stays, however old
    assert states(emulator)[only_old[0]] == "AVAILABLE"
    assert all(states(emulator)[b] == "AVAILABLE" for b in recent)


def test_a_backup_event_for_a_backup_the_function_did_not_make_is_a_no_op(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    theirs = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags={"owner": "dba"}) for d in (1, 2, 3)]

    answer = platform.invoke(backup_end(theirs[0]))

    assert answer.status == 200 and answer.json()["deleted"] == []
    assert set(states(emulator).values()) == {"AVAILABLE"}


def test_a_redelivered_backup_end_event_deletes_nothing_more(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]

    first = platform.invoke(backup_end(own[-1])).json()
    again = platform.invoke(backup_end(own[-1]))

    assert len(first["deleted"]) == 2
    assert again.status == 200 and again.json()["deleted"] == []
    assert [states(emulator)[b] for b in own] == ["TERMINATED", "TERMINATED", "AVAILABLE"]


def test_immutability_comes_from_configuration_only(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_PERIOD_DAYS="30", BACKUP_RETENTION_LOCK="true")

    backup = platform.invoke({"volumeId": VOLUMES[0], "idempotencyKey": "locked-1"}).json()
    forged = platform.invoke({"volumeId": VOLUMES[1], "isRetentionLockEnabled": False}).json()

    assert backup["retentionPeriod"] == {"retentionTimeUnit": "DAYS", "retentionTimeAmount": 30}
    assert backup["isRetentionLockEnabled"] is True
    assert forged["code"] == "InvalidRequest"


def test_a_backup_is_copied_once_to_the_copy_region_and_a_redelivery_makes_no_second_copy(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    emulator.copy_seconds = 0.0
    platform = start_platform(BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint)
    made = platform.invoke({"volumeId": VOLUMES[0], "idempotencyKey": "copy-me"}).json()
    [event] = emulator.backup_end_events()

    first = platform.invoke(event)
    second = platform.invoke(event)

    assert event["data"]["resourceId"] == made["id"]
    assert first.status == 200 and [c["backupId"] for c in first.json()["copied"]] == [made["id"]]
    assert second.status == 200 and second.json()["copied"] == []
    [copy] = peer.backups()
    assert copy["sourceVolumeBackupId"] == made["id"]


def test_the_copy_limit_is_a_retryable_failure_then_the_redelivery_copies(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    emulator.copy_seconds = 0.0
    platform = start_platform(
        BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint, BACKUP_MAX_ATTEMPTS="1"
    )
    made = platform.invoke({"volumeId": VOLUMES[0], "idempotencyKey": "limited"}).json()
    [event] = emulator.backup_end_events()
    emulator.max_concurrent_copies = 0  # every copy slot taken

    refused = platform.invoke(event)
    emulator.max_concurrent_copies = 10
    redelivered = platform.invoke(event)

    assert (refused.status, refused.platform_error) == (502, "FunctionInvokeExecutionFailed")  # redeliver
    assert refused.wait().json()["lifecycleErrors"][0]["code"] == "TooManyRequests"
    assert [c["backupId"] for c in redelivered.json()["copied"]] == [made["id"]]
    assert len(peer.backups()) == 1


def test_retention_applies_to_copies_counting_copies_only(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    platform = start_platform(
        BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint, BACKUP_RETENTION_KEEP_LAST="1"
    )
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    copies = [
        peer.add_backup(
            VOLUMES[0],
            time_created=ago(d),
            freeform_tags=OWN,
            source_backup_id=f"{source}{d}",
            display_name=f"nightly-{d}{COPY_SUFFIX}",
        )
        for d in (3, 2)
    ]
    peer.add_backup(VOLUMES[0], time_created=ago(9), freeform_tags={"owner": "dba"})
    # A person's copy of one of the function's backups: same tags and a source, but not named as the function
    # names its copies.
    theirs = peer.add_backup(VOLUMES[0], time_created=ago(8), freeform_tags=OWN, source_backup_id=f"{source}x")
    emulator.copy_seconds = 0.0

    answer = platform.invoke(backup_end(source)).json()

    deleted = {(entry["backupId"], entry.get("region")) for entry in answer["deleted"]}
    assert (copies[0], PEER_REGION) in deleted
    assert {b["id"]: b["lifecycleState"] for b in peer.backups()}[copies[1]] in ("AVAILABLE", "TERMINATED")
    assert sum(1 for b in peer.backups() if (b.get("freeformTags") or {}).get("owner") == "dba") == 1
    assert {b["id"]: b["lifecycleState"] for b in peer.backups()}[theirs] == "AVAILABLE"


def test_a_dry_run_answers_what_it_would_do_and_calls_no_mutating_api(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_DRY_RUN="true")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (2, 1)]

    lifecycle = platform.invoke(backup_end(own[-1])).json()
    manual = platform.invoke({"volumeId": VOLUMES[1], "dryRun": True}).json()

    assert lifecycle["dryRun"] is True and [e["backupId"] for e in lifecycle["deleted"]] == [own[0]]
    assert manual["dryRun"] is True and manual["wouldCreate"][0]["body"]["volumeId"] == VOLUMES[1]
    mutating = [call for call in emulator.calls if call.method != "GET"]
    assert mutating == [] and set(states(emulator).values()) == {"AVAILABLE"}


def test_ten_days_of_daily_backups_with_keep_last_7_keep_seven_per_volume(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="7")
    alarm = event_json("alarm.json")
    alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": volume} for volume in VOLUMES]
    manual = platform.invoke({"volumeId": VOLUMES[0], "idempotencyKey": "before-upgrade"}).json()
    for day in range(10):
        emulator.advance(days=1)
        # One alarm a day naming every volume (each day's timestamp is its own idempotency key).
        daily = {**alarm, "timestampEpochMillis": alarm["timestampEpochMillis"] + day * 86_400_000}
        assert platform.invoke(daily).status == 200
        for event in emulator.backup_end_events():
            assert platform.invoke(event).status == 200

    available = [b for b in emulator.backups() if b["lifecycleState"] == "AVAILABLE"]
    automatic = [b for b in available if b["freeformTags"].get("backup-trigger") == "alarm"]
    assert len(automatic) == 7 * len(VOLUMES)
    assert manual["id"] in {b["id"] for b in available}  # a person's manual backup is never retention's to delete


def test_a_schedule_tick_catches_up_retention_for_the_volumes_it_backed_up(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")
    old = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    emulator.in_progress_seconds = 0.0  # the tick's own backup is AVAILABLE at once

    summary = platform.invoke({"source": "schedule", "volumeIds": [VOLUMES[0]]}, invoke_type="detached").wait().json()

    [made] = summary["backups"]
    assert {entry["backupId"] for entry in summary["deleted"]} == set(old[:2])
    assert states(emulator)[made["id"]] == "AVAILABLE" and states(emulator)[old[2]] == "AVAILABLE"


def test_pruning_copies_keeps_the_copies_of_the_newest_backups(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(
        BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint, BACKUP_RETENTION_KEEP_LAST="2"
    )
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]

    answer = platform.invoke(backup_end(own[-1])).json()

    assert [entry["backupId"] for entry in answer["deleted"]] == [own[0]]  # deleted first, so never copied
    copied_from = sorted(copy["sourceVolumeBackupId"] for copy in peer.backups())
    assert copied_from == sorted(own[1:])


def test_manual_backups_never_push_automatic_ones_out(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")
    scheduled = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (5, 4)]
    manual = {"backup-trigger": "manual", "backup-source": "someone"}
    theirs = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=manual) for d in (3, 2, 1)]

    answer = platform.invoke(backup_end(scheduled[-1])).json()

    assert answer["deleted"] == []
    assert all(states(emulator)[b] == "AVAILABLE" for b in (*scheduled, *theirs))


def test_a_delete_the_api_refuses_as_not_found_is_an_error_not_a_deletion(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_MAX_ATTEMPTS="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (2, 1)]
    emulator.inject(Fault("deleteVolumeBackup", status=404, code="NotAuthorizedOrNotFound"))

    answer = platform.invoke(backup_end(own[-1]))

    assert answer.status == 502  # a missing grant: redelivered, and visible
    document = answer.wait().json()
    assert document["deleted"] == [] and document["lifecycleErrors"][0]["code"] == "NotAuthorizedOrNotFound"


def test_slow_lifecycle_calls_never_hold_the_answer_past_the_deadline(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (2, 1)]
    emulator.inject(Fault("listVolumeBackups", latency=8.0))

    started = time.monotonic()
    answer = platform.invoke(backup_end(own[-1]), deadline_seconds=3)

    assert time.monotonic() - started < 3.5
    assert answer.status == 504  # redelivered: the next delivery finishes
    assert answer.wait().json()["message"].startswith("the deadline came")


def test_a_failing_copy_region_does_not_stop_retention_in_the_source_region(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(
        BACKUP_COPY_REGION=PEER_REGION,
        BACKUP_COPY_ENDPOINT="http://127.0.0.1:9",
        BACKUP_RETENTION_KEEP_LAST="1",
        BACKUP_MAX_ATTEMPTS="1",
    )
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (2, 1)]

    document = platform.invoke(backup_end(own[-1])).wait().json()

    assert [entry["backupId"] for entry in document["deleted"]] == [own[0]]
    assert document["lifecycleErrors"][0]["code"] == "NetworkError"


def test_a_backup_with_prevent_deletion_and_no_period_is_never_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    protected = emulator.add_backup(
        VOLUMES[0], time_created=ago(3), freeform_tags=OWN, is_prevent_deletion_enabled=True
    )
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)

    answer = platform.invoke(backup_end(newest)).json()

    assert answer["deleted"] == [] and states(emulator)[protected] == "AVAILABLE"

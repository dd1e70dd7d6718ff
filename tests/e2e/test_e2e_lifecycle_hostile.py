"""Hostile end-to-end checks of the backup lifecycle: retention and cross-region copies.

Forged backup-end events, backups the function did not make (with or without its tags), odd API
data, concurrent redeliveries, dry runs in every path, slow pages and deletions against the
deadline, and reporting that hangs. Each test guards a part of the lifecycle's contract that holds;
what does not hold is written up separately (the review's report), not asserted here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, VOLUMES
from tests.conftest import COPY_SUFFIX, OWN, OWN_BOOT, PEER_REGION, ago, backup_end, states

pytestmark = pytest.mark.e2e

# Deletion caps high enough not to be what a test of pages or deadlines meets first.
UNCAPPED = {"BACKUP_RETENTION_MAX_DELETES": "5000", "BACKUP_RETENTION_MAX_DELETES_PER_VOLUME": "5000"}


TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaalifecyclehostile0000000000000000000000000000000000000"
MUTATING = ("POST", "PUT", "DELETE")


def mutating(emulator: BlockStorageEmulator) -> list[str]:
    return [f"{call.method} {call.operation}" for call in emulator.calls if call.method in MUTATING]


# ------------------------------------------------------------ whose backups


def test_forged_backup_end_events_naming_backups_the_function_did_not_make_delete_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_MAX_AGE_DAYS="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (9, 8)]
    theirs = [
        emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags={"owner": "dba"}),
        emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN, source_type="SCHEDULED"),
        emulator.add_backup(  # copied in from elsewhere, with the function's tags
            VOLUMES[0], time_created=ago(1), freeform_tags=OWN, source_backup_id="ocid1.volumebackup.oc1.phx.x"
        ),
        emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags={**OWN, "backup-trigger": "cron"}),
        emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags={"backup-trigger": "schedule"}),
        emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags={"Backup-Trigger": "manual", "B": "x"}),
        emulator.add_backup(  # in another compartment, no tags
            VOLUMES[1], time_created=ago(1), compartment_id=COMPARTMENT.replace("local", "other")
        ),
    ]
    emulator.extra_backup_fields = {"freeformTags": ["backup-trigger", "backup-source"]}  # tags not a dict
    theirs.append(emulator.add_backup(VOLUMES[0], time_created=ago(1)))
    emulator.extra_backup_fields = {}

    for backup_id in theirs:
        forged = backup_end(backup_id, VOLUMES[0])
        forged["data"]["additionalDetails"] |= {"freeformTags": OWN, "sourceType": "MANUAL"}  # the body lies
        answer = platform.invoke(forged)
        assert answer.status == 200, answer.body
        assert answer.json()["deleted"] == [] and answer.json()["copied"] == []

    assert set(states(emulator).values()) == {"AVAILABLE"}
    assert [own[0], own[1]] == own and mutating(emulator) == []


def test_events_about_backups_that_are_not_a_successful_end_never_start_or_delete_backups(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    bodies = []
    for event_type in ("createvolumebackup.begin", "updatevolumebackup", "deletevolumebackup.end", "copyvolumebackup"):
        body = backup_end(own[-1])
        body["eventType"] = f"com.oraclecloud.blockvolumes.{event_type}"
        bodies.append(body)
    failed = backup_end(own[-1])
    failed["data"]["additionalDetails"]["status"] = "operationFailed"
    names_a_volume = backup_end(VOLUMES[0])  # a backup-end event whose resource is a volume
    unknown_backup = backup_end("ocid1.volumebackup.oc1.iad.doesnotexist00000000000000000000000000000000000000")
    bodies += [failed, names_a_volume, unknown_backup]

    answers = [platform.invoke(body) for body in bodies]

    for answer in answers:
        assert isinstance(answer.json(), dict)  # always a JSON document
    assert all(answer.status == 200 for answer in answers[:-1]), [a.body for a in answers]
    assert answers[-1].status >= 400 and "deleted" not in answers[-1].json()
    assert emulator.creates() == [] and mutating(emulator) == []
    assert set(states(emulator).values()) == {"AVAILABLE"}


def test_with_no_lifecycle_configured_a_backup_end_event_calls_no_api_at_all(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (300, 200, 1)]

    answer = platform.invoke(backup_end(own[-1]))

    assert answer.status == 200
    assert answer.json()["backups"] == [] and "deleted" not in answer.json()
    assert emulator.calls == [] and emulator.creates() == []
    assert set(states(emulator).values()) == {"AVAILABLE"}


# ------------------------------------------------------------ what retention keeps


def test_keep_last_counts_only_available_backups_and_spares_locked_ones(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")
    available = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (30, 20, 10)]
    newer = [
        emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN, lifecycle_state=state)
        for d, state in ((3, "FAULTY"), (2, "CREATING"), (1, "TERMINATED"), (0.5, "REQUEST_RECEIVED"))
    ]
    held = emulator.add_backup(
        VOLUMES[0], time_created=ago(40), freeform_tags=OWN, is_indefinite_retention_enabled=True
    )
    locked = emulator.add_backup(
        VOLUMES[0],
        time_created=ago(50),
        freeform_tags=OWN,
        retention_period={"retentionTimeUnit": "YEARS", "retentionTimeAmount": 1},
        is_retention_lock_enabled=True,
    )

    first = platform.invoke(backup_end(available[-1]))
    again = platform.invoke(backup_end(available[-1]))

    assert first.status == 200, first.body
    assert {entry["backupId"] for entry in first.json()["deleted"]} == {available[0]}
    assert again.status == 200 and again.json()["deleted"] == []  # a redelivery deletes nothing more
    after = states(emulator)
    assert [after[b] for b in available] == ["TERMINATED", "AVAILABLE", "AVAILABLE"]
    assert [after[b] for b in newer] == ["FAULTY", "CREATING", "TERMINATED", "REQUEST_RECEIVED"]
    assert after[held] == after[locked] == "AVAILABLE"


def test_max_age_never_deletes_the_newest_available_backup_whatever_is_newer_but_not_available(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_MAX_AGE_DAYS="1", BACKUP_RETENTION_KEEP_LAST="1")
    old = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (90, 60)]
    for d, state in ((2, "FAULTY"), (1, "CREATING")):
        emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN, lifecycle_state=state)

    answer = platform.invoke(backup_end(old[-1]))

    assert [entry["backupId"] for entry in answer.json()["deleted"]] == [old[0]]
    assert states(emulator)[old[1]] == "AVAILABLE"


def test_odd_api_data_never_gets_a_backup_deleted_nor_breaks_the_answer(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_MAX_AGE_DAYS="1")
    odd = []
    for fields in (
        {"timeCreated": "yesterday-ish"},
        {"timeCreated": None},
        {"timeCreated": 1700000000},
        {"freeformTags": "backup-trigger=schedule"},
        {"freeformTags": None},
        {"sourceType": None},
    ):
        emulator.extra_backup_fields = fields
        odd.append(emulator.add_backup(VOLUMES[0], time_created=ago(100), freeform_tags=OWN))
    emulator.extra_backup_fields = {}
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)

    answers = [platform.invoke(backup_end(backup_id)) for backup_id in [*odd, newest]]

    for answer in answers:
        assert answer.status == 200, answer.body
    after = states(emulator)
    assert all(after[b] == "AVAILABLE" for b in odd[:5]) and after[newest] == "AVAILABLE"
    # a backup with no sourceType is taken as MANUAL (as the API's older versions show one): it may go
    assert after[odd[5]] in ("AVAILABLE", "TERMINATED")


def test_boot_volume_backup_events_apply_retention_to_boot_volume_backups_only(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    boot = [emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(d), freeform_tags=OWN_BOOT) for d in (3, 2, 1)]
    volume = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2)]
    theirs = emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(9), freeform_tags={"owner": "ops"})

    answer = platform.invoke(backup_end(boot[-1], BOOT_VOLUMES[0], boot=True))
    mislabelled = platform.invoke(backup_end(boot[-1], BOOT_VOLUMES[0]))  # a volume-backup event type

    assert answer.status == 200 and {e["backupId"] for e in answer.json()["deleted"]} == set(boot[:2])
    assert mislabelled.status == 200 and mislabelled.json()["deleted"] == []
    after = states(emulator)
    assert after[boot[-1]] == after[theirs] == "AVAILABLE"
    assert [after[b] for b in volume] == ["AVAILABLE", "AVAILABLE"]
    assert emulator.creates() == []


def test_a_newest_backup_on_the_second_list_page_is_kept_and_older_ones_on_the_first_go(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", **UNCAPPED)
    own = [
        emulator.add_backup(VOLUMES[0], time_created=ago(2000 - n) - timedelta(hours=1), freeform_tags=OWN)
        for n in range(1050)
    ]  # oldest first: the newest is past the first page of 1,000

    answer = platform.invoke(backup_end(own[-1]), deadline_seconds=40)

    assert answer.status == 200, answer.body[:500]
    assert answer.json()["deletedCount"] == 1049 and len(answer.json()["deleted"]) == 100  # listed up to 100
    after = states(emulator)
    assert after[own[-1]] == "AVAILABLE" and sum(after[b] == "TERMINATED" for b in own) == 1049
    lists = [call for call in emulator.calls if call.operation == "listVolumeBackups"]
    assert len(lists) == 2


# ------------------------------------------------------------ deadlines and redelivery


def test_many_slow_deletions_answer_before_the_deadline_and_a_redelivery_finishes(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", **UNCAPPED)
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(300 - n), freeform_tags=OWN) for n in range(120)]
    emulator.latency_seconds = 0.05  # 120 deletions take 6 s: more than the deadline allows

    started = time.monotonic()
    late = platform.invoke(backup_end(own[-1]), deadline_seconds=3)
    took = time.monotonic() - started
    emulator.latency_seconds = 0.0
    finish = platform.invoke(backup_end(own[-1]), deadline_seconds=30)

    assert late.container_seconds is not None and late.container_seconds < 3, late.container_seconds
    # Out of time either between deletions (502, DeadlineExceeded) or during one (504): a redelivery finishes.
    assert took < 3.5 and late.status in (502, 504), late.body
    document = late.wait().json()
    assert 0 < document["deletedCount"] < 119
    assert finish.status == 200
    assert document["deletedCount"] + finish.json()["deletedCount"] == 119
    assert states(emulator)[own[-1]] == "AVAILABLE"


def test_two_deliveries_of_the_same_event_at_once_make_one_copy(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 5.0
    platform = start_platform(BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint)
    backup_id = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    # both deliveries find no copy yet: the second copy call waits until the first has answered
    peer.inject(Fault("listVolumeBackups", latency=0.5), Fault("listVolumeBackups", latency=0.5))

    first = platform.invoke(backup_end(backup_id), invoke_type="detached")
    second = platform.invoke(backup_end(backup_id), invoke_type="detached")
    answers = [first.wait(), second.wait()]

    assert [answer.status for answer in answers] == [200, 200], [a.body for a in answers]
    assert len(peer.backups()) == 1
    copies = [call for call in emulator.calls if call.operation == "copyVolumeBackup"]
    assert len({call.retry_token for call in copies}) == 1  # the same token: the service answers the first copy


# ------------------------------------------------------------ dry run


def test_a_dry_run_calls_no_mutating_api_in_any_path(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(
        BACKUP_DRY_RUN="true",
        BACKUP_RETENTION_KEEP_LAST="1",
        BACKUP_RETENTION_MAX_AGE_DAYS="1",
        BACKUP_COPY_REGION=PEER_REGION,
        BACKUP_COPY_ENDPOINT=peer.endpoint,
    )
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    for source, days in ((own[0], 5), (own[1], 4)):  # copies the function made (its copies' name)
        peer.add_backup(
            VOLUMES[0],
            time_created=ago(days),
            freeform_tags=OWN,
            source_backup_id=source,
            display_name=f"n{COPY_SUFFIX}",
        )

    event = platform.invoke(backup_end(own[-1])).json()
    forced = backup_end(own[-1])
    forced["dryRun"] = False  # a body cannot turn the configured dry run off
    forced_answer = platform.invoke(forced).json()
    tick = platform.invoke({"source": "schedule", "volumeIds": [VOLUMES[0]]}, invoke_type="detached").wait()
    manual = platform.invoke({"volumeId": VOLUMES[0], "idempotencyKey": "dry"}).json()
    selector = platform.invoke(
        {"source": "schedule", "selector": {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "daily"}}},
        invoke_type="detached",
    ).wait()

    assert event["dryRun"] is True
    assert {e["backupId"] for e in event["deleted"] if "region" not in e} == set(own[:2])
    assert [e.get("region") for e in event["deleted"] if "region" in e] == [PEER_REGION]  # the older copy
    assert [c["backupId"] for c in event["copied"]] == [own[2]] and event["copied"][0]["copyId"] is None
    assert forced_answer["dryRun"] is True
    assert tick.status == 200 and manual["dryRun"] is True and selector.status in (200, 404)
    assert mutating(emulator) == [] and mutating(peer) == []
    assert set(states(emulator).values()) == {"AVAILABLE"} and set(states(peer).values()) == {"AVAILABLE"}


def test_a_dry_run_asked_for_in_the_event_body_calls_no_mutating_api(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    body = backup_end(own[-1])
    body["dryRun"] = True

    answer = platform.invoke(body).json()

    assert answer["dryRun"] is True and len(answer["deleted"]) == 2
    assert mutating(emulator) == [] and set(states(emulator).values()) == {"AVAILABLE"}


# ------------------------------------------------------------ reporting


def test_hanging_metrics_and_notifications_neither_change_nor_delay_a_lifecycle_answer(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.add_topic(TOPIC)
    platform = start_platform(
        BACKUP_RETENTION_KEEP_LAST="1",
        BACKUP_METRICS_NAMESPACE="backup_handler",
        BACKUP_METRICS_COMPARTMENT_ID=COMPARTMENT,
        BACKUP_NOTIFY_TOPIC_ID=TOPIC,
        BACKUP_REPORT_BUDGET_SECONDS="1",
    )
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    hold = threading.Event()
    emulator.inject(
        Fault("deleteVolumeBackup", status=409, code="Conflict"),
        Fault("postMetricData", hold=hold),
        Fault("publishMessage", hold=hold),
    )
    try:
        answer = platform.invoke(backup_end(own[-1]), deadline_seconds=6)
    finally:
        hold.set()

    assert answer.container_seconds is not None and answer.container_seconds < 5
    document = answer.wait().json()
    # a refusal no redelivery can fix: the Events service is given 200, the document says what failed
    assert answer.status == 200 and document["lifecycleErrors"][0]["code"] == "Conflict"
    assert len(document["deleted"]) == 1  # the other deletion went ahead
    assert states(emulator)[own[-1]] == "AVAILABLE"


# ------------------------------------------------------------------ ownership, probed


def test_backups_that_miss_one_ownership_condition_are_never_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    no_kind = {k: v for k, v in OWN.items() if k != "backup-kind"}
    odd = [
        emulator.add_backup(VOLUMES[0], time_created=ago(9), freeform_tags=no_kind),
        emulator.add_backup(VOLUMES[0], time_created=ago(8), freeform_tags={**OWN, "backup-kind": "bootVolume"}),
        emulator.add_backup(VOLUMES[0], time_created=ago(7), freeform_tags={**OWN, "backup-kind": "volumeGroup"}),
        emulator.add_backup(VOLUMES[0], time_created=ago(6), freeform_tags={**OWN, "backup-deployment": ""}),
    ]
    emulator.extra_backup_fields = {"volumeGroupBackupId": "ocid1.volumegroupbackup.oc1.iad.somegroup"}
    odd.append(emulator.add_backup(VOLUMES[0], time_created=ago(5), freeform_tags=OWN))  # a member, tags and all
    emulator.extra_backup_fields = {}
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)

    document = platform.invoke(backup_end(newest)).json()

    assert document["deleted"] == [] and document["memberBackups"] == 2 and document["foreignOwnBackups"] == 1
    assert all(states(emulator)[b] == "AVAILABLE" for b in odd) and mutating(emulator) == []


def test_a_forged_group_backup_event_naming_another_deployments_group_deletes_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    from localdev.samples import VOLUME_GROUP
    from tests.conftest import OWN_GROUP

    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    foreign = {**OWN_GROUP, "backup-deployment": "other/backup-handler"}
    groups = [emulator.add_group_backup(VOLUME_GROUP, time_created=ago(d), freeform_tags=foreign) for d in (3, 2, 1)]
    event = backup_end(groups[-1])
    event["eventType"] = "com.oraclecloud.blockvolumes.createvolumegroupbackup.end"

    answer = platform.invoke(event)

    assert answer.status == 200 and answer.json()["deleted"] == [] and answer.json()["foreignOwnBackups"] == 1
    assert mutating(emulator) == []


def test_copies_with_this_deployments_name_but_a_source_of_another_kind_are_never_pruned(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(
        BACKUP_RETENTION_KEEP_LAST="1", BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint
    )
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    junk = [
        peer.add_backup(
            VOLUMES[0], time_created=ago(5 + n), freeform_tags=OWN, source_backup_id=bad, display_name=f"x{COPY_SUFFIX}"
        )
        for n, bad in enumerate(["ocid1.bootvolumebackup.oc1.iad.a", "not-an-ocid"])
    ]

    document = platform.invoke(backup_end(source)).json()

    assert [c["backupId"] for c in document["copied"]] == [source] and document["deleted"] == []
    assert all({b["id"]: b["lifecycleState"] for b in peer.backups()}[j] == "AVAILABLE" for j in junk)


def test_a_copy_turning_faulty_again_and_again_is_made_again_each_time_with_a_new_token(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint)
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    made = []
    for _ in range(3):
        [copied] = platform.invoke(backup_end(source)).json()["copied"]
        made.append(copied["copyId"])
        peer.terminate(copied["copyId"], "FAULTY")

    assert len(set(made)) == 3
    tokens = [call.retry_token for call in emulator.calls if call.operation == "copyVolumeBackup"]
    assert len(set(tokens)) == 3


def test_a_schedule_dry_run_naming_a_volume_that_does_not_exist_previews_the_rest(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (2, 1)]
    ghost = "ocid1.volume.oc1.iad.abuwcljrghost0000000000000000000000000000000000000000000001"

    answer = platform.invoke(
        {"source": "schedule", "volumeIds": [ghost, VOLUMES[0]], "dryRun": True}, invoke_type="detached"
    ).wait()

    document = answer.json()
    assert answer.status == 200 and [e["backupId"] for e in document["deleted"]] == [own[0]]
    assert [e["resourceId"] for e in document["lifecycleErrors"]] == [ghost]
    assert mutating(emulator) == []

"""Whose backups retention may delete, end to end: a deployment's own only, group backups as units.

Two deployments of the function (two applications, one hourly with keep-last 1 and one daily with
keep-last 3) see every backup-end event in the compartment, as two Events rules would deliver
them; each acts on its own backups only. Backups carrying the function's tags without this
deployment's identity (an older version, a renamed application, a person) are counted and left
alone; list pages that lie are re-checked; a 404 from a deletion another container already made
is not a failure; volume group backups are kept and deleted as units.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import VOLUME_GROUP, VOLUMES
from tests.conftest import DEPLOYMENT, OWN, OWN_GROUP, ago, backup_end, event_json, states

pytestmark = pytest.mark.e2e

LEGACY = {"backup-trigger": "schedule", "backup-source": "20250101T000000Z/3600s"}
"""What an earlier version of the function stamped: no deployment identity."""


def tick(platform: FnPlatform, body: dict[str, Any]) -> dict[str, Any]:
    answer = platform.invoke({"source": "schedule", **body}, invoke_type="detached", deadline_seconds=60).wait()
    document = answer.json()
    assert isinstance(document, dict)
    return document


# ------------------------------------------------------------------ identity


def test_every_backup_carries_the_deployment_identity_from_the_platform_or_the_configuration(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    default = start_platform()
    configured = start_platform(BACKUP_DEPLOYMENT_ID="prod-backups")
    restarted = start_platform()  # a redeploy: a new container of the same application and function

    first = default.invoke({"volumeId": VOLUMES[0], "idempotencyKey": "id-1"}).json()
    second = configured.invoke({"volumeId": VOLUMES[1], "idempotencyKey": "id-2"}).json()
    third = restarted.invoke({"volumeId": VOLUMES[2], "idempotencyKey": "id-3"}).json()

    assert first["freeformTags"]["backup-deployment"] == DEPLOYMENT == "backup-app/backup-handler"
    assert third["freeformTags"]["backup-deployment"] == DEPLOYMENT
    assert second["freeformTags"]["backup-deployment"] == "prod-backups"
    assert first["freeformTags"]["backup-kind"] == "volume"


def test_without_a_deployment_identity_the_lifecycle_refuses_to_run_and_deletes_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(FN_APP_NAME="", FN_FN_NAME="", BACKUP_RETENTION_KEEP_LAST="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]

    document = platform.invoke(backup_end(own[-1])).wait().json()

    assert document["deleted"] == [] and document["lifecycleErrors"][0]["code"] == "ConfigurationError"
    assert "BACKUP_DEPLOYMENT_ID" in document["lifecycleErrors"][0]["message"]
    assert set(states(emulator).values()) == {"AVAILABLE"}
    assert [call for call in emulator.calls if call.method != "GET"] == []


def test_two_deployments_on_the_same_volumes_each_keep_exactly_their_own_newest(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    hourly = start_platform(FN_APP_NAME="hourly", BACKUP_RETENTION_KEEP_LAST="1")
    daily = start_platform(FN_APP_NAME="daily", BACKUP_RETENTION_KEEP_LAST="3")
    person = emulator.add_backup(VOLUMES[0], time_created=ago(40), freeform_tags={"owner": "dba"})
    policy = emulator.add_backup(VOLUMES[0], time_created=ago(40), source_type="SCHEDULED")
    alarm = event_json("alarm.json")
    alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": VOLUMES[0]}]
    made: dict[str, list[str]] = {"hourly": [], "daily": []}
    for round_ in range(4):
        for offset, (name, platform) in enumerate((("hourly", hourly), ("daily", daily))):
            emulator.advance(hours=1)
            fired = {**alarm, "timestampEpochMillis": alarm["timestampEpochMillis"] + (round_ * 2 + offset) * 3_600_000}
            made[name] += [backup["id"] for backup in platform.invoke(fired).json()["backups"]]
        for event in emulator.backup_end_events():  # each deployment's rule delivers every backup-end event
            assert hourly.invoke(event).status == 200
            assert daily.invoke(event).status == 200
        assert len(made["hourly"]) == len(made["daily"]) == round_ + 1

    after = states(emulator)
    assert [after[b] for b in made["hourly"]] == ["TERMINATED"] * 3 + ["AVAILABLE"]
    assert [after[b] for b in made["daily"]] == ["TERMINATED"] + ["AVAILABLE"] * 3
    assert after[person] == after[policy] == "AVAILABLE"


def test_one_alarm_reaching_two_deployments_makes_one_backup_for_each_not_one_they_share(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    hourly = start_platform(FN_APP_NAME="hourly")
    daily = start_platform(FN_APP_NAME="daily")
    alarm = event_json("alarm.json")
    alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": VOLUMES[0]}]

    [first] = hourly.invoke(alarm).json()["backups"]
    [second] = daily.invoke(alarm).json()["backups"]
    again = hourly.invoke(alarm).json()["backups"]  # a redelivery still answers the first backup

    assert first["id"] != second["id"] and [b["id"] for b in again] == [first["id"]]
    assert first["freeformTags"]["backup-deployment"] == "hourly/backup-handler"
    assert second["freeformTags"]["backup-deployment"] == "daily/backup-handler"


def test_backups_with_the_functions_tags_but_no_identity_are_counted_logged_and_never_touched(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    legacy = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=LEGACY) for d in (30, 20, 10)]
    renamed = emulator.add_backup(
        VOLUMES[0], time_created=ago(5), freeform_tags={**OWN, "backup-deployment": "old-app/backup-handler"}
    )
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 1)]

    document = platform.invoke(backup_end(own[-1])).json()
    forged = platform.invoke(backup_end(legacy[0])).json()  # an event naming a foreign backup: a no-op

    assert [entry["backupId"] for entry in document["deleted"]] == [own[0]]
    assert document["foreignOwnBackups"] == 4 and forged["foreignOwnBackups"] == 1 and forged["deleted"] == []
    after = states(emulator)
    assert all(after[b] == "AVAILABLE" for b in (*legacy, renamed, own[1]))
    lines = [json.loads(line[line.index("{") :]) for line in platform.function.log().splitlines() if "{" in line]
    warned = [line for line in lines if line.get("event") == "foreign-backups"]
    assert warned and warned[0]["count"] == 4 and "old-app/backup-handler" in warned[0]["identities"]


def test_a_persons_backup_with_the_functions_tags_or_its_copy_named_like_a_copy_is_never_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    from tests.conftest import COPY_SUFFIX, PEER_REGION

    emulator.copy_seconds = 0.0
    platform = start_platform(
        BACKUP_RETENTION_KEEP_LAST="1", BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint
    )
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (4, 1)]
    # A person's own backup of the volume, tagged with the function's trigger and source tags.
    theirs = emulator.add_backup(VOLUMES[0], time_created=ago(3), freeform_tags=LEGACY)
    copies = {
        # a person's copy of the function's backup: the source's tags, the old-style name
        "person": peer.add_backup(
            VOLUMES[0], time_created=ago(3), freeform_tags=OWN, source_backup_id=own[0], display_name="n (copy)"
        ),
        # another deployment's copy: its identity and its own copy mark
        "other": peer.add_backup(
            VOLUMES[0],
            time_created=ago(3),
            freeform_tags={**OWN, "backup-deployment": "daily/backup-handler"},
            source_backup_id=own[0],
            display_name="n (copy 0123abcd)",
        ),
        # this deployment's copy of the newest backup: kept
        "newest": peer.add_backup(
            VOLUMES[0], time_created=ago(1), freeform_tags=OWN, source_backup_id=own[1], display_name=f"m{COPY_SUFFIX}"
        ),
        # this deployment's copy of the older backup: pruned
        "ours": peer.add_backup(
            VOLUMES[0], time_created=ago(3), freeform_tags=OWN, source_backup_id=own[0], display_name=f"n{COPY_SUFFIX}"
        ),
    }

    document = platform.invoke(backup_end(own[-1])).json()

    deleted = {entry["backupId"] for entry in document["deleted"]}
    assert copies["ours"] in deleted and copies["person"] not in deleted and copies["other"] not in deleted
    on_peer = {backup["id"]: backup["lifecycleState"] for backup in peer.backups()}
    assert on_peer[copies["person"]] == on_peer[copies["other"]] == "AVAILABLE"
    assert on_peer[copies["ours"]] == "TERMINATED" and on_peer[copies["newest"]] == "AVAILABLE"
    assert document["copied"] == []  # the newest backup has its copy already
    assert states(emulator)[theirs] == "AVAILABLE"


# ------------------------------------------------------------------ lists and races


def test_a_list_page_holding_another_volumes_backups_never_gets_them_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    others = [emulator.add_backup(VOLUMES[1], time_created=ago(d), freeform_tags=OWN) for d in (9, 8, 7)]
    listed = {backup["id"]: backup for backup in emulator.backups()}
    page = [listed[newest], *(listed[b] for b in others)]  # the volumeId filter, ignored by the service
    emulator.inject(Fault("listVolumeBackups", body=json.dumps(page).encode()))

    document = platform.invoke(backup_end(newest)).json()

    assert document["deleted"] == []
    assert set(states(emulator).values()) == {"AVAILABLE"}


def test_a_backup_listed_twice_does_not_push_a_kept_backup_out(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    listed = {backup["id"]: backup for backup in emulator.backups()}
    page = [listed[own[2]], listed[own[2]], listed[own[1]], listed[own[0]]]  # the newest, twice
    emulator.inject(Fault("listVolumeBackups", body=json.dumps(page).encode()))

    document = platform.invoke(backup_end(own[-1])).json()

    assert [entry["backupId"] for entry in document["deleted"]] == [own[0]]
    assert [states(emulator)[b] for b in own] == ["TERMINATED", "AVAILABLE", "AVAILABLE"]


def test_prevent_deletion_is_honoured_after_the_retention_period_too(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    protected = emulator.add_backup(
        VOLUMES[0],
        time_created=ago(40),
        freeform_tags=OWN,
        retention_period={"retentionTimeUnit": "DAYS", "retentionTimeAmount": 30},  # ran out 10 days ago
        is_prevent_deletion_enabled=True,
    )
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)

    document = platform.invoke(backup_end(newest)).json()

    assert document["deleted"] == [] and document["keptByProtection"] == 1
    assert states(emulator)[protected] == "AVAILABLE"
    assert [call for call in emulator.calls if call.method == "DELETE"] == []


def test_two_containers_on_one_backup_end_event_the_slower_counts_the_deletion_as_already_done(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    first = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    second = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (2, 1)]
    held = threading.Event()
    emulator.inject(Fault("deleteVolumeBackup", hold=held))
    event = backup_end(own[-1])

    slow = first.invoke(event, invoke_type="detached")
    deadline = time.monotonic() + 20
    while emulator.pending_faults() and time.monotonic() < deadline:  # the first container's delete is held
        time.sleep(0.01)
    fast = second.invoke(event)
    held.set()
    slower = slow.wait()

    assert fast.status == 200 and [e["backupId"] for e in fast.json()["deleted"]] == [own[0]]
    assert slower.status == 200, slower.body
    assert slower.json()["deleted"] == [] and slower.json()["alreadyDeletedCount"] == 1
    assert slower.json()["lifecycleErrors"] == []


# ------------------------------------------------------------------ volume group backups


def _group_backups(emulator: BlockStorageEmulator) -> dict[str, str]:
    return {backup["id"]: backup["lifecycleState"] for backup in emulator.volume_group_backups()}


@pytest.mark.parametrize("members_carry_tags", [True, False])
def test_group_backups_are_kept_as_units_by_the_schedule_catch_up_and_members_never_alone(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, members_carry_tags: bool
) -> None:
    emulator.variants.members_carry_group_tags = members_carry_tags
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")
    old = [emulator.add_group_backup(VOLUME_GROUP, time_created=ago(d), freeform_tags=OWN_GROUP) for d in (9, 8, 7)]
    theirs = emulator.add_group_backup(VOLUME_GROUP, time_created=ago(30), freeform_tags={"owner": "dba"})
    # Backups of the group's member volume on their own: retained per volume, beside the members.
    single = [emulator.add_backup(VOLUMES[2], time_created=ago(d), freeform_tags=OWN) for d in (6, 5, 4)]

    document = tick(platform, {"volumeGroupIds": [VOLUME_GROUP]})
    per_volume = platform.invoke(backup_end(single[-1], VOLUMES[2])).json()

    groups = _group_backups(emulator)
    assert [groups[b] for b in old] == ["TERMINATED", "TERMINATED", "AVAILABLE"]
    assert groups[theirs] == "AVAILABLE"
    deleted = {entry["backupId"] for entry in [*document["deleted"], *per_volume["deleted"]]}
    assert set(old[:2]) <= deleted
    after = {backup["id"]: backup for backup in emulator.backups()}
    for backup in after.values():
        group_id = backup.get("volumeGroupBackupId")
        if group_id:  # members go with their group, and only with it
            assert backup["lifecycleState"] == groups[group_id], backup
            assert backup["id"] not in deleted
    assert [after[b]["lifecycleState"] for b in single] == ["TERMINATED", "AVAILABLE", "AVAILABLE"]


@pytest.mark.parametrize("members_carry_tags", [True, False])
def test_a_member_backups_own_end_event_retains_its_group_as_a_unit(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, members_carry_tags: bool
) -> None:
    emulator.variants.members_carry_group_tags = members_carry_tags
    emulator.variants.members_announce_end = True
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    made = tick(platform, {"volumeGroupIds": [VOLUME_GROUP]})
    # Older group backups, seen first by the member's event rather than by the tick's catch-up.
    old = [emulator.add_group_backup(VOLUME_GROUP, time_created=ago(d), freeform_tags=OWN_GROUP) for d in (3, 2)]
    [event] = [e for e in emulator.backup_end_events() if "createvolumebackup" in e["eventType"]]

    document = platform.invoke(event).json()

    groups = _group_backups(emulator)
    [new] = made["backups"]
    assert groups[new["id"]] == "AVAILABLE"
    if members_carry_tags:
        assert [groups[b] for b in old] == ["TERMINATED", "TERMINATED"]
        assert document["memberBackups"] >= 1
    else:  # a member without tags names no owner: its event is a no-op, the catch-up keeps the group
        assert document["deleted"] == []
    member_states = {b["id"]: b["lifecycleState"] for b in emulator.backups() if b.get("volumeGroupBackupId")}
    assert all(member_states[m] == "AVAILABLE" for m in new["volumeBackupIds"])


def test_a_group_backups_own_end_event_retains_the_group_when_the_service_emits_one(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.variants.group_announces_end = True
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    tick(platform, {"volumeGroupIds": [VOLUME_GROUP]})
    old = emulator.add_group_backup(VOLUME_GROUP, time_created=ago(2), freeform_tags=OWN_GROUP)
    locked = emulator.add_group_backup(
        VOLUME_GROUP,
        time_created=ago(3),
        freeform_tags=OWN_GROUP,
        retention_period={"retentionTimeUnit": "DAYS", "retentionTimeAmount": 30},
        is_retention_lock_enabled=True,
    )
    [event] = [e for e in emulator.backup_end_events() if e["eventType"].endswith("createvolumegroupbackup.end")]

    document = platform.invoke(event).json()

    assert [entry["backupId"] for entry in document["deleted"]] == [old]
    assert document["keptByProtection"] == 1
    assert _group_backups(emulator)[old] == "TERMINATED" and _group_backups(emulator)[locked] == "AVAILABLE"


def test_a_forged_event_naming_a_member_of_another_deployments_group_deletes_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    foreign = {**OWN_GROUP, "backup-deployment": "other/backup-handler"}
    groups = [emulator.add_group_backup(VOLUME_GROUP, time_created=ago(d), freeform_tags=foreign) for d in (3, 2, 1)]
    members = [b["id"] for b in emulator.backups() if b.get("volumeGroupBackupId") in groups]

    answers = [platform.invoke(backup_end(member, VOLUMES[2])) for member in members]

    assert all(answer.status == 200 and answer.json()["deleted"] == [] for answer in answers)
    assert set(_group_backups(emulator).values()) == {"AVAILABLE"} and set(states(emulator).values()) == {"AVAILABLE"}


def test_retention_keeps_a_schedule_backup_made_an_hour_ago_and_its_group(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    # A max-age rule measured in days deletes nothing younger, group backups included.
    platform = start_platform(BACKUP_RETENTION_MAX_AGE_DAYS="1")
    recent = emulator.add_group_backup(VOLUME_GROUP, time_created=ago(0) - timedelta(hours=1), freeform_tags=OWN_GROUP)
    old = emulator.add_group_backup(VOLUME_GROUP, time_created=ago(5), freeform_tags=OWN_GROUP)
    emulator.in_progress_seconds = 0.0

    tick(platform, {"volumeGroupIds": [VOLUME_GROUP]})

    groups = _group_backups(emulator)
    assert groups[recent] == "AVAILABLE" and groups[old] == "TERMINATED"

"""Retention the way backup people think, end to end: tiers, reasons, orphans, caps, min keep and grace.

Each test runs the function under the real fdk runtime behind the platform model, against the emulator, and
computes what it expects on its own (never with the function's decision code).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.functions import FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.samples import VOLUME_GROUP, VOLUMES
from localdev.stack import LocalStack
from tests.conftest import DEPLOYMENT, OWN, OWN_GROUP, ago, backup_end, states

pytestmark = pytest.mark.e2e

DUE_TAG = "backup-retention-due"
BATCHED_FUNCTION = "ocid1.fnfunc.oc1.iad.aaaaaaaaretentionbatches0000000000000000000000000000000000"
GONE = "ocid1.volume.oc1.iad.abuwcljrdeletedvolume00000000000000000000000000000000000001"


def seed_hourly(emulator: BlockStorageEmulator, volume: str, times: list[datetime]) -> list[str]:
    """The deployment's own backups of ``volume`` at ``times``; their OCIDs in the same order."""
    return [emulator.add_backup(volume, time_created=moment, freeform_tags=OWN) for moment in times]


def tick(platform: FnPlatform, *volumes: str, **body: Any) -> dict[str, Any]:
    """A schedule tick naming ``volumes`` (detached, as the Resource Scheduler invokes), its summary."""
    named = {"volumeIds": list(volumes)} if volumes else {}
    answer = platform.invoke({"source": "schedule", **named, **body}, invoke_type="detached", deadline_seconds=60)
    document: dict[str, Any] = answer.wait().json()
    return document


def tags_of(emulator: BlockStorageEmulator, backup_id: str) -> dict[str, str]:
    tags: dict[str, str] = next(b for b in emulator.backups() if b["id"] == backup_id)["freeformTags"]
    return tags


# ----------------------------------------------------------------------------------------------------- tiers


def test_hourly_and_daily_tiers_keep_the_newest_of_each_period_and_say_why(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(
        BACKUP_RETENTION_KEEP_HOURLY="3", BACKUP_RETENTION_KEEP_DAILY="4", BACKUP_RETENTION_MAX_DELETES_PER_VOLUME="50"
    )
    newest = datetime(2026, 3, 10, 21, tzinfo=UTC)
    times = [newest - timedelta(hours=6 * k) for k in range(32)]  # every 6 hours for 8 days, from 03:00 on the 3rd
    own = seed_hourly(emulator, VOLUMES[0], times)
    by_day: dict[Any, int] = {}
    for index, moment in enumerate(times):  # newest first: the first of each day is that day's newest
        by_day.setdefault(moment.date(), index)
    expected = {own[i] for i in range(3)} | {own[i] for i in sorted(by_day.values())[:4]}

    answer = platform.invoke(backup_end(own[0]))

    assert answer.status == 200, answer.body[:400]
    document = answer.json()
    after = states(emulator)
    assert {b for b in own if after[b] == "AVAILABLE"} == expected
    assert (
        {entry["backupId"] for entry in document["kept"]}
        == expected
        == set(own) - {entry["backupId"] for entry in document["deleted"]}
    )
    reasons = {entry["backupId"]: entry["reasons"] for entry in document["kept"]}
    assert reasons[own[0]] == ["newest AVAILABLE backup", "hourly snapshot", "daily snapshot"]
    assert reasons[own[1]] == ["hourly snapshot"]
    oldest_daily = own[sorted(by_day.values())[3]]
    assert reasons[oldest_daily] == ["daily snapshot"]
    assert {entry["reason"] for entry in document["deleted"]} == {"kept by no rule"}


def test_days_are_counted_in_the_configured_time_zone(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    # In New York (UTC-5 in January) the three newest are all on 9 January and D is the 8th's last; in UTC, C is
    # the 9th's newest.
    times = {
        "A": datetime(2026, 1, 10, 3, tzinfo=UTC),
        "B": datetime(2026, 1, 10, 1, tzinfo=UTC),
        "C": datetime(2026, 1, 9, 23, tzinfo=UTC),
        "D": datetime(2026, 1, 9, 4, tzinfo=UTC),
        "E": datetime(2026, 1, 8, 12, tzinfo=UTC),
    }
    in_new_york = start_platform(BACKUP_RETENTION_KEEP_DAILY="2", BACKUP_TIMEZONE="America/New_York")
    ids = dict(zip(times, seed_hourly(emulator, VOLUMES[0], list(times.values())), strict=True))
    in_utc = start_platform(BACKUP_RETENTION_KEEP_DAILY="2", BACKUP_DRY_RUN="true")

    preview = in_utc.invoke(backup_end(ids["A"])).json()
    answer = in_new_york.invoke(backup_end(ids["A"])).json()

    name = {backup_id: letter for letter, backup_id in ids.items()}
    assert sorted(name[e["backupId"]] for e in preview["kept"]) == ["A", "C"]
    assert sorted(name[e["backupId"]] for e in answer["kept"]) == ["A", "D"]
    after = states(emulator)
    assert sorted(letter for letter, b in ids.items() if after[b] == "AVAILABLE") == ["A", "D"]


def test_group_backups_follow_the_same_tiers_as_units(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_DAILY="2")
    days = [datetime(2026, 3, 10, 21, tzinfo=UTC), datetime(2026, 3, 10, 20, tzinfo=UTC)]
    days += [datetime(2026, 3, 9, 22, tzinfo=UTC), datetime(2026, 3, 8, 10, tzinfo=UTC)]
    old = [emulator.add_group_backup(VOLUME_GROUP, time_created=moment, freeform_tags=OWN_GROUP) for moment in days]

    summary = tick(platform, volumeGroupIds=[VOLUME_GROUP])

    [made] = summary["backups"]
    groups = {b["id"]: b["lifecycleState"] for b in emulator.volume_group_backups()}
    # Today's newest (the tick's own) and 10 March's newest: two days that have a group backup.
    assert {backup_id for backup_id, state in groups.items() if state == "AVAILABLE"} == {made["id"], old[0]}
    reasons = {entry["backupId"]: entry["reasons"] for entry in summary["kept"]}
    assert reasons[old[0]] == ["daily snapshot"]
    members = {b["id"]: (b["volumeGroupBackupId"], b["lifecycleState"]) for b in emulator.backups()}
    assert {state for group, state in members.values() if group == old[0]} == {"AVAILABLE"}
    assert {state for group, state in members.values() if group in old[1:]} == {"TERMINATED"}  # with their group


def test_a_schedule_dry_run_lists_what_is_kept_and_why_and_what_would_go(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_KEEP_DAILY="2")
    # Noon (and 11:00) of whole UTC days before today: the same calendar days whatever the hour of the run.
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    moments = [noon - timedelta(days=1), noon - timedelta(days=1, hours=1)]
    moments += [noon - timedelta(days=2), noon - timedelta(days=3)]
    own = seed_hourly(emulator, VOLUMES[0], moments)

    document = tick(platform, VOLUMES[0], dryRun=True)

    assert document["dryRun"] is True
    kept = {entry["backupId"]: entry["reasons"] for entry in document["kept"]}
    assert kept[own[0]][0] == "newest AVAILABLE backup" and "last snapshot" in kept[own[0]]
    assert kept[own[2]] == ["daily snapshot"]
    assert {entry["backupId"]: entry["reason"] for entry in document["deleted"]} == {
        own[1]: "kept by no rule",
        own[3]: "kept by no rule",
    }
    assert [call for call in emulator.calls if call.method != "GET"] == []


# ---------------------------------------------------------------------------------------------------- orphans


def seed_orphans(emulator: BlockStorageEmulator) -> dict[str, list[str]]:
    """Own backups of a volume the tick does not name and of a deleted volume; a person's and another
    deployment's backups of the deleted volume."""
    other = {**OWN, "backup-deployment": "other-app/backup-handler"}
    emulator.add_volume(GONE, lifecycle_state="TERMINATED")  # deleted: still listed, TERMINATED
    return {
        "named": seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (4, 3, 2)]),
        "unselected": seed_hourly(emulator, VOLUMES[1], [ago(d) for d in (4, 3, 2, 1)]),
        "gone": seed_hourly(emulator, GONE, [ago(d) for d in (4, 3, 2, 1)]),
        "untouchable": [
            emulator.add_backup(GONE, time_created=ago(9), freeform_tags={"owner": "dba"}),
            emulator.add_backup(GONE, time_created=ago(8), freeform_tags=other),
            emulator.add_backup(GONE, time_created=ago(7), freeform_tags={"backup-trigger": "alarm"}),
        ],
    }


def test_a_tick_sweeps_the_backups_of_deleted_and_unselected_volumes_by_the_rules(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2")
    seeded = seed_orphans(emulator)

    summary = tick(platform, VOLUMES[0])

    after = states(emulator)
    assert [after[b] for b in seeded["named"]] == ["TERMINATED", "TERMINATED", "AVAILABLE"]  # + the tick's own
    assert [after[b] for b in seeded["unselected"]] == ["TERMINATED", "TERMINATED", "AVAILABLE", "AVAILABLE"]
    assert [after[b] for b in seeded["gone"]] == ["TERMINATED", "TERMINATED", "AVAILABLE", "AVAILABLE"]
    assert all(after[b] == "AVAILABLE" for b in seeded["untouchable"])
    assert summary["orphans"] == {
        "policy": "keep-last-one",
        "compartmentsSwept": 1,
        "sourceGone": 1,
        "sourceUnseen": 0,
        "notSelected": 1,
        "backups": 8,
        "deleted": 4,
        "complete": True,
        "otherBackupsListed": 2,
    }
    # Backups are listed per compartment, never per volume.
    lists = [call for call in emulator.calls if call.operation == "listVolumeBackups"]
    assert lists and all("volumeId" not in call.query for call in lists)


def test_the_orphan_policy_keep_deletes_none_of_them_but_counts_them(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_RETENTION_ORPHANS="keep")
    seeded = seed_orphans(emulator)

    summary = tick(platform, VOLUMES[0])

    after = states(emulator)
    assert all(after[b] == "AVAILABLE" for b in [*seeded["unselected"], *seeded["gone"], *seeded["untouchable"]])
    assert [after[b] for b in seeded["named"]] == ["TERMINATED", "TERMINATED", "AVAILABLE"]
    assert summary["orphans"]["policy"] == "keep" and summary["orphans"]["deleted"] == 0
    assert (summary["orphans"]["sourceGone"], summary["orphans"]["notSelected"]) == (1, 1)


def test_an_orphan_that_cannot_be_deleted_never_stops_the_rest_of_the_sweep(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_MAX_ATTEMPTS="1")
    seed_hourly(emulator, VOLUMES[0], [ago(2)])  # with the tick's own: two, none due
    unselected = seed_hourly(emulator, VOLUMES[1], [ago(d) for d in (4, 3, 2, 1)])
    gone = seed_hourly(emulator, GONE, [ago(d) for d in (4, 3, 2, 1)])
    emulator.inject(Fault("deleteVolumeBackup", status=500, code="InternalServerError"))  # the first deletion

    answer = platform.invoke({"source": "schedule", "volumeIds": [VOLUMES[0]]}, invoke_type="detached")

    document = answer.wait().json()
    assert [(error["resourceId"], error["code"]) for error in document["lifecycleErrors"]] == [
        (unselected[0], "InternalServerError")
    ]
    after = states(emulator)
    assert [after[b] for b in unselected] == ["AVAILABLE", "TERMINATED", "AVAILABLE", "AVAILABLE"]
    assert [after[b] for b in gone] == ["TERMINATED", "TERMINATED", "AVAILABLE", "AVAILABLE"]
    assert document["orphans"]["deleted"] == 3


# ------------------------------------------------------------------------------------------------------- caps


def test_keep_last_lowered_sharply_deletes_no_more_than_the_cap_per_volume_and_says_so(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_MAX_DELETES_PER_VOLUME="5")
    own = seed_hourly(emulator, VOLUMES[0], [ago(30 - d) for d in range(30)])  # oldest first

    first = platform.invoke(backup_end(own[-1])).json()
    second = platform.invoke(backup_end(own[-1])).json()

    assert [entry["backupId"] for entry in first["deleted"]] == own[:5]  # the oldest first
    assert first["retentionCapped"]["heldCount"] == 24
    assert "BACKUP_RETENTION_MAX_DELETES_PER_VOLUME (5)" in first["retentionCapped"]["reason"]
    assert [entry["backupId"] for entry in second["deleted"]] == own[5:10]
    assert sum(state == "TERMINATED" for state in states(emulator).values()) == 10


def test_the_cap_on_deletions_in_all_stops_a_tick_across_volumes(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_MAX_DELETES="4")
    for volume in VOLUMES[:2]:
        seed_hourly(emulator, volume, [ago(10 - d) for d in range(10)])

    summary = tick(platform, *VOLUMES[:2])

    assert summary["deletedCount"] == 4
    assert summary["retentionCapped"]["heldCount"] == 2 * 10 - 4
    assert "BACKUP_RETENTION_MAX_DELETES (4)" in summary["retentionCapped"]["reason"]
    assert sum(state == "TERMINATED" for state in states(emulator).values()) == 4


def test_min_keep_keeps_the_newest_backups_whatever_the_rules_say(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_MAX_AGE_DAYS="3", BACKUP_RETENTION_MIN_KEEP="3")
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (40, 30, 20, 10, 9)])  # every one past the max age

    document = platform.invoke(backup_end(own[-1])).json()

    after = states(emulator)
    assert [after[b] for b in own] == ["TERMINATED", "TERMINATED", "AVAILABLE", "AVAILABLE", "AVAILABLE"]
    assert document["keptByMinKeep"] == 2
    kept = {entry["backupId"]: entry["reasons"] for entry in document["kept"]}
    assert kept[own[2]] == ["among the newest 3 (min keep)"]
    assert {entry["reason"] for entry in document["deleted"]} == {"older than 3 days (max age)"}


# ------------------------------------------------------------------------------------------------------ grace


def test_with_a_grace_period_a_due_backup_is_marked_then_deleted_by_a_later_run_still_finding_it_due(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_GRACE="1d")
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])

    first = platform.invoke(backup_end(own[-1])).json()
    marked = {entry["backupId"]: entry for entry in first["marked"]}
    # A day and more later (the service's clock: a newer backup is written 36 hours after the first run).
    later = emulator.add_backup(VOLUMES[0], time_created=datetime.now(UTC) + timedelta(hours=36), freeform_tags=OWN)
    second = platform.invoke(backup_end(later)).json()

    assert first["deleted"] == [] and set(marked) == set(own[:2]) and all(e["new"] for e in marked.values())
    assert all(tags_of(emulator, b)[DUE_TAG].split("|")[1] == "rules" for b in own[:2])
    assert [entry["backupId"] for entry in second["deleted"]] == own[:2]
    assert [entry["backupId"] for entry in second["marked"]] == [own[2]]  # due now: its own grace starts
    assert states(emulator)[own[2]] == "AVAILABLE"


def test_a_marked_backup_the_rules_keep_again_is_unmarked_and_never_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    lowered = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_GRACE="1d")
    own = seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])
    lowered.invoke(backup_end(own[-1]))
    restored = start_platform(BACKUP_RETENTION_KEEP_LAST="5", BACKUP_RETENTION_GRACE="1d")

    document = restored.invoke(backup_end(own[-1])).json()

    assert document["unmarkedCount"] == 2 and document["deleted"] == []
    assert all(DUE_TAG not in tags_of(emulator, b) for b in own)
    assert all(tags_of(emulator, b)["backup-deployment"] == DEPLOYMENT for b in own)  # the other tags stay


def test_a_forged_or_copied_mark_never_makes_a_backup_go_early(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_GRACE="1d")
    typed = emulator.add_backup(
        VOLUMES[0], time_created=ago(5), freeform_tags={**OWN, DUE_TAG: "2020-01-01T00:00:00Z|rules|0"}
    )
    real = seed_hourly(emulator, VOLUMES[1], [ago(d) for d in (5, 1)])
    platform.invoke(backup_end(real[-1], VOLUMES[1]))
    genuine = tags_of(emulator, real[0])[DUE_TAG]  # a true mark, of another backup
    copied = emulator.add_backup(VOLUMES[0], time_created=ago(4), freeform_tags={**OWN, DUE_TAG: genuine})
    persons = emulator.add_backup(VOLUMES[0], time_created=ago(6), freeform_tags={"owner": "dba", DUE_TAG: genuine})
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    later = emulator.add_backup(VOLUMES[0], time_created=datetime.now(UTC) + timedelta(hours=2), freeform_tags=OWN)

    document = platform.invoke(backup_end(later)).json()

    assert document["deleted"] == []  # not one grace period has passed since this deployment first found them due
    assert {entry["backupId"] for entry in document["marked"]} == {typed, copied, newest}
    assert all(entry.get("new") for entry in document["marked"])  # each marked afresh, its grace from now
    assert tags_of(emulator, persons)[DUE_TAG] == genuine  # a person's backup is never touched, tag or not
    assert set(states(emulator).values()) == {"AVAILABLE"}


# ------------------------------------------------------------------------------- adversarial: deletion safety

ELSEWHERE = "ocid1.compartment.oc1..aaaaaaaaanothercompartment00000000000000000000000000000000"


def test_a_compartment_page_holding_another_compartments_backups_never_gets_them_deleted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    elsewhere = [
        emulator.add_backup(GONE, time_created=ago(d), freeform_tags=OWN, compartment_id=ELSEWHERE) for d in (3, 2, 1)
    ]
    listed = {backup["id"]: backup for backup in emulator.backups()}
    # The sweep's page of this compartment, as a service that ignored compartmentId would answer it.
    emulator.inject(Fault("listVolumeBackups", body=json.dumps([listed[b] for b in elsewhere]).encode()))

    summary = tick(platform, VOLUMES[0])

    assert all(states(emulator)[b] == "AVAILABLE" for b in elsewhere)
    assert summary["orphans"]["sourceGone"] == 0 and summary["orphans"]["deleted"] == 0


def test_a_schedule_dry_run_previews_the_orphan_sweep_and_writes_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_RETENTION_GRACE="1d")
    seeded = seed_orphans(emulator)
    manual = emulator.add_backup(GONE, time_created=ago(30), freeform_tags={**OWN, "backup-trigger": "manual"})

    document = tick(platform, VOLUMES[0], dryRun=True)

    assert document["dryRun"] is True and document["orphans"]["sourceGone"] == 1
    marked = {entry["backupId"] for entry in document["marked"]}
    assert marked == {seeded["named"][0], *seeded["unselected"][:2], *seeded["gone"][:2]}
    assert [call for call in emulator.calls if call.method != "GET"] == []
    assert all(DUE_TAG not in tags_of(emulator, b) for b in marked)
    assert states(emulator)[manual] == "AVAILABLE" and manual not in marked  # a person asked for it: never retained


def test_a_mark_sealed_as_this_deployment_would_but_dated_before_the_backup_could_be_due_is_not_trusted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    from backup_handler.runs.grace import Grace
    from backup_handler.runs.lifecycle import rule_of
    from backup_handler.settings import Settings

    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_GRACE="1d")
    older = emulator.add_backup(VOLUMES[0], time_created=ago(10), freeform_tags=OWN)
    newer = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    # Whoever knows the identity and the configuration can compute a seal; dated 5 days ago it would be past the
    # grace period, but the backup could only be due once a newer one existed (a day ago).
    rule = rule_of(Settings(retention_keep_last=1)).describe()
    forged = Grace(DEPLOYMENT, rule, timedelta(days=1)).mark(older, datetime.now(UTC) - timedelta(days=5), "rules")
    emulator.retag_backup(older, {**OWN, DUE_TAG: forged})

    document = platform.invoke(backup_end(newer)).json()

    assert document["deleted"] == [] and states(emulator)[older] == "AVAILABLE"
    assert [entry["backupId"] for entry in document["marked"]] == [older] and document["marked"][0]["new"]


def test_an_invoker_cannot_put_a_backup_on_the_way_out(platform: FnPlatform) -> None:
    answer = platform.invoke({"volumeId": VOLUMES[0], "freeformTags": {DUE_TAG: "2020-01-01T00:00:00Z|rules|x"}})

    assert answer.json()["code"] == "InvalidRequest"
    assert answer.json()["errors"][0]["field"] == f"freeformTags.{DUE_TAG}"


def test_a_tick_split_into_batches_sweeps_its_orphans_once_in_the_invocation_that_received_it(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, stack: LocalStack
) -> None:
    emulator.in_progress_seconds = 0.0
    selected = [f"ocid1.volume.oc1.iad.abuwcljrbatchedsweep{n:039d}" for n in range(5)]
    for volume_id in selected:
        emulator.add_volume(volume_id, freeform_tags={"backup": "hourly"})
    emulator.add_volume(VOLUMES[1], freeform_tags={"backup": "never"})  # a volume dropped from the selector
    for volume_id in selected:
        seed_hourly(emulator, volume_id, [ago(d) for d in (4, 3, 2, 1)])
    unselected = seed_hourly(emulator, VOLUMES[1], [ago(d) for d in (4, 3, 2, 1)])
    emulator.add_volume(GONE, lifecycle_state="TERMINATED")
    gone = seed_hourly(emulator, GONE, [ago(d) for d in (4, 3, 2, 1)])
    with FunctionsEmulator(stack.identity) as functions:
        platform = start_platform(
            BACKUP_IDENTITY_ENDPOINT=stack.emulator.endpoint,
            BACKUP_INVOKE_ENDPOINT=functions.endpoint,
            FN_FN_ID=BATCHED_FUNCTION,
            BACKUP_BATCH_SIZE="2",
            BACKUP_RETENTION_KEEP_LAST="2",
        )
        functions.register(BATCHED_FUNCTION, platform)
        body = {
            "source": "schedule",
            "selector": {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "hourly"}, "kinds": ["volume"]},
        }

        parent = platform.invoke(body, invoke_type="detached").wait().json()
        answers = [batch.wait(30).json() for batch in functions.wait_for(3)]

    assert parent["batched"] == 5 and parent["orphans"]["sourceGone"] == 1
    assert parent["orphans"]["notSelected"] == 1  # the selected volumes are their batches' to retain
    assert all("orphans" not in answer for answer in answers)  # batches never sweep
    after = states(emulator)
    assert [after[b] for b in unselected] == ["TERMINATED", "TERMINATED", "AVAILABLE", "AVAILABLE"]
    assert [after[b] for b in gone] == ["TERMINATED", "TERMINATED", "AVAILABLE", "AVAILABLE"]
    assert sum(answer["deletedCount"] for answer in answers) == 5 * 3  # each batch: its volumes' 3 oldest

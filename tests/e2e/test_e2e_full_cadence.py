"""Full backups on a cadence (BACKUP_FULL_EVERY), end to end through the fdk runtime and the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, VOLUME_GROUP, VOLUMES
from tests.conftest import DEPLOYMENT, OWN, OWN_BOOT, OWN_GROUP, ago, event_json

pytestmark = pytest.mark.e2e

OTHER_DEPLOYMENT = {**OWN, "backup-deployment": "other-app/backup-handler"}


def _alarm(*volumes: str, millis: int | None = None) -> dict[str, Any]:
    """The sample alarm message, firing now for ``volumes``."""
    alarm = event_json("alarm.json")
    alarm["timestampEpochMillis"] = millis if millis is not None else int(time.time() * 1000)
    meta = alarm["alarmMetaData"][0]
    meta["dimensions"] = [{**meta["dimensions"][0], "resourceId": volume} for volume in volumes]
    return alarm


def _types(answer: dict[str, Any]) -> dict[str, str]:
    return {backup.get("volumeId") or backup.get("bootVolumeId"): backup["type"] for backup in answer["backups"]}


def _calls(emulator: BlockStorageEmulator, operation: str) -> int:
    return sum(1 for call in emulator.calls if call.operation == operation)


def test_a_backup_is_full_when_the_deployments_newest_full_of_the_target_is_older_than_the_cadence(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d")
    # VOLUMES[0]: its own newest FULL is 8 days old; newer FULLs are another deployment's, FAULTY, or a policy's.
    emulator.add_backup(VOLUMES[0], time_created=ago(8), freeform_tags=OWN, backup_type="FULL")
    emulator.add_backup(VOLUMES[0], time_created=ago(3), freeform_tags=OTHER_DEPLOYMENT, backup_type="FULL")
    emulator.add_backup(
        VOLUMES[0], time_created=ago(2), freeform_tags=OWN, backup_type="FULL", lifecycle_state="FAULTY"
    )
    emulator.add_backup(VOLUMES[0], time_created=ago(2), source_type="SCHEDULED", backup_type="FULL")
    emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    # VOLUMES[1]: an own FULL 2 days old (then incrementals).
    emulator.add_backup(VOLUMES[1], time_created=ago(2), freeform_tags=OWN, backup_type="FULL")
    emulator.add_backup(VOLUMES[1], time_created=ago(1), freeform_tags=OWN)
    # The boot volume: never backed up.

    answer = platform.invoke(
        {"source": "schedule", "volumeIds": [VOLUMES[0], VOLUMES[1]], "bootVolumeIds": [BOOT_VOLUMES[0]]}
    )

    assert answer.status == 200, answer.body
    assert _types(answer.json()) == {VOLUMES[0]: "FULL", VOLUMES[1]: "INCREMENTAL", BOOT_VOLUMES[0]: "FULL"}
    assert "notes" not in answer.json()
    assert _calls(emulator, "listVolumeBackups") == 2 and _calls(emulator, "listBootVolumeBackups") == 1


def test_a_full_still_being_made_counts_and_an_own_manual_full_counts(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="1w")
    emulator.add_backup(
        VOLUMES[0], time_created=ago(0.01), freeform_tags=OWN, backup_type="FULL", lifecycle_state="REQUEST_RECEIVED"
    )
    manual = {**OWN, "backup-trigger": "manual", "backup-source": "CHG-1"}
    emulator.add_backup(VOLUMES[1], time_created=ago(0.01), freeform_tags=manual, backup_type="FULL")

    answer = platform.invoke(_alarm(VOLUMES[0], VOLUMES[1]))

    assert answer.status == 200, answer.body
    assert _types(answer.json()) == {VOLUMES[0]: "INCREMENTAL", VOLUMES[1]: "INCREMENTAL"}


def test_an_explicit_type_in_a_manual_request_wins_over_the_cadence_and_lists_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d")
    manual = {**event_json("manual.json"), "type": "INCREMENTAL"}

    answer = platform.invoke(manual)

    assert answer.status == 200, answer.body
    assert answer.json()["type"] == "INCREMENTAL"  # no FULL was ever made: the cadence alone would say FULL
    assert _calls(emulator, "listVolumeBackups") == 0


def test_a_manual_request_without_a_type_follows_the_cadence(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d")
    manual = {key: value for key, value in event_json("manual.json").items() if key != "type"}

    answer = platform.invoke(manual)

    assert answer.status == 200, answer.body
    assert answer.json()["type"] == "FULL"


def test_a_redelivered_alarm_keeps_the_type_its_first_delivery_chose(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    # The first delivery makes a FULL; by the redelivery that FULL is the newest one, so a decision taken
    # afresh would say INCREMENTAL: another body under the same retry token (409, or a second backup).
    platform = start_platform(BACKUP_FULL_EVERY="7d")
    emulator.add_backup(VOLUMES[0], time_created=ago(8), freeform_tags=OWN, backup_type="FULL")
    alarm = _alarm(VOLUMES[0])

    first = platform.invoke(alarm)
    emulator.advance(hours=1)  # the first backup is AVAILABLE by the redelivery
    again = platform.invoke(alarm)

    assert first.status == 200 and again.status == 200, (first.body, again.body)
    assert _types(first.json()) == {VOLUMES[0]: "FULL"}
    assert [b["id"] for b in again.json()["backups"]] == [b["id"] for b in first.json()["backups"]]
    assert again.json()["skipped"] == [] and again.json()["errors"] == []
    made = [call for call in emulator.creates() if call.status == 200]
    assert len({call.resource_id for call in made}) == 1
    assert len([b for b in emulator.backups() if b.get("volumeId") == VOLUMES[0]]) == 2  # the seeded one and one


def test_a_listing_that_fails_makes_the_configured_type_and_says_so(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d", BACKUP_MAX_ATTEMPTS="1")
    emulator.inject(Fault("listVolumeBackups", status=500))

    answer = platform.invoke(_alarm(VOLUMES[0], VOLUMES[1]))

    document = answer.json()
    assert answer.status == 200, answer.body
    assert sorted(_types(document).values()) == ["FULL", "INCREMENTAL"]  # one unread (configured), one due
    [noted] = document["notes"]
    assert "could not be read" in noted["notes"][0] and "InternalServerError" in noted["notes"][0]
    assert _types(document)[noted["resourceId"]] == "INCREMENTAL"


def test_a_selector_passes_each_volumes_compartment_on_one_list_per_target_and_no_read(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d")
    emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN, backup_type="FULL")
    emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(1), freeform_tags=OWN_BOOT, backup_type="FULL")
    tick = event_json("schedule-selector.json")
    tick["selector"]["kinds"] = ["volume", "bootVolume"]
    tick["selector"].pop("definedTags")

    answer = platform.invoke(tick)

    document = answer.json()
    assert answer.status == 200, answer.body
    assert _types(document)[VOLUMES[0]] == "INCREMENTAL" and _types(document)[BOOT_VOLUMES[0]] == "INCREMENTAL"
    assert _types(document)[VOLUMES[1]] == "FULL"
    assert _calls(emulator, "getVolume") == 0 and _calls(emulator, "getBootVolume") == 0
    assert _calls(emulator, "listVolumeBackups") == 3 and _calls(emulator, "listBootVolumeBackups") == 1


def test_the_deployment_identity_decides_which_fulls_count(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d", BACKUP_DEPLOYMENT_ID="other-app/backup-handler")
    emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN, backup_type="FULL")  # DEPLOYMENT's

    answer = platform.invoke(_alarm(VOLUMES[0]))

    assert DEPLOYMENT != "other-app/backup-handler"
    assert _types(answer.json()) == {VOLUMES[0]: "FULL"}


def test_a_dry_run_shows_the_type_the_cadence_would_choose_and_creates_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d", BACKUP_COPY_VOLUME_TAGS="CostCenter")
    emulator.add_backup(VOLUMES[1], time_created=ago(1), freeform_tags=OWN, backup_type="FULL")
    emulator.change_volume(VOLUMES[0], freeform_tags={"CostCenter": "42"})

    answer = platform.invoke({**_alarm(VOLUMES[0], VOLUMES[1]), "dryRun": True})

    assert answer.status == 200, answer.body
    bodies = {entry["resourceId"]: entry["body"] for entry in answer.json()["wouldCreate"]}
    assert bodies[VOLUMES[0]]["type"] == "FULL" and bodies[VOLUMES[1]]["type"] == "INCREMENTAL"
    assert bodies[VOLUMES[0]]["freeformTags"]["CostCenter"] == "42"
    assert emulator.creates() == []


def test_a_single_backup_whose_cadence_could_not_be_read_says_so_in_a_header(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d", BACKUP_MAX_ATTEMPTS="1")
    emulator.inject(Fault("listVolumeBackups", status=500))
    manual = {key: value for key, value in event_json("manual.json").items() if key != "type"}

    answer = platform.invoke(manual)

    assert answer.status == 200, answer.body
    assert answer.json()["type"] == "INCREMENTAL"  # the configured type
    [note] = json.loads(answer.headers["backup-notes"])
    assert note.startswith("the full-backup cadence could not be read")


def test_with_neither_setting_a_backup_reads_nothing_before_its_create(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke(_alarm(VOLUMES[0], VOLUMES[1]))

    assert answer.status == 200, answer.body
    assert {call.operation for call in emulator.calls} == {"createVolumeBackup"}
    assert "notes" not in answer.json()


def test_a_volume_group_follows_the_cadence_of_its_own_group_backups(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FULL_EVERY="7d")
    manual = {key: value for key, value in event_json("manual-group.json").items() if key != "type"}

    emulator.in_progress_seconds = 0.0  # each backup is AVAILABLE at once
    emulator.add_volume_group_backup(VOLUME_GROUP, time_created=ago(9), freeform_tags=OWN_GROUP, backup_type="FULL")
    first = platform.invoke(manual)
    second = platform.invoke({**manual, "idempotencyKey": "another-request"})

    assert first.status == 200 and second.status == 200, (first.body, second.body)
    assert first.json()["type"] == "FULL", first.json()
    assert second.json()["type"] == "INCREMENTAL"  # the first made this deployment's newest FULL of the group
    assert _calls(emulator, "listVolumeGroupBackups") >= 2

"""Source tags on backups (BACKUP_COPY_VOLUME_TAGS), end to end through the fdk runtime and the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, VOLUMES
from tests.conftest import event_json

pytestmark = pytest.mark.e2e

SOURCE = {"backup": "daily", "CostCenter": "42", "Owner": "alice", "costcenter": "lower-case key"}


def _alarm(*volumes: str) -> dict[str, Any]:
    alarm = event_json("alarm.json")
    alarm["timestampEpochMillis"] = int(time.time() * 1000)
    meta = alarm["alarmMetaData"][0]
    meta["dimensions"] = [{**meta["dimensions"][0], "resourceId": volume} for volume in volumes]
    return alarm


def _tags(answer: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        backup.get("volumeId") or backup.get("bootVolumeId"): backup["freeformTags"] for backup in answer["backups"]
    }


def _calls(emulator: BlockStorageEmulator, operation: str) -> int:
    return sum(1 for call in emulator.calls if call.operation == operation)


def test_the_allow_listed_volume_tags_are_copied_and_configuration_wins(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(
        BACKUP_COPY_VOLUME_TAGS="CostCenter, Owner, Missing", BACKUP_FREEFORM_TAGS=json.dumps({"Owner": "platform"})
    )
    emulator.change_volume(VOLUMES[0], freeform_tags=SOURCE)
    emulator.change_volume(BOOT_VOLUMES[0], freeform_tags={"CostCenter": "7"})

    answer = platform.invoke(event_json("schedule.json"))

    assert answer.status == 200, answer.body
    tags = _tags(answer.json())
    volume = tags[VOLUMES[0]]
    assert volume["CostCenter"] == "42" and volume["Owner"] == "platform"  # configuration wins over the volume
    assert "backup" not in volume and "costcenter" not in volume and "Missing" not in volume  # keys are exact
    assert volume["backup-trigger"] == "schedule" and volume["backup-kind"] == "volume"
    assert tags[BOOT_VOLUMES[0]]["CostCenter"] == "7"
    assert _calls(emulator, "getVolume") == 1 and _calls(emulator, "getBootVolume") == 1  # explicit: one read each


def test_an_invokers_freeform_tags_win_over_the_volumes_and_no_one_overrides_the_stamps(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_COPY_VOLUME_TAGS='["CostCenter", "Owner"]')
    emulator.change_volume(VOLUMES[0], freeform_tags=SOURCE)
    manual = event_json("manual.json")
    manual["freeformTags"] = {"CostCenter": "from-the-invoker"}

    answer = platform.invoke(manual)

    assert answer.status == 200, answer.body
    tags = answer.json()["freeformTags"]
    assert tags["CostCenter"] == "from-the-invoker" and tags["Owner"] == "alice"
    assert tags["backup-trigger"] == "manual"


def test_copied_tags_beyond_ocis_tag_limit_are_dropped_and_reported_never_failing_the_backup(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    configured = {f"team-{n:02}": "x" for n in range(55)}  # 55 + the 7 the function reserves: room for 2 more
    platform = start_platform(
        BACKUP_COPY_VOLUME_TAGS="A,B,C,D", BACKUP_FREEFORM_TAGS=json.dumps(configured, separators=(",", ":"))
    )
    emulator.change_volume(VOLUMES[0], freeform_tags={"A": "1", "B": "2", "C": "3", "D": "4"})

    answer = platform.invoke(_alarm(VOLUMES[0]))

    document = answer.json()
    assert answer.status == 200, answer.body
    tags = _tags(document)[VOLUMES[0]]
    assert {key: tags.get(key) for key in "ABCD"} == {"A": "1", "B": "2", "C": None, "D": None}
    assert len(tags) <= 64
    [noted] = document["notes"]
    assert noted["resourceId"] == VOLUMES[0]
    assert [note.split(":")[0] for note in noted["notes"]] == ["volume tag not copied", "volume tag not copied"]
    assert "C: the backup would carry more than 64 tags" in noted["notes"][0]


def test_a_selector_copies_the_tags_its_listing_carried_without_reading_a_volume(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_COPY_VOLUME_TAGS="CostCenter")
    emulator.change_volume(VOLUMES[0], freeform_tags=SOURCE)
    tick = event_json("schedule-selector.json")
    tick["selector"]["kinds"] = ["volume"]
    tick["selector"].pop("definedTags")

    answer = platform.invoke(tick)

    assert answer.status == 200, answer.body
    tags = _tags(answer.json())
    assert tags[VOLUMES[0]]["CostCenter"] == "42" and "CostCenter" not in tags[VOLUMES[1]]
    assert _calls(emulator, "getVolume") == 0


def test_a_volume_that_cannot_be_read_is_backed_up_without_its_tags_and_the_answer_says_why(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_COPY_VOLUME_TAGS="CostCenter", BACKUP_MAX_ATTEMPTS="1")
    emulator.change_volume(VOLUMES[0], freeform_tags=SOURCE)
    emulator.inject(Fault("getVolume", status=404, code="NotAuthorizedOrNotFound"))

    answer = platform.invoke(_alarm(VOLUMES[0]))

    document = answer.json()
    assert answer.status == 200, answer.body
    assert "CostCenter" not in _tags(document)[VOLUMES[0]]
    assert document["notes"] == [
        {
            "resourceId": VOLUMES[0],
            "notes": ["the volume's tags were not copied: the target could not be read (NotAuthorizedOrNotFound)"],
        }
    ]


def test_a_batch_is_shaped_as_its_parent_would_have_been(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    # A batch body carries only OCIDs: each of its targets is read once for its tags.
    platform = start_platform(BACKUP_COPY_VOLUME_TAGS="CostCenter")
    emulator.change_volume(VOLUMES[0], freeform_tags=SOURCE)
    batch = {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20261201T000000Z/3600s",
        "idempotencyKey": "schedule:1796083200:3600@backup-app/backup-handler",
        "timeLabel": "20261201T000000Z",
        "batch": 1,
        "type": "INCREMENTAL",
        "targets": [{"kind": "volume", "id": VOLUMES[0]}],
    }

    answer = platform.invoke(batch)

    assert answer.status == 200, answer.body
    assert _tags(answer.json())[VOLUMES[0]]["CostCenter"] == "42"


def test_a_selectors_batch_lists_its_targets_once_per_compartment_instead_of_reading_each(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_COPY_VOLUME_TAGS="CostCenter", BACKUP_FULL_EVERY="7d")
    emulator.change_volume(VOLUMES[0], freeform_tags=SOURCE)
    emulator.change_volume(BOOT_VOLUMES[0], freeform_tags={"CostCenter": "7"})
    batch = {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20261201T000000Z/3600s",
        "idempotencyKey": "schedule:1796083200:3600@backup-app/backup-handler",
        "timeLabel": "20261201T000000Z",
        "batch": 1,
        "type": "INCREMENTAL",
        "targets": [
            {"kind": "volume", "id": VOLUMES[0]},
            {"kind": "volume", "id": VOLUMES[1]},
            {"kind": "bootVolume", "id": BOOT_VOLUMES[0]},
        ],
        "compartments": [COMPARTMENT],
    }

    answer = platform.invoke(batch)

    assert answer.status == 200, answer.body
    tags = _tags(answer.json())
    assert tags[VOLUMES[0]]["CostCenter"] == "42" and tags[BOOT_VOLUMES[0]]["CostCenter"] == "7"
    assert "CostCenter" not in tags[VOLUMES[1]]
    assert {backup["type"] for backup in answer.json()["backups"]} == {"FULL"}
    assert _calls(emulator, "getVolume") == 0 and _calls(emulator, "getBootVolume") == 0
    assert _calls(emulator, "listVolumes") == 1 and _calls(emulator, "listBootVolumes") == 1

"""A volume group and its own member volumes in one trigger, end to end.

A member is backed up only through its group, however the trigger names the two (explicit
lists, a selector, both, in any order): no create of the member races the group's. A member is
answered in its group's state. A group refused because a member's own backup (from another
trigger) is in progress was not backed up: that is an error a redelivery can fix, never a
silent 200; a group whose own backup is in progress is a skip, as a volume's is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.faults import Fault
from localdev.platform import FnPlatform
from localdev.samples import VOLUME_GROUP, VOLUMES

pytestmark = pytest.mark.e2e

MEMBER = VOLUMES[2]  # the sample group's only member
THROUGH = f"backed up through its volume group {VOLUME_GROUP}"


def created(emulator: BlockStorageEmulator) -> list[str]:
    """The targets of every create request the emulator received, in order."""
    return [call.resource_id or "" for call in emulator.creates()]


def tick(**fields: Any) -> dict[str, Any]:
    return {"source": "schedule", **fields}


@pytest.mark.parametrize(
    "body",
    [
        tick(volumeIds=[MEMBER, VOLUMES[1]], volumeGroupIds=[VOLUME_GROUP]),
        tick(volumeGroupIds=[VOLUME_GROUP], volumeIds=[VOLUMES[1], MEMBER]),
        tick(volumeGroupIds=[VOLUME_GROUP], selector={"compartmentId": COMPARTMENT, "kinds": ["volume"]}),
        tick(volumeIds=[MEMBER], selector={"compartmentId": COMPARTMENT, "kinds": ["volumeGroup"]}),
    ],
    ids=["members-listed-first", "group-listed-first", "group-and-selected-volumes", "member-and-selected-group"],
)
def test_a_member_named_with_its_group_is_backed_up_only_through_the_group(
    platform: FnPlatform, emulator: BlockStorageEmulator, body: dict[str, Any]
) -> None:
    answer = platform.invoke(body, invoke_type="detached").wait(30)  # the container's own answer

    summary = answer.json()
    assert answer.status == 200 and summary["errors"] == []
    assert MEMBER not in created(emulator)  # never a create that races the group's
    assert created(emulator).count(VOLUME_GROUP) == 1
    assert {"resourceId": MEMBER, "reason": THROUGH} in summary["skipped"]


def test_a_group_held_up_by_a_member_backup_of_another_trigger_is_an_error_to_redeliver_not_a_skip(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 600  # the member's own backup runs on through the tick
    assert platform.invoke({"volumeId": MEMBER, "idempotencyKey": "member-first"}).status == 200

    answer = platform.invoke(tick(volumeGroupIds=[VOLUME_GROUP], volumeIds=[VOLUMES[1]]), invoke_type="detached").wait(
        30
    )

    summary = answer.json()
    assert answer.status == 502  # redelivered: once the member's backup has ended, the group's is made
    [error] = summary["errors"]
    assert error["resourceId"] == VOLUME_GROUP and error["code"] == "Conflict" and error["status"] == 409
    assert "member volume" in error["message"]
    assert {skip["resourceId"] for skip in summary["skipped"]} == set()
    assert [b["volumeId"] for b in summary["backups"]] == [VOLUMES[1]]


def test_a_group_whose_own_backup_is_in_progress_is_skipped_like_a_volume(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 600
    assert platform.invoke({"volumeGroupId": VOLUME_GROUP, "idempotencyKey": "group-first"}).status == 200

    answer = platform.invoke(tick(volumeGroupIds=[VOLUME_GROUP], volumeIds=[MEMBER]), invoke_type="detached").wait(30)

    summary = answer.json()
    assert answer.status == 200 and summary["errors"] == []
    assert {"resourceId": VOLUME_GROUP, "reason": "backup in progress"} in summary["skipped"]
    member = next(skip for skip in summary["skipped"] if skip["resourceId"] == MEMBER)
    assert member["reason"] == f"its volume group {VOLUME_GROUP} was skipped: backup in progress"


@pytest.mark.parametrize(
    "body",
    [
        tick(volumeGroupIds=[VOLUME_GROUP], volumeIds=[MEMBER]),
        tick(selector={"compartmentId": COMPARTMENT, "kinds": ["volumeGroup", "volume"]}),
    ],
    ids=["explicit", "selected"],
)
def test_members_of_a_group_whose_backup_failed_are_errors_not_backed_up_through_it(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, body: dict[str, Any]
) -> None:
    platform = start_platform(BACKUP_MAX_ATTEMPTS="1")
    emulator.inject(Fault("createVolumeGroupBackup", status=500))

    answer = platform.invoke(body, invoke_type="detached").wait(30)

    summary = answer.json()
    assert answer.status == 502
    errors = {error["resourceId"]: error for error in summary["errors"]}
    assert set(errors) == {VOLUME_GROUP, MEMBER}
    assert errors[MEMBER]["code"] == "InternalServerError" and errors[MEMBER]["volumeGroupId"] == VOLUME_GROUP
    assert errors[MEMBER]["message"].startswith(f"its volume group {VOLUME_GROUP} was not backed up")
    assert all(skip["resourceId"] != MEMBER for skip in summary["skipped"])
    assert MEMBER not in created(emulator)


def test_members_of_a_group_the_deadline_left_unfinished_share_its_state(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    emulator.inject(Fault("createVolumeGroupBackup", latency=5.0))

    answer = platform.invoke(
        tick(volumeGroupIds=[VOLUME_GROUP], volumeIds=[MEMBER]), invoke_type="detached", deadline_seconds=3
    ).wait(30)

    summary = answer.json()
    assert answer.status == 504
    assert {entry["resourceId"] for entry in summary["pending"]} == {VOLUME_GROUP, MEMBER}
    assert all(skip["resourceId"] != MEMBER for skip in summary["skipped"])

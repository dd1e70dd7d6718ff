"""Selectors, volume groups, run-wide throttling and batches through OCI Functions, end to end.

The function runs under the real fdk runtime behind the platform model; the emulator
serves the list APIs, volume groups, Identity's compartments and a Functions invoke
endpoint that starts each batch as a detached invocation of the same function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT, TENANCY
from localdev.emulator import BlockStorageEmulator
from localdev.functions import FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, VOLUME_GROUP, VOLUMES
from localdev.stack import LocalStack
from tests.conftest import event_bytes

pytestmark = pytest.mark.e2e

FUNCTION_ID = "ocid1.fnfunc.oc1.iad.aaaaaaaabackuphandler000000000000000000000000000000000000"
CHILD = "ocid1.compartment.oc1..aaaaaaaachildcompartment00000000000000000000000000000000000"
GROUP = "ocid1.volumegroup.oc1.iad.abuwcljrselectedgroup00000000000000000000000000000000001"
AD = "Uocm:US-ASHBURN-AD-1"


def volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrselected{n:044d}"


def boot_volume(n: int) -> str:
    return f"ocid1.bootvolume.oc1.iad.abuwcljrselectedboot{n:040d}"


@pytest.fixture
def inventory(emulator: BlockStorageEmulator) -> BlockStorageEmulator:
    """Volumes 0-5 tagged backup=nightly (2 and 3 in a nightly group), 6-7 weekly, 8 daily but not AVAILABLE,
    9 daily in a child compartment, boot volume 0 daily, and a defined tag on volumes 0 and 1."""
    for n in range(6):
        defined = {"Operations": {"tier": "gold"}} if n < 2 else None
        emulator.add_volume(volume(n), freeform_tags={"backup": "nightly"}, defined_tags=defined)
    for n in (6, 7):
        emulator.add_volume(volume(n), freeform_tags={"backup": "weekly"})
    emulator.add_volume(volume(8), freeform_tags={"backup": "nightly"}, lifecycle_state="PROVISIONING")
    emulator.add_compartment(COMPARTMENT, TENANCY, "backups")
    emulator.add_compartment(CHILD, COMPARTMENT, "child")
    emulator.add_volume(volume(9), freeform_tags={"backup": "nightly"}, compartment_id=CHILD)
    emulator.add_volume(boot_volume(0), boot=True, freeform_tags={"backup": "nightly"})
    emulator.add_volume_group(GROUP, COMPARTMENT, AD, [volume(2), volume(3)], freeform_tags={"backup": "nightly"})
    return emulator


@pytest.fixture
def selecting(start_platform: Callable[..., FnPlatform], stack: LocalStack) -> Callable[..., FnPlatform]:
    def start(**env: str) -> FnPlatform:
        return start_platform(BACKUP_IDENTITY_ENDPOINT=stack.emulator.endpoint, **env)

    return start


def selector(**fields: Any) -> dict[str, Any]:
    return {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "nightly"}, **fields}


def backed_up(summary: dict[str, Any]) -> list[str]:
    ids = [b.get("volumeId") or b.get("bootVolumeId") or b.get("volumeGroupId") for b in summary["backups"]]
    return sorted(ids)


def test_a_selector_backs_up_every_available_volume_whose_freeform_tags_match(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    platform = selecting()

    answer = platform.invoke({"selector": selector(kinds=["volume"]), "idempotencyKey": "sel-1"})

    summary = answer.json()
    assert answer.status == 200 and summary["errors"] == []
    assert backed_up(summary) == sorted(volume(n) for n in range(6))  # not weekly, not PROVISIONING, not the child


def test_a_selector_matches_defined_tags_and_boot_volumes(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    platform = selecting()

    gold = platform.invoke({"selector": selector(definedTags={"Operations": {"tier": "gold"}})}).json()
    boot = platform.invoke({"selector": selector(kinds=["bootVolume"])}).json()

    assert backed_up(gold) == sorted([volume(0), volume(1)])
    assert backed_up(boot) == [boot_volume(0)]


def test_a_selector_reaches_subcompartments_only_when_asked(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    platform = selecting()

    without = platform.invoke({"selector": selector(kinds=["volume"]), "idempotencyKey": "a"}).json()
    with_children = platform.invoke(
        {"selector": selector(kinds=["volume"], includeSubcompartments=True), "idempotencyKey": "b"}
    ).json()

    assert volume(9) not in backed_up(without)
    assert volume(9) in backed_up(with_children)


def test_a_volume_group_is_backed_up_whole_and_its_selected_members_once_through_it(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    platform = selecting()

    summary = platform.invoke({"selector": selector(kinds=["volumeGroup", "volume"])}).json()

    assert backed_up(summary) == sorted([GROUP, *(volume(n) for n in (0, 1, 4, 5))])
    skipped = {skip["resourceId"]: skip["reason"] for skip in summary["skipped"]}
    assert skipped == {volume(n): f"backed up through its volume group {GROUP}" for n in (2, 3)}
    [group_backup] = inventory.volume_group_backups()
    assert len(group_backup["volumeBackupIds"]) == 2
    member_creates = [c for c in inventory.creates() if c.resource_id in (volume(2), volume(3))]
    assert member_creates == []


def test_a_manual_volume_group_request_answers_the_group_backup(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    answer = selecting().invoke({"volumeGroupId": GROUP, "idempotencyKey": "vg-1"})

    backup = answer.json()
    assert answer.status == 200
    assert backup["id"].startswith("ocid1.volumegroupbackup.") and backup["volumeGroupId"] == GROUP


def test_a_schedule_body_names_volume_groups_and_boot_volumes_explicitly(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    body = {"source": "schedule", "volumeGroupIds": [GROUP], "bootVolumeIds": [boot_volume(0)]}

    summary = selecting().invoke(body, invoke_type="detached").wait().json()

    assert backed_up(summary) == sorted([GROUP, boot_volume(0)])


def test_a_redelivered_selector_tick_makes_no_new_backups(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    platform = selecting(BACKUP_SELECTOR=json.dumps(selector(kinds=["volumeGroup", "volume", "bootVolume"])))

    first = platform.invoke(b"", invoke_type="detached").wait().json()  # an empty-bodied schedule: BACKUP_SELECTOR
    second = platform.invoke(b"", invoke_type="detached").wait().json()

    assert backed_up(first) == backed_up(second) and len(backed_up(first)) == 6
    assert {b["id"] for b in first["backups"]} == {b["id"] for b in second["backups"]}
    assert len(inventory.backups()) == 5 + 2  # 4 volumes + 1 boot volume, and the group's 2 member backups


def test_a_selector_matching_nothing_is_no_targets(
    selecting: Callable[..., FnPlatform], inventory: BlockStorageEmulator
) -> None:
    answer = selecting().invoke({"selector": selector(freeformTags={"backup": "never"})})

    assert answer.json()["code"] == "NoTargets"


def test_throttling_above_ten_creates_slows_the_whole_run_and_nothing_fails(
    selecting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = selecting(BACKUP_MAX_CONCURRENCY="16")
    volumes = [volume(100 + n) for n in range(40)]
    for volume_id in volumes:
        emulator.add_volume(volume_id)
    emulator.max_concurrent_creates = 4
    emulator.latency_seconds = 0.1

    answer = platform.invoke({"source": "schedule", "volumeIds": volumes}, invoke_type="detached", deadline_seconds=60)

    summary = answer.wait(90).json()
    assert summary["errors"] == [] and summary["pending"] == [] and summary["notAttempted"] == []
    assert backed_up(summary) == sorted(volumes)
    throttled = [c for c in emulator.creates() if c.fault == "throttled"]
    assert len(throttled) < len(volumes)  # the run slowed down as a whole instead of hammering


@pytest.fixture
def functions(stack: LocalStack) -> Iterator[FunctionsEmulator]:
    with FunctionsEmulator(stack.identity) as served:
        yield served


def test_a_large_selection_is_handed_to_detached_invocations_in_batches_that_never_duplicate(
    selecting: Callable[..., FnPlatform], emulator: BlockStorageEmulator, functions: FunctionsEmulator
) -> None:
    volumes = [volume(200 + n) for n in range(10)]
    for volume_id in volumes:
        emulator.add_volume(volume_id, freeform_tags={"backup": "hourly"})
    platform = selecting(BACKUP_INVOKE_ENDPOINT=functions.endpoint, FN_FN_ID=FUNCTION_ID, BACKUP_BATCH_SIZE="3")
    functions.register(FUNCTION_ID, platform)
    tick = {"source": "schedule", "selector": selector(freeformTags={"backup": "hourly"}, kinds=["volume"])}

    parent = platform.invoke(tick, invoke_type="detached").wait().json()
    batches = functions.wait_for(4)
    answers = [batch.wait(30).json() for batch in batches]

    assert parent["batched"] == 10 and parent["errors"] == []
    assert [(b["batch"], b["targets"]) for b in parent["batches"]] == [(0, 3), (1, 3), (2, 3), (3, 1)]
    assert [b["opcRequestId"] for b in parent["batches"]] == [batch.opc_request_id for batch in batches]
    assert all(batch.invoke_type == "detached" for batch in batches)
    assert sorted(v for answer in answers for v in backed_up(answer)) == sorted(volumes)
    assert len(emulator.backups()) == 10

    # The parent redelivered, and one batch delivered again: the same backups, nothing new.
    platform.invoke(tick, invoke_type="detached").wait()
    again = [batch.wait(30).json() for batch in functions.wait_for(8)[4:]]
    replayed = platform.invoke(batches[0].body, invoke_type="detached").wait().json()
    assert len(emulator.backups()) == 10
    assert {b["id"] for a in again for b in a["backups"]} == {b["id"] for a in answers for b in a["backups"]}
    assert {b["id"] for b in replayed["backups"]} == {b["id"] for b in answers[0]["backups"]}


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("manual-selector.json", sorted([VOLUME_GROUP, VOLUMES[0], VOLUMES[1], BOOT_VOLUMES[0]])),
        ("schedule-selector.json", sorted([VOLUME_GROUP, VOLUMES[0], BOOT_VOLUMES[0]])),
    ],
)
def test_the_selector_samples_back_up_what_they_select(
    platform: FnPlatform, emulator: BlockStorageEmulator, sample: str, expected: list[str]
) -> None:
    summary = platform.invoke(event_bytes(sample), invoke_type="detached").wait().json()

    assert backed_up(summary) == expected
    assert {skip["resourceId"] for skip in summary["skipped"]} <= {VOLUMES[2]}


def test_the_volume_group_sample_makes_one_group_backup(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    backup = platform.invoke(event_bytes("manual-group.json")).json()

    assert backup["volumeGroupId"] == VOLUME_GROUP and backup["type"] == "FULL"
    assert len(backup["volumeBackupIds"]) == 1

"""Selector exclusions end to end: the function under the real fdk runtime, behind the platform model, against the
emulator through the real SDK.

A volume carrying any one excluded pair is left out of backups, of the coverage audit (counted, never a violation),
of restore tests, and its backups follow the orphan policy; a dry run says, for each resource listed, why it was
selected or left out. Configuration's exclusions (BACKUP_SELECTOR) hold for every selector a body sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT, TENANCY
from localdev.emulator import BlockStorageEmulator
from localdev.functions import FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, DAILY, SANDBOX, VOLUME_GROUP, VOLUMES
from localdev.stack import LocalStack
from tests.conftest import OWN, ago, event_json, states

pytestmark = pytest.mark.e2e

NEVER = {"backup": "never"}  # the worked example: everything in the compartment but what is tagged backup=never
BATCHED_FUNCTION = "ocid1.fnfunc.oc1.iad.aaaaaaaaexclusionsbatches000000000000000000000000000000000"
WEEKLY = "ocid1.volume.oc1.iad.abuwcljrexclusionsweekly000000000000000000000000000000000001"


def backed_up(summary: dict[str, Any]) -> list[str]:
    ids = [b.get("volumeId") or b.get("bootVolumeId") or b.get("volumeGroupId") for b in summary["backups"]]
    return sorted(ids)


def creates(emulator: BlockStorageEmulator) -> set[str]:
    """Every volume, boot volume and group a backup was asked for."""
    return {call.resource_id for call in emulator.calls if call.operation.startswith("create") and call.resource_id}


def configured(**selector: Any) -> str:
    return json.dumps({"compartmentId": COMPARTMENT, **selector})


def test_a_volume_tagged_backup_never_is_not_backed_up_though_everything_else_in_the_compartment_is(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.change_volume(VOLUMES[1], freeform_tags=NEVER)

    answer = platform.invoke(event_json("schedule-exclusions.json"))

    summary = answer.json()
    assert answer.status == 200 and summary["errors"] == []
    assert backed_up(summary) == sorted([VOLUMES[0], BOOT_VOLUMES[0], VOLUME_GROUP])  # VOLUMES[2]: through its group
    assert VOLUMES[1] not in creates(emulator)
    assert "selection" not in summary  # only a dry run explains its selection


def test_one_excluded_pair_is_enough_even_when_every_include_tag_matches(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    body = {
        "source": "schedule",
        "selector": {
            "compartmentId": COMPARTMENT,
            "freeformTags": DAILY,
            "excludeFreeformTags": {"backup-hold": "legal", "owner": "scratch"},
            "excludeDefinedTags": {"operations": {"TIER": "gold"}},  # defined names compare without case
        },
    }
    emulator.change_volume(VOLUMES[1], freeform_tags={**DAILY, "owner": "scratch"})

    summary = platform.invoke(body).json()

    # VOLUMES[0] and the boot volume carry Operations.tier=gold; VOLUMES[1] owner=scratch.
    assert backed_up(summary) == [VOLUMES[2]]


def test_an_exclusion_given_as_a_string_is_refused_naming_the_field(platform: FnPlatform) -> None:
    body = {"source": "schedule", "selector": {"compartmentId": COMPARTMENT, "excludeFreeformTags": "backup=never"}}

    answer = platform.invoke(body)

    document = answer.json()
    assert document["code"] == "InvalidRequest"
    assert document["errors"] == [{"field": "selector.excludeFreeformTags", "problem": "must be a JSON object"}]


def test_configured_exclusions_hold_for_a_selector_a_body_sends(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_SELECTOR=configured(excludeFreeformTags={"retain": "none"}))
    emulator.change_volume(VOLUMES[1], freeform_tags={**DAILY, "retain": "none"})

    manual = platform.invoke(event_json("manual-selector.json")).json()  # it names no exclusion itself
    widened = platform.invoke(
        {"source": "schedule", "selector": {"compartmentId": COMPARTMENT, "freeformTags": {"retain": "none"}}}
    ).json()

    assert VOLUMES[1] not in backed_up(manual) and VOLUMES[0] in backed_up(manual)
    assert widened["code"] == "InvalidRequest"
    assert widened["errors"][0]["field"] == "selector.freeformTags.retain"
    assert VOLUMES[1] not in creates(emulator)


def test_a_schedule_dry_run_says_why_each_listed_resource_was_selected_or_left_out(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.change_volume(VOLUMES[1], freeform_tags=NEVER)
    emulator.add_volume(WEEKLY, freeform_tags={"backup": "weekly"})
    body = {
        "source": "schedule",
        "dryRun": True,
        "selector": {
            "compartmentId": COMPARTMENT,
            "kinds": ["volumeGroup", "volume", "bootVolume"],
            "excludeFreeformTags": {"backup": "weekly"},
            "excludeDefinedTags": {"Operations": {"tier": "gold"}},
        },
    }

    document = platform.invoke(body).json()

    assert document["dryRun"] is True
    selection = document["selection"]
    reasons = {entry["resourceId"]: entry.get("reason") for entry in selection["resources"]}
    assert reasons == {
        VOLUME_GROUP: "excludeDefinedTags Operations.tier=gold",
        VOLUMES[0]: "excludeDefinedTags Operations.tier=gold",
        VOLUMES[1]: None,
        VOLUMES[2]: None,  # its group is left out, so it is backed up itself
        WEEKLY: "excludeFreeformTags backup=weekly",
        BOOT_VOLUMES[0]: "excludeDefinedTags Operations.tier=gold",
    }
    assert {entry["resourceId"] for entry in selection["resources"] if entry["selected"]} == {VOLUMES[1], VOLUMES[2]}
    assert (selection["selectedCount"], selection["leftOutCount"], selection["excludedCount"]) == (2, 4, 4)
    assert sorted(entry["resourceId"] for entry in document["wouldCreate"]) == sorted([VOLUMES[1], VOLUMES[2]])
    assert [call for call in emulator.calls if call.method != "GET"] == []


def test_a_dry_run_names_the_group_a_selected_member_is_backed_up_through_and_what_it_lacks(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.add_volume(WEEKLY, freeform_tags={"backup": "weekly"})
    body = {"selector": {"compartmentId": COMPARTMENT, "freeformTags": DAILY, "kinds": ["volumeGroup", "volume"]}}

    document = platform.invoke({**body, "dryRun": True}).json()

    reasons = {entry["resourceId"]: entry.get("reason") for entry in document["selection"]["resources"]}
    assert reasons[VOLUMES[2]] == f"member of selected volume group {VOLUME_GROUP}"
    assert reasons[WEEKLY] == "lacks freeformTags backup=daily"
    assert reasons[VOLUMES[0]] is None and reasons[VOLUME_GROUP] is None


def test_a_dry_run_that_selects_nothing_says_why_each_resource_was_left_out(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    body = {"selector": {"compartmentId": COMPARTMENT, "kinds": ["volume"], "excludeFreeformTags": DAILY}}

    document = platform.invoke({**body, "dryRun": True}).json()
    real = platform.invoke(body).json()

    assert document["code"] == real["code"] == "NoTargets"
    assert {entry["reason"] for entry in document["selection"]["resources"]} == {"excludeFreeformTags backup=daily"}
    assert "selection" not in real


def test_the_audit_counts_an_excluded_volume_and_never_flags_it(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    for volume_id in (VOLUMES[0], VOLUMES[2]):
        emulator.add_backup(volume_id, time_created=ago(0.1))
    emulator.change_volume(VOLUMES[1], freeform_tags=NEVER)  # no backup at all: it would break the RPO
    body = {
        "source": "audit",
        "selector": {"compartmentId": COMPARTMENT, "kinds": ["volume"], "excludeFreeformTags": NEVER},
    }

    answer = platform.invoke(body).json()

    assert answer["excluded"] == 1 and answer["checked"] == 2 and answer["compliant"] == 2
    assert answer["violations"] == []


def test_the_audit_of_a_body_selector_honours_the_configured_exclusions(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_SELECTOR=configured(excludeFreeformTags=NEVER))
    emulator.change_volume(VOLUMES[1], freeform_tags=NEVER)

    answer = platform.invoke({"source": "audit", "selector": {"compartmentId": COMPARTMENT, "kinds": ["volume"]}})

    document = answer.json()
    assert document["excluded"] == 1 and VOLUMES[1] not in {v["resourceId"] for v in document["violations"]}
    assert document["selector"]["configuredExcludeFreeformTags"] == NEVER


@pytest.mark.parametrize(
    ("policy", "after"), [("keep-last-one", ["TERMINATED", "TERMINATED", "AVAILABLE"]), ("keep", None)]
)
def test_the_backups_of_a_volume_newly_excluded_follow_the_orphan_policy_and_the_newest_stays(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, policy: str, after: list[str] | None
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_ORPHANS=policy)
    own = [emulator.add_backup(VOLUMES[1], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    emulator.change_volume(VOLUMES[1], freeform_tags=NEVER)  # excluded from now on

    answer = platform.invoke(event_json("schedule-exclusions.json"), invoke_type="detached", deadline_seconds=60)

    summary = answer.wait().json()
    assert VOLUMES[1] not in backed_up(summary)
    assert summary["orphans"]["notSelected"] == 1 and summary["orphans"]["policy"] == policy
    found = states(emulator)
    assert [found[b] for b in own] == (after or ["AVAILABLE"] * 3)
    assert found[own[-1]] == "AVAILABLE"  # the newest is never deleted


def test_a_restore_test_never_restores_a_volume_configuration_excludes(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 3600  # the tick's own backups stay CREATING: the seeded ones are tested
    platform = start_platform(
        BACKUP_RESTORE_TEST_COMPARTMENT_ID=SANDBOX,
        BACKUP_RESTORE_TEST_MAX="2",
        BACKUP_SELECTOR=configured(excludeFreeformTags=NEVER),
    )
    emulator.change_volume(VOLUMES[1], freeform_tags=NEVER)
    excluded = emulator.add_backup(VOLUMES[1], time_created=ago(1))
    tested = emulator.add_backup(VOLUMES[0], time_created=ago(1))

    answer = platform.invoke({"source": "schedule", "volumeIds": [VOLUMES[1], VOLUMES[0]]})

    section = answer.json()["restoreTests"]
    assert [entry["backupId"] for entry in section["started"]] == [tested]
    assert {entry.get("volumeId") for entry in section["ignored"]} == {VOLUMES[1]}
    restored = {v["sourceDetails"]["id"] for v in emulator.volumes() if v["compartmentId"] == SANDBOX}
    assert restored == {tested} and excluded not in restored


def test_a_tick_split_into_batches_sweeps_a_newly_excluded_volume_as_not_selected(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, stack: LocalStack
) -> None:
    emulator.in_progress_seconds = 0.0
    selected = [f"ocid1.volume.oc1.iad.abuwcljrexclusionsbatch{n:037d}" for n in range(4)]
    for volume_id in selected:
        emulator.add_volume(volume_id, freeform_tags={"backup": "hourly"})
    emulator.add_volume(WEEKLY, freeform_tags={"backup": "hourly", "hold": "yes"})  # excluded from now on
    own = [emulator.add_backup(WEEKLY, time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    with FunctionsEmulator(stack.identity) as functions:
        platform = start_platform(
            BACKUP_INVOKE_ENDPOINT=functions.endpoint,
            FN_FN_ID=BATCHED_FUNCTION,
            BACKUP_BATCH_SIZE="2",
            BACKUP_RETENTION_KEEP_LAST="1",
            BACKUP_SELECTOR=configured(excludeFreeformTags={"hold": "yes"}),
        )
        functions.register(BATCHED_FUNCTION, platform)
        body = {
            "source": "schedule",
            "selector": {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "hourly"}, "kinds": ["volume"]},
        }

        parent = platform.invoke(body, invoke_type="detached").wait().json()
        answers = [batch.wait(30).json() for batch in functions.wait_for(2)]

    assert parent["batched"] == 4 and parent["orphans"]["notSelected"] == 1
    assert WEEKLY not in {b.get("volumeId") for answer in answers for b in answer["backups"]}
    found = states(emulator)
    assert [found[b] for b in own] == ["TERMINATED", "TERMINATED", "AVAILABLE"]


def test_the_restore_test_sandbox_is_neither_audited_nor_backed_up_and_a_dry_run_says_so(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, stack: LocalStack
) -> None:
    emulator.add_compartment(COMPARTMENT, TENANCY, "backups")
    emulator.add_compartment(SANDBOX, COMPARTMENT, "restore-tests")
    in_sandbox = "ocid1.volume.oc1.iad.abuwcljrexclusionssandbox00000000000000000000000000000002"
    emulator.add_volume(in_sandbox, compartment_id=SANDBOX, freeform_tags=DAILY)  # a restore test, no backup
    for volume_id in (*VOLUMES, *BOOT_VOLUMES):
        emulator.add_backup(volume_id, time_created=ago(0.1))
    platform = start_platform(
        BACKUP_IDENTITY_ENDPOINT=stack.emulator.endpoint, BACKUP_RESTORE_TEST_COMPARTMENT_ID=SANDBOX
    )
    below = {"compartmentId": COMPARTMENT, "freeformTags": DAILY, "includeSubcompartments": True}

    audit = platform.invoke({"source": "audit", "selector": below}).json()
    dry = platform.invoke({"source": "schedule", "selector": below, "dryRun": True}).json()

    assert audit["violations"] == [] and audit["checked"] == 4
    reasons = {entry["resourceId"]: entry.get("reason") for entry in dry["selection"]["resources"]}
    assert reasons[SANDBOX] == "in the restore-test sandbox: never listed, never backed up"
    assert in_sandbox not in reasons

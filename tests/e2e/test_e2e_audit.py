"""The coverage audit end to end: the function under the real fdk runtime, behind the platform model, reading the
emulator (and the copy region's) through the real SDK.

The seeded world (localdev/audit_world.py) holds volumes that break each rule and volumes that break none;
an audit must report exactly the first, and never call anything but list operations.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backup_handler.runs.audit import MAX_LISTED
from localdev.audit_world import KEY, OWN, AuditWorld, configuration, seed_audit_world
from localdev.credentials import COMPARTMENT, TENANCY
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.tenancy import seed_tenancy
from tests.conftest import ago, event_bytes

pytestmark = pytest.mark.e2e

NAMESPACE = "backup_handler"
TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaabackupfailures000000000000000000000000000000000000"
DIGEST_TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaaauditdigest0000000000000000000000000000000000000000"
REPORTING = {
    "BACKUP_METRICS_NAMESPACE": NAMESPACE,
    "BACKUP_METRICS_COMPARTMENT_ID": COMPARTMENT,
    "BACKUP_NOTIFY_TOPIC_ID": TOPIC,
}


@pytest.fixture
def world(emulator: BlockStorageEmulator, peer: BlockStorageEmulator) -> AuditWorld:
    return seed_audit_world(emulator, peer)


@pytest.fixture
def auditor(start_platform: Callable[..., FnPlatform], peer: BlockStorageEmulator) -> Callable[..., FnPlatform]:
    """A function configured with the rules the world is audited under (and further overrides)."""

    def start(**env: str) -> FnPlatform:
        return start_platform(**{**configuration(peer), **env})

    return start


def audit(world: AuditWorld, **extra: Any) -> dict[str, Any]:
    return {"source": "audit", "selector": world.selector, **extra}


def by_rule(answer: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for violation in answer["violations"]:
        found[violation["rule"]].add(violation["resourceId"])
    return dict(found)


def operations(emulator: BlockStorageEmulator, since: int = 0) -> list[str]:
    return [call.operation for call in emulator.calls[since:]]


def metrics(emulator: BlockStorageEmulator, trigger: str) -> dict[str, float]:
    return {
        item["name"]: item["datapoints"][-1]["value"]
        for item in emulator.metrics()
        if item["dimensions"]["trigger"] == trigger
    }


# ------------------------------------------------------------------------------------------------ the rules


def test_an_audit_reports_exactly_the_resources_that_break_each_rule(
    auditor: Callable[..., FnPlatform], world: AuditWorld
) -> None:
    platform = auditor()

    invocation = platform.invoke(audit(world))
    answer = invocation.json()

    assert invocation.status == 200 and answer["trigger"] == "audit", answer
    assert by_rule(answer) == {rule: set(ids) for rule, ids in world.expected.items()}
    assert answer["counts"] == {rule: len(ids) for rule, ids in world.expected.items()}
    assert answer["checked"] == world.checked == 9
    assert answer["compliant"] == len(world.compliant) == 4
    assert answer["withoutBackup"] == 1
    assert set(answer["rules"]) == {"rpo", "copy", "lock", "key"}
    for outside in world.outside:
        assert outside not in json.dumps(answer)
    # The stale volume's backup is the oldest newest-backup among the selected (48 hours).
    assert answer["oldestNewestBackupHours"] == pytest.approx(48, abs=0.1)


def test_an_audit_only_ever_lists_in_either_region(
    auditor: Callable[..., FnPlatform],
    world: AuditWorld,
    emulator: BlockStorageEmulator,
    peer: BlockStorageEmulator,
) -> None:
    platform = auditor()
    before, peer_before = len(emulator.calls), len(peer.calls)

    answer = platform.invoke(audit(world)).json()

    source, copies = operations(emulator, before), operations(peer, peer_before)
    assert answer["checked"] == world.checked
    assert source and copies
    assert all(op.startswith("list") for op in source + copies), source + copies
    # In bulk: one list of each kind per compartment, never one per volume.
    assert sorted(source) == sorted(
        [
            "listVolumeGroups",
            "listVolumes",
            "listBootVolumes",
            "listVolumeGroupBackups",
            "listVolumeBackups",
            "listBootVolumeBackups",
        ]
    )
    assert sorted(copies) == ["listBootVolumeBackups", "listVolumeBackups"]
    assert answer["listCalls"] == len(source) + len(copies)
    assert all(call.resource_id is None for call in emulator.calls[before:])


def test_storage_is_each_backups_unique_size_counting_a_group_backup_once(
    auditor: Callable[..., FnPlatform], world: AuditWorld, emulator: BlockStorageEmulator
) -> None:
    platform = auditor()

    answer = platform.invoke(audit(world)).json()

    selected = set(world.compliant) | set().union(*world.expected.values())
    volume_backups = [b for b in emulator.backups() if (b.get("volumeId") or b.get("bootVolumeId")) in selected]
    group_backups = [b for b in emulator.volume_group_backups() if b["volumeGroupId"] in selected]
    expected = sum(b["uniqueSizeInGBs"] for b in volume_backups) + sum(b["uniqueSizeInGbs"] for b in group_backups)
    assert expected > 0 and all(b["uniqueSizeInGBs"] for b in volume_backups)
    assert answer["storage"]["totalGBs"] == expected
    per_volume = {entry["resourceId"]: entry for entry in answer["storage"]["perVolume"]}
    (group,) = [b["volumeGroupId"] for b in group_backups]
    assert per_volume[group]["gbs"] == group_backups[0]["uniqueSizeInGbs"] == 100  # two members of 500 GB, a tenth
    sizes = [entry["gbs"] for entry in answer["storage"]["perVolume"]]
    assert sizes == sorted(sizes, reverse=True)


def test_a_newer_backup_by_a_person_does_not_hide_an_unlocked_backup_of_the_deployment(
    auditor: Callable[..., FnPlatform], world: AuditWorld, emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    volume = world.compliant[0]
    emulator.add_backup(volume, time_created=ago(1 / 48), freeform_tags=OWN, kms_key_id=KEY)  # own, unlocked

    answer = auditor().invoke(audit(world)).json()

    found = by_rule(answer)
    assert volume in found["lock"] and volume in found["copy"]  # the newest (own, unlocked, not yet copied)
    assert answer["counts"]["lock"] == 2 and answer["counts"]["copy"] == 2


def test_copies_still_within_the_grace_are_not_violations(
    auditor: Callable[..., FnPlatform], world: AuditWorld
) -> None:
    (no_copy,) = world.expected["copy"]

    answer = auditor(BACKUP_AUDIT_COPY_GRACE_HOURS="3").invoke(audit(world)).json()

    # Its newest backup (2 hours old) may still be copying: the one before it (30 hours, copied) is checked.
    assert "copy" not in by_rule(answer) and answer["counts"]["copy"] == 0
    assert no_copy not in {v["resourceId"] for v in answer["violations"]}


def test_rules_follow_configuration_only(
    start_platform: Callable[..., FnPlatform], world: AuditWorld, peer: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_AUDIT_RPO_HOURS="72")  # no copy region, no lock, no key

    answer = platform.invoke(audit(world)).json()

    no_backup = {resource for resource in world.expected["rpo"] if "nobackup" in resource}
    assert set(answer["rules"]) == {"rpo"} and answer["counts"] == {"rpo": 1}
    assert by_rule(answer) == {"rpo": no_backup}  # the 48-hour-old backup is within 72 hours
    assert peer.calls == []  # nothing asked of the copy region


def test_without_a_selector_in_the_body_the_audit_selects_what_backup_selector_does(
    auditor: Callable[..., FnPlatform], world: AuditWorld
) -> None:
    platform = auditor(BACKUP_SELECTOR=json.dumps(world.selector))

    answer = platform.invoke({"source": "audit"}).json()
    scheduled = platform.invoke({"source": "audit"}, invoke_type="detached").wait().json()

    assert answer["selectorFrom"] == "configuration" and answer["checked"] == world.checked
    assert scheduled["counts"] == answer["counts"]


def test_an_audit_with_no_selector_anywhere_is_refused_before_any_call(
    auditor: Callable[..., FnPlatform], emulator: BlockStorageEmulator, world: AuditWorld
) -> None:
    before = len(emulator.calls)

    answer = auditor().invoke(event_bytes("audit-schedule.json").replace(b'"selector"', b'"x"')).json()
    empty = auditor().invoke({"source": "audit"}).json()

    assert answer["code"] == "InvalidRequest" and answer["errors"][0]["field"] == "x"
    assert empty["code"] == "NoTargets" and "BACKUP_SELECTOR" in empty["message"]
    assert len(emulator.calls) == before


def test_the_sample_audit_bodies_audit_the_sample_volumes(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    plain = platform.invoke(event_bytes("audit.json")).json()
    scheduled = platform.invoke(event_bytes("audit-schedule.json"), invoke_type="detached").wait().json()

    assert plain["checked"] == 4 and plain["counts"] == {"rpo": 4}  # 3 volumes, 1 boot volume, none backed up
    assert scheduled["checked"] == 5 and scheduled["compliant"] == 0  # and the volume group


# ---------------------------------------------------------------------------------------------- reporting


def test_an_audit_posts_a_metric_per_rule_and_alerts_with_the_counts_in_the_title(
    auditor: Callable[..., FnPlatform], world: AuditWorld, emulator: BlockStorageEmulator
) -> None:
    emulator.add_topic(TOPIC)
    platform = auditor(**REPORTING)

    invocation = platform.invoke(audit(world))

    posted = metrics(emulator, "audit")
    assert posted == {
        "audit_checked": 9.0,
        "audit_compliant": 4.0,
        "audit_violations": 5.0,
        "audit_incomplete": 0.0,
        "volumes_out_of_rpo": 2.0,
        "volumes_without_copy": 1.0,
        "volumes_unlocked": 1.0,
        "volumes_wrong_key": 1.0,
        "audit_oldest_backup_hours": pytest.approx(48, abs=0.1),
        "backup_storage_gbs": invocation.json()["storage"]["totalGBs"],
    }
    assert "backups_created" not in {item["name"] for item in emulator.metrics()}  # absence alarms stay honest
    (message,) = emulator.messages(TOPIC)
    assert message["title"].startswith("backup-handler: audit alert: 5 of 9 unprotected")
    assert "rpo 2, copy 1, lock 1, key 1" in message["title"]
    body = json.loads(message["body"])
    assert {(v["resourceId"], v["rule"]) for v in body["violations"]} == {
        (resource, rule) for rule, ids in world.expected.items() for resource in ids
    }
    assert body["callId"] == invocation.call_id


def test_a_compliant_audit_is_silent_unless_the_digest_is_asked_for(
    auditor: Callable[..., FnPlatform], world: AuditWorld, emulator: BlockStorageEmulator
) -> None:
    emulator.add_topic(TOPIC)
    emulator.add_topic(DIGEST_TOPIC)
    compliant = {**world.selector, "kinds": ["volumeGroup"]}  # the world's group: protected

    auditor(**REPORTING).invoke({"source": "audit", "selector": compliant})
    silent = emulator.messages(TOPIC) + emulator.messages(DIGEST_TOPIC)
    digest = auditor(**REPORTING, BACKUP_AUDIT_DIGEST="true", BACKUP_AUDIT_DIGEST_TOPIC_ID=DIGEST_TOPIC)
    digest.invoke({"source": "audit", "selector": compliant})
    digest.invoke(audit(world))

    assert silent == []
    first, second = emulator.messages(DIGEST_TOPIC)
    assert first["title"] == "backup-handler: audit digest: all 1 protected (rpo 0, copy 0, lock 0, key 0)"
    assert second["title"].startswith("backup-handler: audit digest: 5 of 9 unprotected")
    (alert,) = emulator.messages(TOPIC)  # the failure alert goes where failures go, besides the digest
    assert alert["title"].startswith("backup-handler: audit alert: 5 of 9")


def test_a_digest_on_the_alert_topic_is_published_once(
    auditor: Callable[..., FnPlatform], world: AuditWorld, emulator: BlockStorageEmulator
) -> None:
    emulator.add_topic(TOPIC)

    auditor(**REPORTING, BACKUP_AUDIT_DIGEST="true").invoke(audit(world))

    (message,) = emulator.messages(TOPIC)
    assert "audit alert: 5 of 9" in message["title"]


def test_an_audit_that_cannot_finish_says_so_and_claims_nothing(
    auditor: Callable[..., FnPlatform], world: AuditWorld, emulator: BlockStorageEmulator
) -> None:
    emulator.add_topic(TOPIC)
    platform = auditor(**REPORTING, BACKUP_MAX_ATTEMPTS="1")
    emulator.inject(Fault("listVolumeBackups", status=404, code="NotAuthorizedOrNotFound"))

    sync = platform.invoke(audit(world))
    emulator.inject(Fault("listVolumeBackups", status=500))
    detached = platform.invoke(audit(world), invoke_type="detached")

    assert sync.status == 200 and sync.json()["code"] == "NotAuthorizedOrNotFound"  # a person reads it
    assert detached.wait().status == 502  # a schedule's redelivery could finish it
    assert metrics(emulator, "audit") == {"audit_incomplete": 1.0}
    titles = [message["title"] for message in emulator.messages(TOPIC)]
    assert titles == [
        "backup-handler: audit could not finish (NotAuthorizedOrNotFound)",
        "backup-handler: audit could not finish (InternalServerError)",
    ]


def test_many_violations_are_listed_up_to_the_bound_and_counted(
    auditor: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    tags = {"audit": "many"}
    for n in range(MAX_LISTED + 30):
        emulator.add_volume(f"ocid1.volume.oc1.iad.abuwcljrmanyunprotected{n:040d}", freeform_tags=tags)

    answer = auditor().invoke({"source": "audit", "selector": {"compartmentId": COMPARTMENT, "freeformTags": tags}})

    document = answer.json()
    assert len(document["violations"]) == MAX_LISTED and document["moreViolations"] == 30
    assert document["counts"]["rpo"] == MAX_LISTED + 30 and document["checked"] == MAX_LISTED + 30


# ------------------------------------------------------------------------------------------------- hostile


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"source": "audit", "selector": {"compartmentId": COMPARTMENT}, "volumeId": "ocid1.volume.oc1.iad.a"},
            "volumeId",
        ),
        ({"source": "audit", "selector": {"compartmentId": COMPARTMENT}, "dryRun": False}, "dryRun"),
        ({"source": "audit", "rules": {"rpo": 99999}}, "rules"),
        (
            {"source": "audit", "selector": {"compartmentId": COMPARTMENT, "includeSubcompartments": "true"}},
            "selector.includeSubcompartments",
        ),
        (
            {"source": "audit", "selector": {"compartmentId": COMPARTMENT, "includeSubcompartments": 1}},
            "selector.includeSubcompartments",
        ),
        (
            {"source": "audit", "selector": {"compartmentId": COMPARTMENT, "freeformTags": {"a": 1}}},
            "selector.freeformTags.a",
        ),
        ({"source": "audit", "selector": {"compartmentId": COMPARTMENT, "kinds": "volume"}}, "selector.kinds"),
        ({"source": "audit", "selector": {"compartmentId": COMPARTMENT, "kinds": ["instance"]}}, "selector.kinds[0]"),
        ({"source": "audit", "selector": json.dumps({"compartmentId": COMPARTMENT})}, "selector"),
        ({"source": "audit", "selector": {"compartmentId": "ocid1.volume.oc1.iad.abc"}}, "selector.compartmentId"),
        (
            {
                "source": "audit",
                "selector": {"compartmentId": COMPARTMENT, "freeformTags": {f"k{n}": "v" for n in range(5000)}},
            },
            "selector.freeformTags",
        ),
        ({"source": "audit", **{f"field{n}": n for n in range(2000)}}, "(body)"),
    ],
    ids=[
        "a-backup-target",
        "dry-run",
        "rules-from-the-body",
        "string-for-a-boolean",
        "number-for-a-boolean",
        "number-for-a-tag",
        "string-for-a-list",
        "unknown-kind",
        "selector-as-a-string",
        "not-a-compartment",
        "thousands-of-tags",
        "thousands-of-fields",
    ],
)
def test_a_forged_or_sloppy_audit_body_is_refused_naming_the_field_and_calls_nothing(
    platform: FnPlatform, emulator: BlockStorageEmulator, body: dict[str, Any], field: str
) -> None:
    before = len(emulator.calls)

    answer = platform.invoke(body).json()

    assert answer["code"] == "InvalidRequest", answer
    assert answer["errors"][0]["field"] == field
    assert len(json.dumps(answer)) < 4000
    assert len(emulator.calls) == before and emulator.creates() == []


def test_an_audit_body_never_becomes_a_backup(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    forged = {
        "source": "audit",
        "volumeId": "ocid1.volume.oc1.iad.abuwcljrdatavolume0000000000000000000000000000000000000001",
    }

    answer = platform.invoke(forged, invoke_type="detached").wait()

    assert answer.status == 200 and answer.json()["code"] == "InvalidRequest"
    assert emulator.creates() == [] and emulator.backups() == []


def test_an_audit_of_a_large_tenancy_near_the_deadline_answers_in_time_and_claims_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    seed_tenancy(emulator, volumes=2_000)
    platform = start_platform()
    selector = {"compartmentId": TENANCY, "includeSubcompartments": True}
    held = threading.Event()  # the backup listing does not answer before the deadline
    emulator.inject(Fault("listVolumeBackups", hold=held), Fault("listVolumeBackups", hold=held))

    try:
        started = time.monotonic()
        sync = platform.invoke({"source": "audit", "selector": selector}, deadline_seconds=3)
        sync_seconds = time.monotonic() - started
        detached = platform.invoke(
            {"source": "audit", "selector": selector}, invoke_type="detached", deadline_seconds=3
        )
        answer = detached.wait(10)
    finally:
        held.set()

    assert sync.status == 200 and sync.json()["code"] == "DeadlineExceeded" and sync_seconds < 3
    assert answer.status == 504  # a schedule's delivery failed: it may be tried again
    assert emulator.creates() == []


def test_a_hostile_backup_list_cannot_break_the_answer_or_make_a_stale_volume_look_protected(
    auditor: Callable[..., FnPlatform], world: AuditWorld, emulator: BlockStorageEmulator
) -> None:
    (no_backup,) = [resource for resource in world.expected["rpo"] if "nobackup" in resource]
    (stale,) = [resource for resource in world.expected["rpo"] if "stale" in resource]
    platform = auditor()
    honest = platform.invoke(audit(world)).json()
    future = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    emulator.add_backup(no_backup, time_created=future, kms_key_id=KEY, unique_size_in_gbs=10**306)
    emulator.add_backup(stale, time_created=future, kms_key_id=KEY)

    answer = platform.invoke(audit(world)).json()

    assert by_rule(answer) == by_rule(honest)  # dated in the future: trusted for nothing
    # An absurd size counts as none; the stale volume's future-dated backup stores its 20 GB all the same.
    assert answer["storage"]["totalGBs"] == honest["storage"]["totalGBs"] + 20
    details = {v["resourceId"]: v["detail"] for v in answer["violations"]}
    assert "1 dated in the future" in details[no_backup]

"""What operators and their pagers hear of retention, end to end: its metrics and its failure summaries.

The function runs under the real fdk runtime behind the platform model; the emulator serves Block Storage,
Monitoring's PostMetricData and Notifications' PublishMessage (signed like every call) and records what
they received. A deletion cap reached (keep-last lowered sharply, or a backlog) and a deletion that failed
reach the Notifications topic; the cap's metric is what the stack's alarm watches. A dry run posts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backup_handler.reporting import retention
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES
from tests.conftest import OWN, PEER_REGION, ago, backup_end, states
from tests.e2e.test_e2e_reporting import REPORTING, TOPIC
from tests.e2e.test_e2e_retention import GONE, seed_hourly, tick

pytestmark = pytest.mark.e2e

ANSWERS = Path(__file__).resolve().parent.parent / "fixtures" / "answers"


@pytest.fixture
def reporting(start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator) -> Callable[..., FnPlatform]:
    """A function with metrics and failure summaries configured (and further overrides)."""
    emulator.add_topic(TOPIC)

    def start(**env: str) -> FnPlatform:
        return start_platform(**{**REPORTING, **env})

    return start


def posted(emulator: BlockStorageEmulator, trigger: str) -> list[dict[str, float]]:
    """Each PostMetricData of ``trigger`` in order: its metrics by name."""
    calls: list[dict[str, float]] = []
    for item in emulator.metrics():
        if item["dimensions"]["trigger"] != trigger:
            continue
        if item["name"] == "backups_created":  # the first metric of each invocation's post
            calls.append({})
        calls[-1][item["name"]] = item["datapoints"][-1]["value"]
    return calls


def of_retention(values: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in values.items() if name in retention.NAMES}


def shape(document: dict[str, Any]) -> dict[str, Any]:
    """The keys of an answer and of its retention sections (what tests/fixtures/answers must still match)."""
    return {
        "keys": sorted(document),
        "retentionCapped": sorted(document.get("retentionCapped", {})),
        "orphans": sorted(document.get("orphans", {})),
    }


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ANSWERS / f"{name}.json").read_text())
    return document


def test_keep_last_lowered_sharply_hits_the_cap_and_the_pager_gets_its_metric_and_a_summary(
    reporting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    lowered = {"BACKUP_RETENTION_KEEP_LAST": "1", "BACKUP_RETENTION_MAX_DELETES_PER_VOLUME": "5"}
    own = seed_hourly(emulator, VOLUMES[0], [ago(12 - d) for d in range(12)])  # oldest first; keep-last was 30
    dry = reporting(**lowered, BACKUP_DRY_RUN="true")
    platform = reporting(**lowered)

    preview = dry.invoke(backup_end(own[-1])).json()
    assert preview["dryRun"] is True and preview["retentionCapped"]["heldCount"] == 6
    assert emulator.metrics() == [] and emulator.messages(TOPIC) == []  # a dry run posts nothing

    answers = [platform.invoke(backup_end(own[-1])) for _ in range(3)]

    first, second, third = (answer.json() for answer in answers)
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert shape(first) == shape(fixture("event-capped"))  # the unit tests' answers have the live shape
    assert (first["deletedCount"], second["deletedCount"], third["deletedCount"]) == (5, 5, 1)
    assert first["retentionCapped"] == {
        "reason": "BACKUP_RETENTION_MAX_DELETES_PER_VOLUME (5) reached for a volume in this run: "
        "the rest of what is due is deleted by later runs",
        "heldCount": 6,
        "heldByVolumeCap": 6,
        "heldByRunCap": 0,
    }
    assert [of_retention(values) for values in posted(emulator, "event")] == [
        {
            "retention_deleted": deleted,
            "retention_held": held,
            "retention_held_volume_cap": held,
            "retention_held_run_cap": 0.0,
        }
        for deleted, held in ((5.0, 6.0), (5.0, 1.0), (1.0, 0.0))
    ]
    # The first two runs reached the cap: a summary each; the third deleted the rest within it: none.
    first_message, second_message = emulator.messages(TOPIC)
    assert first_message["title"] == (
        "backup-handler: event run retention held back 6 deletion(s) at BACKUP_RETENTION_MAX_DELETES_PER_VOLUME"
    )
    body = json.loads(first_message["body"])
    assert body["callId"] == answers[0].call_id and body["failed"] == 0 and body["lifecycleFailed"] == 0
    assert body["retention"] == {
        "deleted": 5,
        "held": 6,
        "heldByVolumeCap": 6,
        "heldByRunCap": 0,
        "capReason": first["retentionCapped"]["reason"],
        "copied": 0,
    }
    assert json.loads(second_message["body"])["retention"]["held"] == 1
    assert [states(emulator)[b] for b in own].count("AVAILABLE") == 1


def test_a_tick_stopped_by_the_cap_in_all_reports_which_cap_and_its_orphan_sweep(
    reporting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = reporting(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_MAX_DELETES="4")
    for volume in VOLUMES[:2]:
        seed_hourly(emulator, volume, [ago(6 - d) for d in range(6)])
    gone = seed_hourly(emulator, GONE, [ago(d) for d in (4, 3, 2, 1)])

    preview = tick(platform, *VOLUMES[:2], dryRun=True)
    assert preview["dryRun"] is True and emulator.metrics() == [] and emulator.messages(TOPIC) == []
    summary = tick(platform, *VOLUMES[:2])

    assert shape(summary) == shape(fixture("schedule-capped"))
    assert summary["retentionCapped"]["heldByRunCap"] == summary["retentionCapped"]["heldCount"] == 11
    (values,) = posted(emulator, "schedule")
    assert of_retention(values) == {
        "retention_deleted": 4.0,
        "retention_held": 11.0,
        "retention_held_volume_cap": 0.0,
        "retention_held_run_cap": 11.0,
        "retention_orphans_deleted": 0.0,
    }
    assert values["backups_created"] == 2.0 and values["backups_failed"] == 0.0
    (message,) = emulator.messages(TOPIC)
    assert message["title"] == (
        "backup-handler: schedule run retention held back 11 deletion(s) at BACKUP_RETENTION_MAX_DELETES"
    )
    assert json.loads(message["body"])["retention"]["orphansDeleted"] == 0
    assert all(states(emulator)[b] == "AVAILABLE" for b in gone)  # held back: the next tick's


def test_a_failed_deletion_in_the_orphan_sweep_is_summarised_with_what_retention_did(
    reporting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = reporting(BACKUP_RETENTION_KEEP_LAST="2", BACKUP_MAX_ATTEMPTS="1")
    seed_hourly(emulator, VOLUMES[0], [ago(2)])  # with the tick's own: two, none due
    gone = seed_hourly(emulator, GONE, [ago(d) for d in (4, 3, 2, 1)])
    emulator.inject(Fault("deleteVolumeBackup", status=500, code="InternalServerError"))  # the first deletion

    summary = tick(platform, VOLUMES[0])

    assert [error["resourceId"] for error in summary["lifecycleErrors"]] == [gone[0]]
    (values,) = posted(emulator, "schedule")
    assert values["lifecycle_failed"] == 1.0 and values["backups_failed"] == 0.0
    assert values["retention_deleted"] == 1.0 and values["retention_orphans_deleted"] == 1.0
    (message,) = emulator.messages(TOPIC)
    assert message["title"] == "backup-handler: schedule run retention/copy failed for 1 backup(s)"
    body = json.loads(message["body"])
    assert body["retention"] == {"deleted": 1, "orphansDeleted": 1, "copied": 0}
    assert body["lifecycleErrors"][0]["resourceId"] == gone[0]


def test_marks_and_copies_are_posted_where_configured_and_a_manual_backup_posts_none_of_it(
    reporting: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    graced = reporting(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_GRACE="1d")
    copying = reporting(BACKUP_COPY_REGION=PEER_REGION, BACKUP_COPY_ENDPOINT=peer.endpoint)
    seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (3, 2, 1)])
    newest = emulator.add_backup(VOLUMES[1], time_created=ago(0.5), freeform_tags=OWN)

    marked = tick(graced, VOLUMES[0])
    copied = copying.invoke(backup_end(newest, VOLUMES[1])).json()
    manual = copying.invoke({"volumeId": VOLUMES[2]})

    assert shape(marked) == shape(fixture("schedule-grace")) and marked["markedCount"] == 3
    assert copied["copiedCount"] == 1 and manual.status == 200
    (scheduled,) = posted(emulator, "schedule")
    assert of_retention(scheduled) == {
        "retention_deleted": 0.0,
        "retention_held": 0.0,
        "retention_held_volume_cap": 0.0,
        "retention_held_run_cap": 0.0,
        "retention_marked": 3.0,
        "retention_orphans_deleted": 0.0,
    }
    (event,) = posted(emulator, "event")
    assert of_retention(event) == {"backups_copied": 1.0}  # copies only: no retention metric
    (by_hand,) = posted(emulator, "manual")
    assert of_retention(by_hand) == {}  # no lifecycle on the manual path: no zeros posted for it
    assert emulator.messages(TOPIC) == []  # within the caps, nothing failed: nobody is paged

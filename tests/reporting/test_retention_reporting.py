"""Unit tests: what operators hear of retention, from answers the function really gave.

The answer documents in tests/fixtures/answers/ were written by the function under the real fdk runtime
against the emulator, in the scenarios of tests/e2e/test_e2e_retention.py (keep-last lowered under a
per-volume cap, a tick stopped by the cap in all with an orphan sweep, a grace period, a failed deletion, a
copy region); tests/e2e/test_e2e_retention_reporting.py checks that the live answers still have their shape.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backup_handler.answers.response import Reply
from backup_handler.reporting import retention
from backup_handler.reporting.metrics import metric_data
from backup_handler.reporting.notify import MAX_BODY_CHARS, message
from backup_handler.reporting.tally import Tally
from backup_handler.settings import Settings
from localdev.credentials import COMPARTMENT

ANSWERS = Path(__file__).resolve().parent.parent / "fixtures" / "answers"
METRICS = {"metrics_namespace": "backups", "metrics_compartment_id": COMPARTMENT}
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def answer(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ANSWERS / f"{name}.json").read_text())
    return document


def reply(name: str) -> Reply:
    document = answer(name)
    return Reply(502 if document["lifecycleErrors"] else 200, document, trigger=document["trigger"])


def posted(name: str | Reply, **settings: Any) -> dict[str, float]:
    """Each metric posted for an answer under ``settings`` (with metrics configured), by name."""
    tally = Tally.of(reply(name) if isinstance(name, str) else name, 0.5)
    body = metric_data(Settings(**METRICS, **settings), tally, "fn", AT)
    assert len(body["metricData"]) <= 50  # PostMetricData's limit per call
    dimensions = {json.dumps(item["dimensions"], sort_keys=True) for item in body["metricData"]}
    assert len(dimensions) == 1  # the same bounded dimensions as every other metric
    return {item["name"]: item["datapoints"][0]["value"] for item in body["metricData"]}


def of_retention(values: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in values.items() if name in retention.NAMES}


@pytest.mark.parametrize(
    ("name", "settings", "expected"),
    [
        (
            "event-capped",
            {"retention_keep_last": 1, "retention_max_deletes_per_volume": 5},
            {
                "retention_deleted": 5.0,
                "retention_held": 6.0,
                "retention_held_volume_cap": 6.0,
                "retention_held_run_cap": 0.0,
            },
        ),
        (
            "schedule-capped",
            {"retention_keep_last": 1, "retention_max_deletes": 4},
            {
                "retention_deleted": 4.0,
                "retention_held": 11.0,
                "retention_held_volume_cap": 0.0,
                "retention_held_run_cap": 11.0,
                "retention_orphans_deleted": 0.0,
            },
        ),
        (
            "schedule-grace",
            {"retention_keep_last": 1, "retention_grace": "1d"},
            {
                "retention_deleted": 0.0,
                "retention_held": 0.0,
                "retention_held_volume_cap": 0.0,
                "retention_held_run_cap": 0.0,
                "retention_marked": 3.0,
                "retention_orphans_deleted": 0.0,
            },
        ),
        (
            "event-copied",
            {"retention_keep_last": 2, "copy_region": "us-phoenix-1"},
            {
                "retention_deleted": 1.0,
                "retention_held": 0.0,
                "retention_held_volume_cap": 0.0,
                "retention_held_run_cap": 0.0,
                "backups_copied": 2.0,
            },
        ),
    ],
)
def test_an_answers_retention_outcome_is_posted_as_metrics(
    name: str, settings: dict[str, Any], expected: dict[str, float]
) -> None:
    values = posted(name, **settings)

    assert of_retention(values) == expected
    assert values["backups_failed"] == 0.0 and values["lifecycle_failed"] == 0.0


def test_retention_metrics_follow_what_is_configured_and_what_the_answer_says() -> None:
    capped = posted("event-capped", retention_keep_last=1)
    copy_only = posted("event-copied", copy_region="us-phoenix-1")
    without_grace = posted("schedule-grace", retention_keep_last=1)
    manual = posted(Reply(200, {"id": "ocid1.volumebackup.oc1.iad.b", "volumeId": "v"}, trigger="manual"))
    unconfigured = posted("schedule-grace")  # an answer with a lifecycle, but no retention rule configured

    assert capped["retention_held"] == 6.0 and "backups_copied" not in capped  # no copy region: no copies metric
    assert of_retention(copy_only) == {"backups_copied": 2.0}  # no retention rule: no retention metric
    assert "retention_marked" not in without_grace  # no grace period: nothing is ever marked
    assert of_retention(manual) == {}
    # A lifecycle answer posts them; a plain summary (no lifecycle ran) does not, however configured.
    plain_summary = {k: v for k, v in answer("schedule-grace").items() if k in {"trigger", "backups", "errors"}}
    assert of_retention(posted(Reply(200, plain_summary, trigger="schedule"), retention_keep_last=1)) == {}
    assert of_retention(unconfigured) == {}


def test_a_failed_deletion_is_a_lifecycle_failure_beside_what_retention_did() -> None:
    values = posted("schedule-failed-deletion", retention_keep_last=1)
    tally = Tally.of(reply("schedule-failed-deletion"), 0.5)

    assert values["lifecycle_failed"] == 1.0 and values["backups_failed"] == 0.0
    assert of_retention(values)["retention_deleted"] == 2.0 and of_retention(values)["retention_held"] == 0.0
    assert tally.needs_attention and tally.retention is not None and not tally.retention.capped


@pytest.mark.parametrize(
    ("name", "title", "held"),
    [
        ("event-capped", "event run retention held back 6 deletion(s) at BACKUP_RETENTION_MAX_DELETES_PER_VOLUME", 6),
        ("schedule-capped", "schedule run retention held back 11 deletion(s) at BACKUP_RETENTION_MAX_DELETES", 11),
    ],
)
def test_a_cap_reached_is_a_run_an_operator_hears_of(name: str, title: str, held: int) -> None:
    tally = Tally.of(reply(name), 0.5)

    published = message(tally, "backup-handler", "call-1")

    assert tally.needs_attention  # nothing failed, but deletions were held back
    assert published["title"] == f"backup-handler: {title}"
    body = json.loads(published["body"])
    assert body["retention"]["held"] == held
    assert body["retention"]["heldByVolumeCap"] + body["retention"]["heldByRunCap"] == held
    assert body["retention"]["capReason"] == answer(name)["retentionCapped"]["reason"]
    assert body["failed"] == 0 and body["lifecycleFailed"] == 0 and body["callId"] == "call-1"


def test_a_failed_deletion_is_summarised_with_what_retention_did() -> None:
    published = message(Tally.of(reply("schedule-failed-deletion"), 0.5), "backup-handler", None)

    assert published["title"] == "backup-handler: schedule run retention/copy failed for 1 backup(s)"
    body = json.loads(published["body"])
    assert body["retention"] == {"deleted": 2, "orphansDeleted": 0, "copied": 0}
    assert [error["code"] for error in body["lifecycleErrors"]] == ["InternalServerError"]


def test_a_run_that_kept_within_its_caps_and_failed_nothing_is_not_announced() -> None:
    for name in ("schedule-grace", "event-copied"):
        tally = Tally.of(reply(name), 0.5)
        assert tally.retention is not None and not tally.needs_attention


FORGED = "BACKUP_RETENTION_MAX_DELETES (4) reached\r\n\u2028URGENT: all backups lost, call +1 555 0100\u202e\x1b[31m"


def test_the_answers_retention_text_reaches_the_summary_only_plain_and_counts_only_as_whole_numbers() -> None:
    document = answer("schedule-capped")
    document["retentionCapped"] = {**document["retentionCapped"], "reason": FORGED + "!" * 500}
    forged = message(Tally.of(Reply(200, document, trigger="schedule"), 0.5), "backup-handler", None)
    strings = answer("event-capped")
    strings["deletedCount"] = "5"
    not_counts = answer("event-capped")
    not_counts["retentionCapped"] = {"reason": "x", "heldCount": True, "heldByVolumeCap": -6, "heldByRunCap": 1.5}

    assert not any(char in forged["title"] + forged["body"] for char in ("\r", "\n", "\u2028", "\u202e", "\x1b"))
    reason = json.loads(forged["body"])["retention"]["capReason"]
    assert reason.startswith("BACKUP_RETENTION_MAX_DELETES (4) reached URGENT") and len(reason) <= 300
    assert "URGENT" not in forged["title"]  # the title is the function's own words and counts
    assert Tally.of(Reply(200, strings, trigger="event"), 0.5).retention is None
    held = Tally.of(Reply(200, not_counts, trigger="event"), 0.5).retention
    assert held is not None and (held.held, held.held_volume_cap, held.held_run_cap) == (0, 0, 0)


def test_the_summary_stays_bounded_with_a_cap_reached_and_many_lifecycle_failures() -> None:
    document = answer("event-capped")
    document["lifecycleErrors"] = [
        {"resourceId": f"ocid1.volumebackup.oc1.iad.b{n}", "code": "InternalServerError", "message": "m" * 500}
        for n in range(3000)
    ]

    published = message(Tally.of(Reply(502, document, trigger="event"), 0.5), "f" * 1000, "call")

    body = json.loads(published["body"])
    assert len(published["body"]) <= MAX_BODY_CHARS and len(published["title"]) <= 200
    assert body["retention"]["held"] == 6 and body["lifecycleFailed"] == 3000
    assert body["moreLifecycleErrors"] == 3000 - len(body["lifecycleErrors"])


def test_the_readme_lists_every_metric_an_invocation_posts() -> None:
    from backup_handler.reporting import metrics, restore_tests

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Results operators can alarm on", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    posted = {metrics.CREATED, metrics.FAILED, metrics.SKIPPED, metrics.LIFECYCLE_FAILED, metrics.DURATION}

    assert posted | {restore_tests.FAILED, restore_tests.SECONDS} | set(retention.NAMES) == listed

"""Unit tests: what an audit's answer amounts to in metrics and notifications, whatever it holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from backup_handler.answers.response import Reply
from backup_handler.reporting import audit
from backup_handler.reporting.notify import MAX_BODY_CHARS, MAX_TITLE_CHARS
from backup_handler.reporting.tally import Tally
from backup_handler.settings import Settings

TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaatopic"
DIGEST = "ocid1.onstopic.oc1.iad.aaaaaaaadigest"


def answer(violations: int = 0, checked: int = 10) -> Reply:
    listed = [
        {"resourceId": f"ocid1.volume.oc1.iad.{'x' * 60}{n}", "rule": "rpo", "detail": "no AVAILABLE backup " * 40}
        for n in range(min(violations, 100))
    ]
    document: dict[str, Any] = {
        "trigger": "audit",
        "checked": checked,
        "compliant": checked - violations,
        "violations": listed,
        "counts": {"rpo": violations, "lock": 0},
        "storage": {"totalGBs": 12.5, "perVolume": []},
        "oldestNewestBackupHours": 30.25,
    }
    if violations > len(listed):
        document["moreViolations"] = violations - len(listed)
    return Reply(200, document, trigger="audit")


def test_metrics_per_rule_and_none_of_the_backup_runs() -> None:
    settings = Settings(metrics_namespace="ns", metrics_compartment_id="ocid1.compartment.oc1..aaaa")

    data = audit.metric_data(settings, answer(3), "fn", datetime.now(UTC))["metricData"]

    values = {item["name"]: item["datapoints"][0]["value"] for item in data}
    assert values == {
        "audit_checked": 10.0,
        "audit_compliant": 7.0,
        "audit_violations": 3.0,
        "audit_incomplete": 0.0,
        "volumes_out_of_rpo": 3.0,
        "volumes_unlocked": 0.0,
        "audit_oldest_backup_hours": 30.25,
        "backup_storage_gbs": 12.5,
    }
    assert all(item["dimensions"] == {"trigger": "audit", "function": "fn"} for item in data)


def test_an_unfinished_audit_posts_only_that_it_did_not_finish() -> None:
    error = Reply(504, {"code": "DeadlineExceeded", "message": "late", "status": 504}, trigger="audit")

    assert audit.metric_values(error) == [("audit_incomplete", 1.0, "count")]
    assert audit.message(error, "fn", None, digest=False)["title"] == "fn: audit could not finish (DeadlineExceeded)"


def test_a_message_of_thousands_of_violations_fits_and_counts_the_rest() -> None:
    message = audit.message(answer(5000, checked=6000), "f" * 300, "call-1", digest=False)

    body = json.loads(message["body"])
    assert len(message["title"]) <= MAX_TITLE_CHARS and len(message["body"]) <= MAX_BODY_CHARS
    assert len(body["violations"]) + body["moreViolations"] == 5000
    assert body["counts"] == {"rpo": 5000, "lock": 0} and body["callId"] == "call-1"


def test_who_is_told_what() -> None:
    alert_only = Settings(notify_topic_id=TOPIC)
    digest_apart = Settings(notify_topic_id=TOPIC, audit_digest=True, audit_digest_topic_id=DIGEST)
    digest_same = Settings(notify_topic_id=TOPIC, audit_digest=True)

    def parts(settings: Settings, reply: Reply) -> set[str]:
        return set(audit.tasks(settings, None, reply, "fn", None))  # type: ignore[arg-type]

    assert parts(alert_only, answer(0)) == set()
    assert parts(alert_only, answer(2)) == {"notification"}
    assert parts(digest_apart, answer(0)) == {"digest"}
    assert parts(digest_apart, answer(2)) == {"notification", "digest"}
    assert parts(digest_same, answer(0)) == {"digest"}
    assert parts(digest_same, answer(2)) == {"notification"}  # one message on one topic


def test_an_audit_is_never_counted_as_a_backup() -> None:
    tally = Tally.of(answer(2), 1.0)

    assert (tally.created, tally.failed, tally.needs_attention) == (0, 0, False)

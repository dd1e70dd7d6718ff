"""Unit tests: what an answer counts as, the reporting window, the summary's bounds, settings and IAM rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backup_handler.answers.response import Reply
from backup_handler.errors import ConfigurationError
from backup_handler.oci.api import OPERATIONS, SERVICES, permissions
from backup_handler.reporting.metrics import metric_data
from backup_handler.reporting.notify import MAX_BODY_CHARS, message
from backup_handler.reporting.report import MIN_REPORT_SECONDS, window
from backup_handler.reporting.tally import Tally
from backup_handler.settings import Settings
from localdev.credentials import COMPARTMENT

VOLUME = "ocid1.volume.oc1.iad.abc"


def summary(**lists: list[object]) -> dict[str, object]:
    return {
        "trigger": "schedule",
        "backups": [],
        "skipped": [],
        "errors": [],
        "pending": [],
        "notAttempted": [],
        **lists,
    }


def test_a_summary_counts_its_lists_and_failures_are_what_has_no_confirmed_backup() -> None:
    document = summary(
        backups=[{"id": "b1"}, {"id": "b2"}],
        skipped=[{"resourceId": "s", "reason": "backup in progress"}],
        errors=[{"resourceId": "e", "code": "NotAuthorizedOrNotFound"}],
        pending=[{"resourceId": "p", "reason": "deadline"}],
        notAttempted=[{"resourceId": "n", "reason": "deadline"}],
    )

    tally = Tally.of(Reply(504, document, trigger="schedule"), 1.23456)

    assert (tally.created, tally.failed, tally.skipped, tally.seconds) == (2, 3, 1, 1.235)
    assert tally.pending == ("p",) and tally.not_attempted == ("n",) and tally.needs_attention


@pytest.mark.parametrize(
    ("reply", "counts", "attention"),
    [
        (Reply(200, {"id": "b", "volumeId": VOLUME}, trigger="manual"), (1, 0, 0), False),
        (Reply(409, {"code": "Conflict", "message": "m", "status": 409}, trigger="manual"), (0, 1, 0), False),
        (Reply(400, {"code": "InvalidRequest", "message": "m", "status": 400}, trigger="schedule"), (0, 1, 0), True),
        (Reply(400, {"code": "InvalidJson", "message": "m", "status": 400}), (0, 1, 0), False),
        (Reply(200, {"dryRun": True, "wouldCreate": [{}], "skipped": [{}]}, trigger="schedule"), (0, 0, 1), False),
        (Reply(200, summary(backups=[{"id": "b"}]), trigger="alarm"), (1, 0, 0), False),
    ],
)
def test_what_each_kind_of_answer_counts_as(reply: Reply, counts: tuple[int, int, int], attention: bool) -> None:
    tally = Tally.of(reply, 0.5)

    assert (tally.created, tally.failed, tally.skipped) == counts
    assert tally.needs_attention is attention
    assert tally.trigger == (reply.trigger or "unrecognised")


def test_the_window_is_the_budget_never_past_half_the_margin_before_the_deadline() -> None:
    settings = Settings(report_budget_seconds=2.0, deadline_margin_seconds=1.0)

    assert window(settings, deadline=100.0, now=10.0) == 2.0
    assert window(settings, deadline=100.0, now=99.0) == pytest.approx(0.5)
    assert window(settings, deadline=100.0, now=99.5 - MIN_REPORT_SECONDS / 2) is None
    assert window(settings, deadline=100.0, now=101.0) is None


def test_the_metric_data_is_what_post_metric_data_takes() -> None:
    settings = Settings(metrics_namespace="backups", metrics_compartment_id=COMPARTMENT)
    tally = Tally("alarm", 200, 3, 1, 2, 4.5)

    body = metric_data(settings, tally, "fn", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))

    from oci.monitoring.models import MetricDataDetails, PostMetricDataDetails

    assert set(body) <= set(PostMetricDataDetails().attribute_map.values())
    by_name = {item["name"]: item for item in body["metricData"]}
    assert set(by_name) == {
        "backups_created",
        "backups_failed",
        "backups_skipped",
        "lifecycle_failed",
        "run_duration_seconds",
    }
    for item in body["metricData"]:
        assert set(item) <= set(MetricDataDetails().attribute_map.values())
        assert item["dimensions"] == {"trigger": "alarm", "function": "fn"}
        assert item["datapoints"][0]["timestamp"] == "2026-01-02T03:04:05.000Z"
    assert by_name["backups_failed"]["datapoints"][0]["value"] == 1.0
    assert by_name["run_duration_seconds"]["datapoints"][0]["value"] == 4.5


def test_the_summary_message_is_bounded_whatever_the_run_held() -> None:
    errors = tuple({"resourceId": f"v{n}", "code": "X", "message": "m" * 10_000} for n in range(5000))
    tally = Tally("schedule", 502, 0, 5000, 0, 1.0, errors=errors, pending=("p",) * 3000)

    published = message(tally, "f" * 1000, "call")

    body = json.loads(published["body"])
    assert len(published["body"]) <= MAX_BODY_CHARS and len(published["title"]) <= 200
    assert body["failed"] == 5000 and body["moreErrors"] == 5000 - len(body["errors"])
    assert all(len(error["message"]) <= 303 for error in body["errors"])
    from oci.ons.models import MessageDetails

    assert set(published) == set(MessageDetails().attribute_map.values())


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BACKUP_METRICS_NAMESPACE": "backups"}, "BACKUP_METRICS_COMPARTMENT_ID"),
        ({"BACKUP_METRICS_NAMESPACE": "oci_backups", "BACKUP_METRICS_COMPARTMENT_ID": COMPARTMENT}, "NAMESPACE"),
        ({"BACKUP_METRICS_NAMESPACE": "backup-handler", "BACKUP_METRICS_COMPARTMENT_ID": COMPARTMENT}, "NAMESPACE"),
        ({"BACKUP_NOTIFY_TOPIC_ID": "ocid1.topic.oc1.iad.abc"}, "BACKUP_NOTIFY_TOPIC_ID"),
        ({"BACKUP_NOTIFY_ENDPOINT": "notification.example.com"}, "BACKUP_NOTIFY_ENDPOINT"),
        ({"BACKUP_METRICS_ENDPOINT": "http://user:pw@example.com"}, "BACKUP_METRICS_ENDPOINT"),
        ({"BACKUP_REPORT_BUDGET_SECONDS": "60"}, "BACKUP_REPORT_BUDGET_SECONDS"),
    ],
)
def test_invalid_reporting_settings_are_refused_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)

    assert named in refused.value.message


def test_reporting_is_off_by_default_and_on_with_either_setting() -> None:
    assert not Settings().reporting
    assert Settings(notify_topic_id="ocid1.onstopic.oc1.iad.abc").reporting
    assert Settings(metrics_namespace="backups", metrics_compartment_id=COMPARTMENT).reporting


def test_the_api_table_names_the_reporting_operations_and_their_grants() -> None:
    assert OPERATIONS["PostMetricData"].service == "monitoring" and OPERATIONS["PostMetricData"].path == "/metrics"
    assert OPERATIONS["PublishMessage"].path == "/topics/{topicId}/messages"
    assert permissions({"metrics"}) == {"METRIC_WRITE"}
    assert permissions({"notifications"}) == {"ONS_TOPIC_PUBLISH"}
    assert SERVICES["monitoring"].base_path == "/20180401" and SERVICES["notifications"].base_path == "/20181201"


@pytest.mark.parametrize(
    ("service", "host"),
    [
        ("monitoring", "https://telemetry-ingestion.us-ashburn-1.oraclecloud.com"),
        ("notifications", "https://notification.us-ashburn-1.oraclecloud.com"),
    ],
)
def test_the_reporting_endpoints_are_the_regions_own(service: str, host: str) -> None:
    import oci.regions

    spec = SERVICES[service]  # type: ignore[index]
    endpoint = oci.regions.endpoint_for(
        spec.name,
        service_endpoint_template=spec.endpoint_template,
        region="us-ashburn-1",
        endpoint_service_name=spec.endpoint_service_name,
    )

    assert endpoint == host

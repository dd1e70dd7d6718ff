"""Results operators can alarm on, end to end: custom metrics and failure summaries after each invocation.

The function runs under the real fdk runtime behind the platform model; the emulator serves
Monitoring's PostMetricData and Notifications' PublishMessage (signed like every call) and
records what they received. Faults show that neither can fail, change or hold up the answer.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backup_handler.reporting.notify import MAX_BODY_CHARS
from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.fnprocess import ROOT, FunctionProcess, fdk_command
from localdev.platform import FnPlatform, Invocation
from localdev.samples import VOLUMES
from localdev.stack import LocalStack
from tests.conftest import event_bytes

pytestmark = pytest.mark.e2e

NAMESPACE = "backup_handler"
TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaabackupfailures000000000000000000000000000000000000"
REPORTING = {
    "BACKUP_METRICS_NAMESPACE": NAMESPACE,
    "BACKUP_METRICS_COMPARTMENT_ID": COMPARTMENT,
    "BACKUP_NOTIFY_TOPIC_ID": TOPIC,
}
REPORTING_MODULES = (
    "backup_handler.reporting.report",
    "backup_handler.reporting.tally",
    "backup_handler.reporting.metrics",
    "backup_handler.reporting.notify",
)


def missing_volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrmissingvolume{n:039d}"


@pytest.fixture
def topic(emulator: BlockStorageEmulator) -> BlockStorageEmulator:
    emulator.add_topic(TOPIC)
    return emulator


@pytest.fixture
def reporting(start_platform: Callable[..., FnPlatform], topic: BlockStorageEmulator) -> Callable[..., FnPlatform]:
    """A function with metrics and failure summaries configured (and further overrides)."""

    def start(**env: str) -> FnPlatform:
        return start_platform(**{**REPORTING, **env})

    return start


def values(emulator: BlockStorageEmulator, trigger: str) -> dict[str, float]:
    """The latest datapoint of each metric posted for ``trigger``."""
    found = {}
    for item in emulator.metrics():
        if item["dimensions"]["trigger"] == trigger:
            found[item["name"]] = item["datapoints"][-1]["value"]
    return found


def container_json(invocation: Invocation) -> Any:
    answer = invocation.wait()
    return answer.json()


def schedule(*volume_ids: str) -> dict[str, Any]:
    return {"source": "schedule", "volumeIds": list(volume_ids)}


def test_each_invocation_posts_its_metrics_dimensioned_by_trigger_and_function(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting()

    manual = platform.invoke(event_bytes("manual.json"))
    tick = platform.invoke(schedule(VOLUMES[0], VOLUMES[1]), invoke_type="detached")
    tick.wait()

    assert manual.status == 200 and container_json(tick)["errors"] == []
    assert values(topic, "manual") == {
        "backups_created": 1.0,
        "backups_failed": 0.0,
        "backups_skipped": 0.0,
        "lifecycle_failed": 0.0,
        "run_duration_seconds": pytest.approx(values(topic, "manual")["run_duration_seconds"]),
    }
    scheduled = values(topic, "schedule")
    assert scheduled["backups_created"] == 1.0 and scheduled["backups_skipped"] == 1.0  # volume 0: in progress
    assert 0 < scheduled["run_duration_seconds"] < 30
    for item in topic.metrics():
        assert item["namespace"] == NAMESPACE and item["compartmentId"] == COMPARTMENT
        assert item["dimensions"]["function"] == "backup-handler"
    posts = [call for call in topic.calls if call.operation == "postMetricData"]
    assert len(posts) == 2 and all(call.status == 200 for call in posts)  # signed, verified, one per invocation
    assert topic.rejected_signatures == 0
    assert topic.messages(TOPIC) == []  # nothing failed: nobody is notified


def test_a_run_with_failures_publishes_a_summary_and_counts_them(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting()

    tick = platform.invoke(schedule(VOLUMES[1], missing_volume(1)), invoke_type="detached")
    summary = container_json(tick)

    assert [error["resourceId"] for error in summary["errors"]] == [missing_volume(1)]
    (message,) = topic.messages(TOPIC)
    assert "schedule" in message["title"] and "1 target" in message["title"]
    body = json.loads(message["body"])
    assert body["trigger"] == "schedule" and body["created"] == 1 and body["failed"] == 1
    assert body["errors"][0]["resourceId"] == missing_volume(1)
    assert body["errors"][0]["code"] == "NotAuthorizedOrNotFound"
    assert body["callId"] == tick.call_id
    assert values(topic, "schedule")["backups_failed"] == 1.0


def test_many_failures_make_a_summary_of_bounded_size(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting()
    missing = [missing_volume(n) for n in range(120)]

    container_json(platform.invoke(schedule(*missing), invoke_type="detached"))

    (message,) = topic.messages(TOPIC)
    body = json.loads(message["body"])
    assert len(message["body"]) <= MAX_BODY_CHARS and len(message["title"]) <= 200
    assert body["failed"] == 120 and body["moreErrors"] == 120 - len(body["errors"])
    assert values(topic, "schedule")["backups_failed"] == 120.0


def test_an_error_answer_to_a_source_trigger_is_published_and_to_a_person_is_not(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting()

    refused = container_json(platform.invoke({"source": "schedule", "volumeIds": ["vol-1"]}, invoke_type="detached"))
    manual = platform.invoke({"volumeID": VOLUMES[0]}).json()

    assert refused["code"] == "InvalidRequest" and manual["code"] == "InvalidRequest"
    (message,) = topic.messages(TOPIC)  # the person who invoked sees their own error; the schedule's only the log
    assert "refused with InvalidRequest" in message["title"]
    assert json.loads(message["body"])["error"]["code"] == "InvalidRequest"
    assert values(topic, "manual")["backups_failed"] == 1.0


def test_failing_reporting_endpoints_never_change_the_answer(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting(BACKUP_MAX_ATTEMPTS="2")
    topic.inject(*(Fault("postMetricData", status=500) for _ in range(2)))
    topic.inject(Fault("publishMessage", status=404, code="NotAuthorizedOrNotFound"))

    answer = platform.invoke(event_bytes("manual.json"))
    tick = container_json(platform.invoke(schedule(VOLUMES[1], missing_volume(1)), invoke_type="detached"))

    assert answer.status == 200 and answer.json()["volumeId"] == VOLUMES[0]
    assert [error["resourceId"] for error in tick["errors"]] == [missing_volume(1)]
    assert values(topic, "manual") == {} and values(topic, "schedule")["backups_failed"] == 1.0  # 2 attempts failed
    assert topic.messages(TOPIC) == []
    log = platform.function.log()
    failed = [json.loads(line.split(" - ", 3)[-1]) for line in log.splitlines() if '"event":"report"' in line]
    failed = [entry for entry in failed if entry["outcome"] == "failed"]
    assert {(entry["part"], entry["code"]) for entry in failed} >= {
        ("metrics", "InternalServerError"),
        ("notification", "NotAuthorizedOrNotFound"),
    }


def test_a_hanging_endpoint_holds_the_answer_no_longer_than_the_budget(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting(BACKUP_REPORT_BUDGET_SECONDS="0.5")
    platform.invoke(event_bytes("manual-boot.json"))  # warm: clients, signer, first imports
    topic.inject(Fault("postMetricData", latency=10), Fault("publishMessage", latency=10))

    started = time.monotonic()
    tick = platform.invoke(schedule(VOLUMES[1], missing_volume(1)), invoke_type="detached")
    summary = container_json(tick)
    seconds = time.monotonic() - started

    assert [error["resourceId"] for error in summary["errors"]] == [missing_volume(1)]
    assert [backup["volumeId"] for backup in summary["backups"]] == [VOLUMES[1]]
    assert seconds < 0.5 + 1.5  # the budget, and the run itself
    assert '"outcome":"timeout"' in platform.function.log()


def test_reporting_never_passes_the_deadline_and_is_skipped_without_time_left(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting(BACKUP_DEADLINE_MARGIN_SECONDS="0.3")
    platform.invoke(event_bytes("manual-boot.json"))  # warm
    posted = len(topic.metrics())
    topic.inject(Fault("createVolumeBackup", latency=5))

    late = platform.invoke(schedule(VOLUMES[1]), deadline_seconds=2.0)

    answer = late.wait()
    assert answer.status == 504 and answer.json()["pending"][0]["resourceId"] == VOLUMES[1]
    assert late.container_seconds is not None and late.container_seconds < 2.0  # before Fn-Deadline
    assert len(topic.metrics()) == posted and topic.messages(TOPIC) == []
    assert '"reason":"too little time left"' in platform.function.log()


def test_a_late_run_still_reports_within_what_is_left_of_the_deadline(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting()  # margin 1 s: half of it is for reporting
    platform.invoke(event_bytes("manual-boot.json"))  # warm
    topic.inject(Fault("createVolumeBackup", latency=5))

    late = platform.invoke(schedule(VOLUMES[1]), deadline_seconds=3.0)

    answer = late.wait()
    assert answer.status == 504 and late.container_seconds is not None and late.container_seconds < 3.0
    assert values(topic, "schedule")["backups_failed"] == 1.0  # pending
    (message,) = topic.messages(TOPIC)
    assert json.loads(message["body"])["pending"] == [VOLUMES[1]]


def _imported(log: str) -> set[str]:
    """Modules ``-X importtime`` reports the process imported."""
    return {line.rsplit("|", 1)[-1].strip() for line in log.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("configured", [False, True], ids=["without-settings", "with-settings"])
def test_the_reporting_modules_load_only_when_configured(
    stack: LocalStack, topic: BlockStorageEmulator, tmp_path: Path, configured: bool
) -> None:
    command = [sys.executable, "-X", "importtime", *fdk_command(ROOT / "func.py")]
    env = stack.function_env(**(REPORTING if configured else {}))
    with FunctionProcess(tmp_path / "fn", env, command=command) as fn:
        answer = fn.call(event_bytes("manual.json"))
        tick = fn.call(json.dumps(schedule(VOLUMES[1], missing_volume(1))), invoke_type="detached")
        log = fn.log()

    assert answer.status == 200 and tick.status == 502
    imported = _imported(log)
    assert "backup_handler.app" in imported  # the measurement sees the function's own modules
    if configured:
        assert set(REPORTING_MODULES) <= imported
    else:
        assert not set(REPORTING_MODULES) & imported
        assert topic.metrics() == [] and not any(call.operation == "postMetricData" for call in topic.calls)


@pytest.mark.parametrize("path", ["/20180401/metrics", f"/20181201/topics/{TOPIC}/messages"])
def test_the_emulated_endpoints_refuse_an_unsigned_request(topic: BlockStorageEmulator, path: str) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(topic.endpoint + path, data=b'{"body": "x"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)

    assert refused.value.code == 401 and topic.rejected_signatures == 1
    assert topic.metrics() == [] and topic.messages(TOPIC) == []


def test_lifecycle_failures_are_counted_and_worded_apart_from_backups(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    from tests.conftest import OWN, ago

    for days in (3, 2, 1):
        topic.add_backup(VOLUMES[0], time_created=ago(days), freeform_tags=OWN)
    topic.inject(*(Fault("deleteVolumeBackup", status=500) for _ in range(2)))
    platform = reporting(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_MAX_ATTEMPTS="1")

    tick = platform.invoke(schedule(VOLUMES[0]), invoke_type="detached")
    summary = container_json(tick)

    assert tick.wait().status == 502  # a retryable lifecycle failure still asks the source to redeliver
    assert len(summary["backups"]) == 1 and summary["errors"] == []  # the backup itself was made
    assert [error["code"] for error in summary["lifecycleErrors"]] == ["InternalServerError"] * 2
    scheduled = values(topic, "schedule")
    assert scheduled["backups_failed"] == 0.0 and scheduled["lifecycle_failed"] == 2.0
    (message,) = topic.messages(TOPIC)
    assert "retention/copy failed for 2 backup(s)" in message["title"]
    assert "without a backup" not in message["title"]
    body = json.loads(message["body"])
    assert body["failed"] == 0 and body["lifecycleFailed"] == 2 and len(body["lifecycleErrors"]) == 2


INVISIBLE = ("\r", "\n", "\x85", "\u2028", "\u2029", "\u202e", "\u200b", "\x1b")


def test_text_an_invoker_chose_reaches_the_notification_only_plain_quoted_and_short(
    reporting: Callable[..., FnPlatform], topic: BlockStorageEmulator
) -> None:
    platform = reporting()
    forged = "ocid1.instance.x\r\n\u2028URGENT: all backups lost, call +1 555 0100 now\u202e\x1b[31m" + "!" * 120
    event = json.loads(event_bytes("event-createvolume.json"))
    event["data"]["resourceId"] = forged
    bad_key = "volumeIds\r\n\u2028URGENT: rotate every key at https://evil.example\u202e"

    container_json(platform.invoke(event, invoke_type="detached"))
    container_json(platform.invoke({"source": "schedule", bad_key: []}, invoke_type="detached"))

    messages = topic.messages(TOPIC)
    assert len(messages) == 2
    for message in messages:
        assert not any(char in message["title"] + message["body"] for char in INVISIBLE)
        assert "evil.example" not in message["body"]  # a refused request's message is a fixed sentence
        error = json.loads(message["body"])["error"]
        assert "\n" not in json.dumps(error) and len(json.dumps(error)) < 400
    no_targets = json.loads(messages[0]["body"])["error"]
    assert no_targets["code"] == "NoTargets" and no_targets["message"] == "the trigger names no volume to back up"
    shown = no_targets["resourceId"]
    assert shown.startswith('"ocid1.instance.x URGENT') and shown.endswith('..."') and len(shown) <= 66

"""Everything that changes what is written is strictly typed, in every body and every setting, end to end.

``"true"`` is not ``true``: a boolean, number or enum given as anything but its own JSON type is
refused with the field's name (``InvalidRequest`` for a body, ``ConfigurationError`` for a
``BACKUP_*`` variable), never coerced and never ignored, and nothing is written. A literal
``true`` dry run is honoured by every trigger and writes nothing: no create, no delete, no metric.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import FnResponse
from localdev.platform import FnPlatform, Invocation
from localdev.samples import BOOT_VOLUMES, VOLUME_GROUP, VOLUMES
from tests.conftest import OWN, ago, event_json, states

pytestmark = pytest.mark.e2e

TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaabackupfailures000000000000000000000000000000000000"
SELECTOR = {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "daily"}}


def batch(**fields: Any) -> dict[str, Any]:
    """A batch body as the function hands one on (one link of a chain)."""
    return {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20260101T000000Z/3600s",
        "idempotencyKey": "schedule:1767225600:3600",
        "timeLabel": "20260101T000000Z",
        "batch": 0,
        "type": "INCREMENTAL",
        "targets": [{"kind": "volume", "id": VOLUMES[1]}],
        **fields,
    }


def manual(**fields: Any) -> dict[str, Any]:
    return {**event_json("manual.json"), **fields}


def schedule(**fields: Any) -> dict[str, Any]:
    return {**event_json("schedule.json"), **fields}


def alarm(**fields: Any) -> dict[str, Any]:
    return {**event_json("alarm.json"), **fields}


def event(**fields: Any) -> dict[str, Any]:
    return {**event_json("event-createvolume.json"), **fields}


NOT_A_BOOLEAN = ["true", "false", 1, 0, "yes", "True", None, [True], {"value": True}]


@pytest.mark.parametrize("value", NOT_A_BOOLEAN, ids=repr)
@pytest.mark.parametrize(
    ("body", "field", "invoke_type"),
    [
        (manual, "dryRun", "sync"),
        (schedule, "dryRun", "detached"),
        (batch, "dryRun", "detached"),
        (alarm, "dryRun", "detached"),
        (event, "dryRun", "detached"),
        (lambda **f: manual(volumeId=None, selector={**SELECTOR, **f}), "selector.includeSubcompartments", "sync"),
        (lambda **f: schedule(selector={**SELECTOR, **f}), "selector.includeSubcompartments", "detached"),
    ],
    ids=["manual", "schedule", "batch", "alarm", "event", "manual-selector", "schedule-selector"],
)
def test_a_boolean_that_is_not_a_json_boolean_is_refused_naming_the_field_and_nothing_is_written(
    platform: FnPlatform,
    emulator: BlockStorageEmulator,
    body: Callable[..., dict[str, Any]],
    field: str,
    invoke_type: str,
    value: Any,
) -> None:
    name = field.rsplit(".", 1)[-1]
    sent = body(**{name: value})
    if sent.get("volumeId", "") is None:
        sent.pop("volumeId")

    answer = platform.invoke(sent, invoke_type=invoke_type).wait(30)  # type: ignore[arg-type]

    document = answer.json()
    assert answer.status == 200  # refused: a redelivery would be refused the same way
    assert document["code"] == "InvalidRequest"
    assert {"field": field, "problem": "must be true or false"} in document["errors"]
    assert emulator.creates() == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"batch": "0"}, "batch"),
        ({"batch": 0.0}, "batch"),
        ({"batch": True}, "batch"),
        ({"chain": "1"}, "chain"),
        ({"link": 1.5}, "link"),
        ({"type": "full"}, "type"),
        ({"trigger": "Schedule"}, "trigger"),
    ],
    ids=["batch-string", "batch-float", "batch-bool", "chain-string", "link-float", "type-case", "trigger-case"],
)
def test_a_batch_body_with_a_number_or_enum_of_the_wrong_type_is_refused(
    platform: FnPlatform, emulator: BlockStorageEmulator, fields: dict[str, Any], field: str
) -> None:
    answer = platform.invoke(batch(**fields), invoke_type="detached").wait(30)

    document = answer.json()
    assert document["code"] == "InvalidRequest" and field in {e["field"] for e in document["errors"]}
    assert emulator.creates() == []


@pytest.mark.parametrize("value", ["1582324860000", 1582324860000.0, True], ids=repr)
def test_an_alarm_timestamp_that_is_not_a_json_integer_is_refused(
    platform: FnPlatform, emulator: BlockStorageEmulator, value: Any
) -> None:
    answer = platform.invoke(alarm(timestampEpochMillis=value), invoke_type="detached").wait(30)

    assert answer.json()["code"] == "InvalidRequest"
    assert "timestampEpochMillis" in {e["field"] for e in answer.json()["errors"]}
    assert emulator.creates() == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BACKUP_DRY_RUN", "True"),
        ("BACKUP_DRY_RUN", "1"),
        ("BACKUP_DRY_RUN", "yes"),
        ("BACKUP_DRY_RUN", "on"),
        ("BACKUP_DRY_RUN", "false "),
        ("BACKUP_RETENTION_LOCK", "TRUE"),
        ("BACKUP_PREVENT_DELETION", "y"),
        ("BACKUP_MAX_CONCURRENCY", "16.0"),
        ("BACKUP_MAX_CONCURRENCY", "1e1"),
        ("BACKUP_MAX_CONCURRENCY", "true"),
        ("BACKUP_MAX_TARGETS", " 10"),
        ("BACKUP_RETENTION_KEEP_LAST", "3.0"),
        ("BACKUP_DEADLINE_MARGIN_SECONDS", "NaN"),
        ("BACKUP_DEADLINE_MARGIN_SECONDS", "Infinity"),
        ("BACKUP_BATCH_CHAINS", "2.0"),
    ],
)
def test_a_setting_that_is_not_exactly_its_type_is_a_configuration_error_naming_the_variable(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, variable: str, value: str
) -> None:
    platform = start_platform(**{variable: value})

    answer = platform.invoke(manual())

    document = answer.json()
    assert document["code"] == "ConfigurationError"
    assert variable in {e["field"] for e in document["errors"]}
    assert emulator.creates() == []


def test_settings_in_their_exact_form_are_accepted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(
        BACKUP_DRY_RUN="false", BACKUP_MAX_CONCURRENCY="4", BACKUP_DEADLINE_MARGIN_SECONDS="1", BACKUP_MAX_ATTEMPTS="2"
    )

    answer = platform.invoke(manual())

    assert answer.json()["volumeId"] == VOLUMES[0] and len(emulator.creates()) == 1


# ------------------------------------------------------------ a literal true


@pytest.mark.parametrize(
    ("body", "invoke_type"),
    [
        (manual(dryRun=True), "sync"),
        (schedule(dryRun=True), "detached"),
        ({"source": "schedule", "volumeGroupIds": [VOLUME_GROUP], "dryRun": True}, "detached"),
        (schedule(dryRun=True, selector=SELECTOR), "detached"),
        (batch(dryRun=True, next=[VOLUMES[2], BOOT_VOLUMES[0]]), "detached"),
        (event(dryRun=True), "detached"),
        (alarm(dryRun=True), "detached"),
    ],
    ids=["manual", "schedule", "schedule-group", "schedule-selector", "batch-with-a-chain", "event", "alarm"],
)
def test_a_literal_true_dry_run_is_honoured_by_every_trigger_and_writes_nothing(
    platform: FnPlatform, emulator: BlockStorageEmulator, body: dict[str, Any], invoke_type: str
) -> None:
    answer = platform.invoke(body, invoke_type=invoke_type).wait(30)  # type: ignore[arg-type]

    document = answer.json()
    assert answer.status == 200 and document["dryRun"] is True
    assert document["wouldCreate"]
    assert emulator.creates() == []
    assert "handedOn" not in document  # a dry run's batch hands nothing on


def test_a_schedule_dry_run_with_retention_creates_and_deletes_nothing(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")

    answer = platform.invoke(schedule(dryRun=True), invoke_type="detached").wait(30)

    assert answer.json()["dryRun"] is True
    assert emulator.creates() == []
    assert not [call for call in emulator.calls if call.operation.startswith("delete")]
    assert set(states(emulator).values()) == {"AVAILABLE"} and len(own) == 3


def test_a_configured_dry_run_writes_nothing_and_posts_no_metric(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.add_topic(TOPIC)
    platform = start_platform(
        BACKUP_DRY_RUN="true",
        BACKUP_METRICS_NAMESPACE="backup_handler",
        BACKUP_METRICS_COMPARTMENT_ID=COMPARTMENT,
        BACKUP_NOTIFY_TOPIC_ID=TOPIC,
    )

    answers = [
        platform.invoke(manual()).json(),
        platform.invoke(schedule(), invoke_type="detached").wait(30).json(),
    ]

    assert all(document["dryRun"] is True for document in answers)
    assert emulator.creates() == []
    assert emulator.metrics() == [] and emulator.messages(TOPIC) == []
    assert [call for call in emulator.calls if call.operation == "postMetricData"] == []


# ------------------------------------------------------ contradicting settings


@pytest.mark.parametrize(
    ("settings", "first", "second"),
    [
        (
            {"BACKUP_COPY_KMS_KEY_ID": "ocid1.key.oc1.iad.aaaaaaaacopykey"},
            "BACKUP_COPY_KMS_KEY_ID",
            "BACKUP_COPY_REGION",
        ),
        ({"BACKUP_COPY_ENDPOINT": "http://127.0.0.1:9"}, "BACKUP_COPY_ENDPOINT", "BACKUP_COPY_REGION"),
        ({"BACKUP_MAX_TARGETS": "10", "BACKUP_BATCH_SIZE": "11"}, "BACKUP_BATCH_SIZE", "BACKUP_MAX_TARGETS"),
        ({"BACKUP_BATCH_CHAINS": "2"}, "BACKUP_BATCH_CHAINS", "BACKUP_INVOKE_ENDPOINT"),
        (
            {"BACKUP_RETENTION_MAX_AGE_DAYS": "7", "BACKUP_RETENTION_PERIOD_DAYS": "30"},
            "BACKUP_RETENTION_MAX_AGE_DAYS",
            "BACKUP_RETENTION_PERIOD_DAYS",
        ),
        ({"BACKUP_RETENTION_LOCK": "true"}, "BACKUP_RETENTION_LOCK", "BACKUP_RETENTION_PERIOD_DAYS"),
        ({"BACKUP_METRICS_COMPARTMENT_ID": COMPARTMENT}, "BACKUP_METRICS_COMPARTMENT_ID", "BACKUP_METRICS_NAMESPACE"),
    ],
    ids=["copy-key", "copy-endpoint", "batch-size", "chains", "max-age", "lock", "metrics-compartment"],
)
def test_a_configuration_that_contradicts_itself_is_a_configuration_error_naming_both_settings(
    start_platform: Callable[..., FnPlatform],
    emulator: BlockStorageEmulator,
    settings: dict[str, str],
    first: str,
    second: str,
) -> None:
    platform = start_platform(**settings)

    answers: list[Invocation | FnResponse] = [
        platform.invoke(manual()),
        platform.invoke(schedule(), invoke_type="detached").wait(30),
    ]

    for answer in answers:
        document = answer.json()
        assert document["code"] == "ConfigurationError"
        assert first in document["message"] and second in document["message"]
        assert {"field": first, "contradicts": second}.items() <= document["errors"][0].items()
    assert answers[1].status == 502  # an operator can fix it while the source still redelivers
    assert emulator.creates() == []

"""Unit tests: each trigger's model and the envelope step, on the samples in events/ and mutations of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.errors import InvalidRequest, NoTargets, UnrecognizedEvent
from backup_handler.events import AlarmMessage, CloudEvent, ManualRequest
from backup_handler.payload import EMPTY
from backup_handler.request import BackupRequest, build_request
from backup_handler.settings import Settings
from localdev.samples import BOOT_VOLUMES, VOLUMES
from tests.conftest import event_json

NOW = datetime(2026, 11, 27, 13, 37, 12, tzinfo=UTC)
SETTINGS = Settings()


def build(value: Any, settings: Settings = SETTINGS, headers: dict[str, str] | None = None) -> BackupRequest:
    return build_request(value, headers=headers or {}, settings=settings, now=NOW)


def test_cloud_event_model_reads_the_sample() -> None:
    event = CloudEvent.model_validate(event_json("event-createvolume.json"))

    assert event.cloud_events_version == "0.1"
    assert event.data is not None and event.data.resource_id == VOLUMES[1]


def test_cloud_event_accepts_the_documented_freeFormTags_spelling() -> None:
    raw = event_json("event-createvolume.json")
    raw["data"]["freeFormTags"] = raw["data"].pop("freeformTags")
    raw["data"]["freeFormTags"] = {"env": "prod"}

    assert CloudEvent.model_validate(raw).data.freeform_tags == {"env": "prod"}  # type: ignore[union-attr]


def test_cloud_event_with_only_the_required_fields_is_enough() -> None:
    request = build(
        {
            "cloudEventsVersion": "0.1",
            "eventType": "x.createvolume.end",
            "eventID": "e1",
            "data": {"resourceId": VOLUMES[0]},
        }
    )

    assert [t.resource_id for t in request.targets] == [VOLUMES[0]]
    assert request.idempotency_key == "event:e1"


def test_event_prefers_a_volume_resource_id_then_additional_details() -> None:
    assert build(event_json("event-createvolume.json")).targets[0].resource_id == VOLUMES[1]
    assert build(event_json("event-attachvolume.json")).targets[0].resource_id == VOLUMES[2]


def test_boot_volume_event_targets_a_boot_volume() -> None:
    raw = event_json("event-createvolume.json")
    raw["data"]["resourceId"] = BOOT_VOLUMES[0]

    [target] = build(raw).targets
    assert target.kind == "bootVolume"


def test_backup_event_is_nothing_to_do_even_with_a_volume_in_additional_details() -> None:
    request = build(event_json("event-backup-end.json"))

    assert request.targets == ()
    assert request.nothing_to_do and "never start backups" in request.nothing_to_do


def test_event_without_data_is_no_targets() -> None:
    raw = event_json("event-createvolume.json")
    del raw["data"]

    with pytest.raises(NoTargets):
        build(raw)


def test_alarm_model_reads_every_dimension_resource_id() -> None:
    alarm = AlarmMessage.model_validate(event_json("alarm.json"))

    assert alarm.resource_ids()[:2] == list(VOLUMES[:2])


def test_alarm_targets_are_distinct_across_grouped_metadata_and_resourceID_spelling() -> None:
    raw = event_json("alarm.json")
    second = json.loads(json.dumps(raw["alarmMetaData"][0]))
    second["dimensions"] = [{"resourceID": VOLUMES[0]}, {"resourceID": VOLUMES[2]}, {"other": "x"}]
    raw["alarmMetaData"].append(second)

    request = build(raw)

    assert [t.resource_id for t in request.targets] == [VOLUMES[0], VOLUMES[1], VOLUMES[2]]
    assert len(request.skipped) == 1


def test_alarm_idempotency_key_prefers_the_notification_message_id() -> None:
    alarm = event_json("alarm.json")

    with_header = build(alarm, headers={"x-oci-ns-messageid": "ns-42"})
    without = build(alarm)

    assert with_header.idempotency_key == "alarm:ns-42"
    assert without.idempotency_key == f"alarm:{alarm['dedupeKey']}:{alarm['timestampEpochMillis']}"


@pytest.mark.parametrize("version", [0.9, 2.0, "one"])
def test_alarm_versions_outside_1_x_are_refused(version: Any) -> None:
    raw = event_json("alarm.json")
    raw["version"] = version

    with pytest.raises(InvalidRequest):
        build(raw)


def test_alarm_accepts_unknown_extra_fields_from_newer_formats() -> None:
    raw = event_json("alarm.json")
    raw["someFutureField"] = {"x": 1}
    raw["alarmMetaData"][0]["anotherOne"] = [1]

    assert len(build(raw).targets) == 2


def test_schedule_slot_makes_ticks_in_one_slot_share_a_key_and_the_next_slot_differ() -> None:
    tick = event_json("schedule.json")
    settings = Settings(schedule_slot_seconds=3600)

    a = build_request(tick, headers={}, settings=settings, now=datetime(2026, 11, 27, 13, 0, 1, tzinfo=UTC))
    b = build_request(tick, headers={}, settings=settings, now=datetime(2026, 11, 27, 13, 59, 59, tzinfo=UTC))
    c = build_request(tick, headers={}, settings=settings, now=datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC))

    assert a.idempotency_key == b.idempotency_key != c.idempotency_key
    assert a.time_label == "20261127T130000Z"


def test_empty_body_is_a_schedule_of_the_configured_targets() -> None:
    request = build(EMPTY, Settings(targets=(VOLUMES[0], BOOT_VOLUMES[0], VOLUMES[0])))

    assert request.trigger == "schedule"
    assert [t.resource_id for t in request.targets] == [VOLUMES[0], BOOT_VOLUMES[0]]


def test_manual_request_is_the_create_volume_backup_body() -> None:
    manual = ManualRequest.model_validate(event_json("manual.json"))

    assert manual.volume_id == VOLUMES[0] and manual.type == "FULL"


def test_manual_request_body_becomes_the_api_body_with_stamped_tags() -> None:
    request = build(event_json("manual.json"))
    body = request.api_body(request.targets[0], SETTINGS.display_name_template)

    assert body == {
        "volumeId": VOLUMES[0],
        "type": "FULL",
        "displayName": "before-db-upgrade",
        "freeformTags": {"ticket": "CHG-1234", "backup-trigger": "manual", "backup-source": "CHG-1234-before-upgrade"},
    }


def test_manual_request_with_idempotency_key_gives_the_same_body_at_any_time() -> None:
    raw = {"volumeId": VOLUMES[0], "idempotencyKey": "k-1"}
    early = build_request(raw, headers={}, settings=SETTINGS, now=NOW)
    late = build_request(raw, headers={}, settings=SETTINGS, now=datetime(2027, 1, 1, tzinfo=UTC))

    target = early.targets[0]
    template = SETTINGS.display_name_template
    assert early.api_body(target, template) == late.api_body(target, template)


def test_stamped_tags_win_over_request_tags_of_the_same_name() -> None:
    request = build({"volumeId": VOLUMES[0], "freeformTags": {"backup-trigger": "forged"}})

    assert request.freeform_tags["backup-trigger"] == "manual"


def test_kms_key_from_the_body_must_be_an_allowed_key() -> None:
    key = "ocid1.key.oc1.iad.abc.def"
    allowed = Settings(allowed_kms_key_ids=(key,))

    assert build({"volumeId": VOLUMES[0], "kmsKeyId": key}, allowed).kms_key_id == key
    with pytest.raises(InvalidRequest):
        build({"volumeId": VOLUMES[0], "kmsKeyId": key})


def test_configured_kms_key_applies_to_every_backup() -> None:
    settings = Settings(kms_key_id="ocid1.key.oc1.iad.abc.def")

    assert build(event_json("alarm.json"), settings).kms_key_id == "ocid1.key.oc1.iad.abc.def"


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        ({"volumeId": "ocid1.volume.oc1.iad."}, "volumeId"),
        ({"type": "full"}, "type"),
        ({"displayName": ""}, "displayName"),
        ({"freeformTags": {"k": 1}}, "freeformTags.k"),
        ({"freeformTags": {"": "v"}}, "freeformTags.[key]"),
        ({"definedTags": {"ns": "flat"}}, "definedTags.ns"),
        ({"idempotencyKey": "has space"}, "idempotencyKey"),
        ({"bootVolumeId": VOLUMES[0]}, "bootVolumeId"),
    ],
)
def test_manual_request_mutations_are_refused_naming_the_field(mutation: dict[str, Any], field: str) -> None:
    raw = {**event_json("manual.json"), **mutation}

    with pytest.raises(InvalidRequest) as caught:
        build(raw)

    fields = [problem["field"] for problem in caught.value.extra["errors"]]
    assert any(f.startswith(field.split(".[", maxsplit=1)[0]) for f in fields), fields
    assert "pydantic" not in caught.value.message


def test_error_messages_do_not_echo_the_input() -> None:
    secret_looking = "ocid1.volume.oc1.iad.<script>alert(1)</script>"

    with pytest.raises(InvalidRequest) as caught:
        build({"volumeId": secret_looking})

    assert "<script>" not in json.dumps(caught.value.to_json())


@pytest.mark.parametrize("value", [[], "text", 3, True, None, {"unrelated": 1}])
def test_values_that_are_no_trigger_are_unrecognized(value: Any) -> None:
    with pytest.raises(UnrecognizedEvent):
        build(value)

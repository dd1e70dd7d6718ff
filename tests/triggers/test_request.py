"""Unit tests: each trigger's model and the envelope step, on the samples in events/ and mutations of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.errors import InvalidRequest, NoTargets, UnrecognizedEvent
from backup_handler.settings import Settings
from backup_handler.triggers.events import AlarmMessage, CloudEvent, ManualRequest
from backup_handler.triggers.payload import EMPTY
from backup_handler.triggers.request import BackupRequest, build_request
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


def test_alarm_idempotency_key_is_the_dedupe_key_and_timestamp_whatever_the_message_id() -> None:
    alarm = event_json("alarm.json")

    # The same message through two subscriptions: two message ids, one key and one body per volume.
    first = build(alarm, headers={"x-oci-ns-messageid": "ns-42"})
    second = build(alarm, headers={"x-oci-ns-messageid": "ns-43"})

    assert first.idempotency_key == second.idempotency_key
    assert first.idempotency_key == f"alarm:{alarm['dedupeKey']}:{alarm['timestampEpochMillis']}"
    target = first.targets[0]
    template = SETTINGS.display_name_template
    assert first.api_body(target, template) == second.api_body(target, template)


@pytest.mark.parametrize("version", [0.9, "one", -1])
def test_alarm_versions_below_1_are_refused(version: Any) -> None:
    raw = event_json("alarm.json")
    raw["version"] = version

    with pytest.raises(InvalidRequest):
        build(raw)


@pytest.mark.parametrize("version", [2.0, 3.1])
def test_alarm_format_versions_from_2_on_are_accepted_when_the_fields_are_there(version: float) -> None:
    raw = event_json("alarm.json")
    raw["version"] = version

    assert len(build(raw).targets) == 2


def test_repeat_alarm_backs_up_nothing_unless_configured() -> None:
    raw = {**event_json("alarm.json"), "type": "REPEAT"}

    default = build(raw)
    configured = build(raw, Settings(alarm_transitions=("OK_TO_FIRING", "REPEAT")))

    assert default.targets == () and default.nothing_to_do
    assert "BACKUP_ALARM_TRANSITIONS=OK_TO_FIRING" in default.nothing_to_do
    assert len(configured.targets) == 2


def test_upper_case_ocids_in_alarm_dimensions_are_backed_up_in_lower_case() -> None:
    raw = event_json("alarm.json")
    dimensions = raw["alarmMetaData"][0]["dimensions"]
    dimensions[0]["resourceId"] = dimensions[0]["resourceId"].upper()
    dimensions.append({"resourceId": VOLUMES[1].upper()})

    request = build(raw)

    assert [t.resource_id for t in request.targets] == list(VOLUMES[:2])


def test_upper_case_ocids_are_accepted_in_manual_and_schedule_bodies() -> None:
    assert build({"volumeId": VOLUMES[0].upper()}).targets[0].resource_id == VOLUMES[0]
    tick = build({"source": "schedule", "volumeIds": [BOOT_VOLUMES[0].upper()]})
    assert tick.targets[0].resource_id == BOOT_VOLUMES[0]


def test_alarm_naming_more_volumes_than_the_cap_is_refused_whole() -> None:
    raw = event_json("alarm.json")
    volumes = [f"ocid1.volume.oc1.iad.abuwcljrcap{n:040d}" for n in range(11)]
    raw["alarmMetaData"][0]["dimensions"] = [{"resourceId": v} for v in volumes]

    with pytest.raises(InvalidRequest) as caught:
        build(raw, Settings(max_targets=10))

    assert "at most 10" in caught.value.message
    assert len(build(raw, Settings(max_targets=11)).targets) == 11


def test_resources_that_are_not_volumes_are_listed_up_to_a_bound_and_counted_beyond() -> None:
    raw = event_json("alarm.json")
    others = [{"resourceId": f"ocid1.instance.oc1.iad.i{n}"} for n in range(250)]
    raw["alarmMetaData"][0]["dimensions"] = [{"resourceId": VOLUMES[0]}, *others]

    request = build(raw)

    assert len(request.skipped) == 21
    assert request.skipped[-1].resource_id is None
    assert request.skipped[-1].reason == "and 230 more resources that are not volumes"


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
        "freeformTags": {
            "ticket": "CHG-1234",
            "backup-trigger": "manual",
            "backup-source": "CHG-1234-before-upgrade",
            "backup-kind": "volume",
        },
    }


def test_manual_request_with_idempotency_key_gives_the_same_body_at_any_time() -> None:
    raw = {"volumeId": VOLUMES[0], "idempotencyKey": "k-1"}
    early = build_request(raw, headers={}, settings=SETTINGS, now=NOW)
    late = build_request(raw, headers={}, settings=SETTINGS, now=datetime(2027, 1, 1, tzinfo=UTC))

    target = early.targets[0]
    template = SETTINGS.display_name_template
    assert early.api_body(target, template) == late.api_body(target, template)


@pytest.mark.parametrize("key", ["backup-trigger", "backup-source"])
def test_a_request_cannot_set_the_tags_the_function_stamps(key: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build({"volumeId": VOLUMES[0], "freeformTags": {key: "forged"}})

    assert caught.value.extra["errors"] == [
        {"field": f"freeformTags.{key}", "problem": "is set by the function and cannot be given"}
    ]


@pytest.mark.parametrize("key", ["Backup-Trigger", "BACKUP-SOURCE"])
def test_a_key_in_another_case_is_another_free_form_tag_and_the_stamped_one_stays(key: str) -> None:
    """OCI: free-form tag keys are case sensitive ("Project" and "project" are distinct keys)."""
    request = build({"volumeId": VOLUMES[0], "freeformTags": {key: "mine"}})

    assert request.freeform_tags[key] == "mine"
    assert request.freeform_tags["backup-trigger"] == "manual" and request.freeform_tags["backup-source"]


def test_a_request_cannot_override_configured_tags_but_may_repeat_them() -> None:
    settings = Settings(freeform_tags={"retention": "30d", "cost-center": "storage"})

    with pytest.raises(InvalidRequest) as caught:
        build({"volumeId": VOLUMES[0], "freeformTags": {"retention": "1d"}}, settings)
    same = build({"volumeId": VOLUMES[0], "freeformTags": {"retention": "30d", "ticket": "T-1"}}, settings)

    assert caught.value.extra["errors"][0]["field"] == "freeformTags.retention"
    other = build({"volumeId": VOLUMES[0], "freeformTags": {"Retention": "1d"}}, settings)  # a distinct key
    assert other.freeform_tags["Retention"] == "1d" and other.freeform_tags["retention"] == "30d"
    assert same.freeform_tags["retention"] == "30d" and same.freeform_tags["cost-center"] == "storage"
    assert same.freeform_tags["ticket"] == "T-1"


def test_more_tags_than_a_resource_can_carry_are_refused() -> None:
    freeform = {f"f{n}": "v" for n in range(40)}
    # 40 + 18 + the function's 7 reserved tags (4 stamped at creation; 3 the lifecycle, retention's grace and
    # restore tests set) = 65
    defined = {"ops": {f"d{n}": "v" for n in range(18)}}

    settings = Settings(defined_tag_namespaces=("ops",))

    with pytest.raises(InvalidRequest) as caught:
        build({"volumeId": VOLUMES[0], "freeformTags": freeform, "definedTags": defined}, settings)
    assert "more than 64 tags" in caught.value.message

    defined["ops"].pop("d0")
    body = {"volumeId": VOLUMES[0], "freeformTags": freeform, "definedTags": defined}
    assert len(build(body, settings).freeform_tags) == 42


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


def test_cloudevents_1_0_bodies_are_unrecognized_saying_oci_delivers_0_1() -> None:
    body = {"specversion": "1.0", "type": "com.oraclecloud.blockvolumes.createvolume.end", "id": "e1", "source": "x"}

    with pytest.raises(UnrecognizedEvent) as caught:
        build(body)

    assert "CloudEvents 0.1" in caught.value.message


@pytest.mark.parametrize(
    "event_type",
    [
        "com.oraclecloud.blockvolumes.createvolumebackup.end",
        "com.oraclecloud.blockvolumes.createbootvolumebackup.end",
        "com.oraclecloud.blockvolumes.updatevolumebackup",
        "com.oraclecloud.blockvolumes.deletevolumebackup",
        "com.oraclecloud.blockvolumes.deletebootvolumebackup.begin",
        "com.oraclecloud.blockvolumes.changevolumebackupcompartment",
        "com.oraclecloud.blockvolumes.copyvolumebackup.end",
        "com.oraclecloud.blockvolumes.createvolumegroupbackup.end",
        "com.oraclecloud.BlockVolumes.UpdateVolumeBackup.End",
    ],
)
def test_no_event_about_a_backup_ever_starts_a_backup(event_type: str) -> None:
    raw = event_json("event-backup-end.json")
    raw["eventType"] = event_type

    request = build(raw)

    assert request.targets == () and request.nothing_to_do


def test_an_event_whose_resource_is_a_backup_starts_nothing_whatever_its_type() -> None:
    raw = event_json("event-backup-end.json")
    raw["eventType"] = "com.oraclecloud.blockvolumes.updatevolume.end"

    assert build(raw).targets == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestampEpochMillis", 99999999999999999999),
        ("timestampEpochMillis", 253402300800000),  # 10000-01-01
    ],
)
def test_alarm_times_out_of_range_are_invalid_requests_naming_the_field(field: str, value: Any) -> None:
    raw = {**event_json("alarm.json"), field: value}

    with pytest.raises(InvalidRequest) as caught:
        build(raw)

    assert [p["field"] for p in caught.value.extra["errors"]] == [field]


def test_event_time_that_overflows_in_utc_is_an_invalid_request_naming_the_field() -> None:
    raw = {**event_json("event-createvolume.json"), "eventTime": "9999-12-31T23:00:00-14:00"}

    with pytest.raises(InvalidRequest) as caught:
        build(raw)

    assert caught.value.extra["errors"] == [{"field": "eventTime", "problem": "is out of range"}]


def test_a_million_bad_alarm_dimensions_cost_one_problem() -> None:
    raw = event_json("alarm.json")
    raw["alarmMetaData"][0]["dimensions"] = [1] * 520_000

    with pytest.raises(InvalidRequest) as caught:
        build(raw)

    document = json.dumps(caught.value.to_json())
    assert caught.value.extra["errors"] == [
        {"field": "alarmMetaData[0].dimensions", "problem": "has 520000 items; at most 1000 are accepted"}
    ]
    assert len(document) < 1000


def test_a_manual_body_with_thousands_of_unknown_fields_is_refused_in_a_few_words() -> None:
    raw = {"volumeId": VOLUMES[0], **{f"k{n}": n for n in range(110_000)}}

    with pytest.raises(InvalidRequest) as caught:
        build(raw)

    assert len(json.dumps(caught.value.to_json())) < 1000


def test_reported_problems_are_capped_and_counted() -> None:
    raw = {"source": "schedule", "volumeIds": [f"bad-{n}" for n in range(500)]}

    with pytest.raises(InvalidRequest) as caught:
        build(raw)

    assert len(caught.value.extra["errors"]) == 20
    assert caught.value.extra["moreErrors"] == 480
    assert "(and 495 more)" in caught.value.message


def test_huge_field_names_are_cut_in_the_answer() -> None:
    with pytest.raises(InvalidRequest) as caught:
        build({"volumeId": VOLUMES[0], "x" * 500_000: 1})

    assert len(json.dumps(caught.value.to_json())) < 2000


def test_tag_maps_with_too_many_entries_cost_one_problem() -> None:
    raw = {"volumeId": VOLUMES[0], "freeformTags": {f"k{n}": n for n in range(100_000)}}

    with pytest.raises(InvalidRequest) as caught:
        build(raw)

    assert len(caught.value.extra["errors"]) == 1


@pytest.mark.parametrize("ocid", [VOLUMES[0] + "\n", VOLUMES[0] + " ", " " + VOLUMES[0]])
def test_an_ocid_with_a_trailing_newline_or_space_is_not_a_volume(ocid: str) -> None:
    with pytest.raises(InvalidRequest):
        build({"source": "schedule", "volumeIds": [VOLUMES[0], ocid]})


@pytest.mark.parametrize("value", [1, 1.5, True, None, {"nested": "x"}, ["x"], "v" * 257])
def test_defined_tag_values_are_short_strings(value: Any) -> None:
    with pytest.raises(InvalidRequest):
        build({"volumeId": VOLUMES[0], "definedTags": {"ops": {"owner": value}}})


def test_a_huge_resource_id_is_cut_in_the_answer() -> None:
    raw = event_json("event-createvolume.json")
    raw["data"]["resourceId"] = "x" * 900_000

    with pytest.raises(NoTargets) as caught:
        build(raw)
    raw["eventType"] = "com.oraclecloud.blockvolumes.createvolumebackup.end"

    assert len(json.dumps(caught.value.to_json())) < 2000
    assert len(build(raw).skipped[0].resource_id or "") < 300

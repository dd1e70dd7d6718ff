"""Every trigger end to end: fdk on a Unix socket → the function → the SDK → the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from localdev.credentials import function_environment
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, VOLUMES
from localdev.stack import LocalStack
from tests.conftest import event_bytes, event_json

pytestmark = pytest.mark.e2e


def assert_json_response(answer: object) -> None:
    assert answer.headers["content-type"] == "application/json"  # type: ignore[attr-defined]


def test_manual_request_returns_the_volume_backup_exactly_as_the_api_sent_it(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke(event_bytes("manual.json"))

    assert answer.status == 200
    assert_json_response(answer)
    backup = answer.json()
    [stored] = emulator.backups()
    assert backup["id"] == stored["id"]
    assert set(backup) == set(stored)  # every field the API sent, camelCase, none added
    assert backup["volumeId"] == VOLUMES[0]
    assert backup["type"] == "FULL"
    assert backup["displayName"] == "before-db-upgrade"
    assert backup["freeformTags"] == {
        "ticket": "CHG-1234",
        "backup-trigger": "manual",
        "backup-source": "CHG-1234-before-upgrade",
        "backup-deployment": "backup-app/backup-handler",
        "backup-kind": "volume",
    }


def test_manual_request_with_boot_volume_id_makes_a_boot_volume_backup(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke(event_bytes("manual-boot.json"))

    assert answer.status == 200
    backup = answer.json()
    assert backup["id"].startswith("ocid1.bootvolumebackup.")
    assert backup["bootVolumeId"] == BOOT_VOLUMES[0]
    assert [call.path for call in emulator.creates()] == ["/20160918/bootVolumeBackups"]


def test_manual_request_with_the_same_idempotency_key_makes_one_backup(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    first = platform.invoke(event_bytes("manual.json")).json()
    second = platform.invoke(event_bytes("manual.json")).json()

    assert first["id"] == second["id"]
    assert len(emulator.backups()) == 1


def test_manual_request_without_display_name_gets_one_from_the_template(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke({"volumeId": VOLUMES[1]})

    assert answer.status == 200
    name = answer.json()["displayName"]
    assert name.startswith("manual-" + VOLUMES[1][-12:] + "-")
    assert answer.json()["type"] == "INCREMENTAL"  # BACKUP_TYPE default


def test_event_backs_up_the_volume_named_in_resource_id(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    event = event_json("event-createvolume.json")
    answer = platform.invoke(event_bytes("event-createvolume.json"))

    assert answer.status == 200
    summary = answer.json()
    assert summary["trigger"] == "event"
    [backup] = summary["backups"]
    assert backup["volumeId"] == event["data"]["resourceId"]
    assert backup["freeformTags"]["backup-source"] == event["eventID"]
    assert summary["skipped"] == [] and summary["errors"] == []
    assert backup["displayName"] == f"event-{VOLUMES[1][-12:]}-20261127T091524Z"


def test_attach_event_backs_up_the_volume_in_additional_details(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke(event_bytes("event-attachvolume.json"))

    assert answer.status == 200
    [backup] = answer.json()["backups"]
    assert backup["volumeId"] == VOLUMES[2]


def test_backup_events_never_start_backups(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    answer = platform.invoke(event_bytes("event-backup-end.json"))

    assert answer.status == 200
    summary = answer.json()
    assert summary["backups"] == []
    assert "never start backups" in summary["message"]
    assert emulator.creates() == []


def test_redelivered_event_makes_one_backup(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    ids = {platform.invoke(event_bytes("event-createvolume.json")).json()["backups"][0]["id"] for _ in range(3)}

    assert len(ids) == 1
    assert len(emulator.backups()) == 1
    assert len({call.retry_token for call in emulator.creates()}) == 1


def test_firing_alarm_backs_up_every_volume_among_its_dimensions_and_reports_the_rest(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke(event_bytes("alarm.json"), headers={"x-oci-ns-messageid": "msg-1"})

    assert answer.status == 200
    summary = answer.json()
    assert summary["trigger"] == "alarm"
    assert sorted(b["volumeId"] for b in summary["backups"]) == sorted(VOLUMES[:2])
    assert summary["skipped"] == [
        {
            "resourceId": "ocid1.instance.oc1.iad.anuwcljrinstance00000000000000000000000000000000000000001",
            "reason": "not a volume or boot volume",
        }
    ]
    alarm = event_json("alarm.json")
    source = f"{alarm['dedupeKey']}:{alarm['timestampEpochMillis']}"
    assert {b["freeformTags"]["backup-source"] for b in summary["backups"]} == {source}
    assert '"messageId":"msg-1"' in platform.function.log()  # the message id is a reference in the log


def test_one_alarm_message_through_two_subscriptions_makes_one_backup_per_volume(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    # The same message through two subscriptions: each delivery has its own message id.
    for message_id in ("msg-7", "msg-8"):
        assert platform.invoke(event_bytes("alarm.json"), headers={"x-oci-ns-messageid": message_id}).status == 200

    assert len(emulator.backups()) == 2
    assert len({call.retry_token for call in emulator.creates()}) == 2


def test_alarm_without_message_id_header_is_keyed_by_dedupe_key_and_timestamp(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    alarm = event_json("alarm.json")
    answer = platform.invoke(event_bytes("alarm.json"))

    source = answer.json()["backups"][0]["freeformTags"]["backup-source"]
    assert source == f"{alarm['dedupeKey']}:{alarm['timestampEpochMillis']}"


@pytest.mark.parametrize("transition", ["FIRING_TO_OK", "RESET"])
def test_alarm_that_is_not_firing_backs_up_nothing_and_answers_200(
    platform: FnPlatform, emulator: BlockStorageEmulator, transition: str
) -> None:
    alarm = event_json("alarm-ok.json")
    alarm["type"] = transition
    answer = platform.invoke(alarm)

    assert answer.status == 200
    assert answer.json()["message"].startswith(f"alarm transition {transition} does not start backups")
    assert emulator.creates() == []


def test_repeat_alarm_backs_up_nothing_by_default_and_only_when_configured(
    platform: FnPlatform, start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    alarm = event_json("alarm.json")
    alarm["type"] = "REPEAT"

    assert platform.invoke(alarm).json()["backups"] == []
    assert emulator.creates() == []
    configured = start_platform(BACKUP_ALARM_TRANSITIONS="OK_TO_FIRING,REPEAT")
    assert len(configured.invoke(alarm).json()["backups"]) == 2


@pytest.mark.parametrize("version", [1.0, 1.1, 1.3, 1.5])
def test_alarm_message_versions_1_0_to_1_5_are_accepted(
    platform: FnPlatform, emulator: BlockStorageEmulator, version: float
) -> None:
    alarm = event_json("alarm.json")
    alarm["version"] = version
    if version == 1.0:  # the 1.0 format has none of the later fields
        for later in ("timestamp", "notificationType"):
            alarm.pop(later)
        for later in ("namespace", "alarmUrl", "alarmSummary", "metricValues"):
            alarm["alarmMetaData"][0].pop(later)

    assert platform.invoke(alarm).status == 200


def test_schedule_body_backs_up_the_volumes_it_names(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    invocation = platform.invoke(event_bytes("schedule.json"), invoke_type="detached")

    assert invocation.status == 202 and invocation.body == b""  # Resource Scheduler invokes detached
    answer = invocation.wait()
    assert answer.status == 200
    summary = answer.json()
    assert summary["trigger"] == "schedule"
    assert sorted(b.get("volumeId") or b.get("bootVolumeId") for b in summary["backups"]) == sorted(
        [VOLUMES[0], BOOT_VOLUMES[0]]
    )


def test_schedule_tick_delivered_twice_in_one_slot_makes_one_backup_per_volume(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    first = platform.invoke(event_bytes("schedule.json"), invoke_type="detached").wait().json()
    second = platform.invoke(event_bytes("schedule.json"), invoke_type="detached").wait().json()

    assert {b["id"] for b in first["backups"]} == {b["id"] for b in second["backups"]}
    assert len(emulator.backups()) == 2


def test_empty_schedule_body_backs_up_the_configured_targets(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_TARGETS=f"{VOLUMES[0]}, {VOLUMES[2]}")
    answer = platform.invoke(event_bytes("schedule-empty.json"), invoke_type="detached").wait()

    assert answer.status == 200
    assert sorted(b["volumeId"] for b in answer.json()["backups"]) == sorted([VOLUMES[0], VOLUMES[2]])


def test_empty_body_with_no_configured_targets_is_a_no_targets_error_not_redelivered(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke(b"", invoke_type="detached").wait()

    assert answer.status == 200  # a redelivery cannot fix it: no retry storm, an ERROR line instead
    assert answer.json()["code"] == "NoTargets"
    assert "BACKUP_TARGETS" in answer.json()["message"]
    assert '"event":"not-redelivered"' in platform.function.log()


def test_configuration_applies_backup_type_tags_and_display_name(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(
        BACKUP_TYPE="FULL",
        BACKUP_FREEFORM_TAGS='{"team": "storage"}',
        BACKUP_DISPLAY_NAME_TEMPLATE="nightly-{trigger}-{time}",
    )
    [backup] = platform.invoke(event_bytes("event-createvolume.json")).json()["backups"]

    assert backup["type"] == "FULL"
    assert backup["freeformTags"]["team"] == "storage"
    assert backup["displayName"] == "nightly-event-20261127T091524Z"


def test_invalid_configuration_is_a_configuration_error_naming_the_variable(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_TYPE="WEEKLY")
    answer = platform.invoke(event_bytes("manual.json"))

    assert answer.status == 200  # a manual invoker reads the error; its status is in the body
    error = answer.json()
    assert error["code"] == "ConfigurationError"
    assert error["errors"][0]["field"] == "BACKUP_TYPE"
    assert emulator.creates() == []


# ------------------------------------------------------------------ errors


def test_unknown_volume_passes_the_api_error_through(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    missing = "ocid1.volume.oc1.iad.abuwcljrnosuchvolume00000000000000000000000000000000000009"
    answer = platform.invoke({"volumeId": missing})

    assert answer.status == 200
    error = answer.json()
    assert error["code"] == "NotAuthorizedOrNotFound"
    assert error["status"] == 404
    assert error["opcRequestId"] == emulator.creates()[0].opc_request_id


def test_gateway_invocation_carries_the_precise_status(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    missing = "ocid1.volume.oc1.iad.abuwcljrnosuchvolume00000000000000000000000000000000000009"

    not_found = platform.invoke({"volumeId": missing}, gateway=True)
    invalid = platform.invoke({"volumeId": "dolore"}, gateway=True)
    ok = platform.invoke(event_bytes("manual-boot.json"), gateway=True)

    assert (not_found.status, invalid.status, ok.status) == (404, 400, 200)
    assert not_found.json()["code"] == "NotAuthorizedOrNotFound"
    assert invalid.json()["code"] == "InvalidRequest"
    assert ok.json()["bootVolumeId"] == BOOT_VOLUMES[0]


def test_manual_conflict_returns_the_api_conflict_error(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    emulator.in_progress_seconds = 60
    assert platform.invoke({"volumeId": VOLUMES[0]}).status == 200

    answer = platform.invoke({"volumeId": VOLUMES[0]})

    assert answer.status == 200
    assert answer.json()["code"] == "Conflict"
    assert answer.json()["status"] == 409


def test_api_failure_on_one_target_does_not_stop_the_others(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.inject(Fault("create", status=400, code="InvalidParameter"))
    answer = platform.invoke(event_bytes("alarm.json"))

    assert answer.status == 200  # a 400 fails again on every redelivery: the source is told it is done
    summary = answer.json()
    assert len(summary["backups"]) == 1
    [error] = summary["errors"]
    assert error["code"] == "InvalidParameter" and error["status"] == 400
    assert error["resourceId"] in VOLUMES[:2]
    assert error["opcRequestId"]


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


MALFORMED: list[tuple[str, bytes, str]] = [
    ("not json", b"take a backup please", "InvalidJson"),
    ("truncated json", b'{"volumeId": "ocid1.volume.oc1', "InvalidJson"),
    ("binary", bytes(range(256)) * 4, "InvalidJson"),
    ("json array", b"[1, 2, 3]", "UnrecognizedEvent"),
    ("json string", b'"ocid1.volume.oc1.iad.abc"', "UnrecognizedEvent"),
    ("json null", b"null", "UnrecognizedEvent"),
    ("unknown shape", b'{"hello": "world"}', "UnrecognizedEvent"),
    ("typo in field name", _body(volumeID=VOLUMES[0]), "InvalidRequest"),
    ("not an ocid", _body(volumeId="dolore", type="INCREMENTAL"), "InvalidRequest"),
    ("wrong ocid kind", _body(volumeId="ocid1.instance.oc1.iad.anuwcljrabc"), "InvalidRequest"),
    ("boot ocid as volumeId", _body(volumeId=BOOT_VOLUMES[0]), "InvalidRequest"),
    ("wrong type", _body(volumeId=VOLUMES[0], type=3), "InvalidRequest"),
    ("unknown backup type", _body(volumeId=VOLUMES[0], type="DAILY"), "InvalidRequest"),
    ("oversize display name", _body(volumeId=VOLUMES[0], displayName="x" * 256), "InvalidRequest"),
    ("tags not an object", _body(volumeId=VOLUMES[0], freeformTags=[1]), "InvalidRequest"),
    ("both targets", _body(volumeId=VOLUMES[0], bootVolumeId=BOOT_VOLUMES[0]), "InvalidRequest"),
    ("deeply nested", b'{"volumeId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "InvalidJson"),
    ("oversize body", _body(volumeId="a" * 2_000_000), "PayloadTooLarge"),
    ("event without id", _body(cloudEventsVersion="0.1", eventType="x.y.z"), "InvalidRequest"),
    ("alarm with bad type", json.dumps({**event_json("alarm.json"), "type": "exploded!"}).encode(), "InvalidRequest"),
    ("schedule with bad ids", _body(source="schedule", volumeIds=["nope"]), "InvalidRequest"),
    ("kms key not allowed", _body(volumeId=VOLUMES[0], kmsKeyId="ocid1.key.oc1.iad.evil"), "InvalidRequest"),
]


@pytest.mark.parametrize(("case", "body", "code"), MALFORMED, ids=[case for case, _, _ in MALFORMED])
def test_malformed_input_reaches_the_invoker_as_a_json_error_and_makes_no_api_call(
    platform: FnPlatform, emulator: BlockStorageEmulator, case: str, body: bytes, code: str
) -> None:
    answer = platform.invoke(body)

    assert answer.status == 200  # only a 200 carries a body through the platform
    assert_json_response(answer)
    error = answer.json()
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in answer.body.decode(errors="replace")
    assert emulator.calls == []
    # the same process keeps serving
    assert platform.function.alive()
    assert platform.invoke(event_bytes("manual-boot.json")).status == 200


def test_validation_errors_name_the_field_and_suggest_the_right_spelling(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    error = platform.invoke({"volumeID": VOLUMES[0]}).json()

    assert {"field": "volumeID", "problem": "is not a known field (did you mean 'volumeId'?)"} in error["errors"]


def test_no_targets_among_alarm_dimensions_is_an_error_listing_what_was_skipped(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    alarm = event_json("alarm.json")
    alarm["alarmMetaData"][0]["dimensions"] = alarm["alarmMetaData"][0]["dimensions"][2:]
    error = platform.invoke(alarm).json()

    assert error["code"] == "NoTargets"
    assert error["skipped"][0]["reason"] == "not a volume or boot volume"


def test_event_without_a_volume_is_a_no_targets_error(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    event = event_json("event-attachvolume.json")
    del event["data"]["additionalDetails"]["volumeId"]

    assert platform.invoke(event).json()["code"] == "NoTargets"


def test_each_target_logs_one_structured_line(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    alarm = {**event_json("alarm.json"), "dedupeKey": "log-check"}
    summary = platform.invoke(alarm).json()

    lines = [
        json.loads(line.split(" - ", 3)[3])
        for line in platform.function.log().splitlines()
        if "backup_handler.runs.backup" in line and '"source":"log-check:' in line
    ]
    assert len(lines) == 2
    assert {line["backupId"] for line in lines} == {backup["id"] for backup in summary["backups"]}
    assert all(line["trigger"] == "alarm" and line["outcome"] == "created" and line["opcRequestId"] for line in lines)


def test_revoked_credentials_pass_the_api_not_authenticated_error_through(
    stack: LocalStack, start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, tmp_path: Path
) -> None:
    own = stack.identity.mint(tmp_path / "rp")  # a session of its own: the shared one stays valid
    platform = start_platform(**function_environment(own))
    emulator.revoke(own.jti)  # revoked, and the files hold nothing newer

    answer = platform.invoke(event_bytes("manual.json"))

    assert answer.status == 200
    error = answer.json()
    assert (error["code"], error["status"]) == ("NotAuthenticated", 401)
    assert emulator.backups() == []

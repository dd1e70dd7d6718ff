"""What the invoker sees, through the Fn platform model: the answer is true, bounded and always JSON.

The Fn agent passes a body on only with a 200 (see localdev/platform.py), so these tests
assert what `fn invoke`, Notifications, Events, Resource Scheduler and API Gateway
really receive, and look at the container's own answer only where no invoker can.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.redelivery import DeliverySource
from localdev.samples import BOOT_VOLUMES, VOLUMES, seed
from localdev.stack import LocalStack
from tests.conftest import event_bytes, event_json

pytestmark = pytest.mark.e2e

MISSING = "ocid1.volume.oc1.iad.abuwcljrnosuchvolume00000000000000000000000000000000000009"


def fresh(emulator: BlockStorageEmulator) -> None:
    """Empty the emulator (its faults too) and seed the sample volumes again."""
    emulator.reset()
    seed(emulator)


def function_lines(platform: FnPlatform) -> list[str]:
    """The function's own log lines (fdk's format: ``time - logger - LEVEL - message``)."""
    return [line for line in platform.function.log().splitlines() if " - backup_handler." in line]


# ------------------------------------------------------- the delivery contract


def test_a_manual_invocation_always_gets_its_answer_with_the_precise_status_in_the_body(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.inject(*[Fault("create", status=503)] * 10)

    failed = platform.invoke({"volumeId": VOLUMES[0]}, deadline_seconds=4)
    fresh(emulator)
    missing = platform.invoke({"volumeId": MISSING})
    made = platform.invoke({"volumeId": VOLUMES[1]})

    assert (failed.status, missing.status, made.status) == (200, 200, 200)
    assert (failed.json()["code"], failed.json()["status"]) == ("ServiceUnavailable", 503)
    assert (missing.json()["code"], missing.json()["status"]) == ("NotAuthorizedOrNotFound", 404)
    assert "status" not in made.json() and made.json()["volumeId"] == VOLUMES[1]


def test_a_source_trigger_is_told_to_redeliver_exactly_when_a_redelivery_could_succeed(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    event = event_json("event-createvolume.json")
    emulator.inject(*[Fault("create", status=429)] * 10)
    throttled = platform.invoke({**event, "eventID": "throttled"}, deadline_seconds=4)
    fresh(emulator)
    emulator.inject(Fault("create", status=400, code="InvalidParameter"))
    refused = platform.invoke({**event, "eventID": "refused"})
    invalid = platform.invoke({**event, "eventID": ""})
    done = platform.invoke({**event, "eventID": "done"})

    assert (throttled.status, throttled.platform_error) == (502, "FunctionInvokeExecutionFailed")
    assert refused.status == 200 and refused.json()["errors"][0]["code"] == "InvalidParameter"
    assert invalid.status == 200 and invalid.json()["code"] == "InvalidRequest"
    assert done.status == 200 and len(done.json()["backups"]) == 1
    errors = [json.loads(line.split(" - ", 3)[3]) for line in function_lines(platform) if " - ERROR - " in line]
    assert {"InvalidParameter"} <= {code for line in errors for code in line.get("failed") or []}


@pytest.mark.parametrize("invoke_type", ["sync", "detached"])
def test_input_that_is_no_trigger_answers_200_with_the_error_whatever_the_invoke_type(
    platform: FnPlatform, emulator: BlockStorageEmulator, invoke_type: str
) -> None:
    for body, code in ((b"not json", "InvalidJson"), (b"[1]", "UnrecognizedEvent"), (b'{"a": 1}', "UnrecognizedEvent")):
        invocation = platform.invoke(body, invoke_type=invoke_type)  # type: ignore[arg-type]
        answer = invocation.wait()
        assert answer.status == 200
        assert answer.json()["code"] == code


def test_a_detached_manual_invocation_is_a_delivery_verdict(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.inject(*[Fault("create", status=500)] * 10)

    invocation = platform.invoke({"volumeId": VOLUMES[0]}, invoke_type="detached", deadline_seconds=4)

    assert invocation.status == 202
    assert invocation.wait().status == 502


def test_the_gateway_caller_gets_the_precise_status_and_the_body_even_for_5xx(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_BLOCKSTORAGE_ENDPOINT="http://127.0.0.1:9", BACKUP_MAX_ATTEMPTS="1")

    answer = platform.invoke({"volumeId": VOLUMES[0]}, gateway=True)

    assert answer.status == 502
    assert answer.json()["code"] == "NetworkError"
    assert answer.wait().status == 200  # the container answered 200, or the platform would drop the body


def test_a_gateway_caller_cannot_turn_gateway_handling_off_with_its_own_fn_intent_header(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    for spoof in ("nope", "cloudevent", ""):
        answer = platform.invoke({"volumeId": MISSING}, gateway=True, headers={"Fn-Intent": spoof})
        assert answer.status == 404, spoof
        assert answer.json()["code"] == "NotAuthorizedOrNotFound"


def test_a_configuration_error_reaches_a_manual_invoker_and_makes_a_source_redeliver(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_DISPLAY_NAME_TEMPLATE="{time:>300000000}")

    manual = platform.invoke(event_bytes("manual.json"))
    event = platform.invoke(event_bytes("event-createvolume.json"))

    assert manual.status == 200 and manual.json()["code"] == "ConfigurationError"
    assert manual.json()["errors"][0]["field"] == "BACKUP_DISPLAY_NAME_TEMPLATE"
    assert event.status == 502  # an operator can fix it while the source still redelivers
    assert emulator.creates() == []


# ------------------------------------------- every target, whatever the timing


def test_transient_first_deliveries_end_with_exactly_one_backup_per_target(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_MAX_CONCURRENCY="1")
    targets = [*VOLUMES, *BOOT_VOLUMES]
    alarm = event_json("alarm.json")
    alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": target} for target in targets]
    # Four slow calls: the first deliveries run out of time part-way, later ones finish the job.
    emulator.inject(*[Fault("create", latency=0.6)] * 4)
    notifications = DeliverySource(platform, "notifications", max_attempts=8)

    delivery = notifications.deliver(alarm, deadline_seconds=2.6)

    assert delivery.delivered
    assert delivery.attempts[0].status == 504  # the first delivery could not finish
    summary = delivery.last.json()
    assert sorted(b.get("volumeId") or b.get("bootVolumeId") for b in summary["backups"]) == sorted(targets)
    assert len(emulator.backups()) == len(targets)
    for attempt in delivery.attempts:  # every attempt accounted for every target
        document = attempt.wait().json()
        listed = [
            item.get("volumeId") or item.get("bootVolumeId") or item.get("resourceId")
            for key in ("backups", "errors", "pending", "notAttempted")
            for item in document[key]
        ]
        listed += [item["resourceId"] for item in document["skipped"] if item["resourceId"] in targets]
        assert sorted(listed) == sorted(targets), document


def test_a_worker_that_finds_no_time_left_is_reported_not_dropped(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_MAX_CONCURRENCY="1", BACKUP_DEADLINE_MARGIN_SECONDS="1.0")
    release = threading.Event()
    # The first call is held until released; the rest of the schedule waits behind it.
    emulator.inject(Fault("create", hold=release))
    body = {"source": "schedule", "volumeIds": [*VOLUMES, *BOOT_VOLUMES]}

    invocation = platform.invoke(body, deadline_seconds=2.5, invoke_type="detached")
    answer = invocation.wait()
    release.set()

    summary = answer.json()
    assert answer.status == 504
    assert len(summary["pending"]) == 1 and len(summary["notAttempted"]) == 3
    assert summary["backups"] == [] and summary["errors"] == []


def test_a_far_future_deadline_is_clamped_and_the_backup_reported(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    for far in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00"):
        fresh(emulator)
        event = platform.invoke(event_bytes("event-createvolume.json"), headers={"Fn-Deadline": far})
        manual = platform.invoke({"volumeId": VOLUMES[0]}, headers={"Fn-Deadline": far})

        assert event.status == 200 and [b["volumeId"] for b in event.json()["backups"]] == [VOLUMES[1]]
        assert manual.status == 200 and manual.json()["volumeId"] == VOLUMES[0]


# ----------------------------------------------------------------- defects


@pytest.mark.parametrize(
    "body",
    [
        b'{"volumeId": "%s", "definedTags": {"ops": {"owner": "\\ud800"}}}' % VOLUMES[0].encode(),
        event_bytes("alarm.json").replace(b'"resourceDisplayName": "db-data-1"', b'"resourceDisplayName": "\\udfff"'),
    ],
    ids=["manual defined tag", "alarm dimension"],
)
def test_a_lone_surrogate_is_refused_before_any_backup_and_the_answer_is_json(
    platform: FnPlatform, emulator: BlockStorageEmulator, body: bytes
) -> None:
    answer = platform.invoke(body)

    assert answer.status == 200
    assert answer.json()["code"] == "InvalidJson"
    assert emulator.calls == []


def test_a_huge_hostile_alarm_is_refused_in_a_small_answer_with_bounded_memory(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    alarm = event_json("alarm.json")
    alarm["alarmMetaData"][0]["dimensions"] = [1] * 520_000  # ~1 MB of non-objects
    body = json.dumps(alarm, separators=(",", ":")).encode()
    assert 1_000_000 < len(body) <= 1_048_576

    answer = platform.invoke(body)

    assert answer.status == 200
    assert answer.json()["code"] == "InvalidRequest"
    assert len(answer.body) < 2000
    peak_kb = int(Path(f"/proc/{platform.function.pid}/status").read_text().split("VmHWM:")[1].split()[0])
    assert peak_kb < 200 * 1024  # under the 256 MB function; it was 737 MB


def test_an_alarm_naming_more_volumes_than_the_cap_is_refused_whole(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    alarm = event_json("alarm.json")
    alarm["alarmMetaData"] = [
        {
            **alarm["alarmMetaData"][0],
            "dimensions": [{"resourceId": f"ocid1.volume.oc1.iad.v{m:03d}{n:04d}"} for n in range(1000)],
        }
        for m in range(11)
    ]

    answer = platform.invoke(alarm)

    assert answer.status == 200
    assert answer.json()["code"] == "InvalidRequest"
    assert "at most 1000" in answer.json()["message"]
    assert emulator.calls == []


@pytest.mark.parametrize(
    ("fault", "expected_code"),
    [
        (
            Fault(
                "create",
                status=502,
                body=b"<html>Bad gateway at proxy-7.internal.example:8443</html>",
                content_type="text/html",
            ),
            "InvalidResponse",
        ),
        (
            Fault("create", status=503, body=b'{"code": "x y <script>", "message": "internal host 10.1.2.3"}'),
            "InvalidResponse",
        ),
        (
            Fault("create", status=400, body=b'{"code": "InvalidParameter", "message": "' + b"m" * 5000 + b'"}'),
            "InvalidParameter",
        ),
    ],
    ids=["html page", "malformed code", "oversize message"],
)
def test_api_errors_pass_through_only_as_well_formed_bounded_oci_errors(
    platform: FnPlatform, emulator: BlockStorageEmulator, fault: Fault, expected_code: str
) -> None:
    emulator.inject(*[fault] * 10)

    answer = platform.invoke({"volumeId": VOLUMES[0]}, deadline_seconds=4)

    error = answer.json()
    assert answer.status == 200 and error["code"] == expected_code
    assert "internal" not in answer.body.decode() and "<" not in answer.body.decode()
    assert len(error["message"]) <= 520


def _backup_body(**fields: object) -> bytes:
    return json.dumps({"id": "ocid1.volumebackup.oc1.iad.answered", "volumeId": VOLUMES[0], **fields}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b"null",
        b"not json",
        b'{"lifecycleState": "CREATING"}',
        _backup_body(id=""),
        _backup_body(id="ocid1.volume.oc1.iad.notabackup"),
        _backup_body(id="ocid1.volumebackup.oc1.iad." + "a" * 2_000_000),
        _backup_body(volumeId=VOLUMES[2]),
        _backup_body(junk="a" * 3_000_000),
        _backup_body().replace(b'"id"', b'"sizeInGBs": Infinity, "id"'),
    ],
    ids=[
        "array",
        "null",
        "text",
        "no id",
        "empty id",
        "not a backup id",
        "huge id",
        "another volume",
        "3 MB",
        "Infinity",
    ],
)
def test_a_success_without_a_backup_is_a_per_target_error_and_the_other_backups_are_reported(
    platform: FnPlatform, emulator: BlockStorageEmulator, body: bytes
) -> None:
    emulator.inject(Fault("createVolumeBackup", status=200, body=body))
    alarm = event_json("alarm.json")  # VOLUMES[0] and VOLUMES[1]: one answer is faulty, whichever comes first

    answer = platform.invoke(alarm, deadline_seconds=10).wait()

    summary = answer.json()
    assert answer.status == 502  # a redelivery can still make that backup
    assert len(answer.body) < 8000
    [backup] = summary["backups"]
    [error] = summary["errors"]
    assert error["code"] == "InvalidResponse"
    assert sorted([backup["volumeId"], error["resourceId"]]) == sorted(VOLUMES[:2])  # each target exactly once


def test_no_input_can_forge_or_split_a_log_line(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    forged = 'volumeID\n2026-11-27 - backup_handler.runs.backup - INFO - {"event":"backup","outcome":"created"}'
    platform.invoke({forged: VOLUMES[0], "idempotencyKey": "k"})
    platform.invoke({**event_json("event-createvolume.json"), "eventID": "e\r\nforged"})

    lines = function_lines(platform)
    assert lines
    for line in platform.function.log().splitlines():
        assert not line.startswith(("2026-11-27 - backup_handler", '{"event"')), line
    for line in lines:
        json.loads(line.split(" - ", 3)[3])  # each of ours is one JSON object


def test_an_invoker_cannot_override_configured_tags(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_FREEFORM_TAGS='{"retention": "30d", "cost-center": "storage"}')

    answer = platform.invoke({"volumeId": VOLUMES[0], "freeformTags": {"cost-center": "attacker"}})

    assert answer.json()["code"] == "InvalidRequest"
    assert answer.json()["errors"][0]["field"] == "freeformTags.cost-center"
    assert emulator.calls == []


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_unreadable_credentials_are_a_credentials_error_without_paths_or_secrets(
    stack: LocalStack,
    start_platform: Callable[..., FnPlatform],
    emulator: BlockStorageEmulator,
    tmp_path: Path,
    problem: str,
) -> None:
    rpst = tmp_path / "rpst"
    if problem == "corrupt":
        rpst.write_text("this is not a token")
    platform = start_platform(OCI_RESOURCE_PRINCIPAL_RPST=str(rpst))

    manual = platform.invoke(event_bytes("manual.json"))
    alarm = platform.invoke(event_bytes("alarm.json"))

    error = manual.json()
    assert manual.status == 200 and error["code"] == "CredentialsError"
    assert "resource-principal" in error["message"]
    assert str(tmp_path) not in manual.body.decode() and str(tmp_path) not in platform.function.log()
    assert alarm.status == 502  # redelivered: the platform or an operator can fix credentials
    assert emulator.calls == []


def test_a_busy_resource_is_retried_within_the_deadline_and_a_conflict_is_not(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.inject(Fault("create", status=409, code="IncorrectState"))

    answer = platform.invoke({"volumeId": VOLUMES[0]})

    assert answer.json()["volumeId"] == VOLUMES[0]
    assert [call.status for call in emulator.creates()] == [409, 200]


def test_upper_case_ocids_in_a_real_alarm_are_backed_up_by_their_lower_case_form(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    alarm = event_json("alarm.json")
    for dimension in alarm["alarmMetaData"][0]["dimensions"]:
        dimension["resourceId"] = dimension["resourceId"].upper()

    summary = platform.invoke(alarm).json()

    assert sorted(b["volumeId"] for b in summary["backups"]) == sorted(VOLUMES[:2])

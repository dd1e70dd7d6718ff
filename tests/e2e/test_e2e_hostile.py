"""Hostile input, hostile API answers and odd configuration, through the Fn platform model.

Each test guards one clause of the contract against input chosen to break it: what the
invoker sees (only a container 200 carries a body), bounded JSON answers, every target
accounted for once, bounded memory, one JSON object per log line, nothing an invoker
sends widening the configuration, and the loop guard.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform, InvokeType
from localdev.samples import BOOT_VOLUMES, VOLUMES, seed
from localdev.stack import LocalStack
from tests.conftest import event_json

pytestmark = pytest.mark.e2e

MIB = 1_048_576
INVOKE_TYPES: tuple[InvokeType, ...] = ("sync", "detached")
INSTANCE = "ocid1.instance.oc1.iad.anuwcljrinstance00000000000000000000000000000000000000001"
VOLUME_BACKUP = "ocid1.volumebackup.oc1.iad.abuwcljrbackup0000000000000000000000000000000000000001"
KEY_ALLOWED = "ocid1.key.oc1.iad.allowedkey0001"
KEY_DEFAULT = "ocid1.key.oc1.iad.defaultkey0001"
KEY_OTHER = "ocid1.key.oc1.iad.attackerkey001"
# One of the function's own log lines as fdk writes it: "<call id> - <logger> - <LEVEL> - <message>".
OWN_LINE = re.compile(r"^[0-9A-F]{32} - backup_handler\.[a-z_.]+ - (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) - (\{.*\})$")


def fresh(emulator: BlockStorageEmulator) -> None:
    """Empty the emulator (its faults too) and seed the sample volumes again."""
    emulator.reset()
    seed(emulator)


def strict_json(raw: bytes) -> Any:
    """RFC 8259 JSON: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(raw, parse_constant=refuse)


def with_value(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``document`` with the item at ``path`` replaced."""
    changed = copy.deepcopy(document)
    parent: Any = changed
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return changed


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def answer(platform: FnPlatform, body: bytes, invoke_type: InvokeType, **kwargs: Any) -> tuple[int, bytes]:
    """What reaches whoever can read it: the invoker's view of a sync call, the container's of a detached one."""
    invocation = platform.invoke(body, invoke_type=invoke_type, **kwargs)
    if invoke_type == "detached":
        assert invocation.status == 202
        container = invocation.wait()
        return container.status, container.body
    return invocation.status, invocation.body


def own_log_lines(platform: FnPlatform) -> list[str]:
    return [line for line in platform.function.log().split("\n") if " - backup_handler." in line]


def peak_rss_kb(platform: FnPlatform) -> int:
    status = Path(f"/proc/{platform.function.pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def backed_up(summary: dict[str, Any]) -> list[str]:
    return [backup.get("volumeId") or backup.get("bootVolumeId") for backup in summary["backups"]]


# --------------------------------------------------------- bodies that are no trigger


NO_TRIGGER = [
    (b'"just a string"', "UnrecognizedEvent"),
    (b"1e999", "InvalidJson"),
    (b"NaN", "InvalidJson"),
    (b"null", "UnrecognizedEvent"),
    (b"\xef\xbb\xbf[]", "UnrecognizedEvent"),
    (b'{"__proto__": {"volumeId": "%s"}, "constructor": {"prototype": {}}}' % VOLUMES[0].encode(), "UnrecognizedEvent"),
    (b'{"specversion": "1.0", "type": "com.oraclecloud.blockvolumes.createvolume.end"}', "UnrecognizedEvent"),
    (b'{"volumeid ": "%s"}' % VOLUMES[0].encode(), "UnrecognizedEvent"),
    (b"[" * 33 + b"]" * 33, "InvalidJson"),
    (b"[" * 1_000_000, "InvalidJson"),
    (b'{"a": ' + b"9" * 5000 + b"}", "InvalidJson"),
    ('{"volumeId": "x"}'.encode("utf-16"), "InvalidJson"),
    (b'{"volumeId": "\xff\xfe"}', "InvalidJson"),
    (b'{"\\ud800": 1, "volumeId": "%s"}' % VOLUMES[0].encode(), "InvalidJson"),
    (b'{"volumeId": "%s"' % VOLUMES[0].encode(), "InvalidJson"),
    (b" " * (MIB + 1), "PayloadTooLarge"),
]


@pytest.mark.parametrize("invoke_type", ["sync", "detached"])
def test_input_that_is_no_trigger_is_answered_200_with_a_small_error_whatever_the_invoke_type(
    platform: FnPlatform, emulator: BlockStorageEmulator, invoke_type: InvokeType
) -> None:
    for body, code in NO_TRIGGER:
        status, raw = answer(platform, body, invoke_type)

        assert status == 200, (body[:60], raw[:200])
        error = strict_json(raw)
        assert error["code"] == code, (body[:60], error)
        assert error["status"] == (413 if code == "PayloadTooLarge" else 400)
        assert len(raw) < 1000
    assert emulator.calls == []


# ------------------------------------------------------- wrong types in every trigger

_EVENT = event_json("event-createvolume.json")
_ALARM = event_json("alarm.json")
_SCHEDULE = event_json("schedule.json")
_MANUAL = event_json("manual.json")

WRONG_FIELDS: list[tuple[dict[str, Any], tuple[str | int, ...], Any]] = [
    (_EVENT, ("eventID",), 12345),
    (_EVENT, ("eventID",), ""),
    (_EVENT, ("eventType",), ["com.oraclecloud.blockvolumes.createvolume.end"]),
    (_EVENT, ("cloudEventsVersion",), {"v": "0.1"}),
    (_EVENT, ("eventTime",), "yesterday"),
    (_EVENT, ("eventTime",), "0001-01-01T00:00:00+14:00"),
    (_EVENT, ("data",), [VOLUMES[1]]),
    (_EVENT, ("data", "resourceId"), {"id": VOLUMES[1]}),
    (_EVENT, ("data", "additionalDetails"), "volumeId"),
    (_ALARM, ("type",), "ok_to_firing"),
    (_ALARM, ("type",), {"OK_TO_FIRING": True}),
    (_ALARM, ("timestampEpochMillis",), "soon"),
    (_ALARM, ("timestampEpochMillis",), 10**30),
    (_ALARM, ("timestampEpochMillis",), -1),
    (_ALARM, ("version",), 0.9),
    (_ALARM, ("version",), [1.5]),
    (_ALARM, ("dedupeKey",), ""),
    (_ALARM, ("alarmMetaData",), {"dimensions": []}),
    (_ALARM, ("alarmMetaData", 0, "dimensions"), VOLUMES[0]),
    (_ALARM, ("alarmMetaData", 0, "dimensions", 0), [VOLUMES[0]]),
    (_SCHEDULE, ("volumeIds",), VOLUMES[0]),
    (_SCHEDULE, ("volumeIds",), []),
    (_SCHEDULE, ("volumeIds", 0), {"id": VOLUMES[0]}),
    (_SCHEDULE, ("volumeIds", 1), INSTANCE),
    (_SCHEDULE, ("compartmentId",), "ocid1.compartment.oc1..aaaa"),
    (_MANUAL, ("volumeId",), [VOLUMES[0]]),
    (_MANUAL, ("volumeId",), BOOT_VOLUMES[0]),
    (_MANUAL, ("type",), "full"),
    (_MANUAL, ("displayName",), ""),
    (_MANUAL, ("displayName",), "n" * 256),
    (_MANUAL, ("idempotencyKey",), "two words"),
    (_MANUAL, ("idempotencyKey",), "key\n"),
    (_MANUAL, ("freeformTags",), ["ticket"]),
    (_MANUAL, ("freeformTags", "ticket"), 1234),
    (_MANUAL, ("definedTags",), {"ops": "owner"}),
    (_MANUAL, ("kmsKeyId",), 7),
    (_MANUAL, ("bootVolumeId",), BOOT_VOLUMES[0]),
]
RAW_WRONG = [
    dumps(_ALARM).replace(b'"version":1.5', b'"version":NaN'),
    dumps(_ALARM).replace(b'"version":1.5', b'"version":Infinity'),
    dumps(_ALARM).replace(b'"timestampEpochMillis":1795771260000', b'"timestampEpochMillis":-Infinity'),
]


@pytest.mark.parametrize("invoke_type", ["sync", "detached"])
def test_a_trigger_with_a_wrong_type_in_any_field_is_refused_whole_and_not_redelivered(
    platform: FnPlatform, emulator: BlockStorageEmulator, invoke_type: InvokeType
) -> None:
    bodies = [dumps(with_value(sample, path, value)) for sample, path, value in WRONG_FIELDS] + RAW_WRONG

    for body in bodies:
        status, raw = answer(platform, body, invoke_type)

        assert status == 200, (body[:120], raw[:300])
        error = strict_json(raw)
        expected = "InvalidJson" if body in RAW_WRONG else "InvalidRequest"  # NaN/Infinity are not JSON at all
        assert error["code"] == expected, (body[:120], error)
        if expected == "InvalidJson":
            continue
        assert error["status"] == 400 and 1 <= len(error["errors"]) <= 20
        assert len(raw) < 4000
        assert "pydantic" not in raw.decode() and "Traceback" not in raw.decode()
    assert emulator.calls == []


# ------------------------------------------------------------------ the loop guard

BACKUP_EVENTS = [
    ((("eventType",), "com.oraclecloud.blockvolumes.createvolumebackup.end"),),
    ((("eventType",), "com.oraclecloud.blockvolumes.CreateBootVolumeBackup.begin"),),
    ((("eventType",), "com.oraclecloud.blockvolumes.copyvolumebackup.end"),),
    ((("eventType",), "com.oraclecloud.blockvolumes.changevolumegroupbackupcompartment"),),
    ((("eventType",), "com.example.BACKUP"),),
    ((("data", "resourceId"), VOLUME_BACKUP), (("data", "additionalDetails"), {"volumeId": VOLUMES[0]})),
    ((("data", "resourceId"), VOLUME_BACKUP.upper()), (("data", "additionalDetails"), {"volumeId": VOLUMES[0]})),
    (
        (("data", "resourceId"), "ocid1.bootvolumebackup.oc1.iad.b1"),
        (("data", "additionalDetails"), {"volumeId": VOLUMES[0]}),
    ),
    (
        (("data", "resourceId"), "ocid1.volumegroupbackup.oc1.iad.g1"),
        (("data", "additionalDetails"), {"volumeId": VOLUMES[0]}),
    ),
    ((("eventType",), "com.oraclecloud.blockvolumes.createvolumebackup.end"), (("data",), None)),
]


@pytest.mark.parametrize("changes", BACKUP_EVENTS, ids=[str(i) for i in range(len(BACKUP_EVENTS))])
def test_no_event_about_a_backup_ever_starts_a_backup(
    platform: FnPlatform, emulator: BlockStorageEmulator, changes: tuple[tuple[tuple[str, ...], Any], ...]
) -> None:
    event = _EVENT
    for path, value in changes:
        event = with_value(event, path, value)

    for invoke_type in INVOKE_TYPES:
        status, raw = answer(platform, dumps(event), invoke_type)

        summary = strict_json(raw)
        assert status == 200
        assert summary["backups"] == [] and summary["errors"] == []
        assert "never start backups" in summary["message"]
    assert emulator.creates() == []


OTHER_RESOURCES = [
    ((("data", "resourceId"), INSTANCE),),
    ((("data", "resourceId"), "ocid1.volumegroup.oc1.iad.g1"),),
    ((("data", "resourceId"), "ocid1.blockvolumereplica.oc1.iad.r1"),),
    ((("data", "resourceId"), "ocid1.volume.oc1..x!"),),
    (
        (("data", "resourceId"), "ocid1.volumeattachment.oc1.iad.a1"),
        (("data", "additionalDetails"), {"volumeId": {"id": VOLUMES[0]}}),
    ),
    ((("data", "resourceId"), INSTANCE), (("data", "additionalDetails"), {"volumeId": [VOLUMES[0]]})),
    ((("data", "resourceId"), INSTANCE), (("data", "additionalDetails"), {"volumeId": INSTANCE})),
    ((("data", "resourceId"), None), (("data", "additionalDetails"), None)),
]


def test_an_event_naming_no_volume_backs_up_nothing_and_is_logged_not_redelivered(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    for number, changes in enumerate(OTHER_RESOURCES):
        event = with_value(_EVENT, ("eventID",), f"other-{number}")
        for path, value in changes:
            event = with_value(event, path, value)

        for invoke_type in INVOKE_TYPES:
            status, raw = answer(platform, dumps(event), invoke_type)

            assert status == 200, changes
            assert strict_json(raw)["code"] == "NoTargets"
    assert emulator.creates() == []
    errors = [
        json.loads(m[1]) for line in own_log_lines(platform) if (m := OWN_LINE.match(line)) and " - ERROR - " in line
    ]
    assert sum(1 for line in errors if line.get("code") == "NoTargets") >= 2 * len(OTHER_RESOURCES)


# ------------------------------------------------------- every target, exactly once


def test_alarm_dimensions_of_any_shape_back_up_exactly_the_distinct_string_volume_ids(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    dimensions: list[dict[str, Any]] = [
        {"resourceId": VOLUMES[0]},
        {"resourceId": VOLUMES[0].upper()},
        {"resourceID": VOLUMES[1]},
        {"resourceId": {"id": VOLUMES[2]}},
        {"resourceId": [VOLUMES[2]]},
        {"resourceId": 7, "volumeId": VOLUMES[2]},
        {"resourceId": INSTANCE},
        {"resourceId": VOLUME_BACKUP},
        {"resourceId": ""},
        {},
    ]
    alarm = with_value(_ALARM, ("alarmMetaData", 0, "dimensions"), dimensions)

    invocation = platform.invoke(dumps(alarm), invoke_type="detached")
    container = invocation.wait()

    summary = strict_json(container.body)
    assert container.status == 200
    assert sorted(backed_up(summary)) == sorted(VOLUMES[:2])
    assert {skip["resourceId"] for skip in summary["skipped"]} == {INSTANCE, VOLUME_BACKUP, ""}
    assert summary["errors"] == summary["pending"] == summary["notAttempted"] == []
    assert sorted(call.resource_id or "" for call in emulator.creates()) == sorted(VOLUMES[:2])


def test_an_alarm_with_thousands_of_long_non_volume_dimensions_lists_a_bounded_number_of_skips(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    noise = [{"resourceId": f"ocid1.instance.oc1.iad.{n:04d}" + "z" * 300} for n in range(999)]
    metadata = [
        {**_ALARM["alarmMetaData"][0], "dimensions": [{"resourceId": VOLUMES[0]}, *noise]},
        {**_ALARM["alarmMetaData"][0], "dimensions": [{"resourceId": VOLUMES[0].upper()}, *noise]},
    ]
    alarm = with_value(_ALARM, ("alarmMetaData",), metadata)

    invocation = platform.invoke(dumps(alarm))

    summary = strict_json(invocation.body)
    assert invocation.status == 200
    assert backed_up(summary) == [VOLUMES[0]]
    assert len(summary["skipped"]) == 21
    assert summary["skipped"][-1] == {"resourceId": None, "reason": "and 979 more resources that are not volumes"}
    assert all(len(skip["resourceId"]) <= 203 for skip in summary["skipped"][:-1])
    assert len(invocation.body) < 8_000


def test_a_schedule_of_1000_ids_with_duplicates_accounts_for_every_distinct_target_once(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    unknown = [f"ocid1.volume.oc1.iad.nosuchvolume{n:04d}" for n in range(196)]
    distinct = [*VOLUMES, *BOOT_VOLUMES, *unknown]
    ids = [*distinct, *(ocid.upper() for ocid in distinct)] * 2 + distinct
    assert len(ids) == 1000 and len(distinct) == 200

    invocation = platform.invoke(dumps({"source": "schedule", "volumeIds": ids}), invoke_type="detached")
    container = invocation.wait()
    too_many = platform.invoke(dumps({"source": "schedule", "volumeIds": [*ids, VOLUMES[0]]}))

    summary = strict_json(container.body)
    assert container.status == 502  # a volume not found (yet) is worth a redelivery
    listed = backed_up(summary) + [
        item["resourceId"] for key in ("skipped", "errors", "pending", "notAttempted") for item in summary[key]
    ]
    assert sorted(listed) == sorted(distinct)
    assert {error["code"] for error in summary["errors"]} == {"NotAuthorizedOrNotFound"}
    assert len(container.body) < 1024 * len(distinct)
    assert len(emulator.creates()) == len(distinct)
    assert too_many.status == 200 and strict_json(too_many.body)["code"] == "InvalidRequest"


# ------------------------------------------------------ an invoker cannot widen config


def test_nothing_a_manual_invoker_sends_widens_what_the_configuration_allows(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(
        BACKUP_FREEFORM_TAGS='{"retention": "30d", "cost-center": "storage"}',
        BACKUP_ALLOWED_KMS_KEY_IDS=KEY_ALLOWED,
        BACKUP_KMS_KEY_ID=KEY_DEFAULT,
    )
    volume = {"volumeId": VOLUMES[0]}
    refused = [
        {**volume, "compartmentId": "ocid1.compartment.oc1..attacker"},
        {**volume, "destinationRegion": "us-phoenix-1"},
        {**volume, "retentionPeriod": 1},
        {**volume, "isRetentionLockEnabled": True},
        {**volume, "expirationTime": "2026-12-01T00:00:00Z"},
        {**volume, "sourceType": "SCHEDULED"},
        {**volume, "VolumeId": VOLUMES[1]},
        {**volume, "kmsKeyId": KEY_OTHER},
        {**volume, "kmsKeyId": KEY_ALLOWED.upper()},
        {**volume, "kmsKeyId": KEY_ALLOWED + "\n"},
        {**volume, "kmsKeyId": " " + KEY_ALLOWED},
        {**volume, "freeformTags": {"backup-trigger": "event"}},
        {**volume, "freeformTags": {"backup-source": "forged"}},
        {**volume, "freeformTags": {"retention": "1d"}},
        {**volume, "freeformTags": {f"k{n}": "v" for n in range(63)}},
    ]
    for body in refused:
        invocation = platform.invoke(dumps(body))
        error = strict_json(invocation.body)
        assert invocation.status == 200 and error["code"] == "InvalidRequest", (body, error)
    assert emulator.calls == []

    tags = {"retention": "30d", "ticket": "t-1"}  # a configured tag may be repeated with its own value
    chosen = strict_json(platform.invoke(dumps({**volume, "kmsKeyId": KEY_ALLOWED, "freeformTags": tags})).body)
    default = strict_json(platform.invoke(dumps({"volumeId": VOLUMES[2], "kmsKeyId": None})).body)
    event = strict_json(platform.invoke(dumps(_EVENT)).body)

    assert chosen["kmsKeyId"] == KEY_ALLOWED and default["kmsKeyId"] == KEY_DEFAULT
    [from_event] = event["backups"]
    assert from_event["kmsKeyId"] == KEY_DEFAULT
    for backup, trigger in ((chosen, "manual"), (default, "manual"), (from_event, "event")):
        assert backup["freeformTags"]["backup-trigger"] == trigger
        assert backup["freeformTags"]["retention"] == "30d"
        assert backup["freeformTags"]["cost-center"] == "storage"
    assert from_event["freeformTags"]["backup-source"] == _EVENT["eventID"]
    assert chosen["freeformTags"]["ticket"] == "t-1"


# ------------------------------------------------------ what the API answers, any shape

VERDICTS = [
    # fault, event container status, detached manual container status, what a sync manual caller reads
    (Fault("create", status=400, code="InvalidParameter"), 200, 200, ("InvalidParameter", 400)),
    (Fault("create", status=401, code="NotAuthenticated"), 502, 502, ("NotAuthenticated", 401)),
    (Fault("create", status=403, code="Forbidden"), 200, 200, ("Forbidden", 403)),
    (Fault("create", status=404, code="NotAuthorizedOrNotFound"), 502, 502, ("NotAuthorizedOrNotFound", 404)),
    (Fault("create", status=409, code="Conflict"), 200, 200, ("Conflict", 409)),
    (Fault("create", status=409, code="IncorrectState"), 502, 502, ("IncorrectState", 409)),
    (Fault("create", status=409, code="InvalidatedRetryToken"), 200, 200, ("InvalidatedRetryToken", 409)),
    (Fault("create", status=412, code="PreconditionFailed"), 200, 200, ("PreconditionFailed", 412)),
    (Fault("create", status=429), 502, 502, ("TooManyRequests", 429)),
    (Fault("create", status=500), 502, 502, ("InternalServerError", 500)),
    (Fault("create", status=501, code="NotImplemented"), 200, 200, ("NotImplemented", 501)),
    (Fault("create", status=503), 502, 502, ("ServiceUnavailable", 503)),
    (Fault("create", drop="before"), 502, 502, ("NetworkError", 502)),
    (Fault("create", drop="after"), 502, 502, ("NetworkError", 502)),
    (Fault("create", body=b'{"id": 12}'), 502, 502, ("InvalidResponse", 502)),
]


def test_a_source_is_told_to_redeliver_exactly_when_the_api_answer_could_change(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_MAX_ATTEMPTS="1")
    for number, (fault, event_status, detached_status, (code, status)) in enumerate(VERDICTS):
        event = dumps(with_value(_EVENT, ("eventID",), f"verdict-{number}"))
        seen = []
        for body in (event, dumps({"volumeId": VOLUMES[0]})):
            fresh(emulator)
            emulator.inject(*[fault] * 4)  # every attempt, the 401 refresh and the regenerated token included
            container = platform.invoke(body, invoke_type="detached", deadline_seconds=10).wait()
            strict_json(container.body)
            seen.append(container.status)
        fresh(emulator)
        emulator.inject(*[fault] * 4)
        manual = platform.invoke(dumps({"volumeId": VOLUMES[0]}), deadline_seconds=10)

        assert seen == [event_status, detached_status], (fault, seen)
        error = strict_json(manual.body)
        assert manual.status == 200 and (error["code"], error["status"]) == (code, status), (fault, error)
        assert len(manual.body) < 1000


API_BODIES = [
    Fault(
        "create",
        status=502,
        body=b"<html><body>proxy-7.internal.example:8443 says no</body></html>",
        content_type="text/html",
    ),
    Fault("create", status=400, body=b'[{"code": "InvalidParameter"}]'),
    Fault("create", status=400, body=b'{"code": "' + b"C" * 65 + b'", "message": "too long a code"}'),
    Fault("create", status=400, body=b'{"code": "Invalid Parameter", "message": "spaces"}'),
    Fault("create", status=400, body=b'{"code": 400, "message": "numeric code"}'),
    Fault("create", status=400, body=b'{"code": "InvalidParameter", "message": "' + b"m" * 2_000_000 + b'"}'),
    Fault("create", status=400, body=b'{"code": "InvalidParameter", "message": "\\ud800 \\u0000 \\u2028"}'),
    Fault("create", status=400, body=b"\xff\xfe\x00not text"),
    Fault("create", status=200, body=b"[" * 5000 + b"]" * 5000),
    Fault("create", status=200, body=b'{"id": ["ocid1.volumebackup.oc1.iad.x"]}'),
    Fault("create", status=200, body=b'{"id": null}'),
    Fault("create", status=200, body=b'{"id": "ocid1.volumebackup.oc1.iad.x", "displayName": "\\ud800"}'),
]


def test_api_answers_of_any_shape_reach_the_caller_only_as_bounded_json_without_internals(
    start_platform: Callable[..., FnPlatform], stack: LocalStack, emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_MAX_ATTEMPTS="1")
    for fault in API_BODIES:
        for body in (dumps({"volumeId": VOLUMES[0]}), dumps(_ALARM)):
            fresh(emulator)
            emulator.inject(fault)
            container = platform.invoke(body, deadline_seconds=10).wait()

            text = container.body.decode()
            document = strict_json(container.body)
            assert isinstance(document, dict)
            assert "internal.example" not in text and "<" not in text and "Traceback" not in text
            assert stack.emulator.endpoint not in text and "oci." not in text.replace("ocid1.", "")
            messages = [document.get("message", "")] + [e["message"] for e in document.get("errors", [])]
            assert all(len(message) <= 520 for message in messages)
            assert len(container.body) < 4000


# ----------------------------------------------------------------- invocation headers

DEADLINES = [
    ("garbage", True),
    ("", True),
    ("x" * 20_000, True),
    ("2026-01-01T00:00:00+99:00", True),
    ("9999-12-31T23:59:59.999999-23:59", True),
    ("2999-01-01", True),
    ("1970-01-01T00:00:00Z", False),
    ("0001-01-01T00:00:00+14:00", False),
]


@pytest.mark.parametrize(("deadline", "in_time"), DEADLINES, ids=[d[:30] for d, _ in DEADLINES])
def test_an_fn_deadline_of_any_shape_gets_a_json_answer_in_time(
    platform: FnPlatform, emulator: BlockStorageEmulator, deadline: str, in_time: bool
) -> None:
    headers = {"Fn-Deadline": deadline}
    manual = platform.invoke(dumps({"volumeId": VOLUMES[0]}), headers=headers, deadline_seconds=15)
    event = platform.invoke(dumps(_EVENT), headers=headers, invoke_type="detached", deadline_seconds=15).wait()

    backup, summary = strict_json(manual.body), strict_json(event.body)
    assert manual.status == 200
    if in_time:
        assert backup["volumeId"] == VOLUMES[0]
        assert event.status == 200 and backed_up(summary) == [VOLUMES[1]]
    else:
        assert (backup["code"], backup["status"]) == ("DeadlineExceeded", 504)
        assert event.status == 504 and [item["resourceId"] for item in summary["notAttempted"]] == [VOLUMES[1]]
        assert emulator.creates() == []


def test_no_input_or_header_can_split_or_forge_a_log_line(platform: FnPlatform, emulator: BlockStorageEmulator) -> None:
    forged = (
        "\n0123456789ABCDEF0123456789ABCDEF - backup_handler.runs.backup - INFO - "
        '{"event":"backup","outcome":"created"}'
    )
    nasty = ["\r", "\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1b[31m", "\x00", '"}', forged]
    text = "".join(nasty)
    alarm = with_value(_ALARM, ("dedupeKey",), text[:256])
    alarm = with_value(alarm, ("alarmMetaData", 0, "dimensions", 2, "resourceId"), text)
    # Header values: what HTTP lets through (fdk's parser refuses control characters before the function runs).
    invocations = [
        platform.invoke(dumps(alarm), headers={"x-oci-ns-messageid": 'm\t"}{\\n' + "i" * 100_000}),
        platform.invoke(dumps(with_value(_EVENT, ("eventID",), text[:256]))),
        platform.invoke(dumps({"volumeId": VOLUMES[0], "displayName": text[:255], "freeformTags": {"t": text[:256]}})),
        platform.invoke(dumps({"volumeId": VOLUMES[1], text: 1, "idempotencyKey": text[:200]})),
        platform.invoke(dumps(_EVENT), headers={"Fn-Deadline": 'garbage\t"}\\n' + "d" * 10_000}),
    ]

    assert [invocation.wait().status for invocation in invocations] == [200] * len(invocations)
    lines = own_log_lines(platform)
    assert len(lines) >= 8
    for line in lines:
        match = OWN_LINE.match(line)
        assert match, line[:300]
        document = json.loads(match[1])
        assert isinstance(document, dict) and "event" in document
        assert len(line) < 8 * 1024
    for line in platform.function.log().split("\n"):
        assert not line.startswith(("0123456789ABCDEF0123456789ABCDEF", '{"event"')), line[:200]


# ----------------------------------------------------------------- the HTTP gateway

GATEWAY_CASES: list[tuple[str, bytes, list[Fault], int]] = [
    ("source trigger that failed", dumps(_EVENT), [Fault("create", status=400, code="InvalidParameter")], 502),
    ("source trigger worth redelivering", dumps(_EVENT), [Fault("create", status=404)], 502),
    (
        "manual, not found",
        dumps({"volumeId": VOLUMES[0]}),
        [Fault("create", status=404, code="NotAuthorizedOrNotFound")],
        404,
    ),
    ("manual, conflict", dumps({"volumeId": VOLUMES[0]}), [Fault("create", status=409, code="Conflict")], 409),
    ("invalid request", dumps({"volumeId": INSTANCE}), [], 400),
    ("no trigger", b"[]", [], 400),
    ("too large", b" " * (MIB + 1), [], 413),
    ("created", dumps({"volumeId": VOLUMES[0]}), [], 200),
]


@pytest.mark.parametrize(
    ("body", "faults", "status"), [c[1:] for c in GATEWAY_CASES], ids=[c[0] for c in GATEWAY_CASES]
)
def test_a_gateway_caller_reads_the_precise_status_and_the_json_body_whatever_the_outcome(
    platform: FnPlatform, emulator: BlockStorageEmulator, body: bytes, faults: list[Fault], status: int
) -> None:
    emulator.inject(*faults)

    invocation = platform.invoke(body, gateway=True, deadline_seconds=10)

    assert invocation.status == status
    assert invocation.platform_error is None and invocation.wait().status == 200
    assert invocation.headers["content-type"] == "application/json"
    document = strict_json(invocation.body)
    assert document.get("status", 200) == status or document.get("trigger") == "event"


def test_a_past_deadline_reaches_a_gateway_caller_as_504_with_what_was_not_attempted(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    invocation = platform.invoke(dumps(_ALARM), gateway=True, deadline_seconds=0.5)
    answered = invocation.wait()

    assert answered.status == 200 and answered.headers["fn-http-status"] == "504"
    summary = strict_json(answered.body)
    assert sorted(item["resourceId"] for item in summary["notAttempted"]) == sorted(VOLUMES[:2])
    assert emulator.creates() == []


# ------------------------------------------------------------------ memory and config


def _wide(prefix: bytes, unit: bytes, suffix: bytes) -> bytes:
    count = (MIB - len(prefix) - len(suffix)) // len(unit)
    return prefix + (unit * count).removesuffix(b",") + suffix


def test_memory_stays_bounded_for_the_worst_bodies_of_the_maximum_size(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    event = dumps(_EVENT)[:-1]
    alarm = with_value(_ALARM, ("alarmMetaData",), [{**_ALARM["alarmMetaData"][0], "dimensions": [[]] * 1000}] * 100)
    bodies = [
        (dumps(alarm), []),  # 100,000 validation errors
        (_wide(event + b',"x":[', b"{},", b"]}"), []),
        (_wide(event + b',"x":[', b"[],", b"]}"), []),
        (_wide(event + b',"x":[', b"1.5,", b"]}"), []),
        (_wide(event + b',"x":[' + b"[" * 29, b"{},", b"]" * 29 + b"]}"), []),
        (_wide(event + b',"x":[', b'"\\ud83d\\ude00",', b"]}"), []),
        (_wide(b'{"source":"schedule","volumeIds":[', b"{},", b"]}"), []),
        # the API refuses tag values that are not strings, as it does
        (
            _wide(b'{"volumeId":"%s","definedTags":{"a":{"b":[' % VOLUMES[0].encode(), b"{},", b"]}}}"),
            [Fault("create", status=400, code="InvalidParameter")],
        ),
    ]
    for body, faults in bodies:
        assert len(body) <= MIB
        emulator.inject(*faults)
        invocation = platform.invoke(body, invoke_type="detached", deadline_seconds=20)
        container = invocation.wait()
        strict_json(container.body)
        assert len(container.body) < 4000

    assert peak_rss_kb(platform) < 200 * 1024  # the function has 256 MB


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BACKUP_DEADLINE_MARGIN_SECONDS": "nan"}, "BACKUP_DEADLINE_MARGIN_SECONDS"),
        ({"BACKUP_BLOCKSTORAGE_ENDPOINT": "http://admin:s3cr3t@127.0.0.1:1"}, "BACKUP_BLOCKSTORAGE_ENDPOINT"),
        ({"BACKUP_FREEFORM_TAGS": '{"team": 1}'}, "BACKUP_FREEFORM_TAGS"),
        ({"BACKUP_MAX_BODY_BYTES": "1e6", "BACKUP_MAX_TARGETS": "0"}, "BACKUP_MAX_BODY_BYTES"),
    ],
    ids=["nan margin", "endpoint with credentials", "tag not a string", "several"],
)
def test_configuration_at_its_edges_is_a_configuration_error_without_echoing_values(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, env: dict[str, str], variable: str
) -> None:
    platform = start_platform(**env)

    manual = platform.invoke(dumps({"volumeId": VOLUMES[0]}))
    event = platform.invoke(dumps(_EVENT))
    no_trigger = platform.invoke(b"[]", invoke_type="detached").wait()

    error = strict_json(manual.body)
    assert manual.status == 200 and error["code"] == "ConfigurationError"
    assert variable in {problem["field"] for problem in error["errors"]}
    assert "s3cr3t" not in manual.body.decode() and "s3cr3t" not in platform.function.log()
    assert event.status == 502  # an operator can fix it while the source still redelivers
    assert no_trigger.status == 200
    assert emulator.calls == []


def test_broken_credentials_never_leak_and_make_a_source_redeliver(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    secret = "SECRETKEYMATERIAL"
    for env in (
        {"OCI_RESOURCE_PRINCIPAL_VERSION": "3.0"},
        {"OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": f"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----"},
    ):
        platform = start_platform(**env)

        manual = platform.invoke(dumps({"volumeId": VOLUMES[0]}))
        event = platform.invoke(dumps(_EVENT))

        assert manual.status == 200 and strict_json(manual.body)["code"] == "CredentialsError"
        assert event.status == 502
        assert secret not in manual.body.decode() and secret not in platform.function.log()
    assert emulator.calls == []

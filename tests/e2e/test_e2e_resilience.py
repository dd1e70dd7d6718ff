"""Exactly one backup per event through faults, redeliveries, conflicts, rotation and deadlines."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import pytest

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.fnprocess import FnResponse
from localdev.platform import FnPlatform, Invocation
from localdev.samples import BOOT_VOLUMES, VOLUMES
from localdev.stack import LocalStack
from tests.conftest import event_bytes, event_json

pytestmark = pytest.mark.e2e

# (sample, headers, number of targets)
TRIGGERS = [
    ("manual.json", {}, 1),
    ("event-createvolume.json", {}, 1),
    ("event-attachvolume.json", {}, 1),
    ("alarm.json", {"x-oci-ns-messageid": "msg-redelivered"}, 2),
    ("schedule.json", {}, 2),
]
FAULTS = {
    "429": Fault("create", status=429),
    "500": Fault("create", status=500),
    "dropped before": Fault("create", drop="before"),
    "dropped after the backup was made": Fault("create", drop="after"),
}


def backup_ids(answer: FnResponse | Invocation) -> set[str]:
    document = answer.json()
    if "backups" in document:
        return {backup["id"] for backup in document["backups"]}
    return {document["id"]}


def tokens_per_target(emulator: BlockStorageEmulator) -> dict[str, set[str | None]]:
    tokens: dict[str, set[str | None]] = defaultdict(set)
    for call in emulator.creates():
        tokens[call.resource_id or ""].add(call.retry_token)
    return tokens


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
@pytest.mark.parametrize(("sample", "headers", "targets"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
def test_trigger_delivered_three_times_with_faults_makes_exactly_one_backup_per_target(
    platform: FnPlatform,
    emulator: BlockStorageEmulator,
    sample: str,
    headers: dict[str, str],
    targets: int,
    fault: Fault,
) -> None:
    emulator.inject(*[fault] * targets)  # every target's first attempt fails
    answers = [platform.invoke(event_bytes(sample), headers=headers) for _ in range(3)]

    assert [answer.status for answer in answers] == [200, 200, 200], [a.json() for a in answers]
    assert emulator.pending_faults() == 0
    named = [backup_ids(answer) for answer in answers]
    assert named[0] == named[1] == named[2]
    assert len(named[0]) == targets
    assert len(emulator.backups()) == targets
    tokens = tokens_per_target(emulator)
    assert len(tokens) == targets
    assert all(len(used) == 1 for used in tokens.values())


def test_backup_in_progress_is_skipped_for_alarms_not_failed_or_retried(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 60
    assert platform.invoke({"volumeId": VOLUMES[0]}).status == 200  # VOLUMES[0] now has a backup in progress

    answer = platform.invoke(event_bytes("alarm.json"), headers={"x-oci-ns-messageid": "m-2"})

    assert answer.status == 200
    summary = answer.json()
    assert [b["volumeId"] for b in summary["backups"]] == [VOLUMES[1]]
    assert {"resourceId": VOLUMES[0], "reason": "backup in progress"} in summary["skipped"]
    assert summary["errors"] == []
    conflicts = [c for c in emulator.creates() if c.resource_id == VOLUMES[0] and c.status == 409]
    assert len(conflicts) == 1  # asked once, not in a loop


@pytest.mark.parametrize("sample", ["event-createvolume.json", "schedule.json"])
def test_backup_in_progress_is_skipped_for_events_and_schedules(
    platform: FnPlatform, emulator: BlockStorageEmulator, sample: str
) -> None:
    emulator.in_progress_seconds = 60
    for volume in (*VOLUMES, *BOOT_VOLUMES):
        body = {"bootVolumeId": volume} if volume.startswith("ocid1.bootvolume") else {"volumeId": volume}
        assert platform.invoke(body).status == 200

    answer = platform.invoke(event_bytes(sample))

    assert answer.status == 200
    assert answer.json()["backups"] == []
    assert {skip["reason"] for skip in answer.json()["skipped"]} == {"backup in progress"}


def test_invalidated_retry_token_is_replaced_by_a_fresh_deterministic_one(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    first = platform.invoke(event_bytes("manual.json")).json()
    emulator.delete_backup(first["id"])  # a conflicting operation invalidates the token

    second = platform.invoke(event_bytes("manual.json"))
    third = platform.invoke(event_bytes("manual.json"))

    assert second.status == 200
    assert second.headers["backup-retry-token-regenerated"] == "true"
    assert second.json()["id"] != first["id"]
    assert third.json()["id"] == second.json()["id"]  # the fresh token is deterministic too
    assert len(emulator.backups()) == 1


def test_invalidated_retry_token_is_reported_in_a_run_summary(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    first = platform.invoke(event_bytes("event-createvolume.json")).json()
    emulator.delete_backup(first["backups"][0]["id"])

    again = platform.invoke(event_bytes("event-createvolume.json")).json()

    assert again["retryTokenRegenerated"] == [VOLUMES[1]]
    assert len(again["backups"]) == 1


def test_rotated_credentials_lead_to_a_refresh_and_a_successful_retry(
    stack: LocalStack, start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    assert platform.invoke(event_bytes("manual-boot.json")).status == 200  # signer built with the first session

    stack.rotate_credentials()  # new files; the emulator no longer accepts the old session
    answer = platform.invoke({"volumeId": VOLUMES[0]})

    assert answer.status == 200, answer.json()
    assert emulator.rejected_signatures == 1  # one 401, then the SDK re-read the files
    assert len(emulator.backups()) == 2


def test_deadline_answers_504_in_time_with_calls_still_pending(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    emulator.latency_seconds = 6.0
    started = time.monotonic()

    invocation = platform.invoke(event_bytes("alarm.json"), deadline_seconds=3.0)

    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert (invocation.status, invocation.platform_error) == (504, "FunctionInvokeTimeout")  # redeliver, source
    answer = invocation.wait()
    assert answer.status == 504
    summary = answer.json()
    assert {p["resourceId"] for p in summary["pending"]} == set(VOLUMES[:2])
    assert summary["backups"] == [] and summary["notAttempted"] == []


def test_deadline_with_more_work_than_time_accounts_for_every_target_and_asks_for_redelivery(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_MAX_CONCURRENCY="1")
    emulator.latency_seconds = 0.6  # 4 targets one at a time: 2.4 s of work, 1.6 s to do it in
    targets = [*VOLUMES, *BOOT_VOLUMES]
    body = {"source": "schedule", "volumeIds": targets}

    answer = platform.invoke(body, deadline_seconds=2.6, invoke_type="detached").wait()

    # Whichever way the time ran out, every target is in exactly one list and the run says so.
    assert answer.status == 504
    summary = answer.json()
    listed = [
        item.get("volumeId") or item.get("bootVolumeId") or item.get("resourceId")
        for key in ("backups", "skipped", "errors", "pending", "notAttempted")
        for item in summary[key]
    ]
    assert sorted(listed) == sorted(targets)
    assert summary["pending"] or summary["notAttempted"]


def test_single_manual_request_past_its_deadline_is_deadline_exceeded(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    emulator.latency_seconds = 5.0

    answer = platform.invoke(event_bytes("manual.json"), deadline_seconds=2.0)

    assert answer.status == 200  # the manual invoker reads why
    assert answer.json()["code"] == "DeadlineExceeded"
    assert answer.json()["status"] == 504


def test_invocation_arriving_past_its_deadline_starts_nothing(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answer = platform.invoke(event_bytes("alarm.json"), deadline_seconds=0.5).wait()

    assert answer.status == 504
    assert len(answer.json()["notAttempted"]) == 2
    assert emulator.creates() == []


def test_persistent_throttling_is_a_reported_error_within_the_deadline(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    emulator.inject(*[Fault("create", status=429)] * 100)
    started = time.monotonic()

    invocation = platform.invoke(event_bytes("event-createvolume.json"), deadline_seconds=4.0)

    assert time.monotonic() - started < 4.0
    assert (invocation.status, invocation.platform_error) == (502, "FunctionInvokeExecutionFailed")  # redeliver
    answer = invocation.wait()
    assert answer.status == 502
    [error] = answer.json()["errors"]
    assert (error["code"], error["status"]) == ("TooManyRequests", 429)


def test_logs_and_responses_never_contain_credentials_or_signatures(
    stack: LocalStack, platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    answers = [
        platform.invoke(event_bytes("alarm.json")),
        platform.invoke(
            {"volumeId": "ocid1.volume.oc1.iad.abuwcljrnosuchvolume000000000000000000000000000000000000009"}
        ),
        platform.invoke(b"\x00\x01 not json"),
    ]
    emulator.inject(Fault("create", drop="before"), Fault("create", drop="before"), Fault("create", status=500))
    answers.append(platform.invoke(event_bytes("event-createvolume.json")))

    rpst = stack.credentials.token
    private_key = stack.credentials.private_pem_path.read_text().splitlines()[1]
    for text in [platform.function.log(), *(answer.body.decode() for answer in answers)]:
        assert rpst not in text and rpst[-40:] not in text
        assert private_key not in text and "PRIVATE KEY" not in text
        assert "Signature version" not in text and "keyId=" not in text
        assert "Traceback" not in text


def test_api_endpoint_and_sdk_details_never_reach_the_caller(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform(BACKUP_BLOCKSTORAGE_ENDPOINT="http://127.0.0.1:9", BACKUP_MAX_ATTEMPTS="2")

    answer = platform.invoke(event_bytes("manual.json"))

    assert answer.status == 200
    assert answer.json()["code"] == "NetworkError"
    assert "127.0.0.1" not in answer.body.decode() and "oci" not in answer.body.decode().lower()


def test_a_request_body_cannot_redirect_backups_or_choose_their_key(
    platform: FnPlatform, emulator: BlockStorageEmulator
) -> None:
    for extra in (
        {"destinationRegion": "eu-frankfurt-1"},
        {"compartmentId": "ocid1.compartment.oc1..other"},
        {"kmsKeyId": "ocid1.key.oc1.iad.attacker.key"},
    ):
        answer = platform.invoke({**event_json("manual.json"), **extra})
        assert answer.json()["code"] == "InvalidRequest"
    assert emulator.calls == []

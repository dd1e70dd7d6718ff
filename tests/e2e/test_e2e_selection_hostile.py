"""Selectors and batches against hostile list APIs, invoke endpoints and invokers.

Guards the contract of the selection features: every answer is JSON and accounts for
every target (or hands it on in a counted batch); listing stops at the deadline whatever
the list API does; a batch body sent directly cannot widen what configuration allows;
429 storms end every target in a state without spinning.

Pathological list APIs and invoke endpoints are served by :class:`FakeOci`, a loopback
HTTP server that answers from a routing function (the function under test does not
verify the server, so no signing is needed).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from backup_handler.errors import InvalidRequest
from backup_handler.settings import Settings
from backup_handler.triggers.request import build_request
from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.faults import Fault
from localdev.platform import FnPlatform
from localdev.stack import LocalStack

pytestmark = pytest.mark.e2e

FUNCTION_ID = "ocid1.fnfunc.oc1.iad.aaaaaaaabackuphandler000000000000000000000000000000000000"
KEY = "ocid1.key.oc1.iad.aaaaaaaaallowedkey"
OTHER_KEY = "ocid1.key.oc1.iad.aaaaaaaaotherkey"
SELECTOR = {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "h"}, "kinds": ["volume"]}
NOT_FOUND: tuple[int, dict[str, str], Any] = (404, {}, {"code": "NotAuthorizedOrNotFound", "message": "not here"})

Answer = tuple[int, dict[str, str], Any]
Route = Callable[[str, str, dict[str, list[str]]], Answer]


def volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrhostile{n:045d}"


def listed(volume_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": volume_id, "lifecycleState": "AVAILABLE", "freeformTags": {"backup": "h"}, **fields}


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    fake: ClassVar[FakeOci]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with self.fake.lock:
            self.fake.calls.append((method, parts.path, query))
        status, headers, body = self.fake.route(method, parts.path, query)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", "opc-request-id": "FAKE", **headers}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")


class FakeOci:
    """Block Storage, Identity and the invoke endpoint on one loopback port, answering from ``route``."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.calls: list[tuple[str, str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()

        class Handler(_FakeHandler):
            pass

        Handler.fake = self
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fake-oci", daemon=True).start()

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, suffix: str) -> int:
        with self.lock:
            return sum(1 for _, path, _ in self.calls if path.endswith(suffix))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_oci(
    start_platform: Callable[..., FnPlatform],
) -> Iterator[Callable[..., tuple[FakeOci, FnPlatform]]]:
    """Start a fake API with a route, and a function whose every endpoint is it."""
    fakes: list[FakeOci] = []

    def start(route: Route, **env: str) -> tuple[FakeOci, FnPlatform]:
        fake = FakeOci(route)
        fakes.append(fake)
        endpoints = {
            "BACKUP_BLOCKSTORAGE_ENDPOINT": fake.endpoint,
            "BACKUP_IDENTITY_ENDPOINT": fake.endpoint,
            "BACKUP_INVOKE_ENDPOINT": fake.endpoint,  # batches need FN_FN_ID too
            "BACKUP_MAX_ATTEMPTS": "1",
        }
        return fake, start_platform(**{**endpoints, **env})

    yield start
    for fake in fakes:
        fake.close()


@pytest.fixture
def selecting(start_platform: Callable[..., FnPlatform], stack: LocalStack) -> Callable[..., FnPlatform]:
    def start(**env: str) -> FnPlatform:
        return start_platform(BACKUP_IDENTITY_ENDPOINT=stack.emulator.endpoint, **env)

    return start


def accounted(summary: dict[str, Any]) -> list[str]:
    """Every resource id a run summary names, in any of its per-target lists."""
    ids = [b.get("volumeId") or b.get("bootVolumeId") or b.get("volumeGroupId") for b in summary["backups"]]
    for name in ("skipped", "errors", "pending", "notAttempted"):
        ids += [entry.get("resourceId") for entry in summary[name] if "resourceId" in entry]
    return sorted(i for i in ids if i)


# ------------------------------------------------------------------ listing


def test_a_list_api_that_never_stops_paging_is_cut_at_the_deadline(
    fake_oci: Callable[..., tuple[FakeOci, FnPlatform]],
) -> None:
    def route(method: str, path: str, query: dict[str, list[str]]) -> Answer:
        if path.endswith("/volumes"):  # a new token each time (one handed back again is refused at once)
            return 200, {"opc-next-page": str(int(query.get("page", ["0"])[0]) + 1)}, []
        return NOT_FOUND

    fake, platform = fake_oci(route)

    started = time.monotonic()
    answer = platform.invoke({"selector": SELECTOR}, invoke_type="detached", deadline_seconds=4).wait(30)
    seconds = time.monotonic() - started

    assert seconds < 4.5
    assert answer.status == 504 and answer.json()["code"] == "DeadlineExceeded"
    assert fake.count("/volumes") > 1


@pytest.mark.parametrize(
    "page",
    [
        [listed(volume(n)) for n in range(1001)],  # more items than any page may hold
        {"items": [listed(volume(1))]},  # not a list
        "volumes",
        None,
    ],
    ids=["1001-items", "object", "string", "null"],
)
def test_a_page_that_is_not_a_page_of_items_is_an_invalid_response(
    fake_oci: Callable[..., tuple[FakeOci, FnPlatform]], page: Any
) -> None:
    def route(method: str, path: str, query: dict[str, list[str]]) -> Answer:
        return (200, {}, page) if path.endswith("/volumes") else NOT_FOUND

    fake, platform = fake_oci(route)

    answer = platform.invoke({"selector": SELECTOR})

    assert answer.status == 200
    assert answer.json() == {
        "code": "InvalidResponse",
        "message": "ListVolumes answered with something that is not a page of items",
        "status": 502,
    }
    assert fake.count("/volumeBackups") == 0


def test_odd_items_repeats_and_upper_case_ids_across_pages_select_each_volume_once(
    fake_oci: Callable[..., tuple[FakeOci, FnPlatform]],
) -> None:
    first = [
        listed(volume(1).upper()),
        listed(volume(1)),
        listed("ocid1.bootvolume.oc1.iad.abuwcljrnotavolume00000000000000000000"),  # another kind
        listed(volume(2), freeformTags=["backup", "h"]),  # tags of the wrong shape
        listed(volume(3), definedTags={"Operations": 5}),  # irrelevant defined tags
        {"id": 5},
        "not an object",
        listed(volume(4), lifecycleState="available"),  # not AVAILABLE as the API spells it
        listed(volume(6), lifecycleState="PROVISIONING"),
    ]
    second = [listed(volume(1)), listed(volume(5))]

    def route(method: str, path: str, query: dict[str, list[str]]) -> Answer:
        if path.endswith("/volumes"):
            return (200, {"opc-next-page": "2"}, first) if "page" not in query else (200, {}, second)
        if path.endswith("/volumeBackups"):
            return 500, {}, {"code": "InternalServerError", "message": "down"}
        return NOT_FOUND

    fake, platform = fake_oci(route)

    summary = platform.invoke({"selector": SELECTOR, "idempotencyKey": "odd"}).json()

    assert accounted(summary) == [volume(1), volume(3), volume(5)]
    assert [e["code"] for e in summary["errors"]] == ["InternalServerError"] * 3
    assert fake.count("/volumeBackups") == 3  # one create per distinct volume


def test_a_throttled_list_call_is_retried_and_the_selection_completes(
    selecting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    for n in range(3):
        emulator.add_volume(volume(n), freeform_tags={"backup": "h"})
    emulator.inject(Fault("listVolumes", status=429), Fault("listVolumes", status=429))

    summary = selecting().invoke({"selector": SELECTOR, "idempotencyKey": "l429"}).json()

    assert summary["errors"] == [] and accounted(summary) == sorted(volume(n) for n in range(3))
    assert emulator.pending_faults() == 0


# -------------------------------------------------- errors after batches left


def _paged_then(status: int, code: str) -> Route:
    """Five volumes on the first page of ListVolumes, then an error; every invoke is accepted."""

    def route(method: str, path: str, query: dict[str, list[str]]) -> Answer:
        if path.endswith("/volumes"):
            if "page" not in query:
                return 200, {"opc-next-page": "2"}, [listed(volume(n)) for n in range(5)]
            return status, {}, {"code": code, "message": "listing broke"}
        if path.endswith("/actions/invoke"):
            return 202, {"fn-call-id": "CALL"}, b""
        return NOT_FOUND

    return route


@pytest.mark.parametrize(
    ("status", "code", "container"),
    [(400, "InvalidParameter", 200), (500, "InternalServerError", 502)],
    ids=["permanent", "transient"],
)
def test_a_listing_error_after_batches_were_handed_on_accounts_for_every_listed_target(
    fake_oci: Callable[..., tuple[FakeOci, FnPlatform]], status: int, code: str, container: int
) -> None:
    fake, platform = fake_oci(_paged_then(status, code), FN_FN_ID=FUNCTION_ID, BACKUP_BATCH_SIZE="2")

    answer = platform.invoke({"source": "schedule", "selector": SELECTOR}, invoke_type="detached").wait(30)

    plan = answer.json()
    assert answer.status == container  # 502 (redeliver) only when a redelivery could list further
    # Everything listed before the error is handed on, as chains of batches (default 4 chains: one each here).
    assert [(b["batch"], b["chain"], b["targets"]) for b in plan["batches"]] == [(0, 0, 2), (1, 1, 2), (2, 2, 1)]
    assert plan["batched"] == 5
    assert [e["code"] for e in plan["errors"]] == [code]
    assert plan["notAttempted"] == []
    assert fake.count("/actions/invoke") == 3


# ------------------------------------------------------ invoke failures


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ((429, {}, {"code": "TooManyRequests", "message": "slow down"}), "TooManyRequests"),
        ((500, {}, {"code": "InternalServerError", "message": "broken"}), "InternalServerError"),
        ((503, {}, b"<html>proxy</html>"), "InvalidResponse"),
    ],
    ids=["429", "500", "html-503"],
)
def test_a_batch_the_functions_service_refuses_is_failed_and_the_parent_asks_for_redelivery(
    fake_oci: Callable[..., tuple[FakeOci, FnPlatform]], answer: Answer, code: str
) -> None:
    def route(method: str, path: str, query: dict[str, list[str]]) -> Answer:
        if path.endswith("/volumes"):
            return 200, {}, [listed(volume(n)) for n in range(3)]
        if path.endswith("/actions/invoke"):
            return answer
        return NOT_FOUND

    fake, platform = fake_oci(route, FN_FN_ID=FUNCTION_ID, BACKUP_BATCH_SIZE="2")

    result = platform.invoke({"source": "schedule", "selector": SELECTOR}, invoke_type="detached").wait(30)

    plan = result.json()
    assert result.status == 502
    assert plan["batches"] == [] and plan["batched"] == 0
    # After a batch fails no further batch is started: the rest is counted, and a redelivery finishes the job.
    assert [(e["batch"], e["targets"], e["code"]) for e in plan["errors"]] == [(0, 2, code)]
    assert plan["notAttempted"] == [{"resourceId": None, "targets": 1, "reason": "1 more targets were not handed on"}]
    assert len(json.dumps(plan)) < 4096
    assert fake.count("/actions/invoke") == 1  # one attempt (BACKUP_MAX_ATTEMPTS=1), then no more batches


def test_an_unreachable_invoke_endpoint_fails_each_batch_and_asks_for_redelivery(
    selecting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    for n in range(3):
        emulator.add_volume(volume(n), freeform_tags={"backup": "h"})
    platform = selecting(
        BACKUP_INVOKE_ENDPOINT="http://127.0.0.1:9",
        FN_FN_ID=FUNCTION_ID,
        BACKUP_BATCH_SIZE="2",
        BACKUP_MAX_ATTEMPTS="1",
    )

    answer = platform.invoke({"source": "schedule", "selector": SELECTOR}, invoke_type="detached").wait(30)

    plan = answer.json()
    assert answer.status == 502
    assert [(e["batch"], e["targets"], e["code"]) for e in plan["errors"]] == [(0, 2, "NetworkError")]
    assert plan["notAttempted"] == [{"resourceId": None, "targets": 1, "reason": "1 more targets were not handed on"}]
    assert plan["batches"] == [] and emulator.backups() == []


# ------------------------------------------------------------- throttling


def test_a_429_storm_on_creates_ends_every_target_in_a_state_by_the_deadline_without_spinning(
    selecting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    volumes = [volume(n) for n in range(12)]
    for volume_id in volumes:
        emulator.add_volume(volume_id)
    emulator.inject(*[Fault("create", status=429) for _ in range(500)])
    platform = selecting(BACKUP_MAX_CONCURRENCY="8")

    started = time.monotonic()
    answer = platform.invoke(
        {"source": "schedule", "volumeIds": volumes}, invoke_type="detached", deadline_seconds=5
    ).wait(30)
    seconds = time.monotonic() - started

    summary = answer.json()
    assert seconds < 5.5
    assert answer.status in (502, 504)  # a redelivery could succeed
    assert accounted(summary) == sorted(volumes)
    assert summary["backups"] == [] and summary["pending"] == []
    assert {e["code"] for e in summary["errors"]} <= {"TooManyRequests"}
    assert len(emulator.creates()) <= 5 * len(volumes)  # each target tried at most BACKUP_MAX_ATTEMPTS times


# --------------------------------------------------------- forged batches

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONFIGURED = Settings(freeform_tags={"team": "ops"}, kms_key_id=KEY, max_targets=1000)


def batch(**fields: Any) -> dict[str, Any]:
    return {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20260101T000000Z/3600s",
        "idempotencyKey": "schedule:1767225600:3600",
        "timeLabel": "20260101T000000Z",
        "batch": 0,
        "type": "INCREMENTAL",
        "targets": [{"kind": "volume", "id": volume(1)}],
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "settings"),
    [
        ({"kmsKeyId": OTHER_KEY}, CONFIGURED),
        ({"freeformTags": {"backup-trigger": "manual"}}, CONFIGURED),
        ({"freeformTags": {"backup-source": "x"}}, CONFIGURED),
        ({"freeformTags": {"team": "intruders"}}, CONFIGURED),
        ({"dryRun": "true"}, CONFIGURED),
        ({"dryRun": 1}, CONFIGURED),
        ({"batch": "0"}, CONFIGURED),
        ({"chain": 1.0}, CONFIGURED),
        ({"next": ["ocid1.instance.oc1.iad.abuwcljrinstance00000000"]}, CONFIGURED),
        ({"freeformTags": {f"k{n}": "v" for n in range(62)}}, CONFIGURED),
        ({"targets": [{"kind": "volume", "id": "ocid1.bootvolume.oc1.iad.abuwcljrboot0000000000000000"}]}, CONFIGURED),
        ({"targets": [{"kind": "bootVolume", "id": volume(1)}]}, CONFIGURED),
        ({"targets": [{"kind": "volumeGroup", "id": "ocid1.instance.oc1.iad.abuwcljrinstance00000000"}]}, CONFIGURED),
        ({"targets": [{"kind": "volume", "id": volume(n)} for n in range(1001)]}, CONFIGURED),
        ({"targets": [{"kind": "volume", "id": volume(n)} for n in range(11)]}, Settings(max_targets=10)),
        ({"targets": []}, CONFIGURED),
        ({"trigger": "batch"}, CONFIGURED),
        ({"nickname": "mine"}, CONFIGURED),
        ({"idempotencyKey": "k" * 301}, CONFIGURED),
    ],
    ids=[
        "other-kms-key",
        "stamped-tag",
        "other-stamped-tag",
        "configured-tag",
        "dry-run-string",
        "dry-run-number",
        "batch-string",
        "chain-float",
        "next-not-a-target",
        "too-many-tags",
        "kind-mismatch-boot",
        "kind-mismatch-volume",
        "not-a-target",
        "1001-targets",
        "over-max-targets",
        "no-targets",
        "unknown-trigger",
        "unknown-field",
        "long-key",
    ],
)
def test_a_batch_body_cannot_widen_what_configuration_allows(fields: dict[str, Any], settings: Settings) -> None:
    with pytest.raises(InvalidRequest):
        build_request(batch(**fields), headers={}, settings=settings, now=NOW)


def test_a_batch_body_keeps_configured_tags_and_key_whatever_it_sends() -> None:
    request = build_request(
        batch(freeformTags={"team": "ops", "extra": "1"}, kmsKeyId=None), headers={}, settings=CONFIGURED, now=NOW
    )

    body = request.api_body(request.targets[0], "{trigger}-{resource_suffix}-{time}")
    assert body["kmsKeyId"] == KEY
    assert body["freeformTags"]["team"] == "ops" and body["freeformTags"]["extra"] == "1"
    assert body["freeformTags"]["backup-trigger"] == "schedule"


def test_a_forged_batch_with_a_disallowed_key_creates_nothing_end_to_end(
    selecting: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.add_volume(volume(1))
    platform = selecting(BACKUP_KMS_KEY_ID=KEY)

    answer = platform.invoke(batch(kmsKeyId=OTHER_KEY), invoke_type="detached").wait(30)

    assert answer.status == 200 and answer.json()["code"] == "InvalidRequest"
    assert emulator.creates() == []

"""The emulator itself, driven in-process through the real SDK and its signer: the package's
public names, the routing table, raw-body faults and the create throttle."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from localdev.credentials import function_environment
from localdev.emulator import BlockStorageEmulator, Call, Fault
from localdev.samples import VOLUMES
from localdev.stack import LocalStack

CREATE_PATH = "/20160918/volumeBackups"


@pytest.fixture
def signer(stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SDK's resource-principal signer for a session of its own (other tests revoke the stack's)."""
    from oci.auth.signers import get_resource_principals_signer

    for name, value in function_environment(stack.identity.mint(tmp_path / "rp")).items():
        monkeypatch.setenv(name, value)
    return get_resource_principals_signer()


@pytest.fixture
def new_client(emulator: BlockStorageEmulator, signer: Any) -> Callable[[], Any]:
    """Builds generated SDK clients that neither retry nor share a circuit breaker (one per thread)."""
    import oci
    from oci.core import BlockstorageClient

    def build() -> Any:
        return BlockstorageClient(
            {},
            signer=signer,
            service_endpoint=emulator.endpoint,
            retry_strategy=oci.retry.NoneRetryStrategy(),
            circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
        )

    return build


def _post(emulator: BlockStorageEmulator, signer: Any, document: dict[str, Any]) -> Any:
    """A signed CreateVolumeBackup through the SDK's transport, answer returned unparsed."""
    from oci._vendor import requests

    return requests.post(
        emulator.endpoint + CREATE_PATH,
        data=json.dumps(document),
        headers={"content-type": "application/json", "accept": "application/json"},
        auth=signer,
        timeout=10,
    )


def _create(client: Any, volume_id: str) -> tuple[int, str | None]:
    """CreateVolumeBackup through the generated client: (status, error code or None)."""
    from oci.core.models import CreateVolumeBackupDetails
    from oci.exceptions import ServiceError

    try:
        response = client.create_volume_backup(CreateVolumeBackupDetails(volume_id=volume_id))
    except ServiceError as refused:
        return refused.status, refused.code
    return response.status, None


def _new_volumes(emulator: BlockStorageEmulator, count: int) -> list[str]:
    volume_ids = [f"ocid1.volume.oc1.iad.abuwcljrthrottled{n:045d}" for n in range(count)]
    for volume_id in volume_ids:
        emulator.add_volume(volume_id)
    return volume_ids


def _throttled(emulator: BlockStorageEmulator) -> list[Call]:
    return [call for call in emulator.creates() if call.fault == "throttled"]


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# ------------------------------------------------------------------ the package


def test_package_reexports_the_emulator_fault_and_call() -> None:
    import localdev.emulator as package
    from localdev.emulator import api, faults, service

    assert sorted(package.__all__) == ["BlockStorageEmulator", "Call", "Fault"]
    assert package.BlockStorageEmulator is service.BlockStorageEmulator
    assert package.Fault is faults.Fault
    assert package.Call is api.Call


@pytest.mark.parametrize(
    ("method", "path", "operation", "params"),
    [
        ("POST", "/20160918/volumeBackups", "createVolumeBackup", {}),
        ("POST", "/20160918/bootVolumeBackups", "createBootVolumeBackup", {}),
        ("GET", "/20160918/volumeBackups", "listVolumeBackups", {}),
        (
            "GET",
            "/20160918/volumeBackups/ocid1.volumebackup.oc1.iad.x",
            "getVolumeBackup",
            {"backupId": "ocid1.volumebackup.oc1.iad.x"},
        ),
        ("GET", "/20160918/bootVolumeBackups/b", "getBootVolumeBackup", {"backupId": "b"}),
        ("GET", "/20160918/volumes", "listVolumes", {}),
        ("GET", "/20160918/bootVolumes", "listBootVolumes", {}),
        ("GET", "/20160918/volumeBackups/a/b", "unknown", {}),
        ("POST", "/20160918/volumes", "createVolume", {}),
        ("DELETE", "/20160918/bootVolumes/v", "deleteBootVolume", {"bootVolumeId": "v"}),
        ("PUT", "/20160918/volumes", "unknown", {}),
        ("GET", "/volumes", "unknown", {}),
    ],
)
def test_routing_table_maps_method_and_path_to_the_operation(
    method: str, path: str, operation: str, params: dict[str, str]
) -> None:
    from localdev.emulator import routes

    route, found = routes.match(method, path)

    assert (route.operation, dict(found)) == (operation, params)


def test_an_unrouted_path_is_recorded_as_unknown_and_answered_404(emulator: BlockStorageEmulator, signer: Any) -> None:
    from oci._vendor import requests

    answer = requests.get(emulator.endpoint + "/20160918/volumeAttachments", auth=signer, timeout=10)

    assert answer.status_code == 404
    assert answer.json()["code"] == "NotAuthorizedOrNotFound"
    assert [(call.operation, call.status) for call in emulator.calls] == [("unknown", 404)]


# ------------------------------------------------------------ raw-body faults


@pytest.mark.parametrize(
    ("status", "body", "content_type", "sent_type"),
    [
        (502, b"<html><body>Bad Gateway: proxy at 10.0.0.7</body></html>", "text/html", "text/html"),
        (200, b"[1,2]", None, "application/json"),
        (200, b"null", None, "application/json"),
        (200, b"not json", None, "application/json"),
        (200, b"", "application/json", "application/json"),
        (None, b'{"id": 7}', "application/json; charset=utf-8", "application/json; charset=utf-8"),
        (503, b"\x00\xff binary", "application/octet-stream", "application/octet-stream"),
    ],
    ids=["502 html", "200 array", "200 null", "200 not json", "200 empty", "status defaults to 200", "503 bytes"],
)
def test_a_raw_body_fault_is_sent_verbatim_and_no_backup_is_made(
    emulator: BlockStorageEmulator,
    signer: Any,
    status: int | None,
    body: bytes,
    content_type: str | None,
    sent_type: str,
) -> None:
    emulator.inject(Fault("create", status=status, body=body, content_type=content_type))

    answer = _post(emulator, signer, {"volumeId": VOLUMES[0]})

    assert answer.status_code == (status or 200)
    assert answer.content == body
    assert answer.headers["content-type"] == sent_type
    assert answer.headers["content-length"] == str(len(body))
    (call,) = emulator.creates()
    assert answer.headers["opc-request-id"] == call.opc_request_id
    assert (call.operation, call.status, call.fault, call.resource_id) == (
        "createVolumeBackup",
        status or 200,
        "raw-body",
        VOLUMES[0],
    )
    assert emulator.backups() == []
    assert emulator.pending_faults() == 0


def test_after_a_raw_body_fault_the_next_create_is_carried_out(emulator: BlockStorageEmulator, signer: Any) -> None:
    emulator.inject(Fault("create", status=200, body=b"null"))

    faulted = _post(emulator, signer, {"volumeId": VOLUMES[0]})
    carried_out = _post(emulator, signer, {"volumeId": VOLUMES[0]})

    assert faulted.content == b"null"
    assert carried_out.status_code == 200
    assert carried_out.json()["id"] == emulator.backups()[0]["id"]
    assert [call.fault for call in emulator.creates()] == ["raw-body", None]


def test_a_raw_body_fault_reaches_the_sdk_as_a_proxy_error_page_would(
    emulator: BlockStorageEmulator, new_client: Callable[[], Any]
) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    emulator.inject(Fault("createVolumeBackup", status=502, body=page, content_type="text/html"))

    from oci.core.models import CreateVolumeBackupDetails
    from oci.exceptions import ServiceError

    with pytest.raises(ServiceError) as caught:
        new_client().create_volume_backup(CreateVolumeBackupDetails(volume_id=VOLUMES[0]))

    assert caught.value.status == 502
    assert caught.value.message == page.decode()
    assert caught.value.request_id == emulator.creates()[0].opc_request_id
    assert emulator.backups() == []


def test_a_raw_body_fault_can_answer_a_list(emulator: BlockStorageEmulator, signer: Any) -> None:
    from oci._vendor import requests

    emulator.inject(Fault("listVolumes", body=b"{}"))

    answer = requests.get(emulator.endpoint + "/20160918/volumes", auth=signer, timeout=10)

    assert (answer.status_code, answer.content) == (200, b"{}")
    assert "opc-next-page" not in answer.headers


@pytest.mark.parametrize(
    "fields",
    [
        {"content_type": "text/html"},
        {"body": b"x", "drop": "after"},
        {"body": b"x", "drop": "before"},
        {"body": b"x", "code": "InternalServerError"},
        {"drop": "sideways"},
        {"status": 42},
        {"latency": -1.0},
    ],
    ids=[
        "type without body",
        "body and drop after",
        "body and drop before",
        "body and code",
        "bad drop",
        "bad status",
        "negative latency",
    ],
)
def test_a_fault_that_contradicts_itself_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Fault("create", **fields)


# ------------------------------------------------------------------ throttle


def _burst(emulator: BlockStorageEmulator, new_client: Callable[[], Any], count: int, admitted: int) -> dict[str, Any]:
    """``count`` creates started together; the first ``admitted`` to be let in are held in flight
    until every create has been either let in or throttled, so which ones are throttled cannot
    depend on how the threads happen to be scheduled."""
    volume_ids = _new_volumes(emulator, count)
    clients = [new_client() for _ in volume_ids]
    hold = threading.Event()
    emulator.inject(*[Fault("create", hold=hold) for _ in range(admitted)])  # throttled ones take none
    start = threading.Barrier(count)

    def create(client: Any, volume_id: str) -> tuple[int, str | None]:
        start.wait(timeout=15)
        return _create(client, volume_id)

    with ThreadPoolExecutor(max_workers=count) as pool:
        try:
            futures = [
                pool.submit(create, client, volume_id) for client, volume_id in zip(clients, volume_ids, strict=True)
            ]
            settled = _wait_until(
                lambda: emulator.creates_in_flight() == admitted and len(_throttled(emulator)) == count - admitted
            )
            seen = {"in_flight": emulator.creates_in_flight(), "throttled": len(_throttled(emulator))}
        finally:
            hold.set()
        results = [future.result(timeout=30) for future in futures]
    return {"settled": settled, "seen": seen, "results": results}


@pytest.mark.parametrize(("limit", "excess"), [(1, 1), (1, 4), (3, 2)])
def test_the_throttle_answers_429_to_exactly_the_creates_above_the_limit(
    emulator: BlockStorageEmulator, new_client: Callable[[], Any], limit: int, excess: int
) -> None:
    emulator.max_concurrent_creates = limit

    burst = _burst(emulator, new_client, limit + excess, admitted=limit)

    assert burst["settled"], burst["seen"]
    assert sorted(burst["results"]) == [(200, None)] * limit + [(429, "TooManyRequests")] * excess
    assert len(emulator.backups()) == limit
    throttled = _throttled(emulator)
    assert len(throttled) == excess and {call.status for call in throttled} == {429}
    assert sorted(call.status for call in emulator.creates()) == [200] * limit + [429] * excess
    assert emulator.creates_in_flight() == 0
    assert emulator.pending_faults() == 0


def test_without_a_limit_no_create_is_throttled(emulator: BlockStorageEmulator, new_client: Callable[[], Any]) -> None:
    assert emulator.max_concurrent_creates is None

    burst = _burst(emulator, new_client, 6, admitted=6)

    assert burst["settled"], burst["seen"]
    assert burst["results"] == [(200, None)] * 6
    assert _throttled(emulator) == []


def test_creates_one_after_another_are_never_throttled(
    emulator: BlockStorageEmulator, new_client: Callable[[], Any]
) -> None:
    """A create's slot is given back before its answer is written, so the next one finds it free."""
    emulator.max_concurrent_creates = 1
    client = new_client()

    results = [_create(client, volume_id) for volume_id in _new_volumes(emulator, 20)]

    assert results == [(200, None)] * 20
    assert _throttled(emulator) == []


def test_a_create_holds_its_slot_through_the_emulated_latency(
    emulator: BlockStorageEmulator, new_client: Callable[[], Any]
) -> None:
    emulator.max_concurrent_creates = 1
    slow, fast = _new_volumes(emulator, 2)
    emulator.inject(Fault("create", latency=1.5))

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(_create, new_client(), slow)
        assert _wait_until(lambda: emulator.creates_in_flight() == 1)
        second = _create(new_client(), fast)
        recorded_while_first_waited = [call.resource_id for call in emulator.creates()]
        assert first.result(timeout=30) == (200, None)

    assert second == (429, "TooManyRequests")
    assert recorded_while_first_waited == [fast]  # the first was still in its latency
    assert [backup["volumeId"] for backup in emulator.backups()] == [slow]


def test_a_throttled_create_consumes_no_fault_and_other_operations_are_not_throttled(
    emulator: BlockStorageEmulator, new_client: Callable[[], Any]
) -> None:
    from localdev.credentials import COMPARTMENT

    emulator.max_concurrent_creates = 0
    emulator.inject(Fault("create", status=500))
    client = new_client()

    created = _create(client, VOLUMES[0])
    listed = client.list_volumes(compartment_id=COMPARTMENT)

    assert created == (429, "TooManyRequests")
    assert emulator.pending_faults() == 1
    assert listed.status == 200 and len(listed.data) == len(VOLUMES)
    assert [(call.operation, call.fault) for call in emulator.calls] == [
        ("createVolumeBackup", "throttled"),
        ("listVolumes", None),
    ]


def test_reset_lifts_the_limit(emulator: BlockStorageEmulator) -> None:
    emulator.max_concurrent_creates = 2

    emulator.reset()

    assert emulator.max_concurrent_creates is None
    assert emulator.creates_in_flight() == 0

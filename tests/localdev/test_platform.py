"""The Fn platform model (localdev.platform) and the redelivering sources (localdev.redelivery).

The e2e tests run a stand-in function (tests/fixtures/standin_func.py) under the real fdk
runtime, whose answer the request body dictates. Calls that must still be running when the
test looks are held on a gate file the test creates, so no assertion depends on timing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.fnprocess import FnResponse, FunctionProcess, fdk_command
from localdev.platform import EXECUTION_FAILED, TIMEOUT, FnPlatform, agent_view, fn_invoke_output
from localdev.redelivery import MESSAGE_ID_HEADER, DeliverySource, SourceKind

STANDIN = Path(__file__).resolve().parent.parent / "fixtures" / "standin_func.py"
e2e = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FnPlatform]:
    function = FunctionProcess(tmp_path_factory.mktemp("standin"), {}, command=fdk_command(STANDIN, "handler"))
    with function:
        yield FnPlatform(function)


# ------------------------------------------------------------------ the agent's rules, no process


def test_a_container_200_passes_status_headers_and_body_less_hop_by_hop_headers() -> None:
    container = FnResponse(200, {"content-type": "application/json", "connection": "keep-alive", "x-a": "1"}, b"{}")
    seen = agent_view(container, call_id="C1")
    assert (seen.status, seen.body) == (200, b"{}")
    assert seen.headers == {"content-type": "application/json", "x-a": "1", "fn-call-id": "C1"}


@pytest.mark.parametrize("status", [500, 404, 201, 400])
def test_any_other_container_status_is_a_function_failure(status: int) -> None:
    seen = agent_view(FnResponse(status, {"x-a": "1"}, b"secret"))
    assert seen.status == 502
    assert json.loads(seen.body) == {"code": EXECUTION_FAILED, "message": "function failed"}
    assert "x-a" not in seen.headers


def test_the_gateway_unwraps_status_and_headers_and_keeps_only_those() -> None:
    container = FnResponse(
        200,
        {
            "content-type": "application/json",
            "fn-http-status": "409",
            "fn-http-h-backup-retry-token-regenerated": "true",
            "fn-http-h-": "ignored",
            "fn-fdk-version": "fdk-python/0.1",
        },
        b'{"code": "Conflict"}',
    )
    seen = agent_view(container, gateway=True)
    assert seen.status == 409
    assert seen.headers == {"content-type": "application/json", "backup-retry-token-regenerated": "true"}


# ------------------------------------------------------------------ through fdk


@e2e
def test_a_200_reaches_the_invoker_with_the_functions_body_and_headers(platform: FnPlatform) -> None:
    answer = platform.invoke({"body": '{"ok": true}', "headers": {"Backup-Thing": "x"}})
    assert answer.status == 200
    assert answer.ok and answer.platform_error is None
    assert answer.json() == {"ok": True}
    assert answer.headers["backup-thing"] == "x"
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["fn-call-id"] == answer.call_id
    assert answer.headers["opc-request-id"]
    assert answer.container is not None and answer.container.status == 200
    assert fn_invoke_output(answer) == '{"ok": true}'


@e2e
@pytest.mark.parametrize("request_body", [{"status": 502, "body": '{"code": "TooManyRequests"}'}, {"raise": "error"}])
def test_a_container_502_becomes_function_failed_and_drops_the_functions_answer(
    platform: FnPlatform, request_body: dict[str, object]
) -> None:
    answer = platform.invoke({**request_body, "headers": {"Backup-Thing": "x"}})
    assert answer.status == 502
    assert answer.json() == {"code": EXECUTION_FAILED, "message": "function failed"}
    assert answer.platform_error == EXECUTION_FAILED
    assert "backup-thing" not in answer.headers and "seen-message-id" not in answer.headers
    assert answer.container is not None and answer.container.status == 502  # what the function said
    assert answer.container.body and answer.container.body not in answer.body
    assert fn_invoke_output(answer) == "Error invoking function. status: 502 message: function failed"


@e2e
@pytest.mark.parametrize("request_body", [{"status": 504, "body": '{"pending": ["v1"]}'}, {"raise": "timeout"}])
def test_a_container_504_becomes_a_timeout(platform: FnPlatform, request_body: dict[str, object]) -> None:
    answer = platform.invoke(request_body)
    assert answer.status == 504
    assert answer.json() == {"code": TIMEOUT, "message": "function timed out"}
    assert answer.platform_error == TIMEOUT
    assert answer.container is not None and answer.container.status == 504
    assert fn_invoke_output(answer) == "Error invoking function. status: 504 message: function timed out"


@e2e
def test_no_answer_by_the_deadline_is_a_timeout_and_the_late_answer_stays_visible(
    platform: FnPlatform, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    answer = platform.invoke({"gate": str(gate), "body": "late"}, deadline_seconds=0.2)
    assert answer.status == 504
    assert answer.platform_error == TIMEOUT
    assert answer.container is None  # still held on the gate
    gate.touch()
    assert answer.wait(10).body == b"late"


@e2e
def test_detached_answers_202_at_once_and_the_container_answer_is_there_to_wait_for(
    platform: FnPlatform, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    answer = platform.invoke({"gate": str(gate), "status": 502, "body": "failed"}, invoke_type="detached")
    assert (answer.status, answer.body) == (202, b"")
    assert answer.ok and answer.platform_error is None
    assert answer.headers["opc-request-id"]
    assert answer.container is None  # the call is still held on the gate
    with pytest.raises(TimeoutError):
        answer.wait(0.01)
    gate.touch()
    container = answer.wait(10)
    assert (container.status, container.body) == (502, b"failed")
    assert answer.container is container
    assert answer.status == 202  # the invoker's answer does not change


@e2e
def test_a_gateway_200_carries_the_functions_status_headers_and_body(platform: FnPlatform) -> None:
    answer = platform.invoke(
        {
            "status": 404,
            "body": '{"code": "NotAuthorizedOrNotFound", "message": "no such volume"}',
            "headers": {"X-A": "1"},
        },
        gateway=True,
    )
    assert answer.container is not None and answer.container.status == 200  # fdk wraps the 404
    assert answer.container.headers["fn-http-status"] == "404"
    assert answer.status == 404
    assert answer.json()["code"] == "NotAuthorizedOrNotFound"
    assert answer.headers["x-a"] == "1"
    assert answer.headers["content-type"] == "application/json"
    assert not any(name.startswith("fn-http") for name in answer.headers)
    assert fn_invoke_output(answer) == "Error invoking function. status: 404 message: no such volume"


@e2e
def test_the_invokers_headers_reach_a_gateway_function_wrapped(platform: FnPlatform) -> None:
    answer = platform.invoke({"echo": "x-caller"}, headers={"X-Caller": "v"}, gateway=True)
    assert answer.headers["echoed"] == "v"  # it came as Fn-Http-H-X-Caller
    assert platform.invoke({"echo": "x-caller"}, headers={"X-Caller": "v"}).headers["echoed"] == ""


@e2e
def test_a_gateway_502_is_dropped_like_any_other(platform: FnPlatform) -> None:
    answer = platform.invoke({"status": 502, "body": '{"code": "InternalError"}'}, gateway=True)
    assert answer.container is not None and answer.container.status == 502
    assert answer.status == 502
    assert answer.json() == {"code": EXECUTION_FAILED, "message": "function failed"}


def test_a_container_that_cannot_be_reached_is_a_function_failure(tmp_path: Path) -> None:
    answer = FnPlatform(FunctionProcess(tmp_path, {})).invoke({})  # never started: no socket
    assert answer.status == 502
    assert answer.platform_error == EXECUTION_FAILED
    assert answer.container is None and answer.container_error
    with pytest.raises(ConnectionError):
        answer.wait(1)


# ------------------------------------------------------------------ redelivery


def _source(
    platform: FnPlatform, slept: list[float], kind: SourceKind = "notifications", max_attempts: int = 6
) -> DeliverySource:
    """A source on the schedule 0.01, 0.02, 0.03, 0.03, ... s, whose sleeps are recorded instead of slept."""
    return DeliverySource(
        platform, kind, max_attempts=max_attempts, base_delay=0.01, factor=2.0, max_delay=0.03, sleep=slept.append
    )


@e2e
def test_notifications_redeliver_502s_with_the_same_message_id_until_the_first_2xx(platform: FnPlatform) -> None:
    slept: list[float] = []
    source = _source(platform, slept)
    delivery = source.deliver({"fail": 2, "key": "notif-1"}, message_id="msg-1")
    assert delivery.delivered and delivery.recovered
    assert [attempt.status for attempt in delivery.attempts] == [502, 502, 200]
    assert [attempt.wait().json()["messageId"] for attempt in delivery.attempts] == ["msg-1"] * 3
    assert delivery.last.json() == {"key": "notif-1", "attempt": 3, "messageId": "msg-1"}
    assert slept == delivery.delays == [0.01, 0.02]
    assert source.schedule == (0.01, 0.02, 0.03, 0.03, 0.03)


@e2e
def test_notifications_keep_a_message_id_given_as_a_header(platform: FnPlatform) -> None:
    delivery = _source(platform, []).deliver({"fail": 1, "key": "notif-2"}, headers={"X-OCI-NS-MessageId": "msg-2"})
    assert delivery.message_id == "msg-2"
    assert [attempt.wait().headers["seen-message-id"] for attempt in delivery.attempts] == ["msg-2", "msg-2"]


@e2e
def test_timeouts_are_redelivered_too(platform: FnPlatform) -> None:
    delivery = _source(platform, []).deliver({"fail": 1, "key": "notif-3", "status": 504})
    assert [attempt.status for attempt in delivery.attempts] == [504, 200]
    assert delivery.attempts[0].platform_error == TIMEOUT
    assert delivery.message_id and delivery.last.json()["messageId"] == delivery.message_id


@e2e
def test_a_source_gives_up_after_max_attempts(platform: FnPlatform) -> None:
    slept: list[float] = []
    delivery = _source(platform, slept, max_attempts=3).deliver({"fail": 99, "key": "notif-4"}, message_id="msg-4")
    assert not delivery.delivered and not delivery.recovered
    assert [attempt.status for attempt in delivery.attempts] == [502, 502, 502]
    assert {attempt.wait().json()["messageId"] for attempt in delivery.attempts} == {"msg-4"}
    assert len(slept) == 2


@e2e
def test_an_events_rule_redelivers_the_same_way_without_a_message_id(platform: FnPlatform) -> None:
    delivery = _source(platform, [], "events").deliver(
        {"fail": 1, "key": "event-1"}, headers={MESSAGE_ID_HEADER: "not-mine"}
    )
    assert delivery.message_id is None
    assert [attempt.status for attempt in delivery.attempts] == [502, 200]
    assert delivery.last.json()["messageId"] == ""


def test_an_events_rule_refuses_a_message_id(tmp_path: Path) -> None:
    source = DeliverySource(FnPlatform(FunctionProcess(tmp_path, {})), "events")
    with pytest.raises(ValueError, match="no message id"):
        source.deliver({}, message_id="msg")


def test_fn_invoke_prints_any_answer_but_a_json_error_as_it_is() -> None:
    assert fn_invoke_output(FnResponse(500, {}, b"not json\n")) == "not json"
    assert fn_invoke_output(FnResponse(400, {}, b'{"code": "InvalidJson"}')) == '{"code": "InvalidJson"}'
    assert fn_invoke_output(FnResponse(200, {}, b'{"message": "fine"}')) == '{"message": "fine"}'
    assert fn_invoke_output(FnResponse(202, {}, b"")) == ""

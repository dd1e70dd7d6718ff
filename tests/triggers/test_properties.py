"""Properties: any bytes and any mutation of a real event get a JSON answer; invalid input calls no API."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup_handler.app import App
from backup_handler.errors import InvalidJson, InvalidRequest, NoTargets, PayloadTooLarge, UnrecognizedEvent
from backup_handler.oci.blockstorage import OciBlockStorage
from backup_handler.settings import Settings
from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import FunctionProcess
from tests.conftest import EVENTS

SAMPLES = [json.loads(path.read_bytes()) for path in sorted(EVENTS.glob("*.json")) if path.stat().st_size]
REQUEST_CODES = {cls.code for cls in (InvalidJson, InvalidRequest, NoTargets, PayloadTooLarge, UnrecognizedEvent)}
# Refused from the body alone, before any API call. NoTargets may come after a selector was listed.
INPUT_CODES = REQUEST_CODES - {NoTargets.code}
STATUSES = {200, 400, 401, 404, 409, 413, 429, 500, 502, 504}
FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _slots(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON document."""
    found: list[tuple[Any, Any]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            found.append((node, key))
            stack.append(value)
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(document)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del container[key]
        elif action == "replace":
            container[key] = draw(json_values)
        elif isinstance(container, dict):
            container[draw(st.text(max_size=12))] = draw(json_values)
        else:
            container.append(draw(json_values))
    return document


@pytest.fixture
def app(blockstorage: OciBlockStorage, emulator: BlockStorageEmulator, settings: Settings) -> App:
    emulator.in_progress_seconds = 0
    return App(settings=settings, blockstorage=blockstorage)


def _check(app: App, emulator: BlockStorageEmulator, body: bytes) -> None:
    calls_before = len(emulator.calls)
    reply = app.handle(body, {}, time.monotonic() + 15)

    document = json.loads(reply.body())
    assert isinstance(document, dict)
    assert reply.status in STATUSES
    if "code" in document:
        assert isinstance(document["message"], str) and document["message"]
        assert document["status"] == reply.status
    calls = emulator.calls[calls_before:]
    if document.get("code") in INPUT_CODES:  # refused before any call
        assert calls == [], document
    if document.get("code") == NoTargets.code:  # a valid selector may list and find nothing; it never writes
        assert all(call.method == "GET" for call in calls), document


@FIXTURES_OK
@given(body=st.binary(max_size=3000))
def test_arbitrary_bytes_always_get_a_json_answer(app: App, emulator: BlockStorageEmulator, body: bytes) -> None:
    _check(app, emulator, body)


@FIXTURES_OK
@given(document=mutated_events())
def test_mutated_real_events_always_get_a_json_answer_and_invalid_ones_call_no_api(
    app: App, emulator: BlockStorageEmulator, document: Any
) -> None:
    _check(app, emulator, json.dumps(document).encode())


@FIXTURES_OK
@given(document=json_values)
def test_arbitrary_json_always_gets_a_json_answer(app: App, emulator: BlockStorageEmulator, document: Any) -> None:
    _check(app, emulator, json.dumps(document).encode())


@pytest.mark.e2e
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=40)
@given(body=st.one_of(st.binary(max_size=2000), mutated_events().map(lambda d: json.dumps(d).encode())))
def test_through_fdk_every_answer_is_json_with_a_platform_status(
    fn: FunctionProcess, emulator: BlockStorageEmulator, body: bytes
) -> None:
    emulator.in_progress_seconds = 0
    answer = fn.call(body)

    assert answer.status in (200, 502, 504)
    assert answer.headers["content-type"] == "application/json"
    assert isinstance(answer.json(), dict)

"""Large triggers as a bounded number of chains of batches, end to end.

The parent hands on at most ``BACKUP_BATCH_CHAINS`` invocations; each batch hands the next batch
of its chain on when it is done. So however many batches a trigger has, at most chains ×
``BACKUP_MAX_CONCURRENCY`` creates are in flight for it, every target is backed up once, and what
was handed on, refused or left under way at the deadline is in the answer.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.faults import Fault
from localdev.functions import FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.stack import LocalStack
from tests.e2e.test_e2e_selection_hostile import NOT_FOUND, Answer, FakeOci, listed

pytestmark = pytest.mark.e2e

FUNCTION_ID = "ocid1.fnfunc.oc1.iad.aaaaaaaabackuphandlerchains00000000000000000000000000000000"
TAGS = {"backup": "chained"}
TICK = {
    "source": "schedule",
    "selector": {"compartmentId": COMPARTMENT, "freeformTags": TAGS, "kinds": ["volume"]},
}


def volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrchained{n:045d}"


@pytest.fixture
def functions(stack: LocalStack) -> Iterator[FunctionsEmulator]:
    with FunctionsEmulator(stack.identity) as served:
        yield served


@pytest.fixture
def chained(
    start_platform: Callable[..., FnPlatform], stack: LocalStack, functions: FunctionsEmulator
) -> Callable[..., FnPlatform]:
    """A function that hands batches on to itself through the local Functions endpoint."""

    def start(**env: str) -> FnPlatform:
        platform = start_platform(BACKUP_INVOKE_ENDPOINT=functions.endpoint, FN_FN_ID=FUNCTION_ID, **env)
        functions.register(FUNCTION_ID, platform)
        return platform

    return start


@contextmanager
def peak_creates_in_flight(emulator: BlockStorageEmulator) -> Iterator[list[int]]:
    """The most creates the emulator held in flight at once while the block ran (sampled every millisecond)."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], emulator.creates_in_flight())
            stop.wait(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def made(emulator: BlockStorageEmulator) -> Counter[str]:
    return Counter(str(backup.get("volumeId")) for backup in emulator.backups())


def test_batches_run_as_chains_so_creates_in_flight_stay_within_chains_times_concurrency(
    chained: Callable[..., FnPlatform], emulator: BlockStorageEmulator, functions: FunctionsEmulator
) -> None:
    volumes = [volume(n) for n in range(10)]
    for volume_id in volumes:
        emulator.add_volume(volume_id, freeform_tags=TAGS)
    platform = chained(BACKUP_BATCH_SIZE="2", BACKUP_BATCH_CHAINS="2", BACKUP_MAX_CONCURRENCY="1")
    release = threading.Event()
    emulator.inject(*(Fault("create", hold=release) for _ in volumes))  # every create waits for the release

    with peak_creates_in_flight(emulator) as peak:
        try:
            parent = platform.invoke(TICK, invoke_type="detached").wait(30)
            started_by_parent = len(functions.invocations)  # no batch can finish, so none has handed on yet
        finally:
            release.set()
        links = functions.wait_for(5, timeout=60)
        answers = [link.wait(60).json() for link in links]

    plan = parent.json()
    assert parent.status == 200 and plan["errors"] == [] and plan["batched"] == 10
    assert started_by_parent == 2  # one invocation per chain, not one per batch
    assert [(c["chain"], c["batch"], c["lastBatch"], c["targets"]) for c in plan["chains"]] == [
        (0, 0, 1, 4),
        (1, 2, 4, 6),
    ]
    assert [(b["batch"], b["chain"], b["targets"]) for b in plan["batches"]] == [
        (0, 0, 2),
        (1, 0, 2),
        (2, 1, 2),
        (3, 1, 2),
        (4, 1, 2),
    ]
    assert peak[0] <= 2  # chains × BACKUP_MAX_CONCURRENCY
    assert len(functions.invocations) == 5
    handed = sorted((a["handedOn"]["chain"], a["handedOn"]["batch"]) for a in answers if "handedOn" in a)
    assert handed == [(0, 1), (1, 3), (1, 4)]
    assert all(a["errors"] == [] and a["pending"] == [] and a["notAttempted"] == [] for a in answers)
    assert made(emulator) == Counter(volumes)  # every volume once

    # The parent redelivered: its chains run again with the same retry tokens; nothing new is made.
    platform.invoke(TICK, invoke_type="detached").wait(30)
    for link in functions.wait_for(10, timeout=60)[5:]:
        link.wait(60)
    assert made(emulator) == Counter(volumes)


def test_a_max_targets_below_the_default_batch_size_makes_batches_of_that_size(
    chained: Callable[..., FnPlatform], emulator: BlockStorageEmulator, functions: FunctionsEmulator
) -> None:
    volumes = [volume(n) for n in range(3)]
    for volume_id in volumes:
        emulator.add_volume(volume_id, freeform_tags=TAGS)
    platform = chained(BACKUP_MAX_TARGETS="2")

    parent = platform.invoke(TICK, invoke_type="detached").wait(30)
    answers = [link.wait(60).json() for link in functions.wait_for(2, timeout=60)]

    plan = parent.json()
    assert plan["backups"] == [] and [b["targets"] for b in plan["batches"]] == [2, 1]
    assert all(a["errors"] == [] and len(a["backups"]) <= 2 for a in answers)
    assert made(emulator) == Counter(volumes)


def test_a_batch_size_above_max_targets_is_a_configuration_error_naming_both(
    chained: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.add_volume(volume(0), freeform_tags=TAGS)
    platform = chained(BACKUP_MAX_TARGETS="2", BACKUP_BATCH_SIZE="3")

    answer = platform.invoke(TICK, invoke_type="detached").wait(30)

    document = answer.json()
    assert document["code"] == "ConfigurationError"
    assert document["errors"][0]["field"] == "BACKUP_BATCH_SIZE"
    assert document["errors"][0]["contradicts"] == "BACKUP_MAX_TARGETS"
    assert "BACKUP_MAX_TARGETS" in document["message"] and "BACKUP_BATCH_SIZE" in document["message"]
    assert emulator.creates() == []


def test_a_link_that_cannot_hand_its_chain_on_backs_up_its_own_and_says_what_was_not_handed_on(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    volumes = [volume(n) for n in range(5)]
    for volume_id in volumes:
        emulator.add_volume(volume_id)
    platform = start_platform(
        BACKUP_INVOKE_ENDPOINT="http://127.0.0.1:9",
        FN_FN_ID=FUNCTION_ID,
        BACKUP_BATCH_SIZE="2",
        BACKUP_MAX_ATTEMPTS="1",
    )
    link = {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20260101T000000Z/3600s",
        "idempotencyKey": "schedule:1767225600:3600",
        "timeLabel": "20260101T000000Z",
        "batch": 0,
        "chain": 0,
        "link": 0,
        "type": "INCREMENTAL",
        "targets": [{"kind": "volume", "id": volume_id} for volume_id in volumes[:2]],
        "next": volumes[2:],
    }

    answer = platform.invoke(link, invoke_type="detached").wait(30)

    document = answer.json()
    assert answer.status == 502  # a redelivery could hand the rest on
    assert sorted(b["volumeId"] for b in document["backups"]) == volumes[:2]
    assert document["notHandedOn"] == 3 and "handedOn" not in document
    assert [(e["resourceId"], e["targets"], e["code"]) for e in document["errors"]] == [(None, 3, "NetworkError")]
    logged = [json.loads(line[line.index("{") :]) for line in platform.function.log().splitlines() if '"chain"' in line]
    assert any(entry.get("outcome") == "not handed on" and entry.get("targets") == 3 for entry in logged)


@pytest.fixture
def fake_functions(start_platform: Callable[..., FnPlatform]) -> Iterator[Callable[..., tuple[FakeOci, FnPlatform]]]:
    fakes: list[FakeOci] = []

    def start(route: Callable[[str, str, dict[str, list[str]]], Answer], **env: str) -> tuple[FakeOci, FnPlatform]:
        fake = FakeOci(route)
        fakes.append(fake)
        endpoints = {
            "BACKUP_BLOCKSTORAGE_ENDPOINT": fake.endpoint,
            "BACKUP_INVOKE_ENDPOINT": fake.endpoint,
            "FN_FN_ID": FUNCTION_ID,
            "BACKUP_MAX_ATTEMPTS": "1",
        }
        return fake, start_platform(**{**endpoints, **env})

    yield start
    for fake in fakes:
        fake.close()


def test_an_invoke_under_way_at_the_deadline_is_pending_in_the_answer_with_its_targets(
    fake_functions: Callable[..., tuple[FakeOci, FnPlatform]],
) -> None:
    release = threading.Event()

    def route(method: str, path: str, query: dict[str, list[str]]) -> Answer:
        if path.endswith("/volumes"):
            return 200, {}, [listed(volume(n), freeformTags=TAGS) for n in range(5)]
        if path.endswith("/actions/invoke"):
            release.wait(30)  # InvokeFunction hangs past the parent's deadline
            return 202, {}, b""
        return NOT_FOUND

    _, platform = fake_functions(route, BACKUP_BATCH_SIZE="2")  # 3 batches: 3 chains (of at most 4)
    try:
        answer = platform.invoke(TICK, invoke_type="detached", deadline_seconds=3).wait(30)
    finally:
        release.set()

    plan: dict[str, Any] = answer.json()
    assert answer.status == 504
    [pending] = plan["pending"]
    assert (pending["chain"], pending["batch"], pending["targets"]) == (0, 0, 2)
    assert "unknown" in pending["reason"]
    assert plan["notAttempted"] == [{"resourceId": None, "targets": 3, "reason": "3 more targets were not handed on"}]
    assert plan["batched"] == 0 and plan["chains"] == []


def test_a_link_whose_next_body_would_be_refused_on_arrival_says_so_instead_of_handing_it_on(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.add_volume(volume(0))
    emulator.add_volume(volume(1))
    platform = start_platform(BACKUP_INVOKE_ENDPOINT="http://127.0.0.1:9", FN_FN_ID=FUNCTION_ID)
    last_possible = {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20260101T000000Z/3600s",
        "idempotencyKey": "schedule:1767225600:3600",
        "timeLabel": "20260101T000000Z",
        "batch": 100_000,  # the next one would be out of range
        "type": "INCREMENTAL",
        "targets": [{"kind": "volume", "id": volume(0)}],
        "next": [volume(1)],
    }

    document = platform.invoke(last_possible, invoke_type="detached").wait(30).json()

    assert [b["volumeId"] for b in document["backups"]] == [volume(0)]
    assert document["notHandedOn"] == 1
    assert [(e["targets"], e["code"]) for e in document["errors"]] == [(1, "InvalidRequest")]

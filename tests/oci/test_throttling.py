"""The run-wide limiter: at most ``limit`` calls in flight, a 429 slows every worker down, then the run recovers.

Timing is driven by a fake clock wherever it matters; tests with real threads wait on
events and counts, never on which of two racing threads gets somewhere first.
"""

from __future__ import annotations

import ast
import heapq
import itertools
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backup_handler.oci import throttling
from backup_handler.oci.throttling import AdaptiveLimiter

# How long a test waits on real time for something that should happen at once.
PATIENCE_SECONDS = 5.0


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class AdvancingWait:
    """A wait that lets the whole timeout pass on the fake clock, and records it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timeouts: list[float] = []

    def __call__(self, condition: threading.Condition, timeout: float) -> None:
        self.timeouts.append(timeout)
        self.clock.advance(timeout)


class PollingWait:
    """A wait for threads on a fake clock: a short real wait, so a waiter re-checks soon after the clock moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[int] = set()

    def __call__(self, condition: threading.Condition, timeout: float) -> None:
        with self._lock:
            self._waiters.add(threading.get_ident())
        condition.wait(0.002)

    @property
    def waiters(self) -> int:
        with self._lock:
            return len(self._waiters)


def no_wait(condition: threading.Condition, timeout: float) -> None:
    raise AssertionError("a non-blocking acquire waited")


def no_jitter() -> float:
    return 0.0


def eventually(predicate: Callable[[], bool]) -> bool:
    give_up = time.monotonic() + PATIENCE_SECONDS
    while not predicate():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.001)
    return True


def limiter_on(clock: FakeClock, max_concurrency: int, **options: Any) -> AdaptiveLimiter:
    settings: dict[str, Any] = {"wait": AdvancingWait(clock), "random_source": no_jitter, **options}
    return AdaptiveLimiter(max_concurrency, clock=clock, **settings)


def call(limiter: AdaptiveLimiter, clock: FakeClock, *, throttled: bool) -> None:
    """One call that starts now (a slot must be free) and ends at once."""
    assert limiter.acquire(deadline=clock())
    limiter.release(throttled=throttled)


# --- at most `limit` in flight ---------------------------------------------------------------------------------


class CountingApi:
    """Counts concurrent calls; the first ``hold_first`` calls meet at a barrier, so the limit is provably reached."""

    def __init__(self, hold_first: int, throttle_above: int | None = None) -> None:
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(hold_first, timeout=PATIENCE_SECONDS)
        self._hold_first = hold_first
        self._throttle_above = throttle_above
        self.in_flight = 0
        self.most_in_flight = 0
        self.started = 0
        self.refused = 0

    def call(self) -> bool:
        """Whether the call was refused for rate."""
        with self._lock:
            self.in_flight += 1
            self.started += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            first_wave = self.started <= self._hold_first
            refused = self._throttle_above is not None and self.in_flight > self._throttle_above
            self.refused += refused
        try:
            if first_wave:
                self._barrier.wait()
            time.sleep(0.0001)
            return refused
        finally:
            with self._lock:
                self.in_flight -= 1


def run_workers(workers: int, target: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE_SECONDS * 2)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def test_never_more_calls_in_flight_than_the_limit_under_many_threads() -> None:
    limiter = AdaptiveLimiter(6, pause_seconds=0.001, recover_after=10**6, random_source=no_jitter)
    assert limiter.acquire(time.monotonic())
    limiter.release(throttled=True)
    assert limiter.limit == 3
    api = CountingApi(hold_first=3)

    def twenty_calls() -> None:
        for _ in range(20):
            with limiter.slot(time.monotonic() + PATIENCE_SECONDS) as slot:
                assert slot
                api.call()

    run_workers(32, twenty_calls)

    assert api.started == 32 * 20
    assert api.most_in_flight == 3
    assert limiter.in_flight == 0


def test_threads_under_throttling_finish_every_call_and_release_every_slot() -> None:
    limiter = AdaptiveLimiter(8, pause_seconds=0.001, max_pause_seconds=0.004, recover_after=3)
    api = CountingApi(hold_first=1, throttle_above=4)
    completed = itertools.count()

    def ten_calls() -> None:
        for _ in range(10):
            while True:
                with limiter.slot(time.monotonic() + PATIENCE_SECONDS) as slot:
                    assert slot
                    if api.call():
                        slot.mark_throttled()
                        continue
                next(completed)
                break

    run_workers(32, ten_calls)

    assert next(completed) == 320
    assert api.most_in_flight <= 8
    assert limiter.in_flight == 0
    assert limiter.snapshot()["throttles"] == api.refused


# --- a 429 slows every worker down -----------------------------------------------------------------------------


def test_a_throttle_halves_the_limit_and_pauses_every_worker() -> None:
    clock = FakeClock(100.0)
    polling = PollingWait()
    limiter = AdaptiveLimiter(8, pause_seconds=1.0, clock=clock, wait=polling, random_source=no_jitter)
    call(limiter, clock, throttled=True)
    assert limiter.limit == 4
    started: list[float] = []
    started_lock = threading.Lock()

    def start_one() -> None:
        assert limiter.acquire(deadline=1000.0)
        with started_lock:
            started.append(clock())

    threads = [threading.Thread(target=start_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        assert eventually(lambda: polling.waiters == 6)
        assert started == []  # everyone is waiting, and the pause is still in effect
        assert limiter.in_flight == 0

        clock.now = 101.0  # the pause ends
        assert eventually(lambda: limiter.in_flight == 4)
        assert len(started) == 4  # the new limit, not the old one
        assert all(at >= 101.0 for at in started)

        limiter.release(throttled=False)
        limiter.release(throttled=False)
        assert eventually(lambda: len(started) == 6)
    finally:
        clock.now = 1000.0  # whatever happened, no thread is left waiting
        for thread in threads:
            thread.join(PATIENCE_SECONDS)
    assert limiter.in_flight == 4


def test_waiters_sleep_until_the_pause_ends_and_never_past_their_deadline() -> None:
    clock = FakeClock()
    wait = AdvancingWait(clock)
    limiter = AdaptiveLimiter(4, pause_seconds=2.0, clock=clock, wait=wait, random_source=no_jitter)
    call(limiter, clock, throttled=True)

    assert not limiter.acquire(deadline=0.5)
    assert clock() == 0.5
    assert limiter.acquire(deadline=10.0)
    assert clock() == 2.0
    assert wait.timeouts == [0.5, 1.5]


def test_acquire_gives_up_at_its_deadline_during_a_long_pause() -> None:
    limiter = AdaptiveLimiter(4, pause_seconds=8.0, random_source=no_jitter)
    assert limiter.acquire(time.monotonic())
    limiter.release(throttled=True)

    began = time.monotonic()
    assert not limiter.acquire(deadline=began + 0.05)
    waited = time.monotonic() - began

    assert 0.05 <= waited < 1.0
    assert limiter.in_flight == 0


def test_every_blocked_worker_wakes_when_the_pause_ends() -> None:
    limiter = AdaptiveLimiter(16, pause_seconds=0.05, random_source=no_jitter)
    assert limiter.acquire(time.monotonic())
    limiter.release(throttled=True)
    pause_ends = time.monotonic() + limiter.snapshot()["pauseSecondsLeft"]
    barrier = threading.Barrier(8, timeout=PATIENCE_SECONDS)
    started: list[float] = []

    def start_one() -> None:
        barrier.wait()
        assert limiter.acquire(deadline=time.monotonic() + PATIENCE_SECONDS)
        started.append(time.monotonic())

    run_workers(8, start_one)

    assert len(started) == 8 == limiter.in_flight
    assert min(started) >= pause_ends


def test_a_freed_slot_wakes_a_waiter_before_its_deadline() -> None:
    waiting = threading.Event()

    def wait(condition: threading.Condition, timeout: float) -> object:
        waiting.set()
        return condition.wait(timeout)

    limiter = AdaptiveLimiter(1, wait=wait)
    assert limiter.acquire(time.monotonic())
    acquired = threading.Event()

    def start_one() -> None:
        if limiter.acquire(deadline=time.monotonic() + PATIENCE_SECONDS * 2):
            acquired.set()

    thread = threading.Thread(target=start_one)
    thread.start()
    assert waiting.wait(PATIENCE_SECONDS)
    assert not acquired.is_set()

    limiter.release(throttled=False)

    assert acquired.wait(PATIENCE_SECONDS)  # woken by the release, not by its own timeout
    thread.join(PATIENCE_SECONDS)
    assert limiter.in_flight == 1


def test_consecutive_throttles_grow_the_pause_up_to_the_cap() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 64, pause_seconds=0.5, max_pause_seconds=8.0)
    pauses, limits = [], []

    for _ in range(7):
        call(limiter, clock, throttled=True)
        pauses.append(limiter.snapshot()["pauseSecondsLeft"])
        limits.append(limiter.limit)
        clock.advance(pauses[-1])

    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert limits == [32, 16, 8, 4, 2, 1, 1]


def test_jitter_shortens_a_pause_by_up_to_half() -> None:
    clock = FakeClock()
    draws = random.Random(7)
    limiter = limiter_on(clock, 64, pause_seconds=1.0, max_pause_seconds=4.0, random_source=draws.random)
    pauses = []

    for _ in range(6):
        call(limiter, clock, throttled=True)
        pauses.append(limiter.snapshot()["pauseSecondsLeft"])
        clock.advance(pauses[-1])

    for pause, full in zip(pauses, [1.0, 2.0, 4.0, 4.0, 4.0, 4.0], strict=True):
        assert full / 2 < pause <= full
    assert len(set(pauses)) == len(pauses)


def test_calls_ending_during_a_pause_are_one_congestion_event() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 8, pause_seconds=1.0, recover_after=1)
    for _ in range(8):
        assert limiter.acquire(deadline=0.0)

    limiter.release(throttled=True)
    for _ in range(5):
        limiter.release(throttled=True)  # started before the decrease: not acted on again
    limiter.release(throttled=False)
    limiter.release(throttled=False)  # started under the old limit: no evidence for a higher one

    assert limiter.limit == 4
    assert limiter.snapshot()["pausedUntil"] == 1.0
    assert limiter.snapshot()["throttles"] == 6
    assert limiter.snapshot()["decreases"] == 1


# --- recovery ----------------------------------------------------------------------------------------------------


def test_recovery_adds_one_after_recover_after_successes_in_a_row_never_above_max() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 4, pause_seconds=1.0, recover_after=3)
    call(limiter, clock, throttled=True)
    assert limiter.limit == 2
    clock.advance(1.0)
    limits = []

    for _ in range(12):
        call(limiter, clock, throttled=False)
        limits.append(limiter.limit)

    assert limits == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]


def test_a_throttle_breaks_a_run_of_successes() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 8, pause_seconds=1.0, recover_after=3)
    call(limiter, clock, throttled=False)
    call(limiter, clock, throttled=False)
    call(limiter, clock, throttled=True)
    clock.advance(1.0)

    call(limiter, clock, throttled=False)
    call(limiter, clock, throttled=False)
    assert limiter.limit == 4
    call(limiter, clock, throttled=False)
    assert limiter.limit == 5


def test_a_recovery_starts_the_pause_growth_over() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 16, pause_seconds=0.5, recover_after=1)
    for expected in (0.5, 1.0):
        call(limiter, clock, throttled=True)
        assert limiter.snapshot()["pauseSecondsLeft"] == expected
        clock.advance(expected)

    call(limiter, clock, throttled=False)
    call(limiter, clock, throttled=True)

    assert limiter.snapshot()["pauseSecondsLeft"] == 0.5


def test_min_concurrency_is_a_floor() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 8, min_concurrency=3, pause_seconds=1.0)
    limits = []

    for _ in range(4):
        call(limiter, clock, throttled=True)
        limits.append(limiter.limit)
        clock.advance(limiter.snapshot()["pauseSecondsLeft"])

    assert limits == [4, 3, 3, 3]


# --- the slot context manager --------------------------------------------------------------------------------------


class Throttled(Exception):
    pass


def test_a_slot_is_released_when_the_call_raises() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 2)

    with pytest.raises(ValueError), limiter.slot(deadline=0.0) as slot:
        assert slot.acquired
        assert limiter.in_flight == 1
        raise ValueError("the call failed")

    assert limiter.in_flight == 0
    assert limiter.limit == 2  # not a throttle


def test_a_slot_counts_an_exception_throttled_if_accepts_as_a_throttle() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 4)

    with pytest.raises(Throttled), limiter.slot(0.0, throttled_if=lambda exc: isinstance(exc, Throttled)):
        raise Throttled
    assert limiter.limit == 2

    clock.advance(limiter.snapshot()["pauseSecondsLeft"])
    with pytest.raises(ValueError), limiter.slot(0.0, throttled_if=lambda exc: isinstance(exc, Throttled)):
        raise ValueError
    assert limiter.limit == 2
    assert limiter.in_flight == 0


def test_a_slot_is_released_even_when_throttled_if_raises() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 4)

    def broken(exc: BaseException) -> bool:
        raise RuntimeError("classifier failed")

    with pytest.raises(RuntimeError), limiter.slot(0.0, throttled_if=broken):
        raise ValueError

    assert limiter.in_flight == 0


def test_a_slot_marked_throttled_counts_as_a_throttle() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 4)

    with limiter.slot(0.0) as slot:
        slot.mark_throttled()

    assert limiter.limit == 2
    assert limiter.in_flight == 0


def test_a_slot_not_acquired_by_its_deadline_releases_nothing() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 1)
    assert limiter.acquire(deadline=0.0)

    with limiter.slot(deadline=3.0) as slot:
        assert not slot
    assert clock() == 3.0
    assert limiter.in_flight == 1


# --- contract ----------------------------------------------------------------------------------------------------


def test_release_without_acquire_is_an_error() -> None:
    limiter = AdaptiveLimiter(2)
    with pytest.raises(RuntimeError):
        limiter.release(throttled=False)


@pytest.mark.parametrize(
    "options",
    [
        {"max_concurrency": 0},
        {"max_concurrency": 4, "min_concurrency": 0},
        {"max_concurrency": 4, "min_concurrency": 5},
        {"max_concurrency": 4, "pause_seconds": 0.0},
        {"max_concurrency": 4, "pause_seconds": 9.0, "max_pause_seconds": 8.0},
        {"max_concurrency": 4, "recover_after": 0},
    ],
)
def test_nonsensical_settings_are_refused(options: dict[str, int | float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveLimiter(**options)  # type: ignore[arg-type]


def test_snapshot_reports_the_state() -> None:
    clock = FakeClock(10.0)
    limiter = limiter_on(clock, 8, pause_seconds=2.0)
    assert limiter.snapshot() == {
        "limit": 8,
        "maxConcurrency": 8,
        "inFlight": 0,
        "pausedUntil": 0.0,
        "pauseSecondsLeft": 0.0,
        "throttles": 0,
        "decreases": 0,
    }
    call(limiter, clock, throttled=True)
    assert limiter.acquire(deadline=20.0)

    assert limiter.snapshot() == {
        "limit": 4,
        "maxConcurrency": 8,
        "inFlight": 1,
        "pausedUntil": 12.0,
        "pauseSecondsLeft": 0.0,
        "throttles": 1,
        "decreases": 1,
    }


def test_the_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(throttling.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}

    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names) | {"__future__"}


# --- a burst against an API that throttles -------------------------------------------------------------------------

API_CONCURRENCY = 10
CALL_SECONDS = 0.2
REFUSAL_SECONDS = 0.02
RUN_DEADLINE_SECONDS = 10.0  # 200 calls at 10 in flight take 4 s at best


def test_a_simulated_burst_completes_every_call_with_few_throttles() -> None:
    """200 calls from 16 workers against an API that refuses whatever is beyond 10 calls in flight.

    A discrete-event simulation on a fake clock: workers start calls in a fixed order, the
    API's concurrency is exactly what the limiter let through, and events are handled in
    time order, so every run is the same.
    """
    clock = FakeClock()
    limiter = AdaptiveLimiter(16, clock=clock, wait=no_wait, random_source=random.Random(11).random)
    workers, to_start, completed, refused, api_in_flight, most_in_flight = 16, 200, 0, 0, 0, 0
    busy = [False] * workers
    ends: list[tuple[float, int, int, bool]] = []  # (when, order, worker, refused)
    order = itertools.count()

    while completed < 200:
        for worker in range(workers):
            if busy[worker] or not to_start:
                continue
            if not limiter.acquire(deadline=clock()):
                break
            to_start -= 1
            busy[worker] = True
            api_in_flight += 1
            most_in_flight = max(most_in_flight, api_in_flight)
            too_many = api_in_flight > API_CONCURRENCY
            ends_at = clock() + (REFUSAL_SECONDS if too_many else CALL_SECONDS)
            heapq.heappush(ends, (ends_at, next(order), worker, too_many))
        pause_left = limiter.snapshot()["pauseSecondsLeft"]
        next_event = min(ends[0][0] if ends else float("inf"), clock() + pause_left if pause_left else float("inf"))
        assert next_event < RUN_DEADLINE_SECONDS
        clock.now = next_event
        while ends and ends[0][0] <= clock():
            _, _, worker, too_many = heapq.heappop(ends)
            busy[worker] = False
            api_in_flight -= 1
            limiter.release(throttled=too_many)
            if too_many:
                refused += 1
                to_start += 1  # the worker tries that backup again
            else:
                completed += 1

    assert completed == 200
    assert refused < 20  # 13 with these settings: 6 in the opening burst, then a few per climb back past 10
    assert most_in_flight <= 16
    assert limiter.in_flight == 0
    assert clock() < RUN_DEADLINE_SECONDS

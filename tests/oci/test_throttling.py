"""The run-wide limiter: at most ``limit`` calls in flight, a 429 lowers it for every worker, then the run recovers.

Timing is driven by a fake clock wherever it matters; tests with real threads wait on
events and counts, never on which of two racing threads gets somewhere first.
"""

from __future__ import annotations

import ast
import heapq
import itertools
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


def eventually(predicate: Callable[[], bool]) -> bool:
    give_up = time.monotonic() + PATIENCE_SECONDS
    while not predicate():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.001)
    return True


def limiter_on(clock: FakeClock, max_concurrency: int, **options: Any) -> AdaptiveLimiter:
    settings: dict[str, Any] = {"wait": AdvancingWait(clock), **options}
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
    limiter = AdaptiveLimiter(3)
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
    limiter = AdaptiveLimiter(8, recover_after=3)
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


# --- a 429 lowers the limit for every worker, with no pause -------------------------------------------------------


def test_a_throttle_halves_the_limit_and_a_slot_under_the_new_limit_is_free_at_once() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, clock=clock, wait=no_wait)
    for _ in range(6):
        assert limiter.acquire(deadline=clock())

    limiter.release(throttled=True, epoch=0)
    assert limiter.limit == 4 and limiter.snapshot()["cap"] == 8
    assert not limiter.acquire(deadline=clock())  # 5 in flight, limit 4: wait for them, not for a pause
    for _ in range(2):
        limiter.release(throttled=False, epoch=0)

    assert limiter.acquire(deadline=clock())  # 3 in flight: a start is free at once, no global pause
    assert clock() == 0.0


def test_acquire_gives_up_at_its_deadline_when_no_slot_frees() -> None:
    clock = FakeClock()
    wait = AdvancingWait(clock)
    limiter = AdaptiveLimiter(1, clock=clock, wait=wait)
    assert limiter.acquire(deadline=0.0)

    assert not limiter.acquire(deadline=0.5)
    assert clock() == 0.5 and wait.timeouts == [0.5]
    assert limiter.in_flight == 1


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


def test_calls_started_before_a_decrease_are_one_congestion_event() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 8, recover_after=1)
    epochs = [limiter.take(deadline=0.0) for _ in range(8)]
    assert epochs == [0] * 8

    limiter.release(throttled=True, epoch=0)
    for _ in range(5):
        limiter.release(throttled=True, epoch=0)  # started before the decrease: not acted on again
    limiter.release(throttled=False, epoch=0)
    limiter.release(throttled=False, epoch=0)  # started under the old limit: no evidence for a higher one

    assert limiter.limit == 4
    assert limiter.snapshot()["throttles"] == 6
    assert limiter.snapshot()["decreases"] == 1
    assert limiter.epoch == 1


# --- recovery ----------------------------------------------------------------------------------------------------


def test_below_the_cap_each_success_adds_one_up_to_just_under_it() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 16, recover_after=5)
    call(limiter, clock, throttled=True)  # cap 16, limit 8
    limits = []

    for _ in range(10):
        call(limiter, clock, throttled=False)
        limits.append(limiter.limit)

    assert limits == [9, 10, 11, 12, 13, 14, 15, 15, 15, 15]


def test_at_the_cap_a_probe_comes_after_a_window_of_successes_and_a_failed_probe_goes_back_below_it() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 16, recover_after=2)
    call(limiter, clock, throttled=True)  # cap 16, limit 8
    for _ in range(3):
        call(limiter, clock, throttled=False)
    assert limiter.limit == 11
    call(limiter, clock, throttled=True)  # below the cap: the API allows less, remember 11 and halve
    assert (limiter.limit, limiter.snapshot()["cap"]) == (5, 11)
    for _ in range(5):
        call(limiter, clock, throttled=False)
    assert limiter.limit == 10  # straight back to just under the cap

    for _ in range(19):
        call(limiter, clock, throttled=False)
    assert limiter.limit == 10  # a window is recover_after × limit = 20 successes
    call(limiter, clock, throttled=False)
    assert limiter.limit == 11  # the probe

    call(limiter, clock, throttled=True)
    assert (limiter.limit, limiter.snapshot()["cap"]) == (10, 11)  # not halved: back just under the cap


def test_a_probe_that_holds_forgets_the_cap_and_growth_stays_slow_never_above_max() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 6, recover_after=1)
    call(limiter, clock, throttled=True)  # cap 6, limit 3
    for _ in range(2):
        call(limiter, clock, throttled=False)
    assert limiter.limit == 5
    for _ in range(5):
        call(limiter, clock, throttled=False)
    assert (limiter.limit, limiter.snapshot()["cap"]) == (6, 6)
    for _ in range(20):
        call(limiter, clock, throttled=False)
    assert limiter.limit == 6  # never above max_concurrency


def test_a_throttle_breaks_a_run_of_successes() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 8, recover_after=1)
    call(limiter, clock, throttled=True)  # cap 8, limit 4
    for _ in range(3):
        call(limiter, clock, throttled=False)
    assert limiter.limit == 7
    for _ in range(6):
        call(limiter, clock, throttled=False)
    call(limiter, clock, throttled=True)  # at 7, below the cap of 8: halve, cap 7

    assert (limiter.limit, limiter.snapshot()["cap"]) == (3, 7)


def test_min_concurrency_is_a_floor() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 8, min_concurrency=3)
    limits = []

    for _ in range(4):
        call(limiter, clock, throttled=True)
        limits.append(limiter.limit)

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

    with pytest.raises(ValueError), limiter.slot(0.0, throttled_if=lambda exc: isinstance(exc, Throttled)):
        raise ValueError
    assert limiter.snapshot()["throttles"] == 1 and limiter.limit >= 2  # not a throttle
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
        {"max_concurrency": 4, "recover_after": 0},
    ],
)
def test_nonsensical_settings_are_refused(options: dict[str, int | float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveLimiter(**options)  # type: ignore[arg-type]


def test_snapshot_reports_the_state() -> None:
    clock = FakeClock(10.0)
    limiter = limiter_on(clock, 8)
    assert limiter.snapshot() == {
        "limit": 8,
        "maxConcurrency": 8,
        "cap": None,
        "inFlight": 0,
        "throttles": 0,
        "decreases": 0,
    }
    call(limiter, clock, throttled=True)
    assert limiter.acquire(deadline=20.0)

    assert limiter.snapshot() == {
        "limit": 4,
        "maxConcurrency": 8,
        "cap": 8,
        "inFlight": 1,
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


def test_a_simulated_burst_completes_every_call_with_few_throttles_near_the_api_limit() -> None:
    """200 calls from 16 workers against an API that refuses whatever is beyond 10 calls in flight.

    A discrete-event simulation on a fake clock: workers start calls in a fixed order, the
    API's concurrency is exactly what the limiter let through, and events are handled in
    time order, so every run is the same. It takes within 1.3× the 4 s a client configured
    to 10 would take.
    """
    clock = FakeClock()
    limiter = AdaptiveLimiter(16, clock=clock, wait=no_wait)
    workers, to_start, completed, refused, api_in_flight, most_in_flight = 16, 200, 0, 0, 0, 0
    busy = [False] * workers
    ends: list[tuple[float, int, int, bool, int]] = []  # (when, order, worker, refused, epoch)
    order = itertools.count()

    while completed < 200:
        for worker in range(workers):
            if busy[worker] or not to_start:
                continue
            epoch = limiter.take(deadline=clock())
            if epoch is None:
                break
            to_start -= 1
            busy[worker] = True
            api_in_flight += 1
            most_in_flight = max(most_in_flight, api_in_flight)
            too_many = api_in_flight > API_CONCURRENCY
            ends_at = clock() + (REFUSAL_SECONDS if too_many else CALL_SECONDS)
            heapq.heappush(ends, (ends_at, next(order), worker, too_many, epoch))
        next_event = ends[0][0]
        assert next_event < RUN_DEADLINE_SECONDS
        clock.now = next_event
        while ends and ends[0][0] <= clock():
            _, _, worker, too_many, epoch = heapq.heappop(ends)
            busy[worker] = False
            api_in_flight -= 1
            limiter.release(throttled=too_many, epoch=epoch)
            if too_many:
                refused += 1
                to_start += 1  # the worker tries that backup again
            else:
                completed += 1

    assert completed == 200
    assert refused < 30  # 22: 6 in the opening burst, a few climbing back, then one per probe window
    assert most_in_flight <= 16
    assert limiter.in_flight == 0
    assert clock() < 4.0 * 1.3

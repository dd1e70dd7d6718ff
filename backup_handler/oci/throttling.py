"""A concurrency limit for a rate-limited API, shared by every worker of a run (or of the process).

Why one limiter for the run rather than backoff in each worker: Block Storage
answers 429 ``TooManyRequests`` when a tenancy creates tens of backups in a
burst (users report it at about 30 ``CreateBootVolumeBackup`` calls). The limit
is the tenancy's, so a 429 on one call says every call is too many. The SDK's
retry strategy cannot act on that: it sleeps inside the one call that was
refused, independently of the others, and ignores ``Retry-After``. With a pool
of workers each backing off alone, the other workers keep starting calls, so the
run keeps the API at the same pressure and collects more 429s. Here a 429 on
any call slows the whole run down, then the run speeds up again, all within the
deadline each caller passes to :meth:`AdaptiveLimiter.acquire`. The limiter
learns of a 429 only when a call ends with one; a call whose SDK strategy
retries 429 itself keeps its slot and hides the signal.

The algorithm (additive increase, multiplicative decrease):

- a call starts only when fewer than ``limit`` calls are in flight and no pause
  is in effect; ``limit`` starts at ``max_concurrency``;
- a call ending in a 429 halves ``limit`` (never below ``min_concurrency``) and
  pauses every new start for ``pause_seconds``, doubled for each throttle that
  follows the previous one without a recovery in between, capped at
  ``max_pause_seconds``, and shortened by up to half at random so that
  function instances throttled together do not all resume together;
- the calls ending while a pause is in effect were started before the decrease:
  their 429s are the same congestion event (counted, not acted on again) and
  their successes say nothing about the new limit (not counted toward recovery);
- after ``recover_after`` successes in a row, ``limit`` grows by one (never above
  ``max_concurrency``) and the throttle streak starts over;
- a waiter never waits past its own deadline: it sleeps on the condition until
  the pause ends, a slot frees or its deadline comes, whichever is first.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from types import TracebackType

# A pause is shortened by up to this fraction of its length, at random.
JITTER_FRACTION = 0.5

Clock = Callable[[], float]
Wait = Callable[[threading.Condition, float], object]


def _condition_wait(condition: threading.Condition, timeout: float) -> object:
    return condition.wait(min(timeout, threading.TIMEOUT_MAX))


class AdaptiveLimiter:
    """Concurrency for calls to a rate-limited API, shared by every worker of a run (or of the process).

    ``clock`` gives the time that deadlines and pauses are measured in (``time.monotonic``
    by default); ``wait(condition, timeout)`` blocks on the held condition for up to
    ``timeout`` clock seconds (``Condition.wait`` by default); ``random_source`` returns
    a float in ``[0, 1)`` for the pause's jitter (``random.random`` by default).
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        min_concurrency: int = 1,
        pause_seconds: float = 0.5,
        max_pause_seconds: float = 8.0,
        recover_after: int = 5,
        clock: Clock = time.monotonic,
        wait: Wait | None = None,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not 1 <= min_concurrency <= max_concurrency:
            raise ValueError("min_concurrency must be between 1 and max_concurrency")
        if not 0 < pause_seconds <= max_pause_seconds:
            raise ValueError("pause_seconds must be positive and at most max_pause_seconds")
        if recover_after < 1:
            raise ValueError("recover_after must be at least 1")
        self._max = max_concurrency
        self._min = min_concurrency
        self._pause = pause_seconds
        self._max_pause = max_pause_seconds
        self._recover_after = recover_after
        self._clock = clock
        self._wait = wait or _condition_wait
        self._random = random_source
        self._condition = threading.Condition()
        self._limit = max_concurrency
        self._in_flight = 0
        self._paused_until = float("-inf")
        self._successes = 0  # in a row, since the last throttle or increase
        self._streak = 0  # throttle events since the last increase
        self._throttles = 0  # every call that ended in a 429
        self._decreases = 0  # the throttle events acted on

    @property
    def limit(self) -> int:
        """How many calls may be in flight now."""
        with self._condition:
            return self._limit

    @property
    def in_flight(self) -> int:
        """How many calls hold a slot now."""
        with self._condition:
            return self._in_flight

    def acquire(self, deadline: float) -> bool:
        """Take a slot once one is free and no pause is in effect; False if ``deadline`` (a clock value) comes first.

        The deadline bounds the wait only: a slot free now is taken even at or past it,
        so ``acquire(clock())`` is a try. A caller that needs time for its call measures
        its budget after this returns, since the wait may have used some of it.
        """
        with self._condition:
            while True:
                now = self._clock()
                paused = now < self._paused_until
                if not paused and self._in_flight < self._limit:
                    self._in_flight += 1
                    return True
                if now >= deadline:
                    return False
                # A release wakes every waiter; the end of a pause wakes nobody, so sleep no longer than it.
                wake_at = min(deadline, self._paused_until) if paused else deadline
                self._wait(self._condition, wake_at - now)

    def release(self, *, throttled: bool) -> None:
        """End a call: ``throttled`` if the API refused it for rate (429)."""
        with self._condition:
            if self._in_flight < 1:
                raise RuntimeError("release() without a matching acquire()")
            self._in_flight -= 1
            now = self._clock()
            if throttled:
                self._throttles += 1
                if now >= self._paused_until:  # not one of the calls started before the pause in effect
                    self._decrease(now)
            elif now >= self._paused_until:
                self._successes += 1
                if self._successes >= self._recover_after:
                    self._successes = 0
                    self._streak = 0
                    self._limit = min(self._max, self._limit + 1)
            # Waiters re-check: a slot may be free, or a new pause ends sooner than their deadline.
            self._condition.notify_all()

    def _decrease(self, now: float) -> None:
        self._decreases += 1
        self._successes = 0
        self._streak += 1
        self._limit = max(self._min, self._limit // 2)
        pause = min(self._max_pause, self._pause * 2.0 ** min(self._streak - 1, 64))
        pause *= 1.0 - JITTER_FRACTION * self._random()
        self._paused_until = max(self._paused_until, now + pause)

    def slot(self, deadline: float, *, throttled_if: Callable[[BaseException], bool] | None = None) -> Slot:
        """A slot as a context manager; it is released on exit, whether the body returns or raises.

        ``with limiter.slot(deadline, throttled_if=is_429) as slot:`` — ``slot`` is falsy
        when the deadline came first (then nothing is released). The call counts as
        throttled when the body raises an exception ``throttled_if`` accepts, or calls
        :meth:`Slot.mark_throttled`.
        """
        return Slot(self, deadline, throttled_if)

    def snapshot(self) -> dict[str, float | int]:
        """The limiter's state, for logs and answers."""
        with self._condition:
            now = self._clock()
            return {
                "limit": self._limit,
                "maxConcurrency": self._max,
                "inFlight": self._in_flight,
                "pausedUntil": self._paused_until if self._paused_until > float("-inf") else 0.0,
                "pauseSecondsLeft": max(self._paused_until - now, 0.0),
                "throttles": self._throttles,
                "decreases": self._decreases,
            }


class Slot:
    """One call's hold on an :class:`AdaptiveLimiter`, released once when the ``with`` block ends."""

    __slots__ = ("_deadline", "_limiter", "_released", "_throttled", "_throttled_if", "acquired")

    def __init__(
        self, limiter: AdaptiveLimiter, deadline: float, throttled_if: Callable[[BaseException], bool] | None
    ) -> None:
        self._limiter = limiter
        self._deadline = deadline
        self._throttled_if = throttled_if
        self._throttled = False
        self._released = False
        self.acquired = False

    def __bool__(self) -> bool:
        return self.acquired

    def mark_throttled(self) -> None:
        """Count this call as refused for rate (429) when the slot is released."""
        self._throttled = True

    def __enter__(self) -> Slot:
        self.acquired = self._limiter.acquire(self._deadline)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self.acquired or self._released:
            return
        self._released = True
        throttled = self._throttled
        try:
            if not throttled and exc is not None and self._throttled_if is not None:
                throttled = self._throttled_if(exc)
        finally:
            self._limiter.release(throttled=throttled)

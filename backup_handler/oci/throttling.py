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

The algorithm (additive increase, multiplicative decrease, with a remembered cap):

- a call starts only when fewer than ``limit`` calls are in flight; ``limit`` starts at
  ``max_concurrency``. There is no global pause: a 429 lowers the limit, and the calls then in
  flight above it hold new starts back until they end, which is the back-off;
- a call ending in a 429 is a congestion event when it started under the current limit
  (calls started before the last decrease report the same congestion: counted, not acted on
  again). The first event halves ``limit`` (never below ``min_concurrency``) and remembers the
  limit that drew it as the **cap**; a later event at or above the cap (a probe that failed)
  sets ``limit`` just below the cap instead of halving again; an event below the cap (the
  API's capacity shrank) remembers the lower cap and halves;
- below the cap, each success (of a call started under the current limit) adds one, so the run
  climbs straight back to just under what the API allows; at the cap, one is added only after
  a window of ``recover_after`` × ``limit`` successes in a row — a rare probe above it, which
  forgets the cap when it succeeds (the API's capacity grew); never above ``max_concurrency``;
- a waiter never waits past its own deadline: it sleeps on the condition until a slot frees or
  its deadline comes, whichever is first.

Against an API that refuses whatever is beyond C calls in flight, a run settles at C, drawing a
429 once per probe window instead of once per climb (bench/scale.py measures it beside a client
configured to C).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

Clock = Callable[[], float]
Wait = Callable[[threading.Condition, float], object]


def _condition_wait(condition: threading.Condition, timeout: float) -> object:
    return condition.wait(min(timeout, threading.TIMEOUT_MAX))


class AdaptiveLimiter:
    """Concurrency for calls to a rate-limited API, shared by every worker of a run (or of the process).

    ``clock`` gives the time that deadlines are measured in (``time.monotonic`` by default);
    ``wait(condition, timeout)`` blocks on the held condition for up to ``timeout`` clock seconds
    (``Condition.wait`` by default).
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        min_concurrency: int = 1,
        recover_after: int = 5,
        clock: Clock = time.monotonic,
        wait: Wait | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not 1 <= min_concurrency <= max_concurrency:
            raise ValueError("min_concurrency must be between 1 and max_concurrency")
        if recover_after < 1:
            raise ValueError("recover_after must be at least 1")
        self._max = max_concurrency
        self._min = min_concurrency
        self._recover_after = recover_after
        self._clock = clock
        self._wait = wait or _condition_wait
        self._condition = threading.Condition()
        self._limit = max_concurrency
        self._cap: int | None = None  # the lowest limit known to draw a 429
        self._in_flight = 0
        self._epoch = 0  # congestion events acted on; a call remembers the epoch it started in
        self._successes = 0  # in a row, of calls started in the current epoch, since the last change
        self._throttles = 0  # every call that ended in a 429

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

    @property
    def epoch(self) -> int:
        """The congestion events acted on so far: a call started now reports its end with this."""
        with self._condition:
            return self._epoch

    def acquire(self, deadline: float) -> bool:
        """Take a slot once one is free; False if ``deadline`` (a clock value) comes first.

        The deadline bounds the wait only: a slot free now is taken even at or past it,
        so ``acquire(clock())`` is a try. A caller that needs time for its call measures
        its budget after this returns, since the wait may have used some of it.
        """
        return self.take(deadline) is not None

    def take(self, deadline: float) -> int | None:
        """:meth:`acquire`, answering the :attr:`epoch` the slot was taken in (None when the deadline came first)."""
        with self._condition:
            while True:
                if self._in_flight < self._limit:
                    self._in_flight += 1
                    return self._epoch
                now = self._clock()
                if now >= deadline:
                    return None
                self._wait(self._condition, deadline - now)  # a release wakes every waiter

    def release(self, *, throttled: bool, epoch: int | None = None) -> None:
        """End a call: ``throttled`` if the API refused it for rate (429); ``epoch`` is :attr:`epoch` as it was
        when the call started (None: the current one)."""
        with self._condition:
            if self._in_flight < 1:
                raise RuntimeError("release() without a matching acquire()")
            self._in_flight -= 1
            current = epoch is None or epoch >= self._epoch
            if throttled:
                self._throttles += 1
                if current:
                    self._decrease()
            elif current:
                self._succeeded()
            # Waiters re-check: a slot may be free.
            self._condition.notify_all()

    def _succeeded(self) -> None:
        self._successes += 1
        below_cap = self._cap is not None and self._limit + 1 < self._cap
        if self._limit >= self._max:
            return
        if below_cap or self._successes >= self._recover_after * self._limit:
            self._successes = 0
            self._limit += 1
            if self._cap is not None and self._limit > self._cap:
                self._cap = None  # a probe above the cap held: the API allows more now

    def _decrease(self) -> None:
        self._epoch += 1
        self._successes = 0
        if self._cap is not None and self._limit >= self._cap:
            self._limit = max(self._min, self._cap - 1)  # the probe failed: back to just below the cap
        else:
            self._cap = self._limit
            self._limit = max(self._min, self._limit // 2)

    def slot(self, deadline: float, *, throttled_if: Callable[[BaseException], bool] | None = None) -> Slot:
        """A slot as a context manager; it is released on exit, whether the body returns or raises.

        ``with limiter.slot(deadline, throttled_if=is_429) as slot:`` — ``slot`` is falsy
        when the deadline came first (then nothing is released). The call counts as
        throttled when the body raises an exception ``throttled_if`` accepts, or calls
        :meth:`Slot.mark_throttled`.
        """
        return Slot(self, deadline, throttled_if)

    def snapshot(self) -> dict[str, int | None]:
        """The limiter's state, for logs and answers."""
        with self._condition:
            return {
                "limit": self._limit,
                "maxConcurrency": self._max,
                "cap": self._cap,
                "inFlight": self._in_flight,
                "throttles": self._throttles,
                "decreases": self._epoch,
            }


class Slot:
    """One call's hold on an :class:`AdaptiveLimiter`, released once when the ``with`` block ends."""

    __slots__ = ("_deadline", "_epoch", "_limiter", "_released", "_throttled", "_throttled_if", "acquired")

    def __init__(
        self, limiter: AdaptiveLimiter, deadline: float, throttled_if: Callable[[BaseException], bool] | None
    ) -> None:
        self._limiter = limiter
        self._deadline = deadline
        self._throttled_if = throttled_if
        self._throttled = False
        self._released = False
        self._epoch: int | None = None
        self.acquired = False

    def __bool__(self) -> bool:
        return self.acquired

    def mark_throttled(self) -> None:
        """Count this call as refused for rate (429) when the slot is released."""
        self._throttled = True

    def __enter__(self) -> Slot:
        self._epoch = self._limiter.take(self._deadline)
        self.acquired = self._epoch is not None
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
            self._limiter.release(throttled=throttled, epoch=self._epoch)

"""Reference: the function as it is, but with the limiter it had before — AIMD with global pauses.

Before, a 429 halved the limit and paused every new start for 0.5 s (doubling to 8 s while
429s continued, shortened by up to half at random), and the limit grew back by one every 5
successes, with no memory of where the 429s began. ``bench/scale.py`` runs the throttled
fan-out with this function beside the function itself and a client configured to the limit,
so the change is measured in the same run.
"""

from __future__ import annotations

import random
import threading
import time

from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.runs import backup

PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 8.0
RECOVER_AFTER = 5
JITTER_FRACTION = 0.5


class PausedLimiter(AdaptiveLimiter):
    """The previous algorithm, on the current interface (a slot's epoch is ignored: pauses did that work)."""

    def __init__(self, max_concurrency: int) -> None:
        super().__init__(max_concurrency)
        self._paused_until = float("-inf")
        self._streak = 0
        self._in_a_row = 0

    def take(self, deadline: float) -> int | None:
        with self._condition:
            while True:
                now = time.monotonic()
                paused = now < self._paused_until
                if not paused and self._in_flight < self._limit:
                    self._in_flight += 1
                    return 0
                if now >= deadline:
                    return None
                wake_at = min(deadline, self._paused_until) if paused else deadline
                self._condition.wait(min(wake_at - now, threading.TIMEOUT_MAX))

    def release(self, *, throttled: bool, epoch: int | None = None) -> None:
        with self._condition:
            self._in_flight -= 1
            now = time.monotonic()
            if throttled:
                self._throttles += 1
                if now >= self._paused_until:
                    self._in_a_row = 0
                    self._streak += 1
                    self._limit = max(1, self._limit // 2)
                    pause = min(MAX_PAUSE_SECONDS, PAUSE_SECONDS * 2.0 ** min(self._streak - 1, 64))
                    self._paused_until = now + pause * (1.0 - JITTER_FRACTION * random.random())
            elif now >= self._paused_until:
                self._in_a_row += 1
                if self._in_a_row >= RECOVER_AFTER:
                    self._in_a_row = 0
                    self._streak = 0
                    self._limit = min(self._max, self._limit + 1)
            self._condition.notify_all()


setattr(backup, "AdaptiveLimiter", PausedLimiter)  # noqa: B010 - the runner builds its limiter from this name

from backup_handler import handler  # noqa: E402  (after the limiter is swapped)

__all__ = ["handler"]

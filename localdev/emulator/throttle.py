"""The create throttle: how many create requests are being served, and whether one more may be.

A request holds its slot from admission until its answer is decided (through any emulated
latency and hold), and gives it back before the answer is written, so a client that waits for
one create's answer before sending the next is never throttled by its own earlier request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Throttle:
    """In-flight create requests, against an optional limit (None: no limit)."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._limit: int | None = None
        self._in_flight = 0
        self._generation = 0  # a request admitted before a reset does not give back a slot after it

    @property
    def limit(self) -> int | None:
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        if value is not None and value < 0:
            raise ValueError("the limit on concurrent creates cannot be negative")
        with self._lock:
            self._limit = value

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def reset(self) -> None:
        """No limit, and nothing in flight (requests from before are not counted)."""
        with self._lock:
            self._generation += 1
            self._in_flight = 0
            self._limit = None

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Take a slot for the ``with`` block; yields False (and takes none) when all are taken."""
        with self._lock:
            admitted = self._limit is None or self._in_flight < self._limit
            if admitted:
                self._in_flight += 1
            generation = self._generation
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    if generation == self._generation:
                        self._in_flight -= 1

"""The emulator's clock: the wall time it stamps resources with, which a test can move forward.

``timeCreated``, retention expiry and event times follow this clock, so "ten simulated days" pass
without sleeping (:meth:`Clock.advance`). How long a backup stays in progress is real elapsed
(monotonic) time and does not follow it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def stamp(moment: datetime) -> str:
    """A time as the API writes it (RFC 3339, milliseconds, ``Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str) -> datetime:
    """A time the API wrote (``Z`` or an offset; a naive time is taken as UTC)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Clock:
    """The real UTC time plus an offset that only grows."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def stamp(self) -> str:
        """The current time as the API writes it."""
        return stamp(self.now())

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta():
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += delta

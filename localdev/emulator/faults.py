"""Injected faults: what a test can make the next matching request suffer, and how one is matched.

Faults wait in a queue in the order injected; each is consumed by the first later request it
matches. ``operation`` names one operation (``"createVolumeBackup"``), every create
(``"create"``) or every request (``"any"``). A request refused by the create throttle does not
consume a fault.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from localdev.emulator.api import is_create

_ERROR_CODES = {429: "TooManyRequests", 503: "ServiceUnavailable"}


@dataclass
class Fault:
    """One injected misbehaviour, consumed by the next matching request.

    In the order they take effect:

    - ``latency``: seconds to wait before doing anything else (on top of the emulator's own);
    - ``hold``: then wait until this event is set, keeping the request in flight for as long as
      the test needs (set it, or the request never finishes);
    - ``drop="before"``: close the connection without answering or doing the work;
    - ``body``: answer ``status`` (200 when not given) with exactly these bytes and
      ``content_type`` (``application/json`` when not given), without doing the work;
    - ``status``: answer it with the API's error document (``code``, or the usual one for the
      status), without doing the work;
    - ``drop="after"``: do the work, then close the connection without answering.
    """

    operation: str  # "create" (either kind), "createVolumeBackup", "createBootVolumeBackup", "any", …
    status: int | None = None
    code: str | None = None
    drop: Literal["before", "after"] | None = None
    latency: float = 0.0
    body: bytes | None = None
    content_type: str | None = None
    hold: threading.Event | None = None

    def __post_init__(self) -> None:
        if self.drop not in (None, "before", "after"):
            raise ValueError(f"drop is 'before', 'after' or None, not {self.drop!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status")
        if self.latency < 0:
            raise ValueError("latency cannot be negative")
        if self.body is None and self.content_type is not None:
            raise ValueError("content_type is the type of a raw body; give the body too")
        if self.body is not None and (self.drop is not None or self.code is not None):
            raise ValueError("a raw body is the whole answer: it cannot also drop or carry an error code")

    def matches(self, operation: str) -> bool:
        return self.operation in (operation, "any") or (self.operation == "create" and is_create(operation))

    @property
    def error_code(self) -> str:
        """The code of the error document a ``status`` fault answers with."""
        if self.code is not None:
            return self.code
        return _ERROR_CODES.get(self.status or 500, "InternalServerError")


class FaultQueue:
    """Faults not yet consumed, in injection order (guarded by the emulator's lock)."""

    def __init__(self) -> None:
        self._faults: deque[Fault] = deque()

    def __len__(self) -> int:
        return len(self._faults)

    def extend(self, faults: Iterable[Fault]) -> None:
        self._faults.extend(faults)

    def take(self, operation: str) -> Fault | None:
        """Remove and return the first fault that matches ``operation``, if any."""
        for index, fault in enumerate(self._faults):
            if fault.matches(operation):
                del self._faults[index]
                return fault
        return None

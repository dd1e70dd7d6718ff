"""Sources that deliver to the function and redeliver until it succeeds: Notifications and Events.

OCI Notifications delivers a message to a function subscription as a sync invocation and, while
the platform answers anything but a 2xx (502 ``FunctionInvokeExecutionFailed``, 504
``FunctionInvokeTimeout``, ...), retries with exponential backoff for up to two hours. Every
attempt of one message carries the same ``x-oci-ns-messageid`` header. An Events rule whose
action is the function retries the same way, without a message id.

:class:`DeliverySource` models both (``kind="notifications"`` or ``"events"``) through an
:class:`~localdev.platform.FnPlatform`, with the hours compressed into a deterministic schedule:
attempt ``n + 1`` follows attempt ``n`` after ``min(base_delay * factor ** (n - 1), max_delay)``
seconds, up to ``max_attempts`` attempts. :class:`Delivery` records every attempt.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from localdev.platform import FnPlatform, Invocation

MESSAGE_ID_HEADER = "x-oci-ns-messageid"

SourceKind = Literal["notifications", "events"]


@dataclass
class Delivery:
    """One message delivered by a source: every attempt the platform answered, in order."""

    source: SourceKind
    message_id: str | None
    attempts: list[Invocation] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # seconds slept before attempts 2, 3, ...

    @property
    def delivered(self) -> bool:
        """An attempt got a 2xx (the source stops at the first)."""
        return bool(self.attempts) and self.attempts[-1].ok

    @property
    def recovered(self) -> bool:
        """The first attempt failed and a redelivery succeeded."""
        return self.delivered and len(self.attempts) > 1

    @property
    def last(self) -> Invocation:
        return self.attempts[-1]


class DeliverySource:
    """Notifications (a function subscription) or an Events rule: sync delivery with redelivery on non-2xx."""

    def __init__(
        self,
        platform: FnPlatform,
        kind: SourceKind = "notifications",
        *,
        max_attempts: int = 6,
        base_delay: float = 0.05,
        factor: float = 2.0,
        max_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if base_delay < 0 or max_delay < 0 or factor < 1:
            raise ValueError("delays must not be negative and factor must be at least 1")
        self.platform = platform
        self.kind: SourceKind = kind
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.factor = factor
        self.max_delay = max_delay
        self._sleep = sleep

    @property
    def schedule(self) -> tuple[float, ...]:
        """Seconds between consecutive attempts of one message (``max_attempts - 1`` values)."""
        return tuple(
            min(self.base_delay * self.factor**retry, self.max_delay) for retry in range(self.max_attempts - 1)
        )

    def deliver(
        self,
        body: bytes | str | dict[str, Any] | None,
        *,
        message_id: str | None = None,
        headers: dict[str, str] | None = None,
        deadline_seconds: float = 30.0,
    ) -> Delivery:
        """Deliver one message, redelivering until a 2xx or ``max_attempts``.

        Notifications: ``message_id`` (else an ``x-oci-ns-messageid`` in ``headers``, else a new
        one) is sent with every attempt. Events: no message id.
        """
        sent = {name: value for name, value in (headers or {}).items() if name.lower() != MESSAGE_ID_HEADER}
        if self.kind == "notifications":
            given = {name.lower(): value for name, value in (headers or {}).items()}.get(MESSAGE_ID_HEADER)
            message_id = message_id or given or f"ocid1.onsmessage.{uuid.uuid4().hex}"
            sent[MESSAGE_ID_HEADER] = message_id
        elif message_id is not None:
            raise ValueError("an Events rule delivers no message id")
        delivery = Delivery(self.kind, message_id)
        for attempt, delay in enumerate((0.0, *self.schedule)):
            if attempt:
                delivery.delays.append(delay)
                self._sleep(delay)
            invocation = self.platform.invoke(body, headers=sent, deadline_seconds=deadline_seconds)
            delivery.attempts.append(invocation)
            if invocation.ok:
                break
        return delivery

"""Retry tokens: a pure function of the trigger's idempotency key and the target.

The same event, alarm message or schedule slot always yields the same
``opc-retry-token`` for a volume — across SDK retries, redeliveries and
containers — so Block Storage returns the original backup instead of making a
second one. ``generation`` moves to a fresh token, still deterministically, when
the API says a token was invalidated (409 InvalidatedRetryToken).
"""

from __future__ import annotations

import hashlib

TOKEN_LENGTH = 64  # the API accepts 1–64 characters


def retry_token(idempotency_key: str, target: str, generation: int = 0) -> str:
    """64 hex characters identifying (key, target, generation)."""
    material = f"{idempotency_key}\n{target}\n{generation}".encode()
    return hashlib.sha256(material).hexdigest()[:TOKEN_LENGTH]

"""The API calls a lifecycle run makes: each bounded by the answer's deadline, lists de-duplicated,
and every mutating call through the run-wide throttle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from backup_handler.errors import ApiError, DeadlineExceeded
from backup_handler.oci.api import Answer, OciApi
from backup_handler.oci.throttling import AdaptiveLimiter

# A call needs at least this long to be worth starting before the deadline.
MIN_CALL_SECONDS = 0.25


class LifecycleCalls:
    """Lists, reads and mutations for one lifecycle run that must answer by ``answer_by`` (monotonic)."""

    def __init__(self, api: OciApi, limiter: AdaptiveLimiter, answer_by: float) -> None:
        self._api = api
        self._limiter = limiter
        self.answer_by = answer_by

    def budget(self) -> float:
        budget = self.answer_by - time.monotonic()
        if budget < MIN_CALL_SECONDS:
            raise DeadlineExceeded("the deadline came before the backup lifecycle was done")
        return budget

    def get(self, op: str, path: dict[str, str]) -> Any:
        return self._api.call(op, path=path, budget_seconds=self.budget()).data

    def pages(self, op: str, query: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        """Each page of a list, one held at a time (the caller keeps what it needs)."""
        return self._api.pages(op, query=query, budget=self.budget)

    def list(self, op: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of every page, each OCID once (a page boundary that shifts can list one twice)."""
        found: dict[str, dict[str, Any]] = {}
        anonymous: list[dict[str, Any]] = []
        for page in self._api.pages(op, query=query, budget=self.budget):
            for item in page:
                item_id = item.get("id")
                if not isinstance(item_id, str):
                    anonymous.append(item)
                else:
                    found.setdefault(item_id, item)
        return [*found.values(), *anonymous]

    def mutate(self, op: str, **kwargs: Any) -> Answer:
        with self._limiter.slot(self.answer_by - MIN_CALL_SECONDS) as slot:
            if not slot:
                raise DeadlineExceeded("the deadline came before the backup lifecycle was done")
            try:
                return self._api.call(op, budget_seconds=self.budget(), **kwargs)
            except ApiError as exc:
                if exc.status == 429:
                    slot.mark_throttled()
                raise

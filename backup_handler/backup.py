"""Running a :class:`BackupRequest`: one backup per target, concurrently, within the deadline.

Targets are independent: one target's failure never stops the others. Every
backup carries a retry token derived from the trigger's idempotency key, so a
redelivered trigger gets the original backups back instead of new ones. When
the deadline comes first, the run answers with what it has: targets not started
are ``notAttempted``; targets whose call is still under way are ``pending`` —
their token makes a redelivery safe and returns the backup they create.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from backup_handler.blockstorage import BlockStorage
from backup_handler.errors import ApiError, BackupError, InternalError
from backup_handler.idempotency import retry_token
from backup_handler.request import BackupRequest, Target
from backup_handler.settings import Settings

logger = logging.getLogger(__name__)

# A call needs at least this long to be worth starting before the deadline.
MIN_CALL_SECONDS = 0.25
BACKUP_IN_PROGRESS = "backup in progress"

State = Literal["created", "skipped", "failed", "pending", "notAttempted"]


@dataclass(frozen=True)
class Outcome:
    target: Target
    state: State
    backup: dict[str, Any] | None = None
    error: BackupError | None = None
    reason: str | None = None
    opc_request_id: str | None = None
    token_regenerated: bool = False


@dataclass(frozen=True)
class RunResult:
    request: BackupRequest
    outcomes: tuple[Outcome, ...]
    deadline_hit: bool

    def of(self, state: State) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.state == state]


class BackupRunner:
    """Creates the backups of a request on a bounded pool of threads."""

    def __init__(self, settings: Settings, blockstorage: BlockStorage) -> None:
        self._settings = settings
        self._blockstorage = blockstorage
        self._pool: ThreadPoolExecutor | None = None

    def warm(self) -> None:
        """Start the worker pool now rather than on the first run."""
        self._executor()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._settings.max_concurrency, thread_name_prefix="backup")
        return self._pool

    def run(self, request: BackupRequest, deadline: float) -> RunResult:
        """Back up every target; answer by ``deadline`` (a ``time.monotonic()`` value)."""
        answer_by = deadline - self._settings.deadline_margin_seconds
        if answer_by - time.monotonic() < MIN_CALL_SECONDS:
            late = tuple(Outcome(t, "notAttempted", reason=_LATE_REASONS["notAttempted"]) for t in request.targets)
            for outcome in late:
                _log(request, outcome)
            return RunResult(request, late, deadline_hit=True)
        # Each worker runs in a copy of the caller's context, so fdk tags its log lines with the call id.
        futures: list[Future[Outcome]] = [
            self._executor().submit(contextvars.copy_context().run, self._backup_one, request, target, answer_by)
            for target in request.targets
        ]
        _, not_done = wait(futures, timeout=max(answer_by - time.monotonic(), 0))
        outcomes = []
        for target, future in zip(request.targets, futures, strict=True):
            if future in not_done:
                state: State = "notAttempted" if future.cancel() else "pending"
                late_outcome = Outcome(target, state, reason=_LATE_REASONS[state])
                outcomes.append(late_outcome)
                _log(request, late_outcome)
            else:
                outcomes.append(future.result())
        return RunResult(request, tuple(outcomes), deadline_hit=bool(not_done))

    def _backup_one(self, request: BackupRequest, target: Target, answer_by: float) -> Outcome:
        try:
            outcome = self._create(request, target, answer_by)
        except Exception:  # a defect must not take the other targets down
            logger.exception("backup of %s failed unexpectedly", target.resource_id)
            outcome = Outcome(target, "failed", error=InternalError("the backup failed unexpectedly"))
        _log(request, outcome)
        return outcome

    def _create(self, request: BackupRequest, target: Target, answer_by: float) -> Outcome:
        body = request.api_body(target, self._settings.display_name_template)
        regenerated = False
        for generation in (0, 1):
            budget = answer_by - time.monotonic()
            if budget < MIN_CALL_SECONDS:
                return Outcome(target, "notAttempted", reason=_LATE_REASONS["notAttempted"])
            token = retry_token(request.idempotency_key, target.resource_id, generation)
            try:
                created = self._blockstorage.create_backup(target.kind, body, retry_token=token, budget_seconds=budget)
            except ApiError as exc:
                if exc.status == 409 and exc.code == "InvalidatedRetryToken" and generation == 0:
                    regenerated = True
                    continue
                if exc.status == 409 and exc.code == "Conflict" and not request.single:
                    return Outcome(
                        target,
                        "skipped",
                        reason=BACKUP_IN_PROGRESS,
                        opc_request_id=exc.opc_request_id,
                        token_regenerated=regenerated,
                    )
                return Outcome(
                    target, "failed", error=exc, opc_request_id=exc.opc_request_id, token_regenerated=regenerated
                )
            except BackupError as exc:
                return Outcome(target, "failed", error=exc, token_regenerated=regenerated)
            return Outcome(
                target,
                "created",
                backup=created.backup,
                opc_request_id=created.opc_request_id,
                token_regenerated=regenerated,
            )
        raise AssertionError("unreachable: the second generation always returns")


_LATE_REASONS: dict[State, str] = {
    "notAttempted": "the deadline came before this backup was started",
    "pending": "the call was still under way at the deadline; redeliver to learn its backup id",
}


def _log(request: BackupRequest, outcome: Outcome) -> None:
    line: dict[str, Any] = {
        "event": "backup",
        "trigger": request.trigger,
        "source": request.source_ref,
        "resourceId": outcome.target.resource_id,
        "outcome": outcome.state,
        "backupId": (outcome.backup or {}).get("id"),
        "opcRequestId": outcome.opc_request_id,
    }
    if outcome.error is not None:
        line["code"] = outcome.error.code
    if outcome.reason:
        line["reason"] = outcome.reason
    if outcome.token_regenerated:
        line["retryTokenRegenerated"] = True
    level = logging.WARNING if outcome.state in ("failed", "pending", "notAttempted") else logging.INFO
    logger.log(level, json.dumps(line, separators=(",", ":")))

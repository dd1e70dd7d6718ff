"""Running a :class:`BackupRequest`: one backup per target, concurrently, within the deadline.

Targets are independent: one target's failure never stops the others. Every
backup carries a retry token derived from the trigger's idempotency key, so a
redelivered trigger gets the original backups back instead of new ones.

Every target ends in exactly one :class:`Outcome` state — ``created``,
``skipped``, ``failed``, ``pending`` or ``notAttempted`` — whichever path got
it there: a worker that finds too little time left says ``notAttempted`` itself,
a queued target the deadline reaches first is cancelled (``notAttempted``), and
a call still under way at the deadline is ``pending`` (its token makes a
redelivery safe and returns the backup it creates). What the run answers is
derived from those states alone (:attr:`RunResult.late`), never from how the
work was scheduled.
"""

from __future__ import annotations

import contextvars
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from backup_handler import logs
from backup_handler.errors import ApiError, BackupError, Failure, InternalError
from backup_handler.oci.blockstorage import BlockStorage, Created
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.runs.idempotency import retry_token
from backup_handler.runs.single import Handoff, SingleWorkers
from backup_handler.settings import Settings
from backup_handler.triggers.request import BackupRequest, Target

if TYPE_CHECKING:
    from backup_handler.runs.shaping import Shaper

logger = logging.getLogger(__name__)

# A call needs at least this long to be worth starting before the deadline.
MIN_CALL_SECONDS = 0.25
# Threads for one-target runs (each held by a call still under way past its deadline until it ends); when all
# are busy, a one-target run uses the pool.
SINGLE_THREADS = 4
BACKUP_IN_PROGRESS = "backup in progress"
UNSHAPED = "the body could not be shaped from the target (the cadence, copied tags): made as configured"

State = Literal["created", "skipped", "failed", "pending", "notAttempted"]
LATE_STATES: frozenset[State] = frozenset({"pending", "notAttempted"})


@dataclass(frozen=True)
class Outcome:
    """What became of one target. ``failure`` is plain data: no exception or traceback is kept."""

    target: Target
    state: State
    backup: dict[str, Any] | None = None
    failure: Failure | None = None
    reason: str | None = None
    opc_request_id: str | None = None
    token_regenerated: bool = False
    notes: tuple[str, ...] = ()
    """What shaping the body could not do as configured (the cadence unread, a volume tag dropped)."""


@dataclass(frozen=True)
class RunResult:
    request: BackupRequest
    outcomes: tuple[Outcome, ...]

    def of(self, state: State) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.state == state]

    @property
    def late(self) -> bool:
        """Whether the deadline left any target pending or not attempted."""
        return any(outcome.state in LATE_STATES for outcome in self.outcomes)

    @property
    def retryable_failure(self) -> bool:
        """Whether a failed target could succeed on a redelivery."""
        return any(o.failure is not None and o.failure.retryable for o in self.outcomes if o.state == "failed")


def _late(target: Target, state: State) -> Outcome:
    return Outcome(target, state, reason=_LATE_REASONS[state])


class BackupRunner:
    """Creates the backups of a request on a bounded pool of threads."""

    def __init__(self, settings: Settings, blockstorage: BlockStorage, shaper: Shaper | None = None) -> None:
        self._settings = settings
        self._blockstorage = blockstorage
        self._shaper = shaper
        """Shapes each body from its target (BACKUP_FULL_EVERY, BACKUP_COPY_VOLUME_TAGS); None when neither is set."""
        self._pool: ThreadPoolExecutor | None = None
        # A run of one target needs one thread, not the pool (runs.single).
        self._single = SingleWorkers(min(SINGLE_THREADS, settings.max_concurrency), "backup-single")
        # One for the process: a 429 on any call slows every worker of every run down.
        self.limiter = AdaptiveLimiter(settings.max_concurrency)

    def warm(self) -> None:
        """Start the worker pool, and the thread of a one-target run, now rather than on the first run."""
        self._executor()
        self._single.warm()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._settings.max_concurrency, thread_name_prefix="backup")
        return self._pool

    def run(self, request: BackupRequest, deadline: float) -> RunResult:
        """Back up every target; answer by ``deadline`` (a ``time.monotonic()`` value)."""
        answer_by = deadline - self._settings.deadline_margin_seconds
        if answer_by - time.monotonic() < MIN_CALL_SECONDS:
            late = tuple(_late(target, "notAttempted") for target in request.targets)
            for outcome in late:
                _log(request, outcome)
            return RunResult(request, late)
        self._blockstorage.prepare()  # credentials fail once for the run, not once per target
        if self._shaper is not None and request.compartments:  # a selector's batch: its targets listed at once
            try:
                request = self._shaper.prefetch(request, lambda: answer_by - time.monotonic())
            except Exception as exc:  # never fails the run: each target is then read on its own
                logs.emit_defect(logger, "defect", exc)
        if len(request.targets) == 1:
            alone = self._run_alone(request, request.targets[0], answer_by)
            if alone is not None:
                return RunResult(request, (alone,))
        # Each worker runs in a copy of the caller's context, so fdk tags its log lines with the call id.
        futures: list[Future[Outcome]] = [
            self._executor().submit(contextvars.copy_context().run, self._backup_one, request, target, answer_by)
            for target in request.targets
        ]
        wait(futures, timeout=max(answer_by - time.monotonic(), 0))
        outcomes = []
        for target, future in zip(request.targets, futures, strict=True):
            if future.done():
                outcomes.append(future.result())
                continue
            late_outcome = _late(target, "notAttempted" if future.cancel() else "pending")
            outcomes.append(late_outcome)
            _log(request, late_outcome)
        return RunResult(request, tuple(outcomes))

    def preview(self, request: BackupRequest, answer_by: float) -> dict[str, tuple[dict[str, Any], tuple[str, ...]]]:
        """A dry run's bodies as the run would shape them (reads only), by target; a target not shaped by
        ``answer_by`` is left out (its body is then the unshaped one)."""
        shaper = self._shaper
        if shaper is None or not request.targets:
            return {}
        template = self._settings.display_name_template

        def one(target: Target) -> tuple[dict[str, Any], tuple[str, ...]]:
            shaped = shaper.shape(
                request, target, request.api_body(target, template), lambda: answer_by - time.monotonic()
            )
            return shaped.body, shaped.notes

        futures = {
            target.resource_id: self._executor().submit(contextvars.copy_context().run, one, target)
            for target in request.targets
        }
        wait(futures.values(), timeout=max(answer_by - time.monotonic(), 0))
        return {
            resource_id: future.result()
            for resource_id, future in futures.items()
            if future.done() and not future.cancelled() and future.exception() is None
        }

    def _run_alone(self, request: BackupRequest, target: Target, answer_by: float) -> Outcome | None:
        """One target on a thread of its own, in exactly the states the pool gives it; None when every such
        thread is still busy with a call from an earlier deadline (the pool then takes it)."""
        context = contextvars.copy_context()
        job = self._single.submit(lambda: context.run(self._backup_one, request, target, answer_by))
        if job is None:
            return None
        handoff = job.wait(answer_by - time.monotonic())
        if handoff is Handoff.DONE:
            return job.result()
        outcome = _late(target, "notAttempted" if handoff is Handoff.CANCELLED else "pending")
        _log(request, outcome)
        return outcome

    def _backup_one(self, request: BackupRequest, target: Target, answer_by: float) -> Outcome:
        try:
            outcome = self._create(request, target, answer_by)
        except Exception as exc:  # a defect must not take the other targets down
            logs.emit_defect(logger, "defect", exc, resourceId=target.resource_id)
            outcome = Outcome(target, "failed", failure=InternalError("the backup failed unexpectedly").failure())
        _log(request, outcome)
        return outcome

    def _create(self, request: BackupRequest, target: Target, answer_by: float) -> Outcome:
        body = request.api_body(target, self._settings.display_name_template)
        notes: tuple[str, ...] = ()
        if self._shaper is not None:
            try:
                shaped = self._shaper.shape(request, target, body, lambda: answer_by - time.monotonic())
                body, notes = shaped.body, shaped.notes
            except Exception as exc:  # shaping never fails a backup: the body stays as configured
                logs.emit_defect(logger, "defect", exc, resourceId=target.resource_id)
                notes = (UNSHAPED,)
        outcome = self._create_body(request, target, body, answer_by)
        return replace(outcome, notes=notes) if notes else outcome

    def _create_body(self, request: BackupRequest, target: Target, body: dict[str, Any], answer_by: float) -> Outcome:
        regenerated = False
        for generation in (0, 1):
            budget = answer_by - time.monotonic()
            if budget < MIN_CALL_SECONDS:
                return _late(target, "notAttempted")
            token = retry_token(request.idempotency_key, target.resource_id, generation)
            try:
                created = self._paced_create(target, body, token, answer_by)
                if created is None:
                    return _late(target, "notAttempted")
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
                    target,
                    "failed",
                    failure=exc.failure(),
                    opc_request_id=exc.opc_request_id,
                    token_regenerated=regenerated,
                )
            except BackupError as exc:
                return Outcome(target, "failed", failure=exc.failure(), token_regenerated=regenerated)
            return Outcome(
                target,
                "created",
                backup=created.backup,
                opc_request_id=created.opc_request_id,
                token_regenerated=regenerated,
            )
        raise AssertionError("unreachable: the second generation always returns")

    def _paced_create(self, target: Target, body: dict[str, Any], token: str, answer_by: float) -> Created | None:
        """One create under the run-wide limiter, retried on 429 after the pause it sets.

        None when the deadline comes before the first call; the last 429 when it comes after one.
        """
        throttled: ApiError | None = None
        for attempt in range(self._settings.max_attempts):
            with self.limiter.slot(answer_by - MIN_CALL_SECONDS) as slot:
                budget = answer_by - time.monotonic()
                if not slot or budget < MIN_CALL_SECONDS:
                    break
                try:
                    return self._blockstorage.create_backup(target.kind, body, retry_token=token, budget_seconds=budget)
                except ApiError as exc:
                    if exc.status != 429 or attempt + 1 == self._settings.max_attempts:
                        raise
                    slot.mark_throttled()
                    throttled = exc
        if throttled is not None:
            raise throttled
        return None


_LATE_REASONS: dict[State, str] = {
    "notAttempted": "the deadline came before this backup was started",
    "pending": "the call was still under way at the deadline; redeliver to learn its backup id",
}


def _log(request: BackupRequest, outcome: Outcome) -> None:
    level = logging.WARNING if outcome.state in ("failed", "pending", "notAttempted") else logging.INFO
    logs.emit(
        logger,
        level,
        "backup",
        trigger=request.trigger,
        source=request.source_ref,
        resourceId=outcome.target.resource_id,
        outcome=outcome.state,
        backupId=(outcome.backup or {}).get("id"),
        opcRequestId=outcome.opc_request_id,
        code=outcome.failure.code if outcome.failure else None,
        reason=outcome.reason,
        retryTokenRegenerated=outcome.token_regenerated or None,
        backupType=(outcome.backup or {}).get("type"),
        notes=list(outcome.notes) or None,
    )

"""The function's pipeline: body bytes → request → backups → :class:`Reply`.

:class:`App` owns what lives across invocations — the settings, the Block
Storage client and the worker pool — and builds each lazily, on the first call
that needs it. Tests inject their own settings and Block Storage.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from backup_handler import logs
from backup_handler.answers.response import (
    Reply,
    chain_reply,
    dry_run_reply,
    error_reply,
    lifecycle_reply,
    merge_lifecycle,
    plan_reply,
    result_reply,
)
from backup_handler.errors import BackupError, ConfigurationError, DeadlineExceeded, Failure, InternalError, NoTargets
from backup_handler.oci.api import OciApi
from backup_handler.oci.blockstorage import BlockStorage, OciBlockStorage
from backup_handler.runs.backup import BackupRunner, RunResult
from backup_handler.settings import Settings
from backup_handler.triggers.events import build_deferred
from backup_handler.triggers.payload import decode
from backup_handler.triggers.request import BackupRequest, Shape, build_request, recognise

if TYPE_CHECKING:
    from backup_handler.runs.lifecycle import Lifecycle, Sweep
    from backup_handler.runs.restore_tests import RestoreTests

logger = logging.getLogger(__name__)
PACKAGE_LOGGER = "backup_handler"
# fdk sets the root logger to DEBUG; these would log every request (and the SDK, its internals).
QUIET_LOGGERS = ("urllib3", "oci", "circuitbreaker")
# The longest an invocation can run on OCI Functions (detached); later deadlines are clamped to it.
MAX_INVOCATION_SECONDS = 3600.0
# The function's own OCID, set by the platform (fdk reads it too: ctx.FnID()); batches invoke it.
FUNCTION_ID_VARIABLE = "FN_FN_ID"
# Restore tests are not started with less time than this left before the answer.
MIN_RESTORE_TEST_SECONDS = 1.0
# A batch with more of its chain to hand on stops its own backups this long before its deadline
# (at most a quarter of the time it has), so the hand-on always gets its turn.
HANDOFF_RESERVE_SECONDS = 5.0


def configure_logging(level: str) -> None:
    logging.getLogger(PACKAGE_LOGGER).setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class App:
    def __init__(
        self,
        settings: Settings | None = None,
        blockstorage: BlockStorage | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = environ if environ is not None else os.environ
        self._settings = settings
        self._config_error: ConfigurationError | None = None
        self._blockstorage = blockstorage
        self._runner: BackupRunner | None = None
        self._api: OciApi | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            if self._config_error is not None:
                # Without its old traceback, which would otherwise grow with every invocation.
                raise self._config_error.with_traceback(None)
            try:
                self._settings = Settings.from_env(self._environ)
            except ConfigurationError as exc:
                self._config_error = exc
                raise
            configure_logging(self._settings.log_level)
        return self._settings

    def runner(self) -> BackupRunner:
        if self._runner is None:
            settings = self.settings()
            if self._blockstorage is None:
                self._blockstorage = OciBlockStorage(settings, api=self.api(), retry_throttling=False)
            shaper = None
            if settings.shapes_bodies:  # off every other path's imports
                from backup_handler.runs.shaping import Shaper

                shaper = Shaper(settings, self.api())
            self._runner = BackupRunner(settings, self._blockstorage, shaper)
        return self._runner

    def warm(self) -> None:
        """Build everything the first backup needs (settings, signer, client, pool, every trigger's model) now."""
        build_deferred()
        self.runner().warm()
        if self._blockstorage is not None:
            self._blockstorage.prepare()

    def handle(self, body: bytes, headers: Mapping[str, str], deadline: float) -> Reply:
        """Answer one invocation; ``deadline`` is a ``time.monotonic()`` value. Never raises."""
        started = time.monotonic()
        reply = self._answer(body, headers, deadline)
        self._report(reply, headers, started, deadline)
        return reply

    def _report(self, reply: Reply, headers: Mapping[str, str], started: float, deadline: float) -> None:
        """Hand the computed answer to the reporter (metrics, failure summary), if configured; never changes it."""
        settings = self._settings
        if settings is None or not settings.reporting or reply.dry_run:
            return  # a dry run writes nothing: no metrics, no notification
        try:
            from backup_handler.reporting.report import report

            report(settings, self.api(), reply, started=started, deadline=deadline, call_id=headers.get("fn-call-id"))
        except Exception as exc:
            logs.emit_defect(logger, "report", exc)

    def _answer(self, body: bytes, headers: Mapping[str, str], deadline: float) -> Reply:
        trigger: Shape | None = None
        try:
            value = self._decode(body)
            trigger = recognise(value)
            settings = self.settings()
            if trigger == "audit":
                return self._audit(value, deadline)
            request = build_request(value, headers=headers, settings=settings, now=datetime.now(UTC), trigger=trigger)
            if request.lifecycle_backup is not None:
                return self._after_backup(request, request.lifecycle_backup, deadline)
            if request.restore_test_volume is not None:
                return self._after_restore(request, request.restore_test_volume, deadline)
            if request.nothing_to_do is not None:
                logs.emit(logger, logging.INFO, "invocation", outcome="nothing to do", reason=request.nothing_to_do)
                return result_reply(RunResult(request, ()))
            if request.batch is not None or (request.selector is None and len(request.targets) <= settings.batch_size):
                return self._local(request, deadline)
            return self._large(request, deadline)
        except BackupError as exc:
            level = logging.ERROR if exc.retryable else logging.INFO
            logs.emit(
                logger, level, "invocation", outcome="failed", trigger=trigger, code=exc.code, message=exc.message
            )
            return error_reply(exc, trigger)
        except Exception as exc:
            logs.emit_defect(logger, "defect", exc, trigger=trigger)
            return error_reply(InternalError("the function failed unexpectedly; see its log"), trigger)

    def api(self) -> OciApi:
        if self._api is None:
            self._api = OciApi(self.settings())
        return self._api

    def lifecycle(self) -> Lifecycle:
        from backup_handler.runs.lifecycle import Lifecycle

        return Lifecycle(self.settings(), self.api(), self.runner().limiter)

    def _after_backup(self, request: BackupRequest, backup_id: str, deadline: float) -> Reply:
        """A backup-end event: retention and copies for that backup's volume; never a new backup."""
        from backup_handler.runs.lifecycle import LifecycleResult

        answer_by = deadline - self.settings().deadline_margin_seconds
        outcome = LifecycleResult()
        lifecycle = self.lifecycle()
        done = _within(
            answer_by, lambda: lifecycle.after_backup(backup_id, answer_by, dry_run=request.dry_run, result=outcome)
        )
        return lifecycle_reply(request, outcome, late=not done)

    def _local(
        self, request: BackupRequest, deadline: float, *, resolved: bool = False, swept: tuple[str, ...] = ()
    ) -> Reply:
        """Back the request's targets up here: a group's members only through the group; then, for a batch,
        hand the rest of its chain on; then the schedule's lifecycle catch-up (and the sweep of its orphans in
        ``swept``, the compartments its selector reached) and its restore tests."""
        settings = self.settings()
        answer_by = deadline - settings.deadline_margin_seconds
        groups = any(target.kind == "volumeGroup" for target in request.targets)
        if groups:  # off the path of a trigger that names no group
            from backup_handler.runs.membership import lookup, needs_lookup, split

            if not resolved and needs_lookup(request):
                request = split(request, lookup(request, self.api(), lambda: answer_by - time.monotonic()))
        if request.dry_run:  # a dry run's batch hands nothing on
            return self._dry_run(request, deadline, swept)
        run_until = deadline
        if request.handoff is not None:
            run_until = deadline - min(HANDOFF_RESERVE_SECONDS, max(deadline - time.monotonic(), 0) / 4)
        result = self.runner().run(request, run_until)
        if groups:
            from backup_handler.runs.membership import settle

            result = settle(result, self.api(), answer_by)
        handed_on: dict[str, object] | None = None
        refused: Failure | None = None
        if request.handoff is not None:
            handed_on, refused = self._hand_on(request, answer_by)
        reply = self._with_restore_tests(
            request, result, self._with_lifecycle(request, result, deadline, swept), deadline
        )
        if request.handoff is None:
            return reply
        return chain_reply(reply, handed_on, refused, request.handoff_targets)

    def _hand_on(self, request: BackupRequest, answer_by: float) -> tuple[dict[str, object] | None, Failure | None]:
        """Start the next link of this batch's chain; what was handed on, or why not (logged at ERROR)."""
        from backup_handler.runs.batching import Planner

        planner = Planner(self.settings(), self.api(), self._environ.get(FUNCTION_ID_VARIABLE))
        try:
            return planner.hand_on(request, answer_by), None
        except BackupError as exc:
            failure = exc.failure()
            logs.emit(
                logger,
                logging.ERROR,
                "chain",
                chain=request.chain,
                batch=(request.batch or 0) + 1,
                targets=request.handoff_targets,
                outcome="not handed on",
                code=failure.code,
                message=failure.message,
            )
            return None, failure

    def _with_lifecycle(
        self, request: BackupRequest, result: RunResult, deadline: float, swept: tuple[str, ...] = ()
    ) -> Reply:
        """A schedule tick's summary, with the catch-up of retention and copies for the volumes it backed up, and
        the sweep of its orphans (in ``swept``, the compartments its selector reached, and those it backed up in)."""
        reply = result_reply(result)
        settings = self.settings()
        if request.trigger != "schedule" or not settings.lifecycle or result.late:
            return reply
        from backup_handler.runs.lifecycle import LifecycleResult  # off the manual path's imports

        answer_by = deadline - settings.deadline_margin_seconds
        created = [outcome.backup for outcome in result.of("created") if outcome.backup]
        outcome = LifecycleResult()
        lifecycle = self.lifecycle()
        sweep = _sweep(request, swept)
        done = _within(
            answer_by,
            lambda: lifecycle.catch_up(created, answer_by, dry_run=request.dry_run, result=outcome, sweep=sweep),
        )
        return merge_lifecycle(reply, outcome, late=not done)

    def _audit(self, value: object, deadline: float) -> Reply:
        """A coverage audit: read-only, in bulk, answered with what it found (off every backup path's imports)."""
        from backup_handler.answers.audit import audit_reply
        from backup_handler.runs.audit import Auditor, AuditResult
        from backup_handler.triggers.audit import build_audit

        settings = self.settings()
        if not isinstance(value, dict):  # recognise() names only objects "audit"
            raise InternalError("an audit body must be a JSON object")
        request = build_audit(value, settings)
        answer_by = deadline - settings.deadline_margin_seconds
        auditor = Auditor(settings, self.api())
        result = AuditResult()
        if not _within(answer_by, lambda: auditor.run(request, answer_by, result)):
            logs.emit(logger, logging.WARNING, "audit", outcome="deadline", listCalls=result.list_calls)
            raise DeadlineExceeded(
                "the deadline came before the audit was done: give the function more time "
                "(its timeout; run large audits detached) or narrow the selector",
                listCalls=result.list_calls,
            )
        return audit_reply(request, result)

    def restore_tests(self) -> RestoreTests:
        from backup_handler.runs.restore_tests import RestoreTests

        settings = self.settings()
        if settings.deployment_id is None:  # restore tests delete volumes: only ever this deployment's own
            raise ConfigurationError(
                "restore tests need this deployment's identity: set BACKUP_DEPLOYMENT_ID, or run where the "
                "platform sets FN_APP_NAME and FN_FN_NAME"
            )
        return RestoreTests(settings, self.api(), self.runner().limiter, settings.deployment_id)

    def _after_restore(self, request: BackupRequest, volume_id: str, deadline: float) -> Reply:
        """A restore-test volume's creation event: verify, record and delete it if it is this deployment's test."""
        from backup_handler.answers.restore_tests import restore_test_reply
        from backup_handler.runs.restore_tests import RestoreTestResult

        answer_by = deadline - self.settings().deadline_margin_seconds
        outcome = RestoreTestResult()
        tests = self.restore_tests()
        event_time = _label_time(request.time_label)
        done = _within(
            answer_by,
            lambda: tests.after_create(volume_id, event_time, answer_by, dry_run=request.dry_run, result=outcome),
        )
        return restore_test_reply(request, outcome, late=not done)

    def _with_restore_tests(self, request: BackupRequest, result: RunResult, reply: Reply, deadline: float) -> Reply:
        """A schedule tick's summary with its restore tests (after its backups and their lifecycle).

        Only the invocation that received the tick starts tests, never a batch it handed on: batches run
        at once, and each would count the same test volumes before starting its own.
        """
        settings = self.settings()
        if request.trigger != "schedule" or request.batch is not None or not settings.restore_tests or result.late:
            return reply
        from backup_handler.answers.restore_tests import with_restore_tests
        from backup_handler.runs.restore_tests import RestoreTestResult

        answer_by = deadline - settings.deadline_margin_seconds
        outcome = RestoreTestResult()
        if answer_by - time.monotonic() < MIN_RESTORE_TEST_SECONDS:  # the lifecycle took the time
            return with_restore_tests(reply, outcome, late=True)
        created = [each.backup for each in result.of("created") if each.backup]
        tests = self.restore_tests()
        done = _within(
            answer_by,
            lambda: tests.catch_up(
                created, request.idempotency_key, answer_by, dry_run=request.dry_run, result=outcome
            ),
        )
        return with_restore_tests(reply, outcome, late=not done)

    def _dry_run(self, request: BackupRequest, deadline: float, swept: tuple[str, ...] = ()) -> Reply:
        """What a run would create; for a schedule tick, also what its catch-up would delete, mark and copy."""
        settings = self.settings()
        shaped = self.runner().preview(request, deadline - settings.deadline_margin_seconds)
        if request.trigger != "schedule" or not settings.lifecycle or not request.targets:
            return dry_run_reply(request, settings.display_name_template, shaped=shaped)
        from backup_handler.runs.lifecycle import LifecycleResult

        answer_by = deadline - settings.deadline_margin_seconds
        outcome = LifecycleResult()
        lifecycle = self.lifecycle()
        targets = [(target.kind, target.resource_id) for target in request.targets]
        sweep = _sweep(request, swept)
        done = _within(answer_by, lambda: lifecycle.preview(targets, answer_by, result=outcome, sweep=sweep))
        extra = outcome.document()
        if outcome.errors:
            extra["lifecycleErrors"] = outcome.errors
        if not done:
            extra["message"] = "the deadline came before the preview of retention and copies was done"
        return dry_run_reply(request, settings.display_name_template, extra, shaped)

    def _large(self, request: BackupRequest, deadline: float) -> Reply:
        """A selector, or more targets than one batch: resolve page by page, then run here or hand on batches.

        Listing and handing on run on their own thread, so a slow page or invoke call cannot hold the
        answer past the deadline: at the deadline the run answers with what it has handed on so far
        (504: a redelivery finishes the job) and starts no further batch.
        """
        from backup_handler.answers.selection import explained, with_selection
        from backup_handler.runs.batching import Plan, Planner, ordered_items
        from backup_handler.runs.membership import lookup
        from backup_handler.runs.selection import Resolution

        settings = self.settings()
        answer_by = deadline - settings.deadline_margin_seconds
        api = self.api()
        sandbox = settings.restore_test_compartment_id
        exclude: frozenset[str] = frozenset({sandbox}) if sandbox else frozenset()

        def remaining() -> float:
            return answer_by - time.monotonic()

        planner = Planner(settings, api, self._environ.get(FUNCTION_ID_VARIABLE))
        plan = Plan(request)
        resolutions: list[Resolution] = []

        def work() -> None:
            membership = lookup(request, api, remaining)  # the request's own groups, before any volume
            resolution = (
                Resolution(request.selector, api, remaining, membership, exclude=exclude, explain=request.dry_run)
                if request.selector
                else None
            )
            resolutions.extend([resolution] if resolution else [])
            if resolution is not None:
                plan.reached = lambda: resolution.compartments
            planner.plan(request, ordered_items(request, resolution, membership), answer_by, plan)

        started = time.monotonic()
        if not _within(answer_by, work):
            plan.cancelled.set()
            logs.emit(
                logger,
                logging.WARNING,
                "selection",
                outcome="deadline",
                chains=len(plan.chains),
                pending=plan.in_flight,
            )
            return with_selection(plan_reply(plan, late=True), resolutions[0] if resolutions else None)
        resolution = resolutions[0] if resolutions else None
        logs.emit(
            logger,
            logging.INFO,
            "selection",
            listCalls=resolution.list_calls if resolution else 0,
            seconds=round(time.monotonic() - started, 3),
            local=len(plan.local),
            chains=len(plan.chains),
            batches=len(plan.batches),
            batched=plan.batched,
        )
        swept = resolution.compartments if resolution else ()
        if plan.handed_on:
            reply = self._sweep_after_batches(request, plan_reply(plan), swept, deadline)
            return with_selection(reply, resolution)
        if not plan.local:
            raise NoTargets(
                "the selector matches no AVAILABLE volume, boot volume or volume group", **explained(resolution)
            )
        return with_selection(self._local(plan.local_request(), deadline, resolved=True, swept=swept), resolution)

    def _sweep_after_batches(
        self, request: BackupRequest, reply: Reply, swept: tuple[str, ...], deadline: float
    ) -> Reply:
        """A tick handed on in batches (each catches up on its own volumes): the tick's orphan sweep, here."""
        settings = self.settings()
        if request.trigger != "schedule" or request.batch is not None or not settings.retention or not swept:
            return reply
        from backup_handler.runs.lifecycle import LifecycleResult, Sweep

        sweep = Sweep(
            compartments=swept,
            selected=frozenset(target.resource_id for target in request.targets),
            selector=request.selector,
            selector_compartments=frozenset(swept),
            rotation=request.idempotency_key,
        )
        answer_by = deadline - settings.deadline_margin_seconds
        outcome = LifecycleResult()
        lifecycle = self.lifecycle()
        done = _within(
            answer_by, lambda: lifecycle.catch_up([], answer_by, dry_run=request.dry_run, result=outcome, sweep=sweep)
        )
        return merge_lifecycle(reply, outcome, late=not done)

    def _decode(self, body: bytes) -> object:
        """The body's JSON within the configured limits (the defaults while the configuration is invalid:
        its error is reported once the trigger is known, so the answer reaches whoever sent it)."""
        try:
            settings = self.settings()
        except ConfigurationError:
            settings = _DEFAULTS
        return decode(body, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)


_DEFAULTS = Settings()


def _within(answer_by: float, work: Callable[[], object]) -> bool:
    """Run ``work`` on its own thread; whether it finished by ``answer_by`` (a slow call cannot hold the answer).

    An exception ``work`` raised in time is raised here; work still running is left to finish on its own.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the request thread below
            failure.append(exc)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="lifecycle", daemon=True)
    thread.start()
    thread.join(max(answer_by - time.monotonic(), 0))
    if failure:
        raise failure[0]
    return not thread.is_alive()


def _sweep(request: BackupRequest, swept: tuple[str, ...]) -> Sweep | None:
    """The orphan sweep of a schedule tick run here, with every target resolved (None: not this invocation's, as
    for a batch another invocation handed on, whose parent sweeps)."""
    if request.trigger != "schedule" or request.batch is not None:
        return None
    from backup_handler.runs.lifecycle import Sweep

    return Sweep(
        compartments=swept,
        selected=frozenset(target.resource_id for target in request.targets),
        rotation=request.idempotency_key,
    )


def _label_time(label: str) -> datetime | None:
    """A request's time label (``20261127T091524Z``) as a time; None when it is not one (a manual key)."""
    try:
        return datetime.strptime(label, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def monotonic_deadline(rfc3339: str | None, default_seconds: float = 30.0) -> float:
    """An ``Fn-Deadline`` timestamp as a ``time.monotonic()`` value, at most an hour away."""
    now = time.monotonic()
    if not rfc3339:
        return now + default_seconds
    try:
        moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        remaining = moment.timestamp() - time.time()
    except (ValueError, OverflowError):
        logs.emit(logger, logging.WARNING, "deadline", unreadable=rfc3339[:64], assumedSeconds=default_seconds)
        return now + default_seconds
    return now + min(remaining, MAX_INVOCATION_SECONDS)

"""Results operators can alarm on: what an invocation's answer amounts to, reported once it is computed.

:func:`report` is handed each invocation's :class:`~backup_handler.answers.response.Reply` after it is
computed. It counts what the answer says (:class:`Tally`) and, as configured, posts custom
metrics (:mod:`backup_handler.reporting.metrics`) and publishes a failure summary
(:mod:`backup_handler.reporting.notify`), both at once, on threads of their own.

Neither may fail or hold up the answer: together they get at most
``BACKUP_REPORT_BUDGET_SECONDS``, never past half the deadline margin before ``Fn-Deadline``
(the other half is for sending the answer), and are skipped when less than
:data:`MIN_REPORT_SECONDS` is left. A call still running at the end of the budget is left to
finish on its own, bounded by the same budget; every error is logged as one JSON line and the
answer is never changed. This module and the two it drives are imported only when
``BACKUP_METRICS_NAMESPACE`` or ``BACKUP_NOTIFY_TOPIC_ID`` is set.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

from backup_handler import logs
from backup_handler.answers.response import Reply
from backup_handler.errors import BackupError
from backup_handler.oci.api import OciApi
from backup_handler.reporting.tally import Tally
from backup_handler.settings import Settings

logger = logging.getLogger(__name__)

# Below this many seconds a call to Monitoring or Notifications is not worth starting.
MIN_REPORT_SECONDS = 0.2
# The function's name as the platform gives it (the dimension and title say which function reported).
FUNCTION_NAME_VARIABLE = "FN_FN_NAME"
DEFAULT_FUNCTION_NAME = "backup-handler"


def function_name(environ: Mapping[str, str] | None = None) -> str:
    name = (environ if environ is not None else os.environ).get(FUNCTION_NAME_VARIABLE, "")
    return name[:255] or DEFAULT_FUNCTION_NAME


def window(settings: Settings, deadline: float, now: float) -> float | None:
    """Seconds reporting may take from ``now``; None when too few are left before the deadline."""
    latest = deadline - settings.deadline_margin_seconds / 2
    seconds = min(settings.report_budget_seconds, latest - now)
    return seconds if seconds >= MIN_REPORT_SECONDS else None


def report(
    settings: Settings,
    api: OciApi,
    reply: Reply,
    *,
    started: float,
    deadline: float,
    call_id: str | None = None,
) -> None:
    """Post the metrics and publish the summary the configuration asks for, within the budget. Never raises."""
    now = time.monotonic()
    tasks: dict[str, Callable[[float], None]] = {}
    name = function_name()
    if reply.trigger == "audit":  # an audit reports its own figures (backup_handler.reporting.audit)
        from backup_handler.reporting import audit

        tasks = audit.tasks(settings, api, reply, name, call_id)
    else:
        tally = Tally.of(reply, now - started)
        if settings.metrics_namespace:
            from backup_handler.reporting import metrics

            tasks["metrics"] = lambda budget: metrics.post(settings, api, tally, name, budget)
        if settings.notify_topic_id and tally.needs_attention:
            from backup_handler.reporting import notify

            tasks["notification"] = lambda budget: notify.publish(settings, api, tally, name, call_id, budget)
    if not tasks:
        return
    budget = window(settings, deadline, now)
    if budget is None:
        logs.emit(
            logger, logging.WARNING, "report", outcome="skipped", reason="too little time left", parts=list(tasks)
        )
        return
    ends = now + budget
    threads = [_start(part, task, budget) for part, task in tasks.items()]
    for thread in threads:
        thread.join(max(ends - time.monotonic(), 0))
    late = [thread.name for thread in threads if thread.is_alive()]
    if late:
        logs.emit(logger, logging.WARNING, "report", outcome="timeout", parts=late, budgetSeconds=round(budget, 3))


def _start(part: str, task: Callable[[float], None], budget: float) -> threading.Thread:
    def run() -> None:
        try:
            task(budget)
        except BackupError as exc:
            logs.emit(
                logger,
                logging.WARNING,
                "report",
                part=part,
                outcome="failed",
                code=exc.code,
                message=exc.message,
                status=exc.failure().status,
            )
        except Exception as exc:
            logs.emit_defect(logger, "report", exc, part=part)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name=part, daemon=True)
    thread.start()
    return thread

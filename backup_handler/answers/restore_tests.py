"""The ``restoreTests`` section of an answer: what restore tests started, verified, failed and cleaned up.

A schedule tick's summary carries it beside its backups, and its status stays about the backups:
restore tests the deadline cut short, or calls that failed, are caught up by the next tick. The
``createvolume.end`` event of a restore-test volume is answered with the section alone: 502 when a
redelivery could finish the job (a retryable failure), 504 when the deadline came first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backup_handler.answers.response import Reply

if TYPE_CHECKING:
    from backup_handler.runs.restore_tests import RestoreTestResult
    from backup_handler.triggers.request import BackupRequest

SECTION = "restoreTests"


def restore_test_reply(request: BackupRequest, outcome: RestoreTestResult, *, late: bool = False) -> Reply:
    """The answer to a restore-test volume's event: it is never backed up, only verified and deleted."""
    document: dict[str, Any] = {
        "trigger": request.trigger,
        "backups": [],
        "skipped": [skip.to_json() for skip in request.skipped],
        "errors": [],
        "pending": [],
        "notAttempted": [],
        SECTION: outcome.document(),
    }
    if request.dry_run:
        document["dryRun"] = True
    if late:
        document["message"] = "the deadline came before the restore test was settled; redeliver to finish"
        return Reply(504, document, trigger=request.trigger, redeliver=504)
    if outcome.errors and outcome.retryable:
        return Reply(502, document, trigger=request.trigger, redeliver=502)
    return Reply(200, document, trigger=request.trigger)


def with_restore_tests(reply: Reply, outcome: RestoreTestResult, *, late: bool = False) -> Reply:
    """A schedule tick's summary with its restore tests; the status is the backups' own."""
    document = {**reply.document, SECTION: outcome.document()}
    if late:
        note = "the deadline came before the restore tests were done; the next tick catches up"
        document["message"] = f"{document['message']}; {note}" if document.get("message") else note
    return Reply(reply.status, document, reply.headers, reply.trigger, reply.redeliver)

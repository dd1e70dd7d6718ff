"""What the answer says: a precise status and a JSON document.

- a single-target manual request → the VolumeBackup exactly as the API returned it;
- every other trigger → a run summary in which every target the trigger named
  appears in exactly one of ``backups``, ``skipped``, ``errors``, ``pending`` and
  ``notAttempted``;
- a failure → ``{"code", "message", "status", ...}``.

``status`` is the precise HTTP status; ``redeliver`` is the container status that
tells a source trigger a redelivery could succeed (502, or 504 for the deadline),
or None when sending the trigger again cannot help. :mod:`backup_handler.answers.delivery`
decides which of the two the Fn platform is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backup_handler.errors import BackupError, DeadlineExceeded, Failure, InternalError
from backup_handler.runs.backup import Outcome, RunResult

if TYPE_CHECKING:
    from backup_handler.runs.batching import Plan
    from backup_handler.runs.lifecycle import LifecycleResult
    from backup_handler.triggers.request import BackupRequest

RETRY_TOKEN_REGENERATED_HEADER = "Backup-Retry-Token-Regenerated"


@dataclass(frozen=True)
class Reply:
    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    trigger: str | None = None
    """The trigger the body was recognised as; None when it is no trigger at all."""
    redeliver: int | None = None
    """502 or 504 when a redelivery of the same trigger could succeed; None otherwise."""

    def body(self) -> bytes:
        """The document as UTF-8 JSON (RFC 8259: no NaN or Infinity); always encodable."""
        try:
            return json.dumps(self.document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except UnicodeEncodeError:  # a lone surrogate from upstream: escape it instead
            return json.dumps(self.document, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()
        except (ValueError, TypeError):  # nothing should get here: blockstorage checks what the API sent
            return json.dumps(InternalError("the answer could not be encoded as JSON").to_json()).encode()


def _redeliver(failure: Failure) -> int | None:
    if not failure.retryable:
        return None
    return 504 if failure.status == 504 else 502


def failure_reply(failure: Failure, trigger: str | None, headers: dict[str, str] | None = None) -> Reply:
    return Reply(failure.status, failure.to_json(), headers or {}, trigger, _redeliver(failure))


def error_reply(error: BackupError, trigger: str | None) -> Reply:
    return failure_reply(error.failure(), trigger)


def result_reply(result: RunResult) -> Reply:
    request = result.request
    if request.single and request.nothing_to_do is None:
        return _single(result.outcomes[0], request.trigger)
    document: dict[str, Any] = {
        "trigger": request.trigger,
        "backups": [outcome.backup for outcome in result.of("created")],
        "skipped": [skip.to_json() for skip in request.skipped]
        + [_reason(outcome) for outcome in result.of("skipped")],
        "errors": [_error(outcome) for outcome in result.of("failed")],
        "pending": [_reason(outcome) for outcome in result.of("pending")],
        "notAttempted": [_reason(outcome) for outcome in result.of("notAttempted")],
    }
    if request.nothing_to_do:
        document["message"] = request.nothing_to_do
    regenerated = [o.target.resource_id for o in result.outcomes if o.token_regenerated]
    if regenerated:
        document["retryTokenRegenerated"] = regenerated
    if result.late:
        return Reply(504, document, trigger=request.trigger, redeliver=504)
    if document["errors"]:
        return Reply(502, document, trigger=request.trigger, redeliver=502 if result.retryable_failure else None)
    return Reply(200, document, trigger=request.trigger)


def _single(outcome: Outcome, trigger: str) -> Reply:
    headers = {RETRY_TOKEN_REGENERATED_HEADER: "true"} if outcome.token_regenerated else {}
    if outcome.state == "created" and outcome.backup is not None:
        return Reply(200, outcome.backup, headers, trigger)
    failure = (
        outcome.failure
        or DeadlineExceeded(
            f"the deadline came before the backup was confirmed ({outcome.reason})",
            resourceId=outcome.target.resource_id,
        ).failure()
    )
    return failure_reply(failure, trigger, headers)


def _reason(outcome: Outcome) -> dict[str, Any]:
    return {"resourceId": outcome.target.resource_id, "reason": outcome.reason}


def _error(outcome: Outcome) -> dict[str, Any]:
    error = outcome.failure.to_json() if outcome.failure is not None else {}
    return {"resourceId": outcome.target.resource_id, **error}


def plan_reply(plan: Plan, *, late: bool = False) -> Reply:
    """A large trigger handed on in batches: its plan. 502 when something was not handed on but could be;
    504 when the deadline came while listing or handing on (a redelivery finishes the job)."""
    document = plan.document()
    if late:
        document["message"] = "the deadline came while the selection was listed or handed on; redeliver to finish"
        return Reply(504, document, trigger=plan.request.trigger, redeliver=504)
    failed = bool(plan.failures) or bool(plan.not_attempted) or bool(plan.not_handed_on)
    return Reply(
        502 if failed else 200, document, trigger=plan.request.trigger, redeliver=502 if plan.retryable else None
    )


def dry_run_reply(request: BackupRequest, template: str, extra: dict[str, Any] | None = None) -> Reply:
    """What a run would do, calling no mutating API: the create bodies it would send, and what it would skip."""
    document: dict[str, Any] = {
        "trigger": request.trigger,
        "dryRun": True,
        "wouldCreate": [{"resourceId": t.resource_id, "body": request.api_body(t, template)} for t in request.targets],
        "skipped": [skip.to_json() for skip in request.skipped],
        **(extra or {}),
    }
    return Reply(200, document, trigger=request.trigger)


def lifecycle_reply(request: BackupRequest, outcome: LifecycleResult, *, late: bool = False) -> Reply:
    """A backup-end event: what retention deleted and what was copied; 502 when a redelivery could do the
    rest, 504 when the deadline came first (what was done so far is listed)."""
    document: dict[str, Any] = {
        "trigger": request.trigger,
        "backups": [],
        "skipped": [],
        "errors": outcome.errors,
        "pending": [],
        "notAttempted": [],
        **outcome.document(),
    }
    if request.dry_run:
        document["dryRun"] = True
    if late:
        document["message"] = "the deadline came before retention and copies were done; redeliver to finish"
        return Reply(504, document, trigger=request.trigger, redeliver=504)
    if outcome.errors:
        return Reply(502, document, trigger=request.trigger, redeliver=502 if outcome.retryable else None)
    return Reply(200, document, trigger=request.trigger)


def merge_lifecycle(reply: Reply, outcome: LifecycleResult, *, late: bool = False) -> Reply:
    """A run summary with its lifecycle catch-up: ``deleted`` and ``copied``, and any lifecycle errors."""
    document = {**reply.document, **outcome.document(), "errors": [*reply.document["errors"], *outcome.errors]}
    if late:
        document["message"] = "the deadline came before retention and copies were done; the next tick catches up"
    if not outcome.errors:
        return Reply(reply.status, document, reply.headers, reply.trigger, reply.redeliver)
    redeliver = reply.redeliver or (502 if outcome.retryable else None)
    return Reply(max(reply.status, 502), document, reply.headers, reply.trigger, redeliver)

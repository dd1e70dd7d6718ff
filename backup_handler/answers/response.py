"""What the answer says: a precise status and a JSON document.

- a single-target manual request → the VolumeBackup exactly as the API returned it;
- every other trigger → a run summary in which every target the trigger named
  appears in exactly one of ``backups``, ``skipped``, ``errors``, ``pending`` and
  ``notAttempted``; what retention and copies did after the backups is beside them,
  in ``deleted``, ``copied`` and, for what they could not do, ``lifecycleErrors``
  (never in ``errors``, which is about backups only);
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
# A single backup's answer is the VolumeBackup itself: what shaping its body could not do rides in a header.
NOTES_HEADER = "Backup-Notes"
MAX_NOTES_HEADER_CHARS = 2048


@dataclass(frozen=True)
class Reply:
    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    trigger: str | None = None
    """The trigger the body was recognised as; None when it is no trigger at all."""
    redeliver: int | None = None
    """502 or 504 when a redelivery of the same trigger could succeed; None otherwise."""
    dry_run: bool = False
    """A dry run's answer: nothing was written, and nothing is reported (no metrics, no notification)."""

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
    notes = [{"resourceId": o.target.resource_id, "notes": list(o.notes)} for o in result.outcomes if o.notes]
    if notes:
        document["notes"] = notes
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
    if outcome.notes:
        headers[NOTES_HEADER] = json.dumps(list(outcome.notes), ensure_ascii=True)[:MAX_NOTES_HEADER_CHARS]
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
    """A large trigger handed on in chains of batches: its plan. 502 when something was not handed on but
    could be; 504 when the deadline came while listing or handing on (an InvokeFunction then under way is
    in ``pending``; a redelivery finishes the job)."""
    document = plan.document()
    dry_run = plan.request.dry_run
    if dry_run:
        document["dryRun"] = True
    if late:
        document["message"] = "the deadline came while the selection was listed or handed on; redeliver to finish"
        return Reply(504, document, trigger=plan.request.trigger, redeliver=504, dry_run=dry_run)
    failed = bool(plan.failures) or bool(plan.not_attempted) or bool(plan.not_handed_on)
    return Reply(
        502 if failed else 200,
        document,
        trigger=plan.request.trigger,
        redeliver=502 if plan.retryable else None,
        dry_run=dry_run,
    )


def chain_reply(reply: Reply, handed_on: dict[str, Any] | None, failure: Failure | None, targets: int) -> Reply:
    """A batch's summary with the next link of its chain: ``handedOn``, or an error naming the chain's rest.

    Once the rest of the chain is handed on, a redelivery of this batch would start it a second time
    (its backups are not duplicated, but the chain would run twice): the batch then asks for none, and
    its own failures reach operators through its log, metrics and notification. When the rest could not be
    handed on, the batch answers 502 if a redelivery could hand it on.
    """
    document = dict(reply.document)
    if handed_on is not None:
        document["handedOn"] = handed_on
        return Reply(reply.status, document, reply.headers, reply.trigger, None, reply.dry_run)
    if failure is None:
        return reply
    document["notHandedOn"] = targets
    document["errors"] = [*document.get("errors", []), {"resourceId": None, "targets": targets, **failure.to_json()}]
    redeliver = reply.redeliver or (502 if failure.retryable else None)
    return Reply(max(reply.status, 502), document, reply.headers, reply.trigger, redeliver, reply.dry_run)


def dry_run_reply(
    request: BackupRequest,
    template: str,
    extra: dict[str, Any] | None = None,
    shaped: dict[str, tuple[dict[str, Any], tuple[str, ...]]] | None = None,
) -> Reply:
    """What a run would do, calling no mutating API: the create bodies it would send (as ``shaped`` says, for a
    target its body was shaped for: the FULL cadence, copied volume tags), and what it would skip."""
    shaped = shaped or {}
    would = []
    for target in request.targets:
        body, notes = shaped.get(target.resource_id) or (request.api_body(target, template), ())
        would.append({"resourceId": target.resource_id, "body": body, **({"notes": list(notes)} if notes else {})})
    document: dict[str, Any] = {
        "trigger": request.trigger,
        "dryRun": True,
        "wouldCreate": would,
        "skipped": [skip.to_json() for skip in request.skipped],
        **(extra or {}),
    }
    return Reply(200, document, trigger=request.trigger, dry_run=True)


def lifecycle_reply(request: BackupRequest, outcome: LifecycleResult, *, late: bool = False) -> Reply:
    """A backup-end event: what retention deleted and what was copied; 502 when a redelivery could do the
    rest, 504 when the deadline came first (what was done so far is listed)."""
    document: dict[str, Any] = {
        "trigger": request.trigger,
        "backups": [],
        "skipped": [],
        "errors": [],
        "pending": [],
        "notAttempted": [],
        **outcome.document(),
        "lifecycleErrors": list(outcome.errors),
    }
    dry_run = request.dry_run
    if dry_run:
        document["dryRun"] = True
    if late:
        document["message"] = "the deadline came before retention and copies were done; redeliver to finish"
        return Reply(504, document, trigger=request.trigger, redeliver=504, dry_run=dry_run)
    if outcome.errors:
        redeliver = 502 if outcome.retryable else None
        return Reply(502, document, trigger=request.trigger, redeliver=redeliver, dry_run=dry_run)
    return Reply(200, document, trigger=request.trigger, dry_run=dry_run)


def merge_lifecycle(reply: Reply, outcome: LifecycleResult, *, late: bool = False) -> Reply:
    """A run summary with its lifecycle catch-up: ``deleted`` and ``copied``, and what retention and copies
    could not do in ``lifecycleErrors``, apart from the backups' own ``errors``. A retryable lifecycle
    failure still asks a source trigger for a redelivery."""
    document = {**reply.document, **outcome.document(), "lifecycleErrors": list(outcome.errors)}
    document["errors"] = reply.document["errors"]
    if late:
        document["message"] = "the deadline came before retention and copies were done; the next tick catches up"
    if not outcome.errors:
        return Reply(reply.status, document, reply.headers, reply.trigger, reply.redeliver, reply.dry_run)
    redeliver = reply.redeliver or (502 if outcome.retryable else None)
    return Reply(max(reply.status, 502), document, reply.headers, reply.trigger, redeliver, reply.dry_run)

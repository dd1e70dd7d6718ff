"""What the caller receives: a status and a JSON document.

- a single-target manual request → the VolumeBackup exactly as the API returned it;
- every other trigger → a run summary ``{"backups", "skipped", "errors"}`` (plus
  ``pending``/``notAttempted`` when the deadline cut the run short);
- a failure → ``{"code", "message", "status", ...}``.

``status`` is the precise HTTP status; :mod:`backup_handler.function` maps it to
what the Fn platform lets through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from backup_handler.backup import Outcome, RunResult
from backup_handler.errors import BackupError, DeadlineExceeded

RETRY_TOKEN_REGENERATED_HEADER = "Backup-Retry-Token-Regenerated"


@dataclass(frozen=True)
class Reply:
    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> str:
        return json.dumps(self.document, separators=(",", ":"), ensure_ascii=False)


def error_reply(error: BackupError) -> Reply:
    return Reply(error.status, error.to_json())


def result_reply(result: RunResult) -> Reply:
    request = result.request
    if request.single and request.nothing_to_do is None:
        return _single(result.outcomes[0])
    created = result.of("created")
    failed = result.of("failed")
    document: dict[str, Any] = {
        "trigger": request.trigger,
        "backups": [outcome.backup for outcome in created],
        "skipped": [skip.to_json() for skip in request.skipped]
        + [_reason(outcome) for outcome in result.of("skipped")],
        "errors": [_error(outcome) for outcome in failed],
    }
    if request.nothing_to_do:
        document["message"] = request.nothing_to_do
    regenerated = [o.target.resource_id for o in result.outcomes if o.token_regenerated]
    if regenerated:
        document["retryTokenRegenerated"] = regenerated
    if result.deadline_hit:
        document["pending"] = [_reason(outcome) for outcome in result.of("pending")]
        document["notAttempted"] = [_reason(outcome) for outcome in result.of("notAttempted")]
        return Reply(504, document)
    if failed:
        return Reply(502, document)
    return Reply(200, document)


def _single(outcome: Outcome) -> Reply:
    headers = {RETRY_TOKEN_REGENERATED_HEADER: "true"} if outcome.token_regenerated else {}
    if outcome.state == "created" and outcome.backup is not None:
        return Reply(200, outcome.backup, headers)
    if outcome.error is not None:
        return Reply(outcome.error.status, outcome.error.to_json(), headers)
    late = DeadlineExceeded(
        f"the deadline came before the backup was confirmed ({outcome.reason})",
        resourceId=outcome.target.resource_id,
    )
    return Reply(late.status, late.to_json(), headers)


def _reason(outcome: Outcome) -> dict[str, Any]:
    return {"resourceId": outcome.target.resource_id, "reason": outcome.reason}


def _error(outcome: Outcome) -> dict[str, Any]:
    error = outcome.error.to_json() if outcome.error is not None else {}
    return {"resourceId": outcome.target.resource_id, **error}

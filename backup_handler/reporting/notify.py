"""A short summary of a run that needs attention, published to a Notifications topic (PublishMessage).

Published when ``BACKUP_NOTIFY_TOPIC_ID`` is set and a run left targets without a confirmed
backup (``errors``, ``pending``, ``notAttempted``), or a source trigger (event, alarm, schedule,
batch) was answered with an error document — which otherwise only the log would show. The
message is ``{"title", "body"}``: the title names the function, trigger and counts; the body is
JSON with the counts, the call id, and the first few failures (each message cut short), shrunk
until it fits :data:`MAX_BODY_CHARS`, so e-mail, Slack or PagerDuty subscriptions get a
readable message whatever the run held.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from backup_handler import logs
from backup_handler.errors import ConfigurationError
from backup_handler.oci.api import OciApi
from backup_handler.settings import Settings

if TYPE_CHECKING:
    from backup_handler.reporting.tally import Tally

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 4096
MAX_MESSAGE_CHARS = 300
FIRST_ITEMS = 10


def _cut(value: Any, limit: int = MAX_MESSAGE_CHARS) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value


def _error(item: dict[str, Any]) -> dict[str, Any]:
    kept = ("resourceId", "code", "message", "status", "opcRequestId", "batch")
    return {key: _cut(item[key]) for key in kept if key in item}


def message(tally: Tally, function: str, call_id: str | None) -> dict[str, str]:
    """The PublishMessage body (MessageDetails): a title and a JSON body of at most MAX_BODY_CHARS."""
    if tally.error is not None:
        title = f"{function}: {tally.trigger} refused with {_cut(tally.error.get('code'), 64)}"
    else:
        title = f"{function}: {tally.trigger} run left {tally.failed} target(s) without a backup"
    summary: dict[str, Any] = {
        "function": function,
        "trigger": tally.trigger,
        "status": tally.status,
        "created": tally.created,
        "failed": tally.failed,
        "skipped": tally.skipped,
        "seconds": tally.seconds,
    }
    if call_id:
        summary["callId"] = _cut(call_id, 64)
    if tally.error is not None:
        summary["error"] = _error(tally.error)
    limit = FIRST_ITEMS
    while True:
        body = dict(summary)
        for key, items in (
            ("errors", [_error(item) for item in tally.errors]),
            ("pending", list(tally.pending)),
            ("notAttempted", list(tally.not_attempted)),
        ):
            if items:
                body[key] = items[:limit]
                if len(items) > limit:
                    body[f"more{key[0].upper()}{key[1:]}"] = len(items) - limit
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if len(text) <= MAX_BODY_CHARS or limit == 0:
            break
        limit //= 2
    return {"title": title[:MAX_TITLE_CHARS], "body": text[:MAX_BODY_CHARS]}


def publish(
    settings: Settings, api: OciApi, tally: Tally, function: str, call_id: str | None, budget_seconds: float
) -> None:
    """Publish the summary; raises the API's errors (the caller logs them)."""
    topic = settings.notify_topic_id
    if not topic:  # reporting only calls this when a topic is configured
        raise ConfigurationError("BACKUP_NOTIFY_TOPIC_ID is not configured")
    answer = api.call(
        "PublishMessage",
        path={"topicId": topic},
        body=message(tally, function, call_id),
        budget_seconds=budget_seconds,
    )
    data = answer.data if isinstance(answer.data, dict) else {}
    logs.emit(
        logger,
        logging.INFO,
        "report",
        part="notification",
        outcome="published",
        messageId=_cut(data.get("messageId"), 256),
        opcRequestId=answer.opc_request_id,
    )

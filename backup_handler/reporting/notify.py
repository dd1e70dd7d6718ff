"""A short summary of a run that needs attention, published to a Notifications topic (PublishMessage).

Published when ``BACKUP_NOTIFY_TOPIC_ID`` is set and a run left targets without a confirmed
backup (``errors``, ``pending``, ``notAttempted``), retention or copies failed
(``lifecycleErrors``: a deletion, a mark or a copy), a deletion cap held deletions back
(``retentionCapped``), or a source trigger (event, alarm, schedule, batch) was answered with an
error document — which otherwise only the log would show. The message is ``{"title", "body"}``:
the title names the function and trigger and words the kinds of failure apart ("left N
target(s) without a backup", "retention/copy failed for N backup(s)", "retention held back N
deletion(s) at BACKUP_RETENTION_MAX_DELETES_PER_VOLUME"); the body is JSON with the counts
(after a lifecycle, retention's own under ``retention``), the call id, and the first few
failures, shrunk until it fits :data:`MAX_BODY_CHARS`, so e-mail, Slack or PagerDuty
subscriptions get a readable message whatever the run held.

Operators read it and act on it, so no text an invoker chose reaches it as written: every string
loses its control and format characters (CR, LF, NEL, bidirectional overrides, zero-width ones)
and runs of blanks and is cut short (:func:`plain`); a resource id that is not an OCID is shown
quoted and cut; the message of a refused request (whose text may quote the request's own field
names and values) is replaced by a fixed sentence for its code — its details are in the log,
under the call id.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
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
MAX_QUOTED_CHARS = 64
FIRST_ITEMS = 10
# Unicode categories that are not visible text: control, format (bidi overrides, zero-width), surrogate,
# private use, unassigned, line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_OCID = re.compile(r"^ocid1\.[a-z0-9]+\.[a-z0-9]+\.[a-z0-9-]*(?:\.[a-z0-9-]*)?\.[a-z0-9]+$")
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,63}$")
# The refusals whose messages can quote what an invoker sent: replaced by these sentences.
_REQUEST_ERRORS = {
    "InvalidJson": "the body is not JSON the function accepts",
    "PayloadTooLarge": "the body is larger than the function accepts",
    "UnrecognizedEvent": "the body is not a trigger the function recognises",
    "InvalidRequest": "the body is not a valid request",
    "NoTargets": "the trigger names no volume to back up",
}


def plain(value: Any, limit: int = MAX_MESSAGE_CHARS) -> Any:
    """A string as one line of visible text at most ``limit`` characters long; anything else unchanged."""
    if not isinstance(value, str):
        return value
    visible = "".join(" " if unicodedata.category(c) in _INVISIBLE or c.isspace() else c for c in value)
    text = " ".join(visible.split())
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def quoted(value: Any, limit: int = MAX_QUOTED_CHARS) -> Any:
    """Text an invoker chose, shown as such: in quotes, made plain and cut to ``limit``."""
    if not isinstance(value, str):
        return value
    return json.dumps(plain(value, limit), ensure_ascii=False)


def _resource(value: Any) -> Any:
    if isinstance(value, str) and len(value) <= 255 and _OCID.fullmatch(value):
        return value
    return quoted(value)


def _code(value: Any) -> str:
    return value if isinstance(value, str) and _CODE.fullmatch(value) else "Unknown"


def _error(item: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    if "resourceId" in item:
        shown["resourceId"] = _resource(item["resourceId"])
    if "code" in item:
        shown["code"] = _code(item["code"])
    if "message" in item:
        sentence = _REQUEST_ERRORS.get(shown.get("code", ""))
        shown["message"] = sentence if sentence is not None else plain(item["message"])
    for key in ("status", "batch", "chain", "targets"):
        if isinstance(item.get(key), int) and not isinstance(item.get(key), bool):
            shown[key] = item[key]
    if "opcRequestId" in item:
        shown["opcRequestId"] = quoted(item["opcRequestId"]) if item["opcRequestId"] is not None else None
    return shown


def title(tally: Tally, function: str) -> str:
    """The message's title: what failed, backups and lifecycle worded apart."""
    name = plain(function, 64)
    trigger = plain(tally.trigger, 32)
    if tally.error is not None:
        return f"{name}: {trigger} refused with {_code(tally.error.get('code'))}"
    parts = []
    if tally.failed:
        parts.append(f"left {tally.failed} target(s) without a backup")
    if tally.lifecycle_failed:
        parts.append(f"retention/copy failed for {tally.lifecycle_failed} backup(s)")
    capped = _retention_title(tally)
    if capped:
        parts.append(capped)
    return f"{name}: {trigger} run " + ("; ".join(parts) or "needs attention")


def _retention_title(tally: Tally) -> str | None:
    if tally.retention is None:
        return None
    from backup_handler.reporting import retention

    return retention.title(tally.retention)


def message(tally: Tally, function: str, call_id: str | None) -> dict[str, str]:
    """The PublishMessage body (MessageDetails): a title and a JSON body of at most MAX_BODY_CHARS."""
    summary: dict[str, Any] = {
        "function": plain(function, 255),
        "trigger": plain(tally.trigger, 32),
        "status": tally.status,
        "created": tally.created,
        "failed": tally.failed,
        "skipped": tally.skipped,
        "lifecycleFailed": tally.lifecycle_failed,
        "seconds": tally.seconds,
    }
    if call_id:
        summary["callId"] = plain(call_id, 64)
    if tally.error is not None:
        summary["error"] = _error(tally.error)
    if tally.retention is not None:
        from backup_handler.reporting import retention

        part = retention.summary(tally.retention)
        if "capReason" in part:
            part["capReason"] = plain(part["capReason"])
        summary["retention"] = part
    limit = FIRST_ITEMS
    while True:
        body = dict(summary)
        for key, items in (
            ("errors", [_error(item) for item in tally.errors]),
            ("pending", [_resource(item) for item in tally.pending]),
            ("notAttempted", [_resource(item) for item in tally.not_attempted]),
            ("lifecycleErrors", [_error(item) for item in tally.lifecycle_errors]),
        ):
            if items:
                body[key] = items[:limit]
                if len(items) > limit:
                    body[f"more{key[0].upper()}{key[1:]}"] = len(items) - limit
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if len(text) <= MAX_BODY_CHARS or limit == 0:
            break
        limit //= 2
    return {"title": title(tally, function)[:MAX_TITLE_CHARS], "body": text[:MAX_BODY_CHARS]}


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
        messageId=plain(data.get("messageId"), 256),
        opcRequestId=answer.opc_request_id,
    )

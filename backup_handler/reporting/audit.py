"""What an audit reports besides its answer: metrics per rule, the failure alert and the daily digest.

Metrics (``BACKUP_METRICS_NAMESPACE``), one datapoint each per audit, dimensions ``trigger``
(``audit``) and ``function``:

- ``audit_checked``, ``audit_compliant``, ``audit_violations`` (resources breaking any rule);
- one per rule configuration turned on: ``volumes_out_of_rpo``, ``volumes_without_copy``,
  ``volumes_unlocked``, ``volumes_wrong_key`` (resources of every kind breaking it);
- ``audit_oldest_backup_hours`` — the age of the oldest newest-backup among the selected
  resources (left out when none has a backup);
- ``backup_storage_gbs`` — the ``uniqueSizeInGBs`` of their AVAILABLE backups, in total;
- ``audit_incomplete`` — 1 when the audit could not finish (then only this one is posted), else 0.

An audit never posts ``backups_created``: an alarm on that metric's absence keeps meaning
"no backup run reported".

Notifications: an audit that found violations, or could not finish, publishes an alert to
``BACKUP_NOTIFY_TOPIC_ID`` (the counts per rule in the title). With ``BACKUP_AUDIT_DIGEST=true``
every audit also publishes its summary, compliant or not, to ``BACKUP_AUDIT_DIGEST_TOPIC_ID``
(default: the notify topic; when that is where the alert went, the alert is the digest).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from backup_handler import logs
from backup_handler.answers.response import Reply
from backup_handler.oci.api import OciApi
from backup_handler.reporting.metrics import MAX_DIMENSION_CHARS
from backup_handler.reporting.notify import MAX_BODY_CHARS, MAX_TITLE_CHARS
from backup_handler.settings import Settings

logger = logging.getLogger(__name__)

CHECKED = "audit_checked"
COMPLIANT = "audit_compliant"
VIOLATIONS = "audit_violations"
OLDEST = "audit_oldest_backup_hours"
STORAGE = "backup_storage_gbs"
INCOMPLETE = "audit_incomplete"
RULE_METRICS = {
    "rpo": "volumes_out_of_rpo",
    "copy": "volumes_without_copy",
    "lock": "volumes_unlocked",
    "key": "volumes_wrong_key",
    "restore_test": "volumes_without_restore_test",
}
FIRST_VIOLATIONS = 20
MAX_DETAIL_CHARS = 300


def finished(reply: Reply) -> bool:
    """Whether the reply is a finished audit's answer (else an error document: the audit did not finish)."""
    return reply.status == 200 and isinstance(reply.document.get("checked"), int)


def _counts(document: dict[str, Any]) -> dict[str, int]:
    counts = document.get("counts")
    return {str(k): v for k, v in counts.items() if isinstance(v, int)} if isinstance(counts, dict) else {}


def resources_in_violation(document: dict[str, Any]) -> int:
    checked, compliant = document.get("checked"), document.get("compliant")
    return checked - compliant if isinstance(checked, int) and isinstance(compliant, int) else 0


def metric_values(reply: Reply) -> list[tuple[str, float, str]]:
    """(name, value, unit) of each metric an audit's reply amounts to."""
    if not finished(reply):
        return [(INCOMPLETE, 1.0, "count")]
    document = reply.document
    values: list[tuple[str, float, str]] = [
        (CHECKED, float(document["checked"]), "count"),
        (COMPLIANT, float(document.get("compliant") or 0), "count"),
        (VIOLATIONS, float(resources_in_violation(document)), "count"),
        (INCOMPLETE, 0.0, "count"),
    ]
    for rule, count in _counts(document).items():
        if rule in RULE_METRICS:
            values.append((RULE_METRICS[rule], float(count), "count"))
    oldest = document.get("oldestNewestBackupHours")
    if isinstance(oldest, (int, float)):
        values.append((OLDEST, float(oldest), "hours"))
    storage = document.get("storage")
    total = storage.get("totalGBs") if isinstance(storage, dict) else None
    if isinstance(total, (int, float)):
        values.append((STORAGE, float(total), "GB"))
    return values


def metric_data(settings: Settings, reply: Reply, function: str, at: datetime) -> dict[str, Any]:
    """The PostMetricData body for one audit."""
    timestamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    dimensions = {"trigger": "audit", "function": function[:MAX_DIMENSION_CHARS]}
    return {
        "metricData": [
            {
                "namespace": settings.metrics_namespace,
                "compartmentId": settings.metrics_compartment_id,
                "name": name,
                "dimensions": dimensions,
                "metadata": {"unit": unit},
                "datapoints": [{"timestamp": timestamp, "value": value}],
            }
            for name, value, unit in metric_values(reply)
        ]
    }


def _summary_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{rule} {count}" for rule, count in counts.items())


def message(reply: Reply, function: str, call_id: str | None, *, digest: bool) -> dict[str, str]:
    """The PublishMessage body: the counts in the title, the first violations in a JSON body that fits."""
    document = reply.document
    if not finished(reply):
        code = str(document.get("code", "error"))[:64]
        title = f"{function}: audit could not finish ({code})"
        summary: dict[str, Any] = {
            "function": function,
            "trigger": "audit",
            "error": {k: document[k] for k in ("code", "message", "status") if k in document},
        }
    else:
        counts = _counts(document)
        broken = resources_in_violation(document)
        checked = document["checked"]
        found = f"{broken} of {checked} unprotected" if broken else f"all {checked} protected"
        title = f"{function}: audit {'digest' if digest else 'alert'}: {found} ({_summary_counts(counts)})"
        storage = document.get("storage")
        summary = {
            "function": function,
            "trigger": "audit",
            "checked": checked,
            "compliant": document.get("compliant"),
            "counts": counts,
            "withoutBackup": document.get("withoutBackup"),
            "oldestNewestBackupHours": document.get("oldestNewestBackupHours"),
            "totalGBs": storage.get("totalGBs") if isinstance(storage, dict) else None,
            "rules": document.get("rules"),
        }
    if call_id:
        summary["callId"] = call_id[:64]
    violations = document.get("violations")
    violations = violations if isinstance(violations, list) else []
    listed = [
        {key: str(item.get(key, ""))[:MAX_DETAIL_CHARS] for key in ("resourceId", "rule", "detail")}
        for item in violations
        if isinstance(item, dict)
    ]
    limit = FIRST_VIOLATIONS
    while True:
        body = dict(summary)
        if listed:
            body["violations"] = listed[:limit]
            unlisted = document.get("moreViolations")
            more = (unlisted if isinstance(unlisted, int) else 0) + max(len(listed) - limit, 0)
            if more:
                body["moreViolations"] = more
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if len(text) <= MAX_BODY_CHARS or limit == 0:
            break
        limit //= 2
    return {"title": title[:MAX_TITLE_CHARS], "body": text[:MAX_BODY_CHARS]}


def _publish(api: OciApi, topic: str, body: dict[str, str], part: str, budget: float) -> None:
    answer = api.call("PublishMessage", path={"topicId": topic}, body=body, budget_seconds=budget)
    data = answer.data if isinstance(answer.data, dict) else {}
    message_id = data.get("messageId")
    logs.emit(
        logger,
        logging.INFO,
        "report",
        part=part,
        outcome="published",
        messageId=message_id[:256] if isinstance(message_id, str) else None,
        opcRequestId=answer.opc_request_id,
    )


def _post(settings: Settings, api: OciApi, reply: Reply, function: str, budget: float) -> None:
    body = metric_data(settings, reply, function, datetime.now(UTC))
    answer = api.call("PostMetricData", body=body, budget_seconds=budget)
    data = answer.data if isinstance(answer.data, dict) else {}
    failed = data.get("failedMetricsCount")
    outcome = "refused" if isinstance(failed, int) and failed > 0 else "posted"
    logs.emit(
        logger,
        logging.WARNING if outcome == "refused" else logging.INFO,
        "report",
        part="audit-metrics",
        outcome=outcome,
        failedMetricsCount=failed if outcome == "refused" else None,
        opcRequestId=answer.opc_request_id,
    )


def tasks(
    settings: Settings, api: OciApi, reply: Reply, function: str, call_id: str | None
) -> dict[str, Callable[[float], None]]:
    """What to report for one audit, as configured: metrics, the alert, the digest (each a budgeted call)."""
    found: dict[str, Callable[[float], None]] = {}
    if settings.metrics_namespace and settings.metrics_compartment_id:
        found["metrics"] = lambda budget: _post(settings, api, reply, function, budget)
    alarming = not finished(reply) or resources_in_violation(reply.document) > 0
    alert_topic = settings.notify_topic_id if alarming else None
    if alert_topic:
        alert = message(reply, function, call_id, digest=False)
        found["notification"] = lambda budget: _publish(api, alert_topic, alert, "notification", budget)
    digest_topic = (settings.audit_digest_topic_id or settings.notify_topic_id) if settings.audit_digest else None
    if digest_topic and digest_topic != alert_topic:
        digest = message(reply, function, call_id, digest=True)
        found["digest"] = lambda budget: _publish(api, digest_topic, digest, "digest", budget)
    return found

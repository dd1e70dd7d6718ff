"""The audit's answer: one JSON document of what the audit found.

``{"trigger": "audit", "checked", "compliant", "violations": [{"resourceId", "rule", "detail"}],
"counts": {rule: n}, "excluded", "storage": {"totalGBs", "perVolume": [{"resourceId", "gbs", "backups"}]},
"oldestNewestBackupHours", ...}``: at most :data:`~backup_handler.runs.audit.MAX_LISTED`
violations and storage entries are listed (``moreViolations`` / ``moreVolumes`` count the
rest); ``counts`` has every rule configuration turned on, zeros included, so a compliant
audit says which rules it checked. Violations are findings, not failures: a finished
audit answers 200 whatever it found; one that could not finish answers an error document.
"""

from __future__ import annotations

from typing import Any

from backup_handler.answers.response import Reply
from backup_handler.runs.audit import AuditResult
from backup_handler.triggers.audit import AuditRequest


def audit_reply(request: AuditRequest, result: AuditResult) -> Reply:
    storage: dict[str, Any] = {"totalGBs": result.total_gbs, "perVolume": result.per_resource}
    with_storage = len(result.per_resource)
    document: dict[str, Any] = {
        "trigger": "audit",
        "checked": result.checked,
        "compliant": result.compliant,
        "violations": result.violations,
        "counts": result.counts,
        "withoutBackup": result.without_backup,
        "excluded": result.excluded,
        "storage": storage,
        "oldestNewestBackupHours": result.oldest_newest_hours,
        "rules": result.rules,
        "selector": request.selector.model_dump(mode="json", by_alias=True),
        "selectorFrom": "configuration" if request.from_configuration else "body",
        "listCalls": result.list_calls,
        "seconds": result.seconds,
    }
    if result.violation_count > len(result.violations):
        document["moreViolations"] = result.violation_count - len(result.violations)
    if with_storage and result.checked > with_storage:
        storage["moreVolumes"] = result.checked - with_storage
    return Reply(200, document, trigger="audit")

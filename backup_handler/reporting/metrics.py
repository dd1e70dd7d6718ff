"""Custom metrics after each invocation: Monitoring's PostMetricData on the telemetry-ingestion endpoint.

Five metrics in ``BACKUP_METRICS_NAMESPACE`` and ``BACKUP_METRICS_COMPARTMENT_ID``, each with
one datapoint per invocation and the dimensions ``trigger`` (``manual``, ``event``, ``alarm``,
``schedule``, ``batch``, or ``unrecognised`` for a body that is no trigger) and ``function``
(the function's name):

- ``backups_created`` — backups the invocation made (or got back for a redelivery);
- ``backups_failed`` — targets without a confirmed backup (``errors``, ``pending``,
  ``notAttempted``), or 1 when the answer is an error document; retention and copies never count here;
- ``backups_skipped`` — targets skipped (a backup in progress, not a volume, ...);
- ``lifecycle_failed`` — backups retention or copies failed for (``lifecycleErrors``);
- ``run_duration_seconds`` — from the body's arrival to the computed answer.

After a lifecycle (a schedule tick's catch-up, a backup-end event) the answer's retention and copy counts
are posted too, as configured: ``retention_deleted``, ``retention_held`` (and per cap), ``retention_marked``,
``retention_orphans_deleted``, ``backups_copied`` (:mod:`backup_handler.reporting.retention`).

A dry run posts nothing: it writes nothing, metrics included.

An alarm on ``backups_failed[1h].sum() > 0`` in the namespace, or on the absence of
``backups_created`` for a schedule, is what an operator pages on. Names and the namespace
follow Monitoring's rules (letters, digits, underscores; no ``oci_`` / ``oracle_`` prefix).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backup_handler import logs
from backup_handler.errors import ConfigurationError
from backup_handler.oci.api import OciApi
from backup_handler.settings import Settings

if TYPE_CHECKING:
    from backup_handler.reporting.tally import Tally

logger = logging.getLogger(__name__)

CREATED = "backups_created"
FAILED = "backups_failed"
SKIPPED = "backups_skipped"
LIFECYCLE_FAILED = "lifecycle_failed"
DURATION = "run_duration_seconds"
# A dimension value is 1 to 512 characters.
MAX_DIMENSION_CHARS = 512


def metric_data(settings: Settings, tally: Tally, function: str, at: datetime) -> dict[str, Any]:
    """The PostMetricData body (PostMetricDataDetails) for one invocation's tally."""
    namespace, compartment = settings.metrics_namespace, settings.metrics_compartment_id
    if not namespace or not compartment:  # reporting only calls this when both are configured
        raise ConfigurationError("BACKUP_METRICS_NAMESPACE and BACKUP_METRICS_COMPARTMENT_ID are both needed")
    timestamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    dimensions = {"trigger": tally.trigger[:MAX_DIMENSION_CHARS], "function": function[:MAX_DIMENSION_CHARS]}
    values: list[tuple[str, float, str]] = [
        (CREATED, tally.created, "count"),
        (FAILED, tally.failed, "count"),
        (SKIPPED, tally.skipped, "count"),
        (LIFECYCLE_FAILED, tally.lifecycle_failed, "count"),
        (DURATION, tally.seconds, "seconds"),
    ]
    series = [(name, [float(value)], unit) for name, value, unit in values]
    if tally.restore_tests is not None:
        from backup_handler.reporting import restore_tests

        series.extend(restore_tests.values(tally.restore_tests))
    if tally.retention is not None:
        from backup_handler.reporting import retention

        series.extend(retention.values(tally.retention, settings))
    return {
        "metricData": [
            {
                "namespace": namespace,
                "compartmentId": compartment,
                "name": name,
                "dimensions": dimensions,
                "metadata": {"unit": unit},
                "datapoints": [{"timestamp": timestamp, "value": value} for value in points],
            }
            for name, points, unit in series
        ]
    }


def post(settings: Settings, api: OciApi, tally: Tally, function: str, budget_seconds: float) -> None:
    """Post one invocation's metrics; raises the API's errors (the caller logs them)."""
    body = metric_data(settings, tally, function, datetime.now(UTC))
    answer = api.call("PostMetricData", body=body, budget_seconds=budget_seconds)
    data = answer.data if isinstance(answer.data, dict) else {}
    failed = data.get("failedMetricsCount")
    if isinstance(failed, int) and failed > 0:
        first = data.get("failedMetrics")
        reason = first[0].get("message") if isinstance(first, list) and first and isinstance(first[0], dict) else None
        logs.emit(
            logger,
            logging.WARNING,
            "report",
            part="metrics",
            outcome="refused",
            failedMetricsCount=failed,
            reason=reason,
            opcRequestId=answer.opc_request_id,
        )
        return
    logs.emit(
        logger,
        logging.INFO,
        "report",
        part="metrics",
        outcome="posted",
        trigger=tally.trigger,
        opcRequestId=answer.opc_request_id,
    )

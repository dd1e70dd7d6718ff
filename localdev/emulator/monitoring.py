"""Monitoring's PostMetricData, as the telemetry-ingestion endpoint serves it: ``POST /20180401/metrics``.

The body is PostMetricDataDetails, ``{"metricData": [MetricDataDetails...]}``, each item
``{"namespace", "compartmentId", "name", "dimensions", "metadata"?, "datapoints": [{"timestamp",
"value", "count"?}]}``. Like the service:

- a body that is not that shape (no ``metricData`` list, 1 to 50 items, items that are not
  objects) is 400 ``InvalidParameter``;
- an item that breaks the rules is not stored and is listed in ``failedMetrics`` of a 200 answer,
  with ``failedMetricsCount``: a namespace starting with a letter, of letters, digits and
  underscores, not ``oci_`` / ``oracle_``; a name starting with a letter, of letters, digits,
  ``.``, ``_``, ``-`` and ``$``; a compartment OCID; 1 to 20 dimensions, non-empty keys (printable
  ASCII, no spaces, at most 256) and values (at most 512); datapoints with an RFC 3339 timestamp no
  more than two hours old or ten minutes ahead and a finite number as value.

Accepted items are kept in order (:attr:`MetricStore.items`) for a test to read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from localdev.emulator.api import ErrorResponse, Request, Response, Service, json_object


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def metrics(self) -> MetricStore: ...


API = "/20180401"
MAX_ITEMS = 50
MAX_DIMENSIONS = 20
_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._\-$]*")
_DIMENSION_KEY = re.compile(r"[\x21-\x7e]{1,256}")
_COMPARTMENT = re.compile(r"ocid1\.(compartment|tenancy)\.[a-z0-9.]+")
PAST = timedelta(hours=2)
FUTURE = timedelta(minutes=10)


@dataclass
class MetricStore:
    """Every metric item accepted, in the order posted."""

    items: list[dict[str, Any]] = field(default_factory=list)


def _problem(item: Any) -> str | None:
    """Why an item would be refused; None when it is valid."""
    if not isinstance(item, dict):
        return "item is not an object"
    namespace, name = item.get("namespace"), item.get("name")
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        return "namespace is not valid"
    if namespace.lower().startswith(("oci_", "oracle_")):
        return "namespace uses a reserved prefix"
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 255:
        return "name is not valid"
    if not isinstance(item.get("compartmentId"), str) or not _COMPARTMENT.fullmatch(item["compartmentId"]):
        return "compartmentId is not valid"
    dimensions = item.get("dimensions")
    if not isinstance(dimensions, dict) or not 1 <= len(dimensions) <= MAX_DIMENSIONS:
        return f"dimensions must hold 1 to {MAX_DIMENSIONS} pairs"
    for key, value in dimensions.items():
        if not _DIMENSION_KEY.fullmatch(key) or not isinstance(value, str) or not 1 <= len(value) <= 512:
            return f"dimension {key!r} is not valid"
    datapoints = item.get("datapoints")
    if not isinstance(datapoints, list) or not datapoints:
        return "datapoints must be a non-empty list"
    now = datetime.now(UTC)
    for point in datapoints:
        if not isinstance(point, dict):
            return "a datapoint is not an object"
        value = point.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "a datapoint value is not a number"
        try:
            moment = datetime.fromisoformat(str(point.get("timestamp")).replace("Z", "+00:00"))
        except ValueError:
            return "a datapoint timestamp is not RFC 3339"
        if moment.tzinfo is None or not now - PAST <= moment <= now + FUTURE:
            return "a datapoint timestamp is out of range"
    return None


def post_metric_data(service: Service[Stores], request: Request) -> Response:
    document = json_object(request.body)
    items = document.get("metricData")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise ErrorResponse(400, "InvalidParameter", f"metricData must hold 1 to {MAX_ITEMS} items")
    failed = []
    for item in items:
        why = _problem(item)
        if why is None:
            service.state.metrics.items.append(item)
        else:
            failed.append({"metricData": item, "message": why})
    return Response(200, {"failedMetricsCount": len(failed), "failedMetrics": failed})

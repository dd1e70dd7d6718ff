"""Restore-test metrics, from an answer's ``restoreTests`` section (see :mod:`backup_handler.runs.restore_tests`).

Posted with the invocation's other metrics, with the same dimensions, whenever the answer has the section:

- ``restore_tests_failed`` — restore tests that failed (FAULTY, a size that does not match the backup,
  not AVAILABLE within ``BACKUP_RESTORE_TEST_TTL``) plus restore-test work that could not be carried out
  (an API error); 0 when none did, so an alarm on ``restore_tests_failed[1d].sum() > 0`` is meaningful;
- ``restore_test_seconds`` — the longest restore among the tests the invocation verified (none: no
  datapoint): from the test volume's creation to its ``createvolume.end`` event, or to the sweep that
  first saw it AVAILABLE (an upper bound). Each test's own time is in the answer and on its backup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FAILED = "restore_tests_failed"
SECONDS = "restore_test_seconds"


def values(section: Mapping[str, Any]) -> list[tuple[str, list[float], str]]:
    """(metric name, datapoint values, unit) for one answer's restore tests."""
    failed = _count(section, "failedCount") + _count(section, "errorsCount")
    verified = section.get("verified")
    seconds = [
        float(entry["seconds"])
        for entry in (verified if isinstance(verified, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("seconds"), int) and not isinstance(entry["seconds"], bool)
    ]
    found: list[tuple[str, list[float], str]] = [(FAILED, [float(failed)], "count")]
    if seconds:
        found.append((SECONDS, [max(seconds)], "seconds"))
    return found


def _count(section: Mapping[str, Any], key: str) -> int:
    value = section.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

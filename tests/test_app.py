"""The pipeline in-process: what a defect or an invalid setting turns into for the caller."""

from __future__ import annotations

import json
import time
from datetime import UTC
from typing import Any

from backup_handler.app import App, monotonic_deadline
from backup_handler.blockstorage import Created
from backup_handler.ocids import TargetKind
from backup_handler.settings import Settings
from tests.conftest import event_bytes


class DefectiveBlockStorage:
    """A Block Storage whose client has a bug: it raises something no error class covers."""

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        raise KeyError("secret internal detail")


def test_a_defect_becomes_internal_error_json_without_its_text() -> None:
    app = App(settings=Settings(), blockstorage=DefectiveBlockStorage())

    single = app.handle(event_bytes("manual.json"), {}, time.monotonic() + 10)
    summary = app.handle(event_bytes("alarm.json"), {}, time.monotonic() + 10)

    assert single.status == 500 and single.document["code"] == "InternalError"
    assert summary.status == 502 and {e["code"] for e in summary.document["errors"]} == {"InternalError"}
    for reply in (single, summary):
        assert "secret internal detail" not in reply.body() and "KeyError" not in reply.body()
        json.loads(reply.body())


def test_configuration_error_is_reported_on_every_call_without_rereading() -> None:
    environ = {"BACKUP_MAX_CONCURRENCY": "lots"}
    app = App(environ=environ)

    first = app.handle(event_bytes("manual.json"), {}, time.monotonic() + 10)
    environ.clear()
    second = app.handle(event_bytes("manual.json"), {}, time.monotonic() + 10)

    assert first.document["code"] == second.document["code"] == "ConfigurationError"
    assert first.document["errors"] == [{"field": "BACKUP_MAX_CONCURRENCY", "problem": "must be an integer"}]


def test_deadline_header_becomes_a_monotonic_deadline() -> None:
    from datetime import datetime, timedelta

    in_ten = (datetime.now(UTC) + timedelta(seconds=10)).isoformat().replace("+00:00", "Z")

    assert abs(monotonic_deadline(in_ten) - (time.monotonic() + 10)) < 0.1
    assert abs(monotonic_deadline(None) - (time.monotonic() + 30)) < 0.1
    assert abs(monotonic_deadline("not a time") - (time.monotonic() + 30)) < 0.1

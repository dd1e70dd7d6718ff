"""The pipeline in-process: what a defect or an invalid setting turns into for the caller."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.answers.response import result_reply
from backup_handler.app import App, monotonic_deadline
from backup_handler.errors import ApiError, Failure
from backup_handler.oci.blockstorage import Created
from backup_handler.runs.backup import BackupRunner
from backup_handler.settings import Settings
from backup_handler.triggers.request import build_request
from backup_handler.vocabulary.ocids import TargetKind
from localdev.samples import VOLUMES
from tests.conftest import event_bytes, event_json


class DefectiveBlockStorage:
    """A Block Storage whose client has a bug: it raises something no error class covers."""

    def prepare(self) -> None:
        pass

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
        assert b"secret internal detail" not in reply.body() and b"KeyError" not in reply.body()
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


@pytest.mark.parametrize("far", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "2999-01-01T00:00:00+14:00"])
def test_a_far_future_deadline_is_clamped_to_the_platform_maximum(far: str) -> None:
    assert monotonic_deadline(far) <= time.monotonic() + 3600


class FailingBlockStorage:
    """A Block Storage that answers every create with a throttling error raised deep in a call stack."""

    def prepare(self) -> None:
        pass

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        try:
            raise ValueError("the SDK's internal exception, with a large context")
        except ValueError:
            raise ApiError("TooManyRequests", "Too many requests", 429, "req-1")  # noqa: B904 - context kept on purpose


def test_a_failed_target_keeps_plain_data_not_the_exception_and_its_traceback() -> None:
    settings = Settings()
    runner = BackupRunner(settings, FailingBlockStorage())
    request = build_request(event_json("alarm.json"), headers={}, settings=settings, now=datetime.now(UTC))

    result = runner.run(request, time.monotonic() + 10)

    assert [o.state for o in result.outcomes] == ["failed", "failed"]
    for outcome in result.outcomes:
        assert outcome.failure == Failure("TooManyRequests", "Too many requests", 429, True, {"opcRequestId": "req-1"})
        assert not any(isinstance(value, BaseException) for value in vars(outcome).values())


class SlowBlockStorage:
    """Each create takes until shortly before the run's answer time, leaving the next worker no time."""

    def __init__(self, until: float) -> None:
        self.until = until
        self.calls = 0

    def prepare(self) -> None:
        pass

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        self.calls += 1
        time.sleep(max(self.until - time.monotonic(), 0))
        return Created({"id": f"ocid1.volumebackup.oc1.iad.b{self.calls}", "volumeId": body.get("volumeId")}, "r")


def test_targets_a_worker_had_no_time_for_are_reported_and_make_the_run_late() -> None:
    settings = Settings(max_concurrency=1, deadline_margin_seconds=0.5)
    deadline = time.monotonic() + 2.0
    blockstorage = SlowBlockStorage(until=deadline - settings.deadline_margin_seconds - 0.1)
    runner = BackupRunner(settings, blockstorage)
    request = build_request(
        {"source": "schedule", "volumeIds": list(VOLUMES)}, headers={}, settings=settings, now=datetime.now(UTC)
    )

    result = runner.run(request, deadline)
    reply = result_reply(result)

    assert [o.state for o in result.outcomes] == ["created", "notAttempted", "notAttempted"]
    assert blockstorage.calls == 1
    assert reply.status == 504 and reply.redeliver == 504
    assert [item["resourceId"] for item in reply.document["notAttempted"]] == list(VOLUMES[1:])

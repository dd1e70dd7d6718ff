"""A one-target run's hand-off: done, cancelled before it started, or still running at the deadline."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.oci.blockstorage import Created
from backup_handler.runs.backup import SINGLE_THREADS, BackupRunner
from backup_handler.runs.single import Handoff, Job, SingleWorkers
from backup_handler.settings import Settings
from backup_handler.triggers.request import build_request
from backup_handler.vocabulary.ocids import TargetKind
from localdev.samples import VOLUMES


def test_a_job_done_in_time_answers_its_result() -> None:
    workers = SingleWorkers(2, "test")
    job = workers.submit(lambda: 42)
    assert job is not None
    assert job.wait(5) is Handoff.DONE
    assert job.result() == 42


def test_an_exception_the_job_raised_is_raised_to_the_waiter() -> None:
    def fail() -> int:
        raise ValueError("boom")

    job = SingleWorkers(1, "test").submit(fail)
    assert job is not None
    assert job.wait(5) is Handoff.DONE
    with pytest.raises(ValueError, match="boom"):
        job.result()


def test_a_job_still_running_at_the_deadline_is_running_and_ends_on_its_own() -> None:
    release = threading.Event()
    ended = threading.Event()

    def slow() -> str:
        release.wait(10)
        ended.set()
        return "late"

    job = SingleWorkers(1, "test").submit(slow)
    assert job is not None
    assert job.wait(0.05) is Handoff.RUNNING
    release.set()
    assert ended.wait(5)


def test_with_every_thread_busy_a_job_is_refused_rather_than_queued_behind_a_slow_call() -> None:
    workers = SingleWorkers(1, "test")
    started = threading.Event()
    release = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    first = workers.submit(hold)
    assert first is not None and started.wait(5)
    assert workers.submit(lambda: "next") is None  # the caller's pool takes it instead
    release.set()
    assert first.wait(5) is Handoff.DONE


def test_a_busy_thread_does_not_hold_up_the_next_job_and_threads_are_reused() -> None:
    workers = SingleWorkers(2, "test")
    release = threading.Event()
    first = workers.submit(lambda: release.wait(10))
    assert first is not None
    assert first.wait(0.05) is Handoff.RUNNING
    second = workers.submit(lambda: "second")
    assert second is not None
    assert second.wait(5) is Handoff.DONE and second.result() == "second"
    release.set()
    assert first.wait(5) is Handoff.DONE
    names = {thread.name for thread in threading.enumerate() if thread.name.startswith("test-")}
    third = workers.submit(lambda: "third")
    assert third is not None and third.wait(5) is Handoff.DONE
    assert {thread.name for thread in threading.enumerate() if thread.name.startswith("test-")} == names


def test_a_job_no_thread_took_by_the_deadline_is_cancelled_and_never_runs() -> None:
    ran: list[str] = []
    job = Job(lambda: ran.append("ran"))
    assert job.wait(0) is Handoff.CANCELLED
    job._run()  # a worker reaching it after the deadline
    assert ran == []


class HeldBlockStorage:
    """Creates that wait for ``release`` (each call), then answer a backup of their volume."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: list[str] = []

    def prepare(self) -> None:
        pass

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        self.threads.append(threading.current_thread().name)
        self.release.wait(10)
        return Created({"id": f"ocid1.volumebackup.oc1.iad.b{len(self.threads)}", "volumeId": body["volumeId"]}, "r")


def test_one_target_runs_past_their_deadline_never_hold_up_the_next_and_the_pool_takes_over_at_the_limit() -> None:
    settings = Settings(max_concurrency=16, deadline_margin_seconds=0.1)
    blockstorage = HeldBlockStorage()
    runner = BackupRunner(settings, blockstorage)
    request = build_request({"volumeId": VOLUMES[0]}, headers={}, settings=settings, now=datetime.now(UTC))
    try:
        for _ in range(SINGLE_THREADS + 1):  # every call is still under way at its deadline
            result = runner.run(request, time.monotonic() + 0.6)
            assert [outcome.state for outcome in result.outcomes] == ["pending"]
        # The first runs each held a thread of their own; the one after them went to the pool.
        assert [name.rsplit("-", 1)[0] for name in blockstorage.threads] == ["backup-single"] * SINGLE_THREADS + [
            "backup_0"
        ]
    finally:
        blockstorage.release.set()

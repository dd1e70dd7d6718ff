"""One job on a thread of its own, answered by a deadline: what a one-target run needs of a pool, and no more.

A run of one target must still answer by its deadline however long the API call
takes, so the call cannot run on the thread that answers. A whole
``ThreadPoolExecutor`` (futures, waiters, a shared queue) is more than that
needs: :class:`SingleWorkers` hands the job to an idle long-lived thread with
one queue put and waits on one lock.

The job ends in exactly one of three ways, as a pool's future would: done by the
deadline (:attr:`Handoff.DONE`); never started, because the deadline came first
(:attr:`Handoff.CANCELLED`: it never will start); or started and still running
(:attr:`Handoff.RUNNING`: it finishes on its own thread, which is then idle again).
Whichever of the worker and the waiter claims the job first decides between the
last two. A thread whose job outlives its deadline is not reused until the job
ends, so a slow call never delays the next invocation's; at most ``max_threads``
threads exist, and :meth:`SingleWorkers.submit` answers None when all of them are
busy (the caller then uses its pool).
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable
from enum import Enum
from queue import SimpleQueue
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Enum):
    DONE = "done"
    CANCELLED = "cancelled"
    RUNNING = "running"


class Job(Generic[T]):
    """One job handed to a worker: claimed once (by the worker to run it, or by the waiter to cancel it)."""

    __slots__ = ("_claim", "_done", "_error", "_result", "_work")

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._claim = _thread.allocate_lock()
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._result: T | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        if not self._claim.acquire(blocking=False):
            return  # cancelled: the deadline came before a worker took it
        try:
            self._result = self._work()
        except BaseException as exc:  # handed to the waiter, as a future would
            self._error = exc
        finally:
            self._done.release()

    def result(self) -> T:
        """What the work returned (raised, it is raised here); only once :meth:`wait` answered DONE."""
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def wait(self, timeout: float) -> Handoff:
        """Wait up to ``timeout`` seconds for the job; how it stands then."""
        if self._done.acquire(timeout=max(timeout, 0.0)):
            return Handoff.DONE
        if self._claim.acquire(blocking=False):
            return Handoff.CANCELLED
        if self._done.acquire(blocking=False):  # it ended between the two checks
            return Handoff.DONE
        return Handoff.RUNNING


class SingleWorkers:
    """Long-lived threads that each run one job at a time; an idle one takes the next job."""

    def __init__(self, max_threads: int, name: str) -> None:
        self._max = max_threads
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[SimpleQueue[Job[object]]] = []
        self._threads = 0

    def warm(self) -> None:
        """Start one thread now rather than on the first job."""
        with self._lock:
            if not self._idle and self._threads < self._max:
                self._idle.append(self._start())

    def submit(self, work: Callable[[], T]) -> Job[T] | None:
        """Hand ``work`` to an idle thread (started if none is and the limit allows); None when all are busy."""
        with self._lock:
            if self._idle:
                inbox = self._idle.pop()
            elif self._threads < self._max:
                inbox = self._start()
            else:
                return None
        job: Job[T] = Job(work)
        inbox.put(job)  # type: ignore[arg-type]
        return job

    def _start(self) -> SimpleQueue[Job[object]]:
        inbox: SimpleQueue[Job[object]] = SimpleQueue()
        self._threads += 1
        threading.Thread(target=self._serve, args=(inbox,), name=f"{self._name}-{self._threads}", daemon=True).start()
        return inbox

    def _serve(self, inbox: SimpleQueue[Job[object]]) -> None:
        while True:
            job = inbox.get()
            job._run()
            del job
            with self._lock:
                self._idle.append(inbox)

"""Large triggers: up to a batch of targets run here; beyond that, each batch is a detached invocation of this function.

:class:`Planner` reads a request's targets as they come (explicit ones first, then
the selector's, page by page), drops repeats, and keeps at most one batch in
memory. When the trigger turns out to hold no more than ``BACKUP_BATCH_SIZE``
targets, it is run here as any trigger is. Past that, every full batch is handed to
a detached invocation of this same function through OCI Functions
(``InvokeFunction`` with ``fn-invoke-type: detached``; the function's own OCID is
``FN_FN_ID``, which the platform sets, and its invoke endpoint is
``BACKUP_INVOKE_ENDPOINT``). Detached invocations run for up to an hour each,
so one tick scales with OCI Functions rather than with one container.

Each batch body carries the parent's idempotency key, source and time label and
its index (:meth:`~backup_handler.triggers.request.BackupRequest.batch_body`), so every
backup has the body and retry token the parent would have used: redeliveries of
the parent or of a batch never duplicate a backup. The parent answers with its
plan: each batch's index, size and invocation request id.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backup_handler import logs
from backup_handler.errors import BackupError, ConfigurationError, DeadlineExceeded, Failure, InternalError
from backup_handler.oci.api import OciApi
from backup_handler.settings import Settings
from backup_handler.triggers.request import BackupRequest, Skip, Target

if TYPE_CHECKING:
    from backup_handler.runs.selection import Resolution

logger = logging.getLogger(__name__)

MIN_CALL_SECONDS = 0.25
MAX_LISTED_SKIPS = 20


@dataclass
class Plan:
    """What a large trigger became: the batches handed on, or the targets to run here."""

    request: BackupRequest
    local: list[Target] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    retryable: bool = False
    skipped: list[Skip] = field(default_factory=list)
    unlisted_skips: int = 0
    batched: int = 0
    not_attempted: list[Target] = field(default_factory=list)
    not_handed_on: int = 0
    """Targets not handed on because a batch failed before them or the deadline came."""
    complete: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)

    def skip(self, skip: Skip) -> None:
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append(skip)
        else:
            self.unlisted_skips += 1

    def all_skips(self) -> tuple[Skip, ...]:
        more = (
            (Skip(resource_id=None, reason=f"and {self.unlisted_skips} more skipped"),) if self.unlisted_skips else ()
        )
        return (*self.request.skipped, *self.skipped, *more)

    def local_request(self) -> BackupRequest:
        """The request with its targets resolved, to run in this invocation."""
        return self.request.model_copy(
            update={"targets": tuple(self.local), "selector": None, "skipped": self.all_skips()}
        )

    def document(self) -> dict[str, Any]:
        return {
            "trigger": self.request.trigger,
            "backups": [],
            "skipped": [skip.to_json() for skip in self.all_skips()],
            "errors": self.failures,
            "pending": [],
            "notAttempted": [
                {"resourceId": target.resource_id, "reason": "listing failed before this target was handed on"}
                for target in self.not_attempted
            ]
            + (
                [{"resourceId": None, "reason": f"{self.not_handed_on} more targets were not handed on"}]
                if self.not_handed_on
                else []
            ),
            "batched": self.batched,
            "batches": self.batches,
        }


class Planner:
    """Splits a request's targets into a local run or batches of detached invocations."""

    def __init__(self, settings: Settings, api: OciApi, function_id: str | None) -> None:
        self._settings = settings
        self._api = api
        self._function_id = function_id

    @property
    def can_batch(self) -> bool:
        return bool(self._settings.invoke_endpoint and self._function_id)

    def plan(
        self, request: BackupRequest, items: Iterable[Target | Skip], deadline: float, plan: Plan | None = None
    ) -> Plan:
        """Read ``items`` once; run up to one batch here, or hand every batch on as it fills.

        After a batch cannot be handed on, or once ``plan.cancelled`` is set (the caller has answered),
        no further batch is started: the rest is counted in ``notAttempted`` for a redelivery to finish.
        """
        plan = plan or Plan(request)
        limit = self._settings.batch_size if self.can_batch else self._settings.max_targets
        seen: set[str] = set()
        pending: list[Target] = []
        index = 0
        try:
            for item in items:
                if isinstance(item, Skip):
                    plan.skip(item)
                    continue
                if item.resource_id in seen:
                    continue
                seen.add(item.resource_id)
                pending.append(item)
                if len(pending) > limit:
                    if not self.can_batch:
                        raise ConfigurationError(
                            f"the trigger selects more than {limit} volumes (BACKUP_MAX_TARGETS); set "
                            "BACKUP_INVOKE_ENDPOINT so that larger selections are split into batches"
                        )
                    self._dispatch(plan, index, pending[:limit], deadline)
                    index += 1
                    pending = pending[limit:]
        except Exception as exc:
            if index == 0:
                raise  # nothing was handed on: the error is the answer
            # Batches were handed on; the rest is listed as not attempted, and a redelivery finishes the job.
            failure = exc.failure() if isinstance(exc, BackupError) else InternalError("listing failed").failure()
            if not isinstance(exc, BackupError):
                logs.emit_defect(logger, "defect", exc)
            compartment = request.selector.compartment_id if request.selector else None
            plan.failures.append({"resourceId": compartment, **failure.to_json()})
            plan.retryable = plan.retryable or failure.retryable
            plan.not_attempted = pending
            plan.complete = True
            return plan
        if index == 0:
            plan.local = pending
        elif pending:
            self._dispatch(plan, index, pending, deadline)
        plan.complete = True
        return plan

    def _dispatch(self, plan: Plan, index: int, targets: list[Target], deadline: float) -> None:
        if plan.failures or plan.cancelled.is_set():
            plan.not_handed_on += len(targets)
            return
        if plan.request.dry_run:  # a dry run plans the batches and hands nothing on
            plan.batches.append({"batch": index, "targets": len(targets), "opcRequestId": None})
            plan.batched += len(targets)
            return
        body = json.dumps(plan.request.batch_body(index, targets), separators=(",", ":")).encode()
        budget = deadline - time.monotonic()
        try:
            if budget < MIN_CALL_SECONDS:
                raise DeadlineExceeded("the deadline came before this batch was handed on")
            answer = self._api.call(
                "InvokeFunction",
                path={"functionId": self._function_id or ""},
                body=body,
                headers={"fn-invoke-type": "detached", "content-type": "application/json", "accept": "*/*"},
                budget_seconds=budget,
            )
        except BackupError as exc:
            failure: Failure = exc.failure()
            plan.failures.append({"batch": index, "targets": len(targets), **failure.to_json()})
            plan.retryable = plan.retryable or failure.retryable
            logs.emit(logger, logging.WARNING, "batch", batch=index, targets=len(targets), code=failure.code)
            return
        plan.batched += len(targets)
        plan.batches.append({"batch": index, "targets": len(targets), "opcRequestId": answer.opc_request_id})
        logs.emit(logger, logging.INFO, "batch", batch=index, targets=len(targets), opcRequestId=answer.opc_request_id)


def selected_then_explicit(request: BackupRequest, resolution: Resolution | None) -> Iterator[Target | Skip]:
    """What the selector resolves to (volume groups first), then the request's own targets.

    An explicit volume that belongs to a selected group is backed up through the group, like a
    selected one: backing up both at once would make one of them a 409.
    """
    if resolution is not None:
        yield from resolution
    for target in request.targets:
        group = resolution.members.get(target.resource_id) if resolution is not None else None
        if group is not None:
            yield Skip(resource_id=target.resource_id, reason=f"backed up through its volume group {group}")
        else:
            yield target

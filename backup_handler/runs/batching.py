"""Large triggers: up to a batch of targets run here; beyond that, batches run as a bounded number of chains.

:class:`Planner` reads a request's targets as they come (explicit groups first, then the
selector's, page by page, then explicit volumes), drops repeats and keeps their OCIDs. When the
trigger holds no more than ``BACKUP_BATCH_SIZE`` targets, it is run here as any trigger is.

Past that, its batches run as **chains** (``BACKUP_BATCH_CHAINS``, K): the batches are split into
at most K contiguous runs, and the parent hands only the first batch of each chain to a detached
invocation of this same function (``InvokeFunction`` with ``fn-invoke-type: detached`` on
``FN_FN_ID``, at ``BACKUP_INVOKE_ENDPOINT``). That invocation's body carries its own batch and,
in ``next``, the OCIDs of the rest of its chain; when its batch is done it hands the next batch on
the same way (:meth:`Planner.hand_on`), and so on to the chain's end. So at most K batches of a
trigger run at once, and at most K × ``BACKUP_MAX_CONCURRENCY`` creates are in flight for it,
however many batches it has.

Every batch body carries the parent's idempotency key, source, time label and shape
(:meth:`~backup_handler.triggers.request.BackupRequest.batch_body`), so every backup has the body
and retry token the parent would have used, whichever chain or link runs it: a redelivered parent
or batch never duplicates a backup.

What the parent answers (:meth:`Plan.document`): ``chains`` (each chain's first and last batch,
its targets and the request id of the invocation that started it), ``batches`` (every batch of
the plan and its chain) and ``batched`` (targets handed on). A chain the Functions service
refused is in ``errors`` with its targets; after one is refused no further chain is started, and
the rest is counted as not handed on. An ``InvokeFunction`` still under way at the deadline is in
``pending`` with its chain's targets: whether that chain started is unknown, and a redelivery
hands it on again (the same retry tokens: no backup twice).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from backup_handler import logs
from backup_handler.errors import (
    BackupError,
    ConfigurationError,
    DeadlineExceeded,
    Failure,
    InternalError,
    InvalidRequest,
    PayloadTooLarge,
)
from backup_handler.oci.api import OciApi
from backup_handler.settings import Settings
from backup_handler.triggers.events import BatchBody
from backup_handler.triggers.request import BackupRequest, Skip, Target
from backup_handler.vocabulary.ocids import kind_of

if TYPE_CHECKING:
    from backup_handler.runs.membership import Membership
    from backup_handler.runs.selection import Resolution

logger = logging.getLogger(__name__)

MIN_CALL_SECONDS = 0.25
MAX_LISTED_SKIPS = 20
INVOKE_HEADERS = {"fn-invoke-type": "detached", "content-type": "application/json", "accept": "*/*"}
PENDING_REASON = (
    "InvokeFunction for this chain was still under way at the deadline: whether it started is unknown; "
    "a redelivery hands it on again (the same retry tokens: no backup is made twice)"
)


@dataclass
class Plan:
    """What a large trigger became: the chains handed on, or the targets to run here.

    The planning thread changes it while the request thread may answer at the deadline: both go
    through :attr:`lock`.
    """

    request: BackupRequest
    local: list[Target] = field(default_factory=list)
    chains: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    retryable: bool = False
    skipped: list[Skip] = field(default_factory=list)
    unlisted_skips: int = 0
    batched: int = 0
    not_attempted: list[Target] = field(default_factory=list)
    not_handed_on: int = 0
    """Targets not handed on because a chain failed before them or the deadline came."""
    waiting: int = 0
    """Targets of chains planned but not reached yet (each chain is handed on in turn)."""
    in_flight: dict[str, Any] | None = None
    """The chain whose InvokeFunction is under way."""
    refused: bool = False
    """A chain could not be handed on: no further chain is started."""
    group_batch: dict[str, int] = field(default_factory=dict)
    """Each group handed on → its batch (its members are answered for there)."""
    complete: bool = False
    reached: Callable[[], tuple[str, ...]] | None = None
    """The compartments the selector reached (known once it is listed): handed to the batches when their bodies
    are shaped from their targets, so that each lists its targets once per compartment instead of reading each."""
    cancelled: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def skip(self, skip: Skip) -> None:
        if len(self.skipped) < MAX_LISTED_SKIPS or skip.group is not None:
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

    @property
    def handed_on(self) -> bool:
        return bool(self.chains or self.failures or self.in_flight or self.batches)

    def document(self) -> dict[str, Any]:
        with self.lock:
            pending = (
                [] if self.in_flight is None else [{"resourceId": None, **self.in_flight, "reason": PENDING_REASON}]
            )
            not_handed_on = self.not_handed_on + self.waiting
            return {
                "trigger": self.request.trigger,
                "backups": [],
                "skipped": self._skips_json(),
                "errors": list(self.failures),
                "pending": pending,
                "notAttempted": [
                    {"resourceId": target.resource_id, "reason": "listing failed before this target was handed on"}
                    for target in self.not_attempted
                ]
                + (
                    [
                        {
                            "resourceId": None,
                            "targets": not_handed_on,
                            "reason": f"{not_handed_on} more targets were not handed on",
                        }
                    ]
                    if not_handed_on
                    else []
                ),
                "batched": self.batched,
                "chains": list(self.chains),
                "batches": list(self.batches),
            }

    def _skips_json(self) -> list[dict[str, Any]]:
        """The skips as answered: every one (members of groups included) up to a bound, then a count."""
        skips = self.all_skips()
        listed = [self._skip_json(skip) for skip in skips[: MAX_LISTED_SKIPS * 2]]
        more = len(skips) - len(listed)
        return listed + ([{"resourceId": None, "reason": f"and {more} more skipped"}] if more else [])

    def _skip_json(self, skip: Skip) -> dict[str, Any]:
        batch = self.group_batch.get(skip.group) if skip.group else None
        if batch is None:
            return skip.to_json()
        reason = f"handed on with its volume group {skip.group} in batch {batch}, which answers for the group"
        return {"resourceId": skip.resource_id, "reason": reason}


class Planner:
    """Splits a request's targets into a local run or chains of batches of detached invocations."""

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
        """Read ``items`` once; run up to one batch here, or hand the batches on as at most K chains.

        Once a chain cannot be handed on, or ``plan.cancelled`` is set (the caller has answered), no
        further chain is started: the rest is counted as not handed on, for a redelivery to finish.
        """
        plan = plan or Plan(request)
        limit = self._settings.batch_size if self.can_batch else self._settings.max_targets
        seen: set[str] = set()
        ids: list[str] = []
        listed: dict[str, Target] = {}  # what the listing said of each target, while they fit in one run here
        try:
            for item in items:
                if isinstance(item, Skip):
                    plan.skip(item)
                    continue
                if item.resource_id in seen:
                    continue
                seen.add(item.resource_id)
                ids.append(item.resource_id)
                if len(ids) <= limit:
                    listed[item.resource_id] = item
                if len(ids) > limit and not self.can_batch:
                    raise ConfigurationError(
                        f"the trigger selects more than {limit} volumes (BACKUP_MAX_TARGETS); set "
                        "BACKUP_INVOKE_ENDPOINT so that larger selections are split into batches"
                    )
        except Exception as exc:
            if len(ids) <= limit:
                raise  # nothing worth handing on: the error is the answer, and a redelivery lists again
            # More than a batch was listed: it is handed on, and the listing error is reported beside it.
            failure = exc.failure() if isinstance(exc, BackupError) else InternalError("listing failed").failure()
            if not isinstance(exc, BackupError):
                logs.emit_defect(logger, "defect", exc)
            compartment = request.selector.compartment_id if request.selector else None
            with plan.lock:
                plan.failures.append({"resourceId": compartment, **failure.to_json()})
                plan.retryable = plan.retryable or failure.retryable
            self._hand_on_chains(plan, ids, deadline)
            plan.complete = True
            return plan
        if len(ids) <= limit:
            plan.local = [listed.get(ocid) or _target(ocid) for ocid in ids]
        else:
            self._hand_on_chains(plan, ids, deadline)
        plan.complete = True
        return plan

    def chains_of(self, ids: list[str]) -> list[list[list[str]]]:
        """``ids`` as batches of ``BACKUP_BATCH_SIZE``, in at most ``BACKUP_BATCH_CHAINS`` contiguous chains."""
        size = self._settings.batch_size
        batches = [ids[start : start + size] for start in range(0, len(ids), size)]
        count = min(self._settings.batch_chains, len(batches))
        return [batches[c * len(batches) // count : (c + 1) * len(batches) // count] for c in range(count)]

    def _hand_on_chains(self, plan: Plan, ids: list[str], deadline: float) -> None:
        request = plan.request
        if self._settings.shapes_bodies and plan.reached is not None:
            request = request.model_copy(update={"compartments": plan.reached()})
        index = 0
        with plan.lock:
            plan.waiting += len(ids)
        for chain, batches in enumerate(self.chains_of(ids)):
            first = index
            for batch in batches:
                for ocid in batch:
                    if kind_of(ocid) == "volumeGroup":
                        plan.group_batch[ocid] = index
                index += 1
            rest = tuple(ocid for batch in batches[1:] for ocid in batch)
            targets = [_target(ocid) for ocid in batches[0]]
            body = request.batch_body(first, targets, chain=chain, link=0, rest=rest)
            entry = {"chain": chain, "batch": first, "lastBatch": index - 1, "targets": len(targets) + len(rest)}
            batch_entries = [
                {"batch": first + n, "chain": chain, "targets": len(batch)} for n, batch in enumerate(batches)
            ]
            self._dispatch(plan, entry, batch_entries, body, deadline)

    def _dispatch(
        self,
        plan: Plan,
        entry: dict[str, Any],
        batch_entries: list[dict[str, Any]],
        body: dict[str, Any],
        deadline: float,
    ) -> None:
        targets = int(entry["targets"])
        with plan.lock:
            plan.waiting -= targets
            if plan.refused or plan.cancelled.is_set():
                plan.not_handed_on += targets
                return
            if plan.request.dry_run:  # a dry run plans the chains and hands nothing on
                plan.chains.append({**entry, "opcRequestId": None})
                plan.batches.extend({**b, "opcRequestId": None} for b in batch_entries)
                plan.batched += targets
                return
            plan.in_flight = dict(entry)
        try:
            answer = self.invoke(body, deadline)
        except BackupError as exc:
            failure: Failure = exc.failure()
            with plan.lock:
                plan.in_flight = None
                plan.refused = True
                plan.failures.append({**entry, **failure.to_json()})
                plan.retryable = plan.retryable or failure.retryable
            logs.emit(logger, logging.WARNING, "chain", **entry, outcome="not handed on", code=failure.code)
            return
        with plan.lock:
            plan.in_flight = None
            plan.batched += targets
            plan.chains.append({**entry, "opcRequestId": answer})
            plan.batches.extend(
                {**b, "opcRequestId": answer if b["batch"] == entry["batch"] else None} for b in batch_entries
            )
        logs.emit(logger, logging.INFO, "chain", **entry, outcome="handed on", opcRequestId=answer)

    def invoke(self, body: dict[str, Any], deadline: float) -> str | None:
        """Start one batch as a detached invocation of this function; its request id.

        Refused before any call when the body is larger than this function accepts
        (``BACKUP_MAX_BODY_BYTES``): the batch would be refused on arrival.
        """
        data = json.dumps(body, separators=(",", ":")).encode()
        if len(data) > self._settings.max_body_bytes:
            raise PayloadTooLarge(
                f"a chain of {len(body['targets']) + len(body['next'])} targets makes a body of {len(data)} bytes, "
                f"more than BACKUP_MAX_BODY_BYTES ({self._settings.max_body_bytes}); raise BACKUP_BATCH_CHAINS "
                "or narrow the selection"
            )
        budget = deadline - time.monotonic()
        if budget < MIN_CALL_SECONDS:
            raise DeadlineExceeded("the deadline came before this batch was handed on")
        answer = self._api.call(
            "InvokeFunction",
            path={"functionId": self._function_id or ""},
            body=data,
            headers=INVOKE_HEADERS,
            budget_seconds=budget,
        )
        return answer.opc_request_id

    def hand_on(self, request: BackupRequest, deadline: float) -> dict[str, Any]:
        """A batch done: start the next link of its chain. The entry for the answer, or raise why not."""
        body = request.handoff
        if body is None:
            raise InternalError("this batch is the last of its chain")
        if not self.can_batch:
            raise ConfigurationError(
                "this batch cannot hand the rest of its chain on: BACKUP_INVOKE_ENDPOINT or FN_FN_ID is not set"
            )
        entry = {
            "chain": request.chain,
            "batch": int(body["batch"]),
            "link": int(body["link"]),
            "targets": request.handoff_targets,
        }
        try:  # a body the next link would refuse on arrival is refused here, where it is seen
            BatchBody.model_validate(body)
        except ValidationError:
            raise InvalidRequest("the next batch of this chain would not be a valid batch body") from None
        answer = self.invoke(body, deadline)
        logs.emit(logger, logging.INFO, "chain", **entry, outcome="handed on", opcRequestId=answer)
        return {**entry, "opcRequestId": answer}


def _target(ocid: str) -> Target:
    return Target(kind=kind_of(ocid) or "volume", resource_id=ocid)


def ordered_items(
    request: BackupRequest, resolution: Resolution | None, membership: Membership
) -> Iterator[Target | Skip]:
    """The request's own groups, what the selector resolves to (its groups first), then its own volumes.

    A volume that belongs to a group of the trigger — named by the request or selected — is backed
    up through the group, whatever the order it was named in (:mod:`backup_handler.runs.membership`).
    """
    yield from (target for target in request.targets if target.kind == "volumeGroup")
    if resolution is not None:
        yield from resolution
    for target in request.targets:
        if target.kind != "volumeGroup":
            yield membership.skip(target) or target

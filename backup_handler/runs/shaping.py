"""A create's body shaped by the target as it is now: its type under ``BACKUP_FULL_EVERY`` and the tags
``BACKUP_COPY_VOLUME_TAGS`` copies from it. Built only when one of the two is configured, so neither
the calls nor this module's imports are on any other path.

What the target is comes from its list (a selector's listing carries each volume's compartment and
tags: nothing more is called), or else from one read of the target (GetVolume, GetBootVolume or
GetVolumeGroup). Neither can fail a backup: what could not be read is reported in the outcome's
``notes`` and the body keeps what configuration and the trigger give.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backup_handler import logs
from backup_handler.errors import BackupError, DeadlineExceeded
from backup_handler.oci.api import OciApi
from backup_handler.runs.full_type import FullCadence, TypeDecision
from backup_handler.runs.ownership import KINDS
from backup_handler.runs.source_tags import copied_tags
from backup_handler.settings import Settings
from backup_handler.triggers.request import BackupRequest, Target, listed_facts
from backup_handler.vocabulary.ocids import TargetKind, normalize

logger = logging.getLogger(__name__)

_TIME_LABEL = "%Y%m%dT%H%M%SZ"
# A read of the target is not started with less than this left before the answer.
MIN_READ_SECONDS = 1.0
_LISTS: dict[TargetKind, str] = {"volume": "ListVolumes", "bootVolume": "ListBootVolumes"}


@dataclass(frozen=True)
class Shaped:
    body: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Facts:
    compartment_id: str | None
    tags: Any
    problem: str | None = None


class Shaper:
    """Shapes each create's body; thread-safe (it keeps no state per target)."""

    def __init__(self, settings: Settings, api: OciApi) -> None:
        self._settings = settings
        self._api = api
        self._cadence: FullCadence | None = None
        if settings.full_every:
            from backup_handler.vocabulary.zones import load_zone

            self._cadence = FullCadence(settings.full_every, settings.deployment_id, api, load_zone(settings.timezone))

    @property
    def list_calls(self) -> int:
        return self._cadence.list_calls if self._cadence else 0

    def prefetch(self, request: BackupRequest, remaining: Callable[[], float]) -> BackupRequest:
        """A batch of a selector: its targets with their compartments and tags, from one listing per compartment the
        selector reached (ListVolumes, ListBootVolumes), instead of one read per target. Whatever is not found
        (or when the listing fails) is read per target as for any other."""
        if not request.compartments:
            return request
        wanted = {t.resource_id: t for t in request.targets if t.compartment_id is None and t.kind in _LISTS}
        if not wanted or ((self._cadence is None or request.type_given) and not self._settings.copy_volume_tags):
            return request
        found: dict[str, Target] = {}
        try:
            for kind in sorted({target.kind for target in wanted.values()}):
                operation = _LISTS[kind]
                for compartment in request.compartments:
                    query = {"compartmentId": compartment}
                    if operation == "ListVolumes":  # ListBootVolumes has no lifecycleState filter
                        query["lifecycleState"] = "AVAILABLE"
                    for page in self._api.pages(operation, query=query, budget=_list_budget(remaining)):
                        for item in page:
                            item_id = item.get("id")
                            target = wanted.get(normalize(item_id)) if isinstance(item_id, str) else None
                            if target is not None and target.kind == kind:
                                found[target.resource_id] = target.model_copy(update=listed_facts(item))
                    if len(found) == len(wanted):
                        break
        except BackupError as exc:
            logs.emit(logger, logging.WARNING, "shaping", outcome="listing failed", code=exc.code)
        if not found:
            return request
        targets = tuple(found.get(target.resource_id, target) for target in request.targets)
        return request.model_copy(update={"targets": targets})

    def shape(
        self, request: BackupRequest, target: Target, body: dict[str, Any], remaining: Callable[[], float]
    ) -> Shaped:
        notes: list[str] = []
        cadence = self._cadence if not request.type_given else None
        wants_tags = bool(self._settings.copy_volume_tags)
        if cadence is None and not wants_tags:
            return Shaped(body)
        facts = self._facts(target, remaining, need_tags=wants_tags)
        shaped = dict(body)
        if cadence is not None:
            decision = self._decide(cadence, request, target, facts, remaining)
            shaped["type"] = decision.type
            if decision.unread:
                notes.append(decision.why)
        if wants_tags:
            if facts.problem is not None:
                notes.append(f"the volume's tags were not copied: {facts.problem}")
            else:
                copied = copied_tags(self._settings.copy_volume_tags, facts.tags, shaped)
                if copied.tags:
                    shaped["freeformTags"] = {**copied.tags, **shaped["freeformTags"]}
                notes.extend(f"volume tag not copied: {dropped}" for dropped in copied.dropped)
        return Shaped(shaped, tuple(notes))

    def _decide(
        self,
        cadence: FullCadence,
        request: BackupRequest,
        target: Target,
        facts: _Facts,
        remaining: Callable[[], float],
    ) -> TypeDecision:
        if facts.compartment_id is None:
            return TypeDecision(
                request.backup_type,
                f"the full-backup cadence could not be read ({facts.problem}): the configured type",
                unread=True,
            )
        return cadence.decide(
            kind=target.kind,
            target_id=target.resource_id,
            compartment_id=facts.compartment_id,
            source_ref=request.source_ref,
            configured=request.backup_type,
            as_of=trigger_time(request),
            remaining=remaining,
        )

    def _facts(self, target: Target, remaining: Callable[[], float], *, need_tags: bool) -> _Facts:
        """The target's compartment and free-form tags: as listed, or read once."""
        if target.compartment_id is not None and (target.listed_tags is not None or not need_tags):
            return _Facts(target.compartment_id, dict(target.listed_tags or ()))
        spec = KINDS[target.kind]
        budget = remaining()
        if budget < MIN_READ_SECONDS:
            return _Facts(None, None, "the deadline was too near to read the target")
        try:
            answer = self._api.call(
                spec.target_get_op, path={spec.target_path_param: target.resource_id}, budget_seconds=budget / 2
            )
        except BackupError as exc:
            return _Facts(None, None, f"the target could not be read ({exc.code})")
        data = answer.data if isinstance(answer.data, dict) else {}
        compartment = data.get("compartmentId")
        tags = data.get("freeformTags")
        return _Facts(
            compartment if isinstance(compartment, str) else None,
            tags if isinstance(tags, dict) else {},
            None if isinstance(compartment, str) else "the target's read named no compartment",
        )


def trigger_time(request: BackupRequest) -> datetime:
    """The trigger's own time (the event's, the alarm message's, the schedule slot's): the same on every
    redelivery. A manual request whose label is its idempotency key has none: the moment of the call."""
    try:
        return datetime.strptime(request.time_label, _TIME_LABEL).replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _list_budget(remaining: Callable[[], float]) -> Callable[[], float]:
    """Each page's seconds: half of what is left (the backups need the rest), raising when too little."""

    def budget() -> float:
        left = remaining()
        if left < MIN_READ_SECONDS * 2:
            raise DeadlineExceeded("the deadline was too near to list the batch's targets")
        return left / 2

    return budget

"""A volume group and its own members in one trigger: each member is backed up through its group only.

A volume group backup covers every member volume at once. While it runs, a separate backup of a
member is refused (409 ``Conflict``), and a group backup is refused while a member's own backup
runs. So whenever a trigger names a group and also a member of it — explicitly, through a
selector, or both, in any order — the member is backed up only through its group:

- :func:`lookup` reads the members of the groups a request names itself (``GetVolumeGroup``);
  a selector's groups come with their members from ``ListVolumeGroups``
  (:mod:`backup_handler.runs.selection`). Groups are read before any volume is decided.
- :meth:`Membership.skip` turns a member into a :class:`~backup_handler.triggers.request.Skip`
  that names its group, so no create of it races the group's.
- :func:`settle`, once the run is done, answers each member in its group's state: backed up
  through the group only when the group's backup was made; an error, pending or not attempted
  when the group's is; skipped when the group's own backup was already in progress.

A group refused with ``Conflict`` is a skip (``backup in progress``) only when the group's own
backup is in progress (``ListVolumeGroupBackups``). Refused because a member's backup (made by
another trigger) is running, it was not backed up at all: that is an error a redelivery can fix,
never a silent 200 repeated on every tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from backup_handler import logs
from backup_handler.errors import ApiError, BackupError, DeadlineExceeded, Failure
from backup_handler.oci.api import OciApi
from backup_handler.runs.backup import BACKUP_IN_PROGRESS, Outcome, RunResult
from backup_handler.triggers.request import BackupRequest, Skip, Target
from backup_handler.vocabulary.ocids import kind_of, normalize

logger = logging.getLogger(__name__)

MIN_CALL_SECONDS = 0.25
# States of a group backup that is still being made.
IN_PROGRESS_STATES = frozenset({"REQUEST_RECEIVED", "CREATING"})
MEMBER_BACKUP_IN_PROGRESS = (
    "a backup of a member volume of this volume group is in progress, so the group was not backed up; "
    "a redelivery backs it up once that backup has ended"
)


def through(group_id: str) -> str:
    return f"backed up through its volume group {group_id}"


@dataclass
class Membership:
    """Member volume → the group of the same trigger it is backed up through."""

    group_of: dict[str, str] = field(default_factory=dict)

    def add(self, group_id: str, member_ids: Iterable[object]) -> None:
        for member in member_ids:
            if isinstance(member, str) and kind_of(member) in ("volume", "bootVolume"):
                self.group_of.setdefault(normalize(member), normalize(group_id))

    def skip(self, target: Target) -> Skip | None:
        """The skip that stands for ``target`` when it is a member of a group of this trigger, else None."""
        if target.kind == "volumeGroup":
            return None
        group = self.group_of.get(target.resource_id)
        return None if group is None else Skip(resource_id=target.resource_id, reason=through(group), group=group)


def needs_lookup(request: BackupRequest) -> bool:
    """Whether the request names a group itself and something else that could be one of its members."""
    groups = any(target.kind == "volumeGroup" for target in request.targets)
    others = any(target.kind != "volumeGroup" for target in request.targets)
    selects_volumes = request.selector is not None and any(k != "volumeGroup" for k in request.selector.kinds)
    return groups and (others or selects_volumes)


def lookup(request: BackupRequest, api: OciApi, remaining: Callable[[], float]) -> Membership:
    """The members of the groups the request names itself (one GetVolumeGroup each, only when needed).

    A group that cannot be read is logged and backed up as named: its own create answers for it.
    """
    membership = Membership()
    if not needs_lookup(request):
        return membership
    for target in request.targets:
        if target.kind != "volumeGroup":
            continue
        try:
            group = api.call(
                "GetVolumeGroup", path={"volumeGroupId": target.resource_id}, budget_seconds=_budget(remaining)
            ).data
        except BackupError as exc:
            logs.emit(logger, logging.WARNING, "group", resourceId=target.resource_id, members="unread", code=exc.code)
            continue
        members = group.get("volumeIds") if isinstance(group, dict) else None
        membership.add(target.resource_id, members if isinstance(members, list) else [])
    return membership


def split(request: BackupRequest, membership: Membership) -> BackupRequest:
    """The request with its groups' members taken out of its targets, as skips that name their group."""
    if not membership.group_of:
        return request
    targets: list[Target] = []
    skipped = list(request.skipped)
    for target in request.targets:
        skip = membership.skip(target)
        if skip is None:
            targets.append(target)
        else:
            skipped.append(skip)
    return request.model_copy(update={"targets": tuple(targets), "skipped": tuple(skipped)})


def settle(result: RunResult, api: OciApi | None, answer_by: float) -> RunResult:
    """Each group refused with Conflict told apart (its own backup in progress, or a member's), and each
    member answered in its group's state."""
    outcomes = [_group_conflict(outcome, api, answer_by) for outcome in result.outcomes]
    by_group = {o.target.resource_id: o for o in outcomes if o.target.kind == "volumeGroup"}
    kept: list[Skip] = []
    for skip in result.request.skipped:
        group = by_group.get(skip.group) if skip.group else None
        member = _as_member(skip, group) if group is not None else None
        if member is None:
            kept.append(skip)
        elif isinstance(member, Skip):
            kept.append(member)
        else:
            outcomes.append(member)
    request = result.request.model_copy(update={"skipped": tuple(kept)})
    return RunResult(request, tuple(outcomes))


def _as_member(skip: Skip, group: Outcome) -> Skip | Outcome | None:
    """A member in its group's state: None when the group's backup was made (the skip stands as it is)."""
    group_id = group.target.resource_id
    if group.state == "created":
        return None
    if group.state == "skipped":
        return skip.model_copy(update={"reason": f"its volume group {group_id} was skipped: {group.reason}"})
    member = Target(kind=kind_of(skip.resource_id or "") or "volume", resource_id=skip.resource_id or "")
    if group.state == "failed" and group.failure is not None:
        failure = replace(
            group.failure,
            message=f"its volume group {group_id} was not backed up: {group.failure.message}",
            extra={**group.failure.extra, "volumeGroupId": group_id},
        )
        return Outcome(member, "failed", failure=failure, opc_request_id=group.opc_request_id)
    return Outcome(member, group.state, reason=f"its volume group {group_id}: {group.reason}")


def _group_conflict(outcome: Outcome, api: OciApi | None, answer_by: float) -> Outcome:
    if outcome.target.kind != "volumeGroup" or outcome.state != "skipped" or outcome.reason != BACKUP_IN_PROGRESS:
        return outcome
    try:
        if api is not None and _own_backup_in_progress(api, outcome.target.resource_id, answer_by):
            return outcome
    except BackupError as exc:
        logs.emit(
            logger, logging.WARNING, "group", resourceId=outcome.target.resource_id, check="failed", code=exc.code
        )
    failure = Failure("Conflict", MEMBER_BACKUP_IN_PROGRESS, 409, True, {"opcRequestId": outcome.opc_request_id})
    return Outcome(outcome.target, "failed", failure=failure, opc_request_id=outcome.opc_request_id)


def _own_backup_in_progress(api: OciApi, group_id: str, answer_by: float) -> bool:
    """Whether a backup of the group itself is being made (not only one of a member volume)."""

    def remaining() -> float:
        return answer_by - time.monotonic()

    group = api.call("GetVolumeGroup", path={"volumeGroupId": group_id}, budget_seconds=_budget(remaining)).data
    compartment = group.get("compartmentId") if isinstance(group, dict) else None
    if not isinstance(compartment, str):
        raise ApiError("InvalidResponse", "the volume group has no compartment", 502)
    query = {"compartmentId": compartment, "volumeGroupId": group_id}
    for page in api.pages("ListVolumeGroupBackups", query=query, budget=lambda: _budget(remaining)):
        for backup in page:
            if backup.get("volumeGroupId") == group_id and backup.get("lifecycleState") in IN_PROGRESS_STATES:
                return True
    return False


def _budget(remaining: Callable[[], float]) -> float:
    budget = remaining()
    if budget < MIN_CALL_SECONDS:
        raise DeadlineExceeded("the deadline came before the volume group was read")
    return budget

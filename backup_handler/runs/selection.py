"""Resolving a :class:`~backup_handler.triggers.events.Selector` into targets, one page at a time.

The selection is what the list APIs say now (ListVolumes, ListBootVolumes,
ListVolumeGroups, and Identity's ListCompartments for sub-compartments), never
Resource Search, which is eventually consistent. Tags are matched here, since
the list APIs do not filter by tag: a resource is selected when it is AVAILABLE,
carries every freeform and defined tag pair the selector gives, and carries none
of the pairs it excludes (its own, and those configuration adds to a body's selector).
:func:`verdict` is the one rule: backups, the coverage audit, restore tests and the
orphan sweep all decide through it.

Volume groups come first: a volume that belongs to a selected group, or to a group the
request names itself, is backed up once, through its group
(:mod:`backup_handler.runs.membership`). Targets are yielded as
pages arrive, so a caller can hand them on in batches without holding the whole
selection; only the member ids of selected groups are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from backup_handler.errors import DeadlineExceeded, InvalidRequest
from backup_handler.oci.api import OciApi
from backup_handler.runs.membership import Membership
from backup_handler.triggers.request import Skip, Target, listed_facts
from backup_handler.vocabulary.fields import Selector
from backup_handler.vocabulary.ocids import TargetKind, kind_of, normalize
from backup_handler.vocabulary.tags import (
    first_carried_defined,
    first_carried_freeform,
    first_missing_defined,
    first_missing_freeform,
)

logger = logging.getLogger(__name__)

AVAILABLE = "AVAILABLE"
# Compartments a selector may reach through includeSubcompartments.
MAX_COMPARTMENTS = 1000
MIN_CALL_SECONDS = 0.25
_TOO_MANY_COMPARTMENTS = "reaches too many compartments"
_LISTS: tuple[tuple[TargetKind, str], ...] = (("volume", "ListVolumes"), ("bootVolume", "ListBootVolumes"))


# Resources a dry run explains one by one; the rest are counted.
MAX_EXPLAINED = 100
SANDBOX_REASON = "in the restore-test sandbox: never listed, never backed up"
EXCLUDED_PREFIX = "exclude"


def exclusion(resource: Mapping[str, Any], selector: Selector) -> str | None:
    """The excluded pair ``resource`` carries, as a reason (``excludeFreeformTags backup=never``); None when
    it carries none. Any one pair of any of the selector's exclusion sets is enough."""
    freeform, defined = resource.get("freeformTags"), resource.get("definedTags")
    for source, exclude_freeform, exclude_defined in selector.exclusions():
        where = f" ({source})" if source else ""
        pair = first_carried_freeform(freeform, exclude_freeform)
        if pair is not None:
            return f"excludeFreeformTags {pair[0]}={pair[1]}{where}"
        tag = first_carried_defined(defined, exclude_defined)
        if tag is not None:
            return f"excludeDefinedTags {tag[0]}.{tag[1]}={tag[2]}{where}"
    return None


def verdict(resource: Mapping[str, Any], selector: Selector) -> str | None:
    """None when the selector selects the listed ``resource``; otherwise why it leaves it out.

    In order: not AVAILABLE; lacking a pair the selector asks for (``lacks freeformTags backup=daily``);
    carrying a pair it excludes (:func:`exclusion`). Tags compare as OCI compares them
    (:mod:`backup_handler.vocabulary.tags`): free-form keys and values exactly; defined tag namespaces and
    keys without regard to case, values exactly; a key the resource does not carry never matches.
    Every reason is built from the selector's own (bounded) fields, never from what the API sent.
    """
    state = resource.get("lifecycleState")
    if state != AVAILABLE:
        shown = state[:32] if isinstance(state, str) else "unknown"
        return f"lifecycleState {shown}, not {AVAILABLE}"
    pair = first_missing_freeform(resource.get("freeformTags"), selector.freeform_tags)
    if pair is not None:
        return f"lacks freeformTags {pair[0]}={pair[1]}"
    tag = first_missing_defined(resource.get("definedTags"), selector.defined_tags)
    if tag is not None:
        return f"lacks definedTags {tag[0]}.{tag[1]}={tag[2]}"
    return exclusion(resource, selector)


def matches(resource: Mapping[str, Any], selector: Selector) -> bool:
    """Whether a listed resource is selected (:func:`verdict`): AVAILABLE, every pair asked, no pair excluded."""
    return verdict(resource, selector) is None


@dataclass
class Explanation:
    """A dry run's account of a selection: each resource the list calls returned, selected or left out and why.

    The first :data:`MAX_EXPLAINED` are listed in the order they were listed; the rest are counted.
    """

    resources: list[dict[str, Any]] = field(default_factory=list)
    selected: int = 0
    left_out: int = 0
    excluded: int = 0
    """Left out by an excluded pair alone (AVAILABLE, with every pair asked for)."""

    def add(self, resource_id: str, reason: str | None) -> None:
        if reason is None:
            self.selected += 1
        else:
            self.left_out += 1
            self.excluded += reason.startswith(EXCLUDED_PREFIX)
        if len(self.resources) < MAX_EXPLAINED:
            entry: dict[str, Any] = {"resourceId": resource_id, "selected": reason is None}
            if reason is not None:
                entry["reason"] = reason
            self.resources.append(entry)

    def document(self) -> dict[str, Any]:
        """The answer's ``selection``: a snapshot (a listing the deadline left running may still add to it)."""
        listed = list(self.resources)
        more = self.selected + self.left_out - len(listed)
        document: dict[str, Any] = {
            "resources": listed,
            "selectedCount": self.selected,
            "leftOutCount": self.left_out,
            "excludedCount": self.excluded,
        }
        if more > 0:
            document["moreResources"] = more
        return document


class Resolution:
    """One selector's resolution: iterate it for targets and skips; :attr:`list_calls` counts the pages read."""

    def __init__(
        self,
        selector: Selector,
        api: OciApi,
        remaining: Callable[[], float],
        membership: Membership | None = None,
        exclude: frozenset[str] = frozenset(),
        *,
        explain: bool = False,
    ) -> None:
        self._selector = selector
        self._exclude = exclude
        """Compartments never listed, nor descended into (the restore-test sandbox)."""
        self._api = api
        self._remaining = remaining
        self.list_calls = 0
        self.membership = membership or Membership()
        """Each member volume of a group of the trigger → that group (the request's own groups, then the
        selected ones as they are listed)."""
        self.compartments: tuple[str, ...] = ()
        """The compartments the selector reached (known once iteration has begun)."""
        self.excluded = 0
        """Resources left out by an excluded pair alone (AVAILABLE, with every pair asked for)."""
        self.explanation: Explanation | None = Explanation() if explain else None
        """Each resource listed, selected or left out and why (only when asked: a dry run)."""

    @property
    def members(self) -> dict[str, str]:
        return self.membership.group_of

    def __iter__(self) -> Iterator[Target | Skip]:
        compartments = list(self._compartments())
        self.compartments = tuple(compartments)
        if "volumeGroup" in self._selector.kinds:
            for compartment in compartments:
                for group, reason in self._listed("ListVolumeGroups", compartment):
                    group_id = group.get("id")
                    if not isinstance(group_id, str) or kind_of(group_id) != "volumeGroup":
                        continue
                    self._explain(normalize(group_id), reason)
                    if reason is None:
                        member_ids = group.get("volumeIds")
                        self.membership.add(group_id, member_ids if isinstance(member_ids, list) else [])
                        yield Target(kind="volumeGroup", resource_id=normalize(group_id), **listed_facts(group))
        for kind, operation in _LISTS:
            if kind not in self._selector.kinds:
                continue
            for compartment in compartments:
                for resource, reason in self._listed(operation, compartment):
                    resource_id = resource.get("id")
                    if not isinstance(resource_id, str) or kind_of(resource_id) != kind:
                        continue
                    target = Target(kind=kind, resource_id=normalize(resource_id), **listed_facts(resource))
                    owner = self.membership.group_of.get(target.resource_id)
                    if reason is not None:
                        # A group is backed up whole: a member left out here is still in its group's backup.
                        also = f"; its volume group {owner} is selected and backed up whole" if owner else ""
                        self._explain(target.resource_id, reason + also)
                        continue
                    skip = self.membership.skip(target)
                    self._explain(target.resource_id, f"member of selected volume group {owner}" if skip else None)
                    yield skip or target

    def _budget(self) -> float:
        budget = self._remaining()
        if budget < MIN_CALL_SECONDS:
            raise DeadlineExceeded("the deadline came before the selector was resolved")
        return budget

    def _listed(self, operation: str, compartment: str) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Each listed resource with :func:`verdict`'s reason for leaving it out (None: selected).

        Without an explanation to give, only the selected ones are handed on (those left out by an
        exclusion alone are counted in :attr:`excluded`).
        """
        query: dict[str, Any] = {"compartmentId": compartment}
        if operation != "ListBootVolumes":  # ListBootVolumes has no lifecycleState filter
            query["lifecycleState"] = AVAILABLE
        for page in self._api.pages(operation, query=query, budget=self._budget):
            self.list_calls += 1
            for item in page:
                if not isinstance(item, dict):
                    continue
                reason = verdict(item, self._selector)
                if reason is not None and reason.startswith(EXCLUDED_PREFIX):
                    self.excluded += 1
                if reason is None or self.explanation is not None:
                    yield item, reason

    def _explain(self, resource_id: str, reason: str | None) -> None:
        if self.explanation is not None:
            self.explanation.add(resource_id, reason)

    def _compartments(self) -> Iterator[str]:
        """The selector's compartment, then (when asked) every ACTIVE compartment below it, breadth first.

        An excluded compartment is skipped with everything below it.
        """
        if self._selector.compartment_id in self._exclude:
            self._explain(self._selector.compartment_id, SANDBOX_REASON)
            return
        yield self._selector.compartment_id
        if not self._selector.include_subcompartments:
            return
        queue, seen = [self._selector.compartment_id], {self._selector.compartment_id}
        while queue:
            parent = queue.pop(0)
            query = {"compartmentId": parent, "lifecycleState": "ACTIVE", "accessLevel": "ANY"}
            for page in self._api.pages("ListCompartments", query=query, budget=self._budget):
                self.list_calls += 1
                for compartment in page:
                    child = compartment.get("id")
                    if not isinstance(child, str) or child in seen or compartment.get("lifecycleState") != "ACTIVE":
                        continue
                    if normalize(child) in self._exclude:
                        self._explain(normalize(child), SANDBOX_REASON)
                        continue
                    if len(seen) > MAX_COMPARTMENTS:
                        raise InvalidRequest(
                            f"the compartment tree below the selector's compartment holds more than {MAX_COMPARTMENTS} "
                            "compartments; select a narrower compartment",
                            errors=[{"field": "selector.includeSubcompartments", "problem": _TOO_MANY_COMPARTMENTS}],
                        )
                    seen.add(child)
                    queue.append(child)
                    yield child

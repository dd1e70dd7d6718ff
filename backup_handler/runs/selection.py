"""Resolving a :class:`~backup_handler.triggers.events.Selector` into targets, one page at a time.

The selection is what the list APIs say now (ListVolumes, ListBootVolumes,
ListVolumeGroups, and Identity's ListCompartments for sub-compartments), never
Resource Search, which is eventually consistent. Tags are matched here, since
the list APIs do not filter by tag: a resource is selected when it is AVAILABLE
and carries every freeform and defined tag pair the selector gives.

Volume groups come first: a volume that belongs to a selected group, or to a group the
request names itself, is backed up once, through its group
(:mod:`backup_handler.runs.membership`). Targets are yielded as
pages arrive, so a caller can hand them on in batches without holding the whole
selection; only the member ids of selected groups are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from backup_handler.errors import DeadlineExceeded, InvalidRequest
from backup_handler.oci.api import OciApi
from backup_handler.runs.membership import Membership
from backup_handler.triggers.request import Skip, Target, listed_facts
from backup_handler.vocabulary.fields import Selector
from backup_handler.vocabulary.ocids import TargetKind, kind_of, normalize
from backup_handler.vocabulary.tags import carries_defined, carries_freeform

logger = logging.getLogger(__name__)

AVAILABLE = "AVAILABLE"
# Compartments a selector may reach through includeSubcompartments.
MAX_COMPARTMENTS = 1000
MIN_CALL_SECONDS = 0.25
_TOO_MANY_COMPARTMENTS = "reaches too many compartments"
_LISTS: tuple[tuple[TargetKind, str], ...] = (("volume", "ListVolumes"), ("bootVolume", "ListBootVolumes"))


def matches(resource: Mapping[str, Any], selector: Selector) -> bool:
    """Whether a listed resource is AVAILABLE and carries every tag pair of the selector.

    Tags compare as OCI compares them (:mod:`backup_handler.vocabulary.tags`): free-form keys and
    values exactly; defined tag namespaces and keys without regard to case, values exactly; a key the
    resource does not carry never matches, whatever value the selector gives.
    """
    if resource.get("lifecycleState") != AVAILABLE:
        return False
    return carries_freeform(resource.get("freeformTags"), selector.freeform_tags) and carries_defined(
        resource.get("definedTags"), selector.defined_tags
    )


class Resolution:
    """One selector's resolution: iterate it for targets and skips; :attr:`list_calls` counts the pages read."""

    def __init__(
        self,
        selector: Selector,
        api: OciApi,
        remaining: Callable[[], float],
        membership: Membership | None = None,
        exclude: frozenset[str] = frozenset(),
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

    @property
    def members(self) -> dict[str, str]:
        return self.membership.group_of

    def __iter__(self) -> Iterator[Target | Skip]:
        compartments = list(self._compartments())
        self.compartments = tuple(compartments)
        if "volumeGroup" in self._selector.kinds:
            for compartment in compartments:
                for group in self._listed("ListVolumeGroups", compartment):
                    group_id = group.get("id")
                    if isinstance(group_id, str) and kind_of(group_id) == "volumeGroup":
                        member_ids = group.get("volumeIds")
                        self.membership.add(group_id, member_ids if isinstance(member_ids, list) else [])
                        yield Target(kind="volumeGroup", resource_id=normalize(group_id), **listed_facts(group))
        for kind, operation in _LISTS:
            if kind not in self._selector.kinds:
                continue
            for compartment in compartments:
                for resource in self._listed(operation, compartment):
                    resource_id = resource.get("id")
                    if not isinstance(resource_id, str) or kind_of(resource_id) != kind:
                        continue
                    target = Target(kind=kind, resource_id=normalize(resource_id), **listed_facts(resource))
                    yield self.membership.skip(target) or target

    def _budget(self) -> float:
        budget = self._remaining()
        if budget < MIN_CALL_SECONDS:
            raise DeadlineExceeded("the deadline came before the selector was resolved")
        return budget

    def _listed(self, operation: str, compartment: str) -> Iterator[dict[str, Any]]:
        query: dict[str, Any] = {"compartmentId": compartment}
        if operation != "ListBootVolumes":  # ListBootVolumes has no lifecycleState filter
            query["lifecycleState"] = AVAILABLE
        for page in self._api.pages(operation, query=query, budget=self._budget):
            self.list_calls += 1
            yield from (item for item in page if matches(item, self._selector))

    def _compartments(self) -> Iterator[str]:
        """The selector's compartment, then (when asked) every ACTIVE compartment below it, breadth first.

        An excluded compartment is skipped with everything below it.
        """
        if self._selector.compartment_id in self._exclude:
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

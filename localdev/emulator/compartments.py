"""Compartments, as Identity serves them: ListCompartments and GetCompartment.

Identity shares Block Storage's base path (``/20160918``), so its operations are rows in the same
routing table, signed and recorded the same way. ListCompartments takes the query parameters the
SDK sends: ``compartmentId`` (the parent; required), ``compartmentIdInSubtree`` (only on the
tenancy, the root compartment, as the service allows: 400 otherwise), ``accessLevel``
(``ANY``/``ACCESSIBLE``; every compartment here is accessible), ``name``, ``lifecycleState``, and
``limit``/``page``. A parent that is neither the tenancy nor a known compartment is a 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from localdev.credentials import TENANCY
from localdev.emulator.api import (
    ErrorResponse,
    Request,
    Response,
    Service,
    not_found,
    now,
    query_choice,
    query_value,
)
from localdev.emulator.pagination import page


class Stores(Protocol):
    """The emulator stores this family's handlers read and change."""

    @property
    def compartments(self) -> CompartmentStore: ...


LIFECYCLE_STATES = frozenset({"CREATING", "ACTIVE", "INACTIVE", "DELETING", "DELETED"})
ACCESS_LEVELS = frozenset({"ANY", "ACCESSIBLE"})


@dataclass
class CompartmentStore:
    """Every compartment below the tenancy, by OCID, in the order added."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(
        self,
        compartment_id: str,
        parent_id: str,
        name: str,
        *,
        description: str | None = None,
        lifecycle_state: str = "ACTIVE",
    ) -> None:
        if parent_id != TENANCY and parent_id not in self.records:
            raise ValueError(f"the parent {parent_id} is neither the tenancy nor a known compartment")
        if lifecycle_state not in LIFECYCLE_STATES:
            raise ValueError(f"lifecycle_state must be one of {sorted(LIFECYCLE_STATES)}")
        self.records[compartment_id] = {
            "id": compartment_id,
            "compartmentId": parent_id,
            "name": name,
            "description": description or name,
            "timeCreated": now(),
            "lifecycleState": lifecycle_state,
            "inactiveStatus": None,
            "isAccessible": True,
            "freeformTags": {},
            "definedTags": {},
        }

    def below(self, parent_id: str, *, subtree: bool) -> Iterator[dict[str, Any]]:
        """The children of ``parent_id`` (every descendant, with ``subtree``), in the order added."""
        if not subtree:
            yield from (record for record in self.records.values() if record["compartmentId"] == parent_id)
            return
        inside = {parent_id}
        for record in self.records.values():  # a parent is always added before its children
            if record["compartmentId"] in inside:
                inside.add(record["id"])
                yield record


def get_compartment(service: Service[Stores], request: Request) -> Response:
    compartment_id = request.params["compartmentId"]
    record = service.state.compartments.records.get(compartment_id)
    if record is None:
        raise not_found(compartment_id)
    return Response(200, dict(record))


def list_compartments(service: Service[Stores], request: Request) -> Response:
    parent_id = query_value(request, "compartmentId", required=True)
    assert parent_id is not None
    subtree_text = (query_value(request, "compartmentIdInSubtree") or "false").lower()
    if subtree_text not in ("true", "false"):
        raise ErrorResponse(400, "InvalidParameter", "compartmentIdInSubtree must be true or false")
    subtree = subtree_text == "true"
    query_choice(request, "accessLevel", ACCESS_LEVELS)  # every compartment is accessible here
    state = query_choice(request, "lifecycleState", LIFECYCLE_STATES)
    name = query_value(request, "name")
    store = service.state.compartments
    if parent_id != TENANCY and parent_id not in store.records:
        raise not_found(parent_id)
    if subtree and parent_id != TENANCY:
        raise ErrorResponse(
            400, "InvalidParameter", "compartmentIdInSubtree can only be true when compartmentId is the tenancy"
        )
    items = [
        dict(record)
        for record in store.below(parent_id, subtree=subtree)
        if (state is None or record["lifecycleState"] == state) and (name is None or record["name"] == name)
    ]
    return page(items, request.query, service.page_size)

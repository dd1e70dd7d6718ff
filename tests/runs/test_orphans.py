"""The orphan sweep's verdicts: which scopes a tick still selects, and where it starts."""

from __future__ import annotations

from backup_handler.runs.orphans import Sweep
from backup_handler.vocabulary.fields import Selector

COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaorphanstest000000000000000000000000000000000000000"
OTHER = "ocid1.compartment.oc1..aaaaaaaaorphanstestother0000000000000000000000000000000000"


def volume(volume_id: str, tags: dict[str, str], state: str = "AVAILABLE") -> dict[str, object]:
    return {"id": volume_id, "compartmentId": COMPARTMENT, "lifecycleState": state, "freeformTags": tags}


def test_a_source_terminated_is_gone_and_one_not_listed_unseen_even_when_the_tick_names_it() -> None:
    sweep = Sweep(selected=frozenset({"v1", "v2"}))
    inventory = {"v2": volume("v2", {}, "TERMINATED"), "v3": volume("v3", {})}

    assert sweep.judge("volume", "v1", inventory) == "sourceUnseen"  # moved, purged or out of sight: not "deleted"
    assert sweep.judge("volume", "v2", inventory) == "sourceGone"
    assert sweep.judge("volume", "v3", inventory) == "notSelected"


def test_a_selector_selects_by_tags_kind_and_compartment() -> None:
    selector = Selector.model_validate({"compartmentId": COMPARTMENT, "freeformTags": {"backup": "gold"}})
    sweep = Sweep(selector=selector)
    inventory = {"v1": volume("v1", {"backup": "gold"}), "v2": volume("v2", {"backup": "none"})}

    assert sweep.judge("volume", "v1", inventory) == "selected"
    assert sweep.judge("volume", "v2", inventory) == "notSelected"
    assert sweep.judge("volumeGroup", "v1", inventory) == "notSelected"  # the selector's kinds: volumes, boots
    elsewhere = Sweep(selector=selector, selector_compartments=frozenset({OTHER}))
    assert elsewhere.judge("volume", "v1", inventory) == "notSelected"


def test_each_tick_starts_at_its_own_compartment_and_sweeps_each_once() -> None:
    compartments = tuple(f"c{n}" for n in range(5))
    orders = {tuple(Sweep(compartments=compartments, rotation=f"tick-{n}").order(["c2"])) for n in range(20)}

    assert all(sorted(order) == list(compartments) for order in orders)
    assert len({order[0] for order in orders}) > 1
    assert Sweep().order() == []

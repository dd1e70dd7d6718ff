"""Unit tests: the one rule that decides what a selector selects, exclusions included, and how a dry run explains it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import pytest

from backup_handler.oci.api import OciApi
from backup_handler.runs.orphans import Sweep
from backup_handler.runs.selection import MAX_EXPLAINED, SANDBOX_REASON, Explanation, Resolution, matches, verdict
from backup_handler.triggers.request import Skip, Target
from backup_handler.vocabulary.fields import MAX_TAGS, Selector, narrowed

COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaselectiontest00000000000000000000000000000000000000"
SANDBOX = "ocid1.compartment.oc1..aaaaaaaaselectionsandbox000000000000000000000000000000000000"
GROUP = "ocid1.volumegroup.oc1.iad.aaaaaaaaselectiongroup"


def volume_id(n: int) -> str:
    return f"ocid1.volume.oc1.iad.aaaaaaaaselection{n:06d}"


def resource(
    tags: dict[str, Any] | None = None, defined: dict[str, Any] | None = None, state: str = "AVAILABLE", n: int = 0
) -> dict[str, Any]:
    return {
        "id": volume_id(n),
        "compartmentId": COMPARTMENT,
        "lifecycleState": state,
        "freeformTags": tags or {},
        "definedTags": defined or {},
    }


def selector(**fields: Any) -> Selector:
    return Selector.model_validate({"compartmentId": COMPARTMENT, "freeformTags": {"backup": "daily"}, **fields})


NEVER = selector(excludeFreeformTags={"backup-skip": "yes"}, excludeDefinedTags={"Ops": {"tier": "scratch"}})


@pytest.mark.parametrize(
    ("listed", "reason"),
    [
        (resource({"backup": "daily"}), None),
        (resource({"backup": "daily", "backup-skip": "no"}), None),
        (resource({"backup": "daily", "Backup-Skip": "yes"}), None),  # free-form keys are case sensitive
        (resource({"backup": "daily", "backup-skip": "YES"}), None),  # and so are values
        (resource({"backup": "daily"}, {"Ops": {"tier": "Scratch"}}), None),  # defined values too
        (resource({"backup": "daily", "backup-skip": "yes"}), "excludeFreeformTags backup-skip=yes"),
        (resource({"backup": "daily"}, {"OPS": {"TIER": "scratch"}}), "excludeDefinedTags Ops.tier=scratch"),
        (resource({"backup": "weekly", "backup-skip": "yes"}), "lacks freeformTags backup=daily"),
        (resource({"backup": "daily", "backup-skip": "yes"}, state="PROVISIONING"), "lifecycleState PROVISIONING"),
        (resource({"backup": "daily", "backup-skip": 1}), None),  # a value that is not a string matches nothing
    ],
)
def test_one_excluded_pair_leaves_a_resource_out_whatever_else_matches(
    listed: dict[str, Any], reason: str | None
) -> None:
    found = verdict(listed, NEVER)

    assert found == reason if reason is None else (found or "").startswith(reason)
    assert matches(listed, NEVER) is (reason is None)


def test_a_missing_key_never_matches_an_exclusion_whatever_its_value() -> None:
    for value in ("", "None", "null"):
        assert matches(resource({"backup": "daily"}), selector(excludeFreeformTags={"skip": value}))


def test_configured_exclusions_hold_for_a_body_selector_and_say_where_they_come_from() -> None:
    configured = Selector.model_validate({"compartmentId": COMPARTMENT, "excludeFreeformTags": {"backup-skip": "yes"}})
    body = narrowed(selector(excludeFreeformTags={"backup-skip": "maybe"}), configured)

    assert (
        verdict(resource({"backup": "daily", "backup-skip": "maybe"}), body) == "excludeFreeformTags backup-skip=maybe"
    )
    assert verdict(resource({"backup": "daily", "backup-skip": "yes"}), body) == (
        "excludeFreeformTags backup-skip=yes (BACKUP_SELECTOR)"
    )


def test_the_orphan_sweep_takes_a_newly_excluded_volume_for_not_selected() -> None:
    inventory = {
        "v1": {**resource({"backup": "daily"}), "id": "v1"},
        "v2": {**resource({"backup": "daily", "backup-skip": "yes"}), "id": "v2"},
    }
    sweep = Sweep(selector=NEVER)

    assert sweep.judge("volume", "v1", inventory) == "selected"
    assert sweep.judge("volume", "v2", inventory) == "notSelected"


def test_an_explanation_lists_a_bounded_number_and_counts_the_rest() -> None:
    explanation = Explanation()
    for n in range(MAX_EXPLAINED * 3):
        explanation.add(volume_id(n), None if n % 3 else "excludeFreeformTags backup=never")
    explanation.add(volume_id(-1), "lacks freeformTags backup=daily")

    document = explanation.document()
    assert len(document["resources"]) == MAX_EXPLAINED
    assert document["moreResources"] == MAX_EXPLAINED * 2 + 1
    assert (document["selectedCount"], document["leftOutCount"], document["excludedCount"]) == (200, 101, 100)
    assert document["resources"][:2] == [
        {"resourceId": volume_id(0), "selected": False, "reason": "excludeFreeformTags backup=never"},
        {"resourceId": volume_id(1), "selected": True},
    ]


def test_an_explanation_stays_small_at_the_largest_selector_accepted() -> None:
    # Every tag at OCI's longest key and value, the defined ones in the longest namespace: the longest reasons.
    namespace = "N" * 100
    keys = [f"{n:03d}".ljust(100, "k") for n in range(MAX_TAGS)]
    largest = Selector.model_validate(
        {
            "compartmentId": COMPARTMENT,
            "excludeFreeformTags": {key: "v" * 256 for key in keys},
            "excludeDefinedTags": {namespace: {key: "v" * 256 for key in keys}},
        }
    )
    configured = Selector.model_validate({"compartmentId": COMPARTMENT, "excludeFreeformTags": {"x": "y"}})
    body = narrowed(largest, configured)
    explanation = Explanation()
    for n in range(10_000):
        listed = resource(defined={namespace: {keys[-1]: "v" * 256}}, n=n)
        explanation.add(volume_id(n), (verdict(listed, body) or "") + f"; its volume group {GROUP} is selected")

    size = len(json.dumps(explanation.document()))
    assert explanation.left_out == 10_000 and size < MAX_EXPLAINED * 1024


class _Lists:
    """The list API, as pages of plain JSON, for one compartment and its children."""

    def __init__(self, listed: Mapping[str, list[dict[str, Any]]]) -> None:
        self.listed = listed
        self.calls: list[tuple[str, str]] = []

    def pages(
        self, name: str, *, query: Mapping[str, Any], budget: Callable[[], float]
    ) -> Iterator[list[dict[str, Any]]]:
        self.calls.append((name, str(query["compartmentId"])))
        yield [
            item
            for item in self.listed.get(name, [])
            if item.get("compartmentId", COMPARTMENT) == query["compartmentId"]
        ]


def resolve(selection: Selector, lists: _Lists, *, explain: bool) -> tuple[list[Target | Skip], Resolution]:
    resolution = Resolution(selection, cast(OciApi, lists), lambda: 10.0, exclude=frozenset({SANDBOX}), explain=explain)
    return list(resolution), resolution


def test_a_resolution_explains_each_resource_listed_and_counts_the_excluded() -> None:
    members = [volume_id(1), volume_id(2)]
    lists = _Lists(
        {
            "ListVolumeGroups": [
                {"id": GROUP, "lifecycleState": "AVAILABLE", "freeformTags": {"backup": "daily"}, "volumeIds": members}
            ],
            "ListVolumes": [
                resource({"backup": "daily"}, n=0),
                resource({"backup": "daily"}, n=1),  # a member of the selected group
                resource({"backup": "daily", "backup-skip": "yes"}, n=2),  # excluded, yet in the group's backup
                resource({"backup": "daily", "backup-skip": "yes"}, n=3),
                resource({"backup": "weekly"}, n=4),
            ],
            "ListCompartments": [{"id": SANDBOX, "compartmentId": COMPARTMENT, "lifecycleState": "ACTIVE"}],
        }
    )
    kinds = ["volumeGroup", "volume"]

    quiet, counted = resolve(
        selector(kinds=kinds, includeSubcompartments=True, excludeFreeformTags={"backup-skip": "yes"}),
        lists,
        explain=False,
    )
    items, resolution = resolve(
        selector(kinds=kinds, includeSubcompartments=True, excludeFreeformTags={"backup-skip": "yes"}),
        lists,
        explain=True,
    )

    assert items == quiet and counted.explanation is None and counted.excluded == resolution.excluded == 2
    assert [item.resource_id for item in items if isinstance(item, Target)] == [GROUP, volume_id(0)]
    assert resolution.explanation is not None
    assert resolution.explanation.document() == {
        "resources": [
            {"resourceId": SANDBOX, "selected": False, "reason": SANDBOX_REASON},
            {"resourceId": GROUP, "selected": True},
            {"resourceId": volume_id(0), "selected": True},
            {"resourceId": volume_id(1), "selected": False, "reason": f"member of selected volume group {GROUP}"},
            {
                "resourceId": volume_id(2),
                "selected": False,
                "reason": f"excludeFreeformTags backup-skip=yes; its volume group {GROUP} is selected and backed up "
                "whole",
            },
            {"resourceId": volume_id(3), "selected": False, "reason": "excludeFreeformTags backup-skip=yes"},
            {"resourceId": volume_id(4), "selected": False, "reason": "lacks freeformTags backup=daily"},
        ],
        "selectedCount": 2,
        "leftOutCount": 5,
        "excludedCount": 2,
    }
    assert ("ListVolumes", SANDBOX) not in lists.calls  # the sandbox is never listed

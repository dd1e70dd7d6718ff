"""Selector tag matching follows OCI's rules, end to end.

Free-form tag keys and values are case sensitive ("Project" and "project" are distinct keys:
Oracle, "Understanding Free-form Tags"). Defined tag namespace and key names are case
insensitive ("myNamespace" and "mynamespace", "myTag" and "mytag" cannot both exist: Identity's
CreateTagNamespace and CreateTag); values compare exactly. A tag the resource does not carry
never matches, whatever value is asked for, ``"None"`` included.
"""

from __future__ import annotations

from typing import Any

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.platform import FnPlatform

pytestmark = pytest.mark.e2e


def volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrtagged{n:046d}"


UNTAGGED = volume(0)
NONE_VALUE = volume(1)
GOLD = volume(2)
LOWER_KEY = volume(3)
EMPTY_VALUE = volume(4)


@pytest.fixture
def tagged(emulator: BlockStorageEmulator) -> BlockStorageEmulator:
    emulator.add_volume(UNTAGGED, freeform_tags={"fleet": "t"})
    emulator.add_volume(NONE_VALUE, freeform_tags={"fleet": "t"}, defined_tags={"Operations": {"tier": "None"}})
    emulator.add_volume(
        GOLD, freeform_tags={"fleet": "t", "Project": "Apollo"}, defined_tags={"Operations": {"Tier": "gold"}}
    )
    emulator.add_volume(LOWER_KEY, freeform_tags={"fleet": "t", "project": "Apollo"})
    emulator.add_volume(EMPTY_VALUE, freeform_tags={"fleet": "t", "owner": ""})
    return emulator


def selected(platform: FnPlatform, **tags: Any) -> list[str]:
    """What a dry run of a manual selector with these tags would back up."""
    selector: dict[str, Any] = {"compartmentId": COMPARTMENT, "kinds": ["volume"], "freeformTags": {"fleet": "t"}}
    for kind, pairs in tags.items():
        selector[kind] = {**selector.get(kind, {}), **pairs}
    answer = platform.invoke({"selector": selector, "dryRun": True}).json()
    if answer.get("code") == "NoTargets":
        return []
    return sorted(item["resourceId"] for item in answer["wouldCreate"])


def test_a_defined_tag_value_of_none_never_matches_a_resource_without_the_tag(
    platform: FnPlatform, tagged: BlockStorageEmulator
) -> None:
    assert selected(platform, definedTags={"Operations": {"tier": "None"}}) == [NONE_VALUE]


def test_a_missing_free_form_tag_never_matches_even_an_empty_value(
    platform: FnPlatform, tagged: BlockStorageEmulator
) -> None:
    assert selected(platform, freeformTags={"owner": ""}) == [EMPTY_VALUE]
    assert selected(platform, freeformTags={"owner": "None"}) == []


@pytest.mark.parametrize(
    ("defined", "expected"),
    [
        ({"Operations": {"Tier": "gold"}}, [GOLD]),
        ({"operations": {"tier": "gold"}}, [GOLD]),
        ({"OPERATIONS": {"TIER": "gold"}}, [GOLD]),
        ({"operations": {"tier": "Gold"}}, []),
    ],
    ids=["as-defined", "lower-case-names", "upper-case-names", "value-in-another-case"],
)
def test_defined_tag_names_match_in_any_case_and_values_exactly(
    platform: FnPlatform, tagged: BlockStorageEmulator, defined: dict[str, dict[str, str]], expected: list[str]
) -> None:
    assert selected(platform, definedTags=defined) == expected


@pytest.mark.parametrize(
    ("freeform", "expected"),
    [
        ({"Project": "Apollo"}, [GOLD]),
        ({"project": "Apollo"}, [LOWER_KEY]),
        ({"PROJECT": "Apollo"}, []),
        ({"Project": "apollo"}, []),
    ],
    ids=["key-as-tagged", "other-key", "key-in-another-case", "value-in-another-case"],
)
def test_free_form_tag_keys_and_values_match_exactly(
    platform: FnPlatform, tagged: BlockStorageEmulator, freeform: dict[str, str], expected: list[str]
) -> None:
    assert selected(platform, freeformTags=freeform) == expected

"""BACKUP_COPY_REGION takes every region the SDK knows, and any later one of the same shape; nothing else.

Settings never import the SDK, so the check is a shape (``settings.REGION_NAME``); this test holds the
shape to the SDK's own region list, and the stack's variable validation to the same shape.
"""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

from backup_handler.errors import ConfigurationError
from backup_handler.settings import REGION_NAME, Settings

VARIABLES = Path(__file__).resolve().parents[2] / "deploy" / "terraform" / "variables.tf"
# Outside the commercial realm: government, sovereign and dedicated (Oracle Alloy / DRCC) regions.
BEYOND_THE_COMMERCIAL_REALM = (
    "us-gov-ashburn-1",
    "uk-gov-london-1",
    "eu-dcc-milan-1",
    "ap-dcc-canberra-1",
    "me-dcc-muscat-1",
)
NOT_REGIONS = (
    "US-ASHBURN-1",
    "iad",
    "us-ashburn",
    "us_ashburn_1",
    "us-ashburn-1 ",
    " us-ashburn-1",
    "us-ashburn-1\n",
    "u-ashburn-1",
    "usa1-ashburn-1",
    "us--ashburn-1",
    "us-ashburn-x",
    "us-ashburn-1.example.com",
    "us-ashburn-1/../x",
    "1-ashburn-us",
    "ocid1.region.oc1..aaaa",
)


def _sdk_regions() -> list[str]:
    import oci.regions

    return sorted(oci.regions.REGIONS)


def test_every_region_the_sdk_lists_is_accepted() -> None:
    regions = _sdk_regions()

    assert len(regions) >= 80 and set(BEYOND_THE_COMMERCIAL_REALM) <= set(regions)
    for region in regions:
        assert Settings.from_env({"BACKUP_COPY_REGION": region}).copy_region == region


def test_regions_beyond_the_commercial_realm_are_accepted() -> None:
    for region in BEYOND_THE_COMMERCIAL_REALM:
        assert Settings(copy_region=region).copy_region == region


def test_a_region_opened_after_the_sdk_was_released_is_accepted_by_its_shape() -> None:
    for region in ("us-gov-boston-1", "eu-dcc-lisbon-3", "ap-newcity-12", "sa-sovereign-north-1"):
        assert region not in _sdk_regions()
        assert Settings(copy_region=region).copy_region == region


@pytest.mark.parametrize("value", NOT_REGIONS)
def test_anything_else_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"BACKUP_COPY_REGION": value})

    (problem,) = caught.value.extra["errors"]
    assert problem["field"] == "BACKUP_COPY_REGION" and "region name" in problem["problem"]


def test_the_stack_validates_the_copy_region_with_the_same_shape() -> None:
    with VARIABLES.open() as handle:
        variables = {name.strip('"'): body for b in hcl2.load(handle)["variable"] for name, body in b.items()}
    (validation,) = variables["backup_copy_region"]["validation"]
    shape = re.search(r'regex\("\^(.+)\$", var\.backup_copy_region\)', validation["condition"])

    assert shape, validation["condition"]
    assert shape.group(1) == REGION_NAME.pattern
    assert all(re.fullmatch(shape.group(1), region) for region in _sdk_regions())

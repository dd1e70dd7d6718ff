"""Defined tags only in the namespaces configuration names (BACKUP_DEFINED_TAG_NAMESPACES).

Applying a defined tag needs `use tag-namespaces` on its namespace, and the deployment grants it on
exactly the configured namespaces; IAM conditions elsewhere may rely on defined tags, so whoever may
invoke the function must not choose them. A request naming another namespace is refused, naming the
field, before any API call; one naming only configured namespaces carries them to the create body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.errors import ConfigurationError, InvalidRequest
from backup_handler.settings import Settings
from backup_handler.triggers.request import BackupRequest, Target, build_request
from localdev.samples import VOLUMES

NOW = datetime(2026, 11, 27, 13, 37, 12, tzinfo=UTC)
TAGS = {"Operations": {"tier": "gold"}}
CONFIGURED = Settings(defined_tag_namespaces=("Operations", "CostCenter"))


def build(value: Any, settings: Settings) -> BackupRequest:
    return build_request(value, headers={}, settings=settings, now=NOW)


def batch(defined_tags: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": "batch",
        "trigger": "schedule",
        "sourceRef": "20261127T130000Z/3600s",
        "idempotencyKey": "schedule:20261127T130000Z",
        "timeLabel": "20261127T130000Z",
        "batch": 1,
        "type": "INCREMENTAL",
        "definedTags": defined_tags,
        "targets": [{"kind": "volume", "id": VOLUMES[0]}],
    }


@pytest.mark.parametrize("body", [{"volumeId": VOLUMES[0], "definedTags": TAGS}, batch(TAGS)], ids=["manual", "batch"])
def test_defined_tags_are_refused_when_no_namespace_is_configured(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build(body, Settings())

    (problem,) = caught.value.extra["errors"]
    assert problem["field"] == "definedTags.Operations"
    assert "BACKUP_DEFINED_TAG_NAMESPACES" in problem["problem"]


def test_a_namespace_beside_the_configured_ones_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        build({"volumeId": VOLUMES[0], "definedTags": {**TAGS, "Security": {"level": "high"}}}, CONFIGURED)

    assert caught.value.extra["errors"][0]["field"] == "definedTags.Security"


@pytest.mark.parametrize("body", [{"volumeId": VOLUMES[0], "definedTags": TAGS}, batch(TAGS)], ids=["manual", "batch"])
def test_defined_tags_in_configured_namespaces_reach_the_create_body(body: dict[str, Any]) -> None:
    request = build(body, CONFIGURED)

    assert request.api_body(Target(kind="volume", resource_id=VOLUMES[0]), "{trigger}")["definedTags"] == TAGS


def test_namespaces_compare_without_regard_to_case_as_oci_and_iam_conditions_do() -> None:
    request = build({"volumeId": VOLUMES[0], "definedTags": {"operations": {"tier": "gold"}}}, CONFIGURED)

    assert request.defined_tags == {"operations": {"tier": "gold"}}


def test_free_form_tags_and_selectors_need_no_configured_namespace() -> None:
    tagged = build({"volumeId": VOLUMES[0], "freeformTags": {"ticket": "T-1"}}, Settings())
    selector = {"selector": {"compartmentId": "ocid1.compartment.oc1..aaaa", "definedTags": TAGS}}

    assert tagged.freeform_tags["ticket"] == "T-1"
    assert build(selector, Settings()).selector is not None  # matching volumes by defined tags applies none


@pytest.mark.parametrize(
    "value", ["Ops.Team", "Ops'", 'Ops"', "Ops\\x", "Ops\x01", "x" * 101, ",".join(f"n{i}" for i in range(11))]
)
def test_the_setting_takes_only_names_an_iam_condition_can_quote(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"BACKUP_DEFINED_TAG_NAMESPACES": value})

    assert caught.value.extra["errors"][0]["field"] == "BACKUP_DEFINED_TAG_NAMESPACES"


def test_the_setting_is_a_comma_or_space_separated_list() -> None:
    settings = Settings.from_env({"BACKUP_DEFINED_TAG_NAMESPACES": "Operations, CostCenter Security"})

    assert settings.defined_tag_namespaces == ("Operations", "CostCenter", "Security")

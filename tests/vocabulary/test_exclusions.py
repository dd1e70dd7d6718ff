"""Unit tests: a selector's exclusions — their shape, contradictions, and configuration narrowing a body's selector."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.errors import ConfigurationError, InvalidRequest
from backup_handler.settings import Settings
from backup_handler.triggers.audit import build_audit
from backup_handler.triggers.payload import EMPTY
from backup_handler.triggers.request import BackupRequest, build_request
from backup_handler.vocabulary.fields import MAX_TAGS, NarrowedSelector, Selector
from localdev.credentials import COMPARTMENT

SELECTOR = {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "daily"}}
CONFIGURED = {"compartmentId": COMPARTMENT, "excludeFreeformTags": {"backup": "never"}}


def schedule(selector: dict[str, Any], settings: Settings | None = None) -> BackupRequest:
    body = {"source": "schedule", "selector": selector}
    return build_request(body, headers={}, settings=settings or Settings(), now=datetime.now(UTC))


def manual(selector: dict[str, Any], settings: Settings | None = None) -> BackupRequest:
    return build_request({"selector": selector}, headers={}, settings=settings or Settings(), now=datetime.now(UTC))


def configured(**selector: Any) -> Settings:
    return Settings.model_validate({"selector": {**CONFIGURED, **selector}})


def test_a_selector_takes_exclusions_of_the_same_shapes_as_its_tags() -> None:
    request = schedule(
        {**SELECTOR, "excludeFreeformTags": {"backup": "never"}, "excludeDefinedTags": {"Ops": {"tier": "scratch"}}}
    )

    assert request.selector is not None
    assert request.selector.exclude_freeform_tags == {"backup": "never"}
    assert request.selector.exclude_defined_tags == {"Ops": {"tier": "scratch"}}


@pytest.mark.parametrize(
    ("exclusions", "field"),
    [
        ({"excludeFreeformTags": "backup=never"}, "selector.excludeFreeformTags"),
        ({"excludeFreeformTags": [["backup", "never"]]}, "selector.excludeFreeformTags"),
        ({"excludeFreeformTags": {"backup": True}}, "selector.excludeFreeformTags.backup"),
        ({"excludeFreeformTags": {"backup": 0}}, "selector.excludeFreeformTags.backup"),
        ({"excludeFreeformTags": {"": "never"}}, "selector.excludeFreeformTags"),
        ({"excludeFreeformTags": {"backup": "x" * 257}}, "selector.excludeFreeformTags.backup"),
        ({"excludeDefinedTags": {"Ops": "tier=scratch"}}, "selector.excludeDefinedTags.Ops"),
        ({"excludeDefinedTags": {"Ops": {"tier": 1}}}, "selector.excludeDefinedTags.Ops.tier"),
        ({"excludeFreeformTags": {f"k{n}": "v" for n in range(MAX_TAGS + 1)}}, "selector.excludeFreeformTags"),
        ({"configuredExcludeFreeformTags": {"backup": "always"}}, "selector.configuredExcludeFreeformTags"),
        ({"excludeFreeFormTags": {"backup": "never"}}, "selector.excludeFreeFormTags"),
    ],
)
def test_exclusions_are_strictly_typed_and_bounded(exclusions: dict[str, Any], field: str) -> None:
    for build in (schedule, manual):
        with pytest.raises(InvalidRequest) as refused:
            build({**SELECTOR, **exclusions})
        assert refused.value.to_json()["errors"][0]["field"].startswith(field)
    with pytest.raises(InvalidRequest) as refused:
        build_audit({"source": "audit", "selector": {**SELECTOR, **exclusions}}, Settings())
    assert refused.value.to_json()["errors"][0]["field"].startswith(field)


def test_the_same_pair_on_both_sides_is_a_contradiction_named_by_its_field() -> None:
    with pytest.raises(InvalidRequest) as refused:
        schedule({**SELECTOR, "excludeFreeformTags": {"backup": "daily"}})

    error = refused.value.to_json()["errors"][0]
    assert error["field"] == "selector.excludeFreeformTags"
    assert "backup=daily is also in freeformTags" in error["problem"]


def test_a_defined_pair_on_both_sides_is_a_contradiction_whatever_the_case_of_its_names() -> None:
    with pytest.raises(InvalidRequest) as refused:
        manual({**SELECTOR, "definedTags": {"Ops": {"Tier": "gold"}}, "excludeDefinedTags": {"ops": {"tier": "gold"}}})

    error = refused.value.to_json()["errors"][0]
    assert error["field"] == "selector.excludeDefinedTags" and "ops.tier=gold" in error["problem"]


def test_an_exclusion_on_a_key_the_include_side_names_with_another_value_is_accepted() -> None:
    request = schedule({**SELECTOR, "excludeFreeformTags": {"backup": "never", "Backup": "daily"}})

    assert request.selector is not None and request.selector.exclude_freeform_tags["backup"] == "never"
    # Free-form keys are case sensitive: Backup=daily is another tag than backup=daily.
    with pytest.raises(InvalidRequest):
        schedule({**SELECTOR, "definedTags": {"Ops": {"v": "1"}}, "excludeDefinedTags": {"OPS": {"V": "1"}}})
    schedule({**SELECTOR, "definedTags": {"Ops": {"v": "1"}}, "excludeDefinedTags": {"Ops": {"v": "2"}}})


def test_a_contradiction_in_backup_selector_is_refused_at_load_naming_the_variable() -> None:
    selector = json.dumps({"compartmentId": COMPARTMENT, "freeformTags": {"a": "b"}, "excludeFreeformTags": {"a": "b"}})

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"BACKUP_SELECTOR": selector})

    error = refused.value.to_json()["errors"][0]
    assert error["field"] == "BACKUP_SELECTOR" and "excludeFreeformTags" in error["problem"]
    with pytest.raises(ConfigurationError):
        Settings.from_env({"BACKUP_SELECTOR": json.dumps({"compartmentId": COMPARTMENT, "excludeFreeformTags": "a=b"})})


def test_a_body_selector_cannot_drop_a_configured_exclusion() -> None:
    settings = configured()

    for request in (schedule(SELECTOR, settings), manual(SELECTOR, settings)):
        assert isinstance(request.selector, NarrowedSelector)
        assert [set_[1:] for set_ in request.selector.exclusions()] == [({}, {}), ({"backup": "never"}, {})]
    audited = build_audit({"source": "audit", "selector": SELECTOR}, settings).selector
    assert isinstance(audited, NarrowedSelector) and audited.configured_exclude_freeform_tags == {"backup": "never"}


def test_a_body_exclusion_on_the_same_key_as_a_configured_one_keeps_both() -> None:
    request = schedule({**SELECTOR, "excludeFreeformTags": {"backup": "skip"}}, configured())

    assert request.selector is not None
    assert [set_[1] for set_ in request.selector.exclusions()] == [{"backup": "skip"}, {"backup": "never"}]


def test_a_body_that_selects_a_pair_configuration_excludes_is_refused_naming_the_field() -> None:
    settings = configured(excludeDefinedTags={"Ops": {"tier": "scratch"}})

    with pytest.raises(InvalidRequest) as refused:
        schedule({**SELECTOR, "freeformTags": {"backup": "never"}}, settings)
    assert refused.value.to_json()["errors"][0]["field"] == "selector.freeformTags.backup"
    assert "BACKUP_SELECTOR excludeFreeformTags" in refused.value.to_json()["errors"][0]["problem"]
    with pytest.raises(InvalidRequest) as refused:
        build_audit(
            {"source": "audit", "selector": {**SELECTOR, "definedTags": {"ops": {"TIER": "scratch"}}}}, settings
        )
    assert refused.value.to_json()["errors"][0]["field"] == "selector.definedTags.ops.TIER"


def test_without_configured_exclusions_a_body_selector_is_taken_as_sent() -> None:
    settings = Settings.model_validate({"selector": {"compartmentId": COMPARTMENT, "freeformTags": {"a": "b"}}})

    request = schedule(SELECTOR, settings)

    assert type(request.selector) is Selector and request.selector.freeform_tags == {"backup": "daily"}


def test_an_empty_schedule_body_selects_with_the_configured_selector_and_its_exclusions() -> None:
    settings = configured()

    request = build_request(EMPTY, headers={}, settings=settings, now=datetime.now(UTC))

    assert request.selector == settings.selector

"""Unit tests: an audit body is recognised as its own request kind and validated strictly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backup_handler.errors import InvalidRequest, NoTargets, UnrecognizedEvent
from backup_handler.settings import Settings
from backup_handler.triggers.audit import build_audit
from backup_handler.triggers.request import build_request, recognise
from localdev.credentials import COMPARTMENT
from tests.conftest import event_json

SELECTOR = {"compartmentId": COMPARTMENT, "freeformTags": {"backup": "daily"}}


def test_the_samples_are_audits_with_their_selectors() -> None:
    for name in ("audit.json", "audit-schedule.json"):
        body = event_json(name)

        assert recognise(body) == "audit"
        request = build_audit(body, Settings())
        assert request.selector.compartment_id == COMPARTMENT and not request.from_configuration


def test_an_audit_body_never_becomes_a_backup_request() -> None:
    body = {"source": "audit", "volumeIds": ["ocid1.volume.oc1.iad.abc"], "volumeId": "ocid1.volume.oc1.iad.abc"}

    assert recognise(body) == "audit"
    with pytest.raises(UnrecognizedEvent):
        build_request(body, headers={}, settings=Settings(), now=datetime.now(UTC))
    with pytest.raises(InvalidRequest):
        build_audit(body, Settings())


def test_without_a_selector_the_configured_one_is_audited_and_without_either_nothing_is() -> None:
    configured = Settings.model_validate({"selector": {"compartmentId": COMPARTMENT}})

    assert build_audit({"source": "audit"}, configured).from_configuration
    with pytest.raises(NoTargets):
        build_audit({"source": "audit"}, Settings())


@pytest.mark.parametrize(
    ("selector", "field"),
    [
        ({**SELECTOR, "includeSubcompartments": "true"}, "selector.includeSubcompartments"),
        ({**SELECTOR, "includeSubcompartments": 0}, "selector.includeSubcompartments"),
        ({**SELECTOR, "kinds": ["volume", 1]}, "selector.kinds[1]"),
        ({**SELECTOR, "freeformTags": {"backup": True}}, "selector.freeformTags.backup"),
        ({**SELECTOR, "definedTags": {"Ops": {"tier": 1}}}, "selector.definedTags.Ops.tier"),
        ({**SELECTOR, "compartmentID": COMPARTMENT}, "selector.compartmentID"),
    ],
)
def test_json_types_are_taken_as_sent(selector: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        build_audit({"source": "audit", "selector": selector}, Settings())

    assert refused.value.extra["errors"][0]["field"] == field


def test_a_lone_surrogate_or_a_huge_number_is_an_invalid_body_not_a_failure() -> None:
    for value in ("\ud800", 10**400, float("inf")):
        with pytest.raises(InvalidRequest):
            build_audit({"source": "audit", "selector": {**SELECTOR, "freeformTags": {"k": value}}}, Settings())

"""Offline checks of the coverage audit's part of the stack (deploy/terraform/audit.tf, variables_audit.tf).

Every argument and block is checked against the OCI provider's own schema (the extract in
/work/shared/reference, or the copy a checkout carries); the schedule's BODY, the alarms' queries and the
schedule's policy are checked for what makes them work.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from backup_handler.reporting.audit import RULE_METRICS, VIOLATIONS
from backup_handler.reporting.metrics import CREATED
from tests.deploy.test_stack import STACK, _unquote

AUDIT_TF = STACK / "audit.tf"
PROVIDER_SCHEMA = Path("/work/shared/reference/oci-provider-schema.json")
# Monitoring's alarm intervals: 1m-60m, 1h-24h, 1d; absence detection periods: 1m to 72h (MQL reference).
INTERVAL = re.compile(r"\[(\d+)([mhd])\]")
META_ARGUMENTS = {"count", "provider", "lifecycle", "depends_on", "for_each"}


@pytest.fixture(scope="module")
def audit() -> dict[str, Any]:
    with AUDIT_TF.open() as handle:
        parsed: dict[str, Any] = _unquote(hcl2.load(handle))
    return parsed


def resources(audit: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for block in audit["resource"]:
        for rtype, named in block.items():
            for name, body in named.items():
                found[(rtype, name)] = body
    return found


def _check_block(body: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    attributes = schema.get("attributes", {})
    blocks = schema.get("block_types", {})
    for name, value in body.items():
        if name in META_ARGUMENTS:
            continue
        if name in blocks:
            for item in value:
                _check_block(item, blocks[name]["block"], f"{where}.{name}")
            continue
        assert name in attributes, f"{where}: {name} is no argument of the provider's schema"
        spec = attributes[name]
        assert spec.get("required") or spec.get("optional"), f"{where}: {name} is computed only"
        if spec.get("type") == ["list", "string"]:
            assert isinstance(value, list), f"{where}: {name} must be a list"
        allowed = spec.get("allowed_values")
        if allowed and isinstance(value, str) and "${" not in value:
            assert value.upper() in {a.upper() for a in allowed}, f"{where}: {name}={value}"
    for name, spec in attributes.items():
        if spec.get("required"):
            assert name in body, f"{where}: the required {name} is missing"
    for name, spec in blocks.items():
        if spec.get("min_items"):
            assert name in body, f"{where}: the required block {name} is missing"


@pytest.mark.skipif(not PROVIDER_SCHEMA.exists(), reason="the provider schema extract is not on this machine")
def test_every_audit_resource_matches_the_providers_schema(audit: dict[str, Any]) -> None:
    schema = json.loads(PROVIDER_SCHEMA.read_text())
    (provider,) = schema["provider_schemas"].values()
    checked = 0
    for (rtype, name), body in resources(audit).items():
        if rtype == "terraform_data":  # Terraform's own: no provider schema
            continue
        _check_block(body, provider["resource_schemas"][rtype]["block"], f"{rtype}.{name}")
        checked += 1
    assert checked == 7


def test_the_audit_schedule_sends_an_audit_body_as_a_list_of_one_json_string(audit: dict[str, Any]) -> None:
    schedule = resources(audit)[("oci_resource_scheduler_schedule", "audit")]
    (parameter,) = schedule["resources"][0]["parameters"]
    assert schedule["action"] == "START_RESOURCE" and parameter["parameter_type"] == "BODY"
    (value,) = parameter["value"]
    assert value.startswith("${jsonencode(") and 'source = "audit"' in value
    assert schedule["resources"][0]["id"] == "${oci_functions_function.backup_handler.id}"
    conditions = " ".join(item["condition"] for item in schedule["lifecycle"][0]["precondition"])
    for feature in ("selectors", "groups", "subcompartments"):
        assert f"local.features.{feature}" in conditions


def test_the_audit_schedule_may_invoke_the_function_and_nothing_else(audit: dict[str, Any]) -> None:
    policy = resources(audit)[("oci_identity_policy", "audit_schedule")]
    principal = (
        "where all {request.principal.type = 'resourceschedule', "
        "request.principal.id = '${oci_resource_scheduler_schedule.audit[0].id}'}"
    )
    assert policy["statements"] == [
        f"Allow any-user to read fn-function in compartment id ${{var.compartment_ocid}} {principal}",
        f"Allow any-user to use fn-invocation in compartment id ${{var.compartment_ocid}} {principal}",
    ]


def _alarm(audit: dict[str, Any], name: str) -> dict[str, Any]:
    return resources(audit)[("oci_monitoring_alarm", name)]


def test_alarms_page_people_never_the_function(audit: dict[str, Any]) -> None:
    for name in ("audit_violations", "audit_absent", "backups_absent"):
        alarm = _alarm(audit, name)
        assert alarm["destinations"] == ["${local.failure_topic_id}"], name
        assert alarm["namespace"] == "${var.backup_metrics_namespace}"
        assert "local.alarms_possible" in alarm["count"]


def test_the_violations_alarm_watches_the_metric_the_audit_posts(audit: dict[str, Any]) -> None:
    query = _alarm(audit, "audit_violations")["query"]
    assert query.startswith(f"{VIOLATIONS}[1d]") and query.endswith("> 0")
    assert set(RULE_METRICS) >= {"rpo", "copy", "lock", "key"}


@pytest.mark.parametrize(("name", "metric"), [("backups_absent", CREATED), ("audit_absent", "audit_checked")])
def test_absence_alarms_use_absent_within_monitorings_limits(audit: dict[str, Any], name: str, metric: str) -> None:
    alarm = _alarm(audit, name)
    query = alarm["query"].replace("${var.absence_alarm_hours}", "24")
    assert query.startswith(f"{metric}[")
    match = INTERVAL.search(query)
    assert match, query
    amount, unit = int(match.group(1)), match.group(2)
    assert (unit == "h" and 1 <= amount <= 24) or (unit == "d" and amount == 1)
    assert ".groupBy(function).absent(72h)" in query  # the longest absence detection period
    assert alarm["pending_duration"] == "PT1H"


def test_the_absence_window_is_a_variable_bounded_to_monitorings_intervals() -> None:
    with (STACK / "variables_audit.tf").open() as handle:
        variables = {name: body for block in _unquote(hcl2.load(handle))["variable"] for name, body in block.items()}
    hours = variables["absence_alarm_hours"]
    assert hours["default"] == 24
    assert "<= 24" in hours["validation"][0]["condition"] and ">= 1" in hours["validation"][0]["condition"]
    assert "${var.absence_alarm_hours}h" in AUDIT_TF.read_text()


def test_the_audit_selector_is_decoded_from_one_string(audit: dict[str, Any]) -> None:
    """A conditional between a decoded object and an object literal of other attributes fails at plan
    ("Inconsistent conditional result types", checked with terraform 1.11): decode one string either way."""
    (block,) = audit["locals"]
    assert block["audit_selector"] == (
        '${jsondecode(var.audit_selector != "" ? var.audit_selector : jsonencode(local.schedule_selector))}'
    )

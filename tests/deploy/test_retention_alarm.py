"""Offline checks of the retention alarm (deploy/terraform/retention_alarms.tf): it exists when retention does, it
watches the metric the function posts when a deletion cap holds deletions back, and it pages people.

The resource is checked against the vendored provider schema (8.28.0) like every other; where the terraform
binary is installed, the stack's own expressions decide when the alarm exists (terraform console, offline).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backup_handler.reporting.retention import HELD
from tests.deploy import stack
from tests.deploy.provider_schema import STACK, check_text, load_schema

ALARMS_TF = STACK / "retention_alarms.tf"
# Monitoring's alarm intervals: 1m-60m, 1h-24h, 1d (MQL reference).
INTERVAL = re.compile(r"\[(\d+)([mhd])\]")


@pytest.fixture(scope="module")
def alarm() -> dict[str, Any]:
    return stack.resource(stack.load(), "oci_monitoring_alarm", "retention_capped")


def test_the_retention_alarm_matches_the_providers_schema() -> None:
    assert check_text(ALARMS_TF.read_text(), load_schema(), ALARMS_TF.name) == []


def test_the_alarm_pages_on_any_deletion_a_cap_held_back(alarm: dict[str, Any]) -> None:
    query = alarm["query"]
    assert query.startswith(f"{HELD}[") and query.endswith(".sum() > 0")
    match = INTERVAL.search(query)
    assert match and (match.group(2), int(match.group(1))) in {("h", 1), ("m", 60)}
    assert alarm["namespace"] == "${var.backup_metrics_namespace}"
    assert alarm["metric_compartment_id"] == "${local.metrics_compartment}"
    assert alarm["destinations"] == ["${local.failure_topic_id}"]  # people, never the function's alarm topic
    assert alarm["severity"] == "CRITICAL" and alarm["is_enabled"] is True
    assert alarm["count"] == "${local.alarms_possible && local.features.retention ? 1 : 0}"
    assert len(alarm["body"]) <= 1000


def _locals_source(name: str, text: str) -> str:
    found = re.search(rf"^  {name}\s*=.*?(?=^  [a-z_]+\s*=|^\}})", text, re.DOTALL | re.MULTILINE)
    assert found, name
    return found.group(0)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="the terraform binary is not installed")
@pytest.mark.parametrize(
    ("variables", "exists"),
    [
        ({"backup_retention_keep_last": 1}, True),
        ({"backup_retention_keep_daily": 7}, True),
        ({"backup_retention_keep_within": "2d"}, True),
        ({"backup_retention_max_age_days": 30}, True),
        ({}, False),  # no retention: nothing is ever held back
        ({"backup_retention_keep_last": 1, "backup_metrics_namespace": ""}, False),  # no metric to watch
        ({"backup_retention_keep_last": 1, "create_failure_topic": False}, False),  # nobody to page
    ],
)
def test_the_alarm_exists_exactly_when_retention_metrics_and_a_failure_topic_do(
    tmp_path: Path, variables: dict[str, Any], exists: bool
) -> None:
    """The stack's own expressions for retention being on and alarms being possible, evaluated by terraform."""
    locals_tf = (STACK / "locals.tf").read_text()
    features = _locals_source("features", locals_tf)
    retention = re.search(r"^    retention\s*=.*$", features, re.MULTILINE)
    assert retention
    alarms_possible = re.search(r"^  alarms_possible\s*=.*$", (STACK / "audit.tf").read_text(), re.MULTILINE)
    assert alarms_possible
    declared = [
        "backup_retention_keep_last",
        "backup_retention_max_age_days",
        "backup_retention_keep_hourly",
        "backup_retention_keep_daily",
        "backup_retention_keep_weekly",
        "backup_retention_keep_monthly",
        "backup_retention_keep_yearly",
    ]
    (tmp_path / "main.tf").write_text(
        "".join(f'variable "{name}" {{\n  default = null\n}}\n' for name in declared)
        + 'variable "backup_retention_keep_within" {\n  default = ""\n}\n'
        + 'variable "backup_metrics_namespace" {\n  default = "backups"\n}\n'
        + 'variable "create_failure_topic" {\n  default = true\n}\n'
        + 'variable "backup_notify_topic_id" {\n  default = ""\n}\n'
        + "locals {\n"
        + _locals_source("retention_tiers", locals_tf)
        + "  features = {\n"
        + retention.group(0)
        + "\n  }\n"
        + alarms_possible.group(0)
        + "\n}\n"
    )
    (tmp_path / "values.tfvars.json").write_text(json.dumps(variables))
    expression = stack.resource(stack.load(), "oci_monitoring_alarm", "retention_capped")["count"]
    count = re.fullmatch(r"\$\{(.*)\}", expression)
    assert count
    answer = subprocess.run(
        ["terraform", "console", "-var-file=values.tfvars.json"],
        input=f"jsonencode({count.group(1)})\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},  # no version check over the network
        timeout=120,
        check=True,
    )

    assert json.loads(json.loads(answer.stdout.strip().splitlines()[-1])) == (1 if exists else 0)

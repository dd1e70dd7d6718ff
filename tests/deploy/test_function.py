"""The function resource: its detached timeout and the 4 KB configuration limit, offline.

OCI Functions caps the configuration of an application and its function together at 4 KB, measured as the sum of
the UTF-8 bytes of every key and value. The stack refuses a larger configuration with a precondition on the
function (locals.tf ``config_bytes``). Here the same count is made in Python, the expression is checked to be
that count, and, where a terraform binary is installed, Terraform itself evaluates the stack's expressions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import stack
from tests.deploy.provider_schema import STACK

CONFIG_LIMIT_BYTES = 4096
TERRAFORM = shutil.which("terraform")


@pytest.fixture(scope="module")
def files() -> dict[str, dict[str, Any]]:
    return stack.load()


def _ocid(kind: str, n: int, region: str = "iad") -> str:
    """An OCID of real length: ocid1.<type>.oc1.<region>.<60 characters>."""
    return f"ocid1.{kind}.oc1.{region}.{hashlib.sha256(f'{kind}{n}'.encode()).hexdigest()[:60]}"


def config_bytes(config: Mapping[str, str]) -> int:
    """The service's measure: the sum of the UTF-8 bytes of every key and value."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in config.items())


def hcl_config_bytes(config: Mapping[str, str]) -> int:
    """locals.tf's count, step by step: 3/4 of the length of base64("<key><value>") less its '=' padding."""
    total = 0
    for key, value in config.items():
        encoded = base64.b64encode(f"{key}{value}".encode()).decode()
        total += len(encoded) * 3 // 4 - encoded.count("=")
    return total


def function_config(settings: Mapping[str, str]) -> dict[str, str]:
    """locals.tf function_config: every BACKUP_* setting, empty values left out."""
    return {key: value for key, value in settings.items() if value != ""}


COMPARTMENT = _ocid("compartment", 0, region="")
# A configuration with most features on (no targets): selector, tags, failure topic, metrics, keys, copies.
TYPICAL = {
    "BACKUP_SELECTOR": json.dumps({"compartmentId": COMPARTMENT, "freeformTags": {"backup": "daily"}}),
    "BACKUP_FREEFORM_TAGS": json.dumps({"owner": "storage-team", "costCenter": "cc-1234"}),
    "BACKUP_NOTIFY_TOPIC_ID": _ocid("onstopic", 1),
    "BACKUP_METRICS_NAMESPACE": "backup_handler",
    "BACKUP_METRICS_COMPARTMENT_ID": COMPARTMENT,
    "BACKUP_KMS_KEY_ID": _ocid("key", 1),
    "BACKUP_COPY_REGION": "us-phoenix-1",
    "BACKUP_COPY_KMS_KEY_ID": _ocid("key", 2, region="phx"),
    "BACKUP_RETENTION_KEEP_LAST": "7",
    "BACKUP_LOG_LEVEL": "INFO",
}
FORTY_TARGETS = ", ".join([_ocid("volume", n) for n in range(20)] + [_ocid("bootvolume", n) for n in range(20)])


# --- the count ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "a", "ab", "abc", "abcd", "é", "aé", "€uro", "ключ", "😀", "x😀y€"])
def test_the_stack_count_is_utf8_bytes(text):
    config = {"BACKUP_X": text}
    assert hcl_config_bytes(config) == config_bytes(config) == len("BACKUP_X") + len(text.encode())


def test_the_settings_named_here_are_stack_config_keys(files):
    keys = set(stack.locals_(files)["backup_config"])
    assert set(TYPICAL) | {"BACKUP_TARGETS"} <= keys


def test_default_configuration_fits(files):
    """With every variable at its default, every BACKUP_* value is empty and nothing is written."""
    defaults = {key: "" for key in stack.locals_(files)["backup_config"]}
    assert hcl_config_bytes(function_config(defaults)) == 0
    assert hcl_config_bytes(function_config(TYPICAL)) <= CONFIG_LIMIT_BYTES


def test_forty_targets_in_configuration_exceed_4_kb():
    with_targets = function_config({**TYPICAL, "BACKUP_TARGETS": FORTY_TARGETS})
    assert FORTY_TARGETS.count("ocid1.") == 40
    assert hcl_config_bytes(with_targets) > CONFIG_LIMIT_BYTES
    # The same volumes in a schedule BODY (6 MB) leave the configuration small.
    body = json.dumps({"source": "schedule", "volumeIds": FORTY_TARGETS.split(", ")})
    assert len(body.encode()) < 6 * 1024 * 1024
    assert hcl_config_bytes(function_config(TYPICAL)) <= CONFIG_LIMIT_BYTES


# --- the stack's expressions ----------------------------------------------------------------------------------------


def _expression(value: str) -> str:
    assert value.startswith("${") and value.endswith("}"), value
    return re.sub(r"\s+", " ", value[2:-1]).strip()


def test_config_bytes_local_is_the_utf8_count_over_function_config(files):
    locals_ = stack.locals_(files)
    assert locals_["config_limit_bytes"] == CONFIG_LIMIT_BYTES
    assert _expression(locals_["config_bytes"]) == (
        "sum(concat([0], [for key, value in local.function_config : "
        'length(base64encode("${key}${value}")) * 3 / 4 - length(regexall("=", base64encode("${key}${value}")))]))'
    )
    function = stack.resource(files, "oci_functions_function", "backup_handler")
    assert function["config"] == "${local.function_config}", "the precondition counts what the function gets"


def test_function_precondition_refuses_configuration_over_4_kb(files):
    function = stack.resource(files, "oci_functions_function", "backup_handler")
    [lifecycle] = function["lifecycle"]
    [precondition] = lifecycle["precondition"]
    assert _expression(precondition["condition"]) == "local.config_bytes <= local.config_limit_bytes"
    message = precondition["error_message"]
    assert "4 KB" in message and "${local.config_bytes}" in message
    assert "schedule BODY" in message and "instead of BACKUP_TARGETS" in message


# --- detached timeout -----------------------------------------------------------------------------------------------


def test_function_sets_its_detached_timeout_from_a_variable(files):
    function = stack.resource(files, "oci_functions_function", "backup_handler")
    assert function["detached_mode_timeout_in_seconds"] == "${var.function_detached_timeout_seconds}"
    variable = stack.variables(files)["function_detached_timeout_seconds"]
    assert variable["type"] == "${number}" or variable["type"] == "number"
    assert variable["default"] == 3600
    [validation] = variable["validation"]
    condition = _expression(validation["condition"])
    assert "var.function_detached_timeout_seconds >= 5" in condition
    assert "var.function_detached_timeout_seconds <= 3600" in condition


def test_detached_timeout_reason_is_written_next_to_it():
    text = (STACK / "functions.tf").read_text()
    before = text[: text.index("detached_mode_timeout_in_seconds")]
    comment = before[before.rindex("timeout_in_seconds = 120") :]
    assert "detached" in comment and "hour" in comment


# --- Terraform's own evaluation (where a terraform binary is installed) ---------------------------------------------


def _hcl_json(value: Any) -> Any:
    """A python-hcl2 value as Terraform's JSON syntax (same "${...}" templates; HCL escapes of quotes undone)."""
    if isinstance(value, str):
        return value.replace('\\"', '"')
    if isinstance(value, dict):
        return {key: _hcl_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hcl_json(item) for item in value]
    return value


def _plan(directory: Path, document: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    assert TERRAFORM is not None
    (directory / "main.tf.json").write_text(json.dumps(document))
    env = {
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": "/dev/null",
        "PATH": "/usr/bin:/bin",
    }
    init = subprocess.run(
        [TERRAFORM, "init", "-input=false", "-no-color"],
        check=False,
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    return subprocess.run(
        [TERRAFORM, "plan", "-input=false", "-no-color", "-refresh=false", *args],
        check=False,
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary installed")
@pytest.mark.parametrize(
    ("config", "fits"),
    [
        ({}, True),
        (TYPICAL, True),
        ({**TYPICAL, "BACKUP_TARGETS": FORTY_TARGETS}, False),
        ({"BACKUP_FREEFORM_TAGS": json.dumps({"note": "é" * 2040}, ensure_ascii=False)}, False),
    ],
    ids=["defaults", "typical", "forty-targets", "non-ascii"],
)
def test_terraform_evaluates_the_precondition_as_python_counts(files, tmp_path, config, fits):
    locals_ = stack.locals_(files)
    function = stack.resource(files, "oci_functions_function", "backup_handler")
    document = {
        "locals": {
            "function_config": config,
            "config_limit_bytes": locals_["config_limit_bytes"],
            "config_bytes": _hcl_json(locals_["config_bytes"]),
        },
        "resource": {"terraform_data": {"function": {"lifecycle": _hcl_json(function["lifecycle"])}}},
        "output": {"config_bytes": {"value": "${local.config_bytes}"}},
    }
    plan = _plan(tmp_path, document)
    assert (config_bytes(config) <= CONFIG_LIMIT_BYTES) == fits
    if fits:
        assert plan.returncode == 0, plan.stderr
        assert f"config_bytes = {config_bytes(config)}" in plan.stdout
    else:
        assert plan.returncode != 0
        message = " ".join(plan.stderr.split())
        assert f"The function's configuration is {config_bytes(config)} bytes" in message
        assert "Put large target lists in the schedule BODY instead of BACKUP_TARGETS" in message


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary installed")
@pytest.mark.parametrize(("seconds", "valid"), [(5, True), (3600, True), (4, False), (3601, False), (60.5, False)])
def test_terraform_validates_the_detached_timeout_range(files, tmp_path, seconds, valid):
    variable = stack.variables(files)["function_detached_timeout_seconds"]
    document = {
        "variable": {"function_detached_timeout_seconds": _hcl_json({**variable, "type": "number"})},
        "output": {"timeout": {"value": "${var.function_detached_timeout_seconds}"}},
    }
    plan = _plan(tmp_path, document, f"-var=function_detached_timeout_seconds={seconds}")
    assert (plan.returncode == 0) == valid, plan.stderr


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary installed")
@pytest.mark.parametrize(
    "schedule_selector",
    ["", json.dumps({"compartmentId": "ocid1.compartment.oc1..aaaa", "kinds": ["volumeGroup"]})],
    ids=["default", "with-kinds"],
)
def test_terraform_evaluates_the_schedule_selector_whatever_attributes_it_has(files, tmp_path, schedule_selector):
    locals_ = stack.locals_(files)
    document = {
        "variable": {
            "schedule_selector": {"default": schedule_selector},
            "compartment_ocid": {"default": "ocid1.compartment.oc1..aaaa"},
        },
        "locals": {"schedule_selector": _hcl_json(locals_["schedule_selector"])},
        "output": {"kinds": {"value": "${try(local.schedule_selector.kinds, [])}"}},
    }
    plan = _plan(tmp_path, document)
    assert plan.returncode == 0, plan.stderr
    assert ("volumeGroup" in plan.stdout) == bool(schedule_selector)

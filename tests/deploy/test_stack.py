"""Offline checks of the deployment stack in deploy/terraform (no terraform binary or provider is needed).

- every ``var.X`` is declared, every resource and data reference points to a declared block, and the Resource
  Manager form (schema.yaml) lists exactly the stack's variables;
- the function's config keys are exactly ``BACKUP_`` + Settings fields, minus an explicit set left out;
- the IAM the stack grants is derived from the operation table: ``grants.json`` is written by ``localdev.iam``
  (``python -m localdev.iam --write``; ``python -m tests.deploy.test_stack --write`` does the same) and must be current;
  tests/deploy/test_least_privilege.py checks what the statements grant for every feature combination.
"""

from __future__ import annotations

import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from backup_handler.oci.api import Feature
from backup_handler.settings import ENV_PREFIX, Settings
from localdev import iam

STACK = Path(__file__).resolve().parents[2] / "deploy" / "terraform"
GRANTS_FILE = STACK / "grants.json"
FEATURES: tuple[str, ...] = typing.get_args(Feature)

# Settings the stack deliberately does not expose: endpoint overrides (private endpoints, the local emulator)
# and the request limits and deadline margin the benchmarks measured the defaults of. A new Settings field
# fails test_config_keys_are_settings_fields until it is mapped in locals.tf or listed here.
NOT_MAPPED = {
    "blockstorage_endpoint",
    "identity_endpoint",
    "copy_endpoint",
    "metrics_endpoint",
    "notify_endpoint",
    "max_body_bytes",
    "max_json_depth",
    "deadline_margin_seconds",
    "retention_sweep_max_backups",  # a memory bound sized to the stack's 256 MB; env only
}

# What turns each feature on, as locals.tf says it (the test checks the expressions name these variables).
FEATURE_SWITCHES = {
    "backups": None,
    "groups": "var.enable_volume_groups",
    "selectors": "var.enable_selectors",
    "subcompartments": "var.enable_subcompartments",
    "batches": "var.enable_batches",
    "retention": "var.backup_retention_keep_last",
    "copies": "var.backup_copy_region",
    "metrics": "var.backup_metrics_namespace",
    "notifications": "var.backup_notify_topic_id",
    "definedTags": "local.defined_tag_namespaces",
    "audit": "var.enable_audit_schedule",
    "restoreTests": "var.backup_restore_test_compartment_id",
    "fullCadence": "var.backup_full_every",
    "copyTags": "var.backup_copy_volume_tags",
}

REFERENCE = re.compile(r"(?<![\w.])(data\.)?(oci_[a-z0-9_]+)\.([A-Za-z0-9_-]+)")
VARIABLE = re.compile(r"(?<![\w.])var\.([A-Za-z0-9_]+)")
LOCAL = re.compile(r"(?<![\w.])local\.([A-Za-z0-9_]+)")


def grants_document() -> dict[str, Any]:
    """What grants.json must hold: each feature's statements, derived from the operation table."""
    return iam.grants_document()


_BOOKKEEPING = ("__comments__", "__inline_comments__", "__is_block__")


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; drop them (and its comment bookkeeping)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k not in _BOOKKEEPING}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


@pytest.fixture(scope="module")
def files() -> dict[str, dict[str, Any]]:
    parsed = {}
    for path in sorted(STACK.glob("*.tf")):
        with path.open() as handle:
            parsed[path.name] = _unquote(hcl2.load(handle))
    assert parsed, f"no .tf files in {STACK}"
    return parsed


@pytest.fixture(scope="module")
def text() -> str:
    return "\n".join(path.read_text() for path in sorted(STACK.glob("*.tf")))


def _blocks(files: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [block for parsed in files.values() for block in parsed.get(kind, [])]


def _declared(files: dict[str, dict[str, Any]], kind: str) -> set[tuple[str, str]]:
    return {(rtype, name) for block in _blocks(files, kind) for rtype, named in block.items() for name in named}


def _variables(files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: body for block in _blocks(files, "variable") for name, body in block.items()}


def _locals(files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in _blocks(files, "locals"):
        for name, value in block.items():
            assert name not in merged, f"local.{name} is defined twice"
            merged[name] = value
    return merged


def _resource(files: dict[str, dict[str, Any]], rtype: str, name: str) -> dict[str, Any]:
    for block in _blocks(files, "resource"):
        if rtype in block and name in block[rtype]:
            body: dict[str, Any] = block[rtype][name]
            return body
    raise AssertionError(f"no resource {rtype}.{name}")


def _code(text: str) -> str:
    """The stack's text without comments (so a comment naming a resource is not a reference)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


# --- references -------------------------------------------------------------------------------------------------


def test_every_variable_referenced_is_declared_and_used(files, text):
    declared = set(_variables(files))
    referenced = set(VARIABLE.findall(_code(text)))
    assert referenced - declared == set(), "undeclared variables"
    assert declared - referenced == set(), "declared but never used"


def test_every_resource_and_data_reference_is_declared(files, text):
    resources = _declared(files, "resource")
    data = _declared(files, "data")
    missing = set()
    for is_data, rtype, name in REFERENCE.findall(_code(text)):
        if (rtype, name) not in (data if is_data else resources):
            missing.add(f"{is_data}{rtype}.{name}")
    # Block headers ("resource "oci_x" "name"") are not matched: the regex needs a dot.
    assert missing == set()


def test_every_local_referenced_is_defined(files, text):
    assert set(LOCAL.findall(_code(text))) - set(_locals(files)) == set()


def test_resource_manager_schema_matches_variables(files):
    schema = yaml.safe_load((STACK / "schema.yaml").read_text())
    declared = set(_variables(files))
    in_schema = set(schema["variables"])
    assert in_schema == declared
    grouped = [name for group in schema["variableGroups"] for name in group["variables"]]
    assert sorted(grouped) == sorted(declared), "each variable in exactly one variableGroup"
    for name, spec in schema["variables"].items():
        body = _variables(files)[name]
        required = "default" not in body
        assert bool(spec.get("required", False)) == required, f"{name}: required in schema.yaml vs variables.tf"


def test_function_matches_func_yaml(files):
    text = (STACK.parent.parent / "func.yaml").read_text()
    func = yaml.safe_load(text)
    function = _resource(files, "oci_functions_function", "backup_handler")
    assert int(function["memory_in_mbs"]) == func["memory"]
    assert int(function["timeout_in_seconds"]) == func["timeout"]
    assert function["display_name"] == func["name"]
    # func.yaml has no field for the detached timeout: the stack sets it, and func.yaml says so.
    assert not any("detach" in key for key in func)
    assert "detached_mode_timeout_in_seconds" in text and "deploy/terraform" in text


# --- configuration ----------------------------------------------------------------------------------------------


def test_config_keys_are_settings_fields(files):
    config = _locals(files)["backup_config"]
    fields = set(Settings.model_fields)
    keys = set(config)
    assert all(key.startswith(ENV_PREFIX) and key == key.upper() for key in keys)
    mapped = {key[len(ENV_PREFIX) :].lower() for key in keys}
    assert mapped - fields == set(), "config keys that are not Settings fields (typos?)"
    assert NOT_MAPPED - fields == set(), "NOT_MAPPED names fields Settings no longer has"
    assert mapped & NOT_MAPPED == set()
    assert fields - mapped - NOT_MAPPED == set(), "Settings fields neither mapped by the stack nor in NOT_MAPPED"


def test_each_config_key_reads_its_own_variable(files):
    variables = _variables(files)
    for key, expression in _locals(files)["backup_config"].items():
        name = key.lower()
        assert name in variables, f"{key} has no variable {name}"
        assert f"var.{name}" in expression, f"{key} does not read var.{name}: {expression}"


def test_function_config_leaves_empty_values_out(files):
    assert 'if value != ""' in _locals(files)["function_config"].replace("'", '"')
    function = _resource(files, "oci_functions_function", "backup_handler")
    assert function["config"] == "${local.function_config}"


# --- IAM ----------------------------------------------------------------------------------------------------------


def test_grants_file_is_current():
    current = json.loads(GRANTS_FILE.read_text())
    assert current == grants_document(), "grants.json is stale: run `.venv/bin/python -m localdev.iam --write`"


def test_stack_features_are_the_service_features(files):
    features = _locals(files)["features"]
    assert set(features) == set(FEATURES)
    assert features["backups"] is True
    for feature, switch in FEATURE_SWITCHES.items():
        if switch is not None:
            assert switch in str(features[feature]), f"feature {feature} is not switched by {switch}"


def test_function_statements_are_built_from_the_grants(files):
    locals_ = _locals(files)
    assert "local.grant_templates" in locals_["function_statements"]
    assert "local.grants_by_feature[feature]" in locals_["grant_templates"] and "if on" in locals_["grant_templates"]
    assert "grants.json" in locals_["grants_by_feature"]
    policy = _resource(files, "oci_identity_policy", "backup_handler")
    assert policy["statements"] == (
        "${concat(local.function_statements, local.kms_statements, local.events_statements)}"
    )


def test_no_hand_written_grants_for_the_function(text):
    """Besides the derived template, the dynamic group is only given key-delegate on the configured keys."""
    written = re.findall(r"Allow dynamic-group \$\{[^}]+\} to (\w+) ([\w-]+)[^\"]*", _code(text))
    assert written == [("use", "key-delegate")]
    assert "where target.key.id = '${key}'" in text


def test_service_and_scheduler_statements(files, text):
    code = _code(text)
    assert (
        "Allow service blockstorage to use keys in compartment id ${local.vault_compartment} "
        "where target.key.id = '${key}'" in code
    )
    assert "Allow service cloudEvents to use functions-family in compartment id ${var.compartment_ocid}" in code
    # The schedule's principal reads the function, then invokes it: without read the run fails with 404.
    scheduler = _resource(files, "oci_identity_policy", "schedule")
    principal = (
        "where all {request.principal.type = 'resourceschedule', "
        "request.principal.id = '${oci_resource_scheduler_schedule.daily[0].id}'}"
    )
    assert scheduler["statements"] == [
        f"Allow any-user to read fn-function in compartment id ${{var.compartment_ocid}} {principal}",
        f"Allow any-user to use fn-invocation in compartment id ${{var.compartment_ocid}} {principal}",
    ]
    # The schedule must not wait for its own policy (that would be a cycle).
    assert "oci_identity_policy" not in json.dumps(_resource(files, "oci_resource_scheduler_schedule", "daily"))


def test_dynamic_group_matches_only_this_function(files):
    group = _resource(files, "oci_identity_dynamic_group", "backup_handler")
    assert group["matching_rule"] == (
        "ALL {resource.type = 'fnfunc', resource.id = '${oci_functions_function.backup_handler.id}'}"
    )


# --- triggers -------------------------------------------------------------------------------------------------------


def test_events_rules_match_the_samples_and_the_lifecycle(files):
    default = _variables(files)["volume_event_types"]["default"]
    types = {t.strip() for t in default.split(",")}
    samples = {
        json.loads((STACK.parent.parent / "events" / name).read_text())["eventType"]
        for name in ("event-createvolume.json", "event-attachvolume.json")
    }
    assert types == samples
    assert not any("backup" in t for t in types), "a backup event never starts a backup: keep them off this rule"
    lifecycle = json.dumps(_resource(files, "oci_events_rule", "backup_end"))
    assert "createvolumebackup.end" in lifecycle and "createbootvolumebackup.end" in lifecycle
    for name in ("volume_events", "backup_end"):
        actions = _resource(files, "oci_events_rule", name)["actions"]
        assert len(actions) == 1 and set(actions[0]) == {"action"}, (
            "actions { action {} } (actions.actions is deprecated)"
        )
        action = actions[0]["action"][0]
        assert action["action_type"] == "FAAS"
        assert action["function_id"] == "${oci_functions_function.backup_handler.id}"


def test_topic_alarm_and_schedule_reach_the_function(files):
    subscription = _resource(files, "oci_ons_subscription", "function")
    assert subscription["protocol"] == "ORACLE_FUNCTIONS"
    assert subscription["endpoint"] == "${oci_functions_function.backup_handler.id}"
    alarm = _resource(files, "oci_monitoring_alarm", "volume_example")
    assert alarm["namespace"] == "oci_blockstore"
    assert alarm["destinations"] == ["${oci_ons_notification_topic.alarms.id}"]
    schedule = _resource(files, "oci_resource_scheduler_schedule", "daily")
    assert schedule["action"] == "START_RESOURCE"
    resource = schedule["resources"][0]
    assert resource["id"] == "${oci_functions_function.backup_handler.id}"
    assert resource["parameters"][0]["parameter_type"] == "BODY"
    # A list of exactly one JSON string: a bare jsonencode(...) fails at plan.
    value = resource["parameters"][0]["value"]
    assert isinstance(value, list) and len(value) == 1, value
    assert value[0].startswith("${jsonencode(") and 'source = "schedule"' in value[0].replace("'", '"')


def test_failure_alarm_never_targets_the_function_topic(files):
    alarm = _resource(files, "oci_monitoring_alarm", "failures")
    assert alarm["destinations"] == ["${local.failure_topic_id}"]
    assert "backups_failed" in alarm["query"]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.deploy.test_stack --write   (rewrites deploy/terraform/grants.json)")
    raise SystemExit(iam.main(["--write"]))

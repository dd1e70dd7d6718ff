"""Least privilege, proven: the function's policy grants what its operations need, and nothing more.

What a statement grants is computed from Oracle's own tables (deploy/iam/oracle-api-permissions.json):
the permissions of ``<verb> <resource-type>``, intersected with its ``request.permission`` conditions.
What a configuration needs is the union of the permissions Oracle lists for every operation it calls
(backup_handler/oci/api.py, each row checked against the vendored table). For every combination of
features the stack can enable, the statements the stack writes from grants.json must cover every need
and grant nothing beyond it, save the statements that say why IAM offers nothing narrower.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import hcl2
import pytest

from backup_handler.oci.api import DEFINED_TAG_PERMISSIONS, OPERATIONS, Feature, permissions
from localdev import iam

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "terraform"
ORACLE = json.loads(iam.DATA.read_text())
GRANTS = json.loads(iam.GRANTS.read_text())["features"]
OPTIONAL: tuple[Feature, ...] = tuple(f for f in iam.FEATURES if f != "backups")
COMBINATIONS = [
    frozenset({"backups", *combo})
    for size in range(len(OPTIONAL) + 1)
    for combo in itertools.combinations(OPTIONAL, size)
]
# What only retention or copies may ever be granted: the default deployment must hold none of them.
DANGEROUS = re.compile(r"_DELETE$|_MOVE$|_COPY$|^VOLUME_UPDATE$")

_STATEMENT = re.compile(
    r"Allow dynamic-group (?P<group>\S+) to (?P<verb>inspect|read|use|manage) (?P<resource>[a-z-]+) "
    r"in (?P<location>tenancy|compartment id \S+)(?: where (?P<where>.+))?"
)
_CONDITION = re.compile(r"(?P<variable>[a-z][a-z.-]*) = '(?P<value>[^']+)'")


def _conditions(where: str | None) -> tuple[str, list[tuple[str, str]]]:
    """A where-clause as its combinator (``one``, ``any``, ``all``) and its (variable, value) conditions."""
    if where is None:
        return "one", []
    found = re.fullmatch(r"(any|all) \{(.+)\}", where)
    combinator, parts = (found.group(1), found.group(2).split(", ")) if found else ("one", [where])
    conditions = []
    for part in parts:
        condition = _CONDITION.fullmatch(part)
        assert condition, f"not a condition IAM reads: {part!r}"
        conditions.append((condition["variable"], condition["value"]))
    return combinator, conditions


def grants_of(statement: str) -> frozenset[str]:
    """What a statement grants: its verb's permissions, cut to its request.permission conditions."""
    parsed = _STATEMENT.fullmatch(statement)
    assert parsed, f"not a policy statement: {statement!r}"
    verb_grants = iam.verb_permissions(parsed["resource"], parsed["verb"])
    assert verb_grants is not None, f"Oracle lists no `{parsed['verb']} {parsed['resource']}`: {statement}"
    combinator, conditions = _conditions(parsed["where"])
    named = {value for variable, value in conditions if variable == "request.permission"}
    if not named:
        return verb_grants
    others = [variable for variable, _ in conditions if variable != "request.permission"]
    # any {permission, other} would grant every permission to the other's targets; all {p1, p2} grants none.
    assert combinator != "any" or not others, f"permissions and targets mixed in any {{}}: {statement}"
    assert combinator != "all" or len(named) == 1, f"all {{}} of two permissions grants nothing: {statement}"
    assert named <= verb_grants, f"{statement} names permissions its verb does not grant: {named - verb_grants}"
    return verb_grants & named


def stack_statements(features: Collection[str]) -> list[dict[str, Any]]:
    """The grants.json entries the stack writes for these features, each statement text once."""
    seen: dict[str, dict[str, Any]] = {}
    for feature in features:
        for entry in GRANTS[feature]:
            seen.setdefault(entry["statement"], entry)
    return list(seen.values())


def granted(entries: Iterable[dict[str, Any]]) -> frozenset[str]:
    return frozenset(permission for entry in entries for permission in grants_of(entry["statement"]))


# --------------------------------------------------------------------- the table against Oracle's


def test_each_operation_needs_exactly_what_oracle_lists_for_it() -> None:
    aliases = ORACLE["operation_aliases"]
    for name, op in OPERATIONS.items():
        row = ORACLE["operations"][aliases.get(name, name)]
        # Oracle's `A/B` (the member backup's kind): a group may hold both kinds, so both are needed.
        either = {permission for options in row.get("permissions_any_of", []) for permission in options}
        by_region = row.get("permissions_by_region")
        by_place = row.get("permissions_by_place")  # a restore: the backup where it is, the volume in the sandbox
        if by_place:
            assert op.permissions == set(by_place["compartment"]), name
            assert op.sandbox_permissions == set(by_place["sandbox"]), name
        elif by_region:
            assert op.permissions == set(by_region["source"]), name
            assert op.destination_permissions == set(by_region["destination"]), name
        else:
            assert op.permissions | op.sandbox_permissions == set(row["permissions"]) | either, name
            assert not op.destination_permissions, name


def test_every_operation_oracle_was_read_for_is_in_the_table_and_back() -> None:
    read = {name for name, row in ORACLE["operations"].items() if row.get("in_api_table")}
    aliases = ORACLE["operation_aliases"]
    assert {aliases.get(name, name) for name in OPERATIONS} == read


def test_defined_tags_need_use_tag_namespaces_and_only_the_creates_apply_them() -> None:
    assert "use tag-namespaces" in ORACLE["related_requirements"]["defined_tags"]["statement"]
    assert iam.verb_permissions("tag-namespaces", "use") >= DEFINED_TAG_PERMISSIONS  # type: ignore[operator]
    tagged = {name for name, op in OPERATIONS.items() if any(f == "definedTags" for f, _ in op.extra)}
    assert tagged == {"CreateVolumeBackup", "CreateBootVolumeBackup", "CreateVolumeGroupBackup"}


# ------------------------------------------------------------------ what the statements grant


def test_for_every_feature_combination_the_statements_grant_exactly_what_the_operations_need() -> None:
    assert len(COMBINATIONS) == 2 ** len(OPTIONAL)
    excused = {entry["statement"] for entries in GRANTS.values() for entry in entries if entry.get("reason")}
    problems = []
    for features in COMBINATIONS:
        entries = stack_statements(features)
        needed = permissions(features)
        have = granted(entries)
        missing = needed - have
        excess = have - needed - granted(entry for entry in entries if entry["statement"] in excused)
        if missing or excess:
            problems.append(f"{sorted(features)}: missing {sorted(missing)}, beyond the needs {sorted(excess)}")
    assert not problems, "\n".join(problems)


def test_each_operation_is_covered_in_the_region_it_is_sent_to_and_where_its_copy_is_made() -> None:
    for features in COMBINATIONS:
        have = granted(stack_statements(features))
        for op in OPERATIONS.values():
            if op.called(features):
                assert op.permissions <= have and op.destination_permissions <= have, (op.name, features)
    # No statement is limited to a region, so what covers the source region covers the destination too.
    assert not any("request.region" in e["statement"] for entries in GRANTS.values() for e in entries)


def test_each_feature_statement_grants_what_it_says_and_only_unnarrowable_ones_grant_more() -> None:
    for feature, entries in GRANTS.items():
        for entry in entries:
            have = grants_of(entry["statement"])
            assert sorted(have) == entry["grants"], entry["statement"]
            needed = {
                permission
                for name in entry["operations"]
                for permission in iam.needs_by_operation(
                    feature, sandbox="<sandbox-compartment>" in entry["statement"]
                )[name]
                if iam.resource_of()[permission] == _STATEMENT.fullmatch(entry["statement"])["resource"]  # type: ignore[index]
            }
            if have != needed:
                assert entry.get("reason"), f"{entry['statement']} grants {sorted(have - needed)} beyond its needs"
                resource = _STATEMENT.fullmatch(entry["statement"])["resource"]  # type: ignore[index]
                assert resource in iam.UNNARROWED


def test_the_only_unnarrowed_statement_is_use_tag_namespaces_on_the_configured_namespaces() -> None:
    excused = [entry for entries in GRANTS.values() for entry in entries if entry.get("reason")]
    assert [entry["statement"] for entry in excused] == [
        "Allow dynamic-group <dynamic-group> to use tag-namespaces in tenancy "
        "where target.tag-namespace.name = '<tag-namespace>'"
    ]
    assert set(grants_of(excused[0]["statement"])) - DEFINED_TAG_PERMISSIONS == {"TAG_NAMESPACE_INSPECT"}


def test_lifecycle_grants_inspect_volumes_and_groups_grant_boot_volume_backups() -> None:
    """Oracle's rows: list/get/delete of (boot) volume backups also need VOLUME_INSPECT; a group backup creates
    the member backups of whatever kind the group holds; a copy needs READ + COPY and CREATE (destination)."""
    for feature in ("retention", "copies"):
        assert "VOLUME_INSPECT" in granted(stack_statements({feature}))
    assert {"VOLUME_BACKUP_CREATE", "BOOT_VOLUME_BACKUP_CREATE"} <= granted(stack_statements({"groups"}))
    copies = granted(stack_statements({"copies"}))
    for kind in ("VOLUME_BACKUP", "BOOT_VOLUME_BACKUP"):
        assert {f"{kind}_READ", f"{kind}_COPY", f"{kind}_CREATE"} <= copies
        assert f"{kind}_DELETE" not in copies  # deleting copies comes with retention only
    assert not any(DANGEROUS.search(p) for p in granted(stack_statements({"backups", "groups", "selectors"})))


# --------------------------------------------------------------------------- the stack itself


def _stack_locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(STACK.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("locals", []):
                merged.update(block)
    return merged


def _variable_defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for path in sorted(STACK.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("variable", []):
                defaults.update({name.strip('"'): body.get("default") for name, body in block.items()})
    return defaults


TIERS = ("hourly", "daily", "weekly", "monthly", "yearly")
# How locals.tf turns variables into features; the test below holds the stack to these expressions.
FEATURE_EXPRESSIONS = {
    "backups": True,
    "groups": '${var.enable_volume_groups || contains(local.selector_kinds, "volumeGroup")}',
    "selectors": "${var.enable_selectors || length(local.selectors) > 0}",
    "subcompartments": "${var.enable_subcompartments || local.selector_subcompartment}",
    "batches": "${var.enable_batches}",
    "retention": "${var.backup_retention_keep_last != null || var.backup_retention_max_age_days != null"
    ' || var.backup_retention_keep_within != "" || length(local.retention_tiers) > 0}',
    "copies": '${var.backup_copy_region != ""}',
    "metrics": '${var.backup_metrics_namespace != ""}',
    "notifications": '${var.create_failure_topic || var.backup_notify_topic_id != ""}',
    "definedTags": "${length(local.defined_tag_namespaces) > 0}",
    "audit": "${var.enable_audit_schedule}",
    "restoreTests": '${var.backup_restore_test_compartment_id != ""}',
    "fullCadence": '${var.backup_full_every != ""}',
    "copyTags": '${var.backup_copy_volume_tags != ""}',
}


def _default_features() -> frozenset[str]:
    """The features the stack enables with every variable at its default (FEATURE_EXPRESSIONS, evaluated)."""
    v = {name: value.strip('"') if isinstance(value, str) else value for name, value in _variable_defaults().items()}
    assert v["schedule_selector"] == "" and v["backup_selector"] == ""  # the default selector: no kinds, no subtree
    selectors = [{"compartmentId": "<c>", "freeformTags": {"backup": "daily"}}] if v["enable_schedule"] else []
    enabled = {
        "backups": True,
        "groups": v["enable_volume_groups"] or any("volumeGroup" in s.get("kinds", []) for s in selectors),
        "selectors": v["enable_selectors"] or len(selectors) > 0,
        "subcompartments": v["enable_subcompartments"],
        "batches": v["enable_batches"],
        "retention": v["backup_retention_keep_last"] is not None
        or v["backup_retention_max_age_days"] is not None
        or v["backup_retention_keep_within"] != ""
        or any(v[f"backup_retention_keep_{tier}"] not in (None, 0) for tier in TIERS),
        "copies": v["backup_copy_region"] != "",
        "metrics": v["backup_metrics_namespace"] != "",
        "notifications": v["create_failure_topic"] or v["backup_notify_topic_id"] != "",
        "definedTags": v["backup_defined_tag_namespaces"].replace(",", " ").split() != [],
        "audit": v["enable_audit_schedule"],
        "restoreTests": v["backup_restore_test_compartment_id"] != "",
        "fullCadence": v["backup_full_every"] != "",
        "copyTags": v["backup_copy_volume_tags"] != "",
    }
    return frozenset(feature for feature, on in enabled.items() if on)


def test_the_stack_turns_features_on_as_this_test_evaluates_them() -> None:
    features = {name: value for name, value in _stack_locals()["features"].items() if not name.startswith("__")}
    assert features == FEATURE_EXPRESSIONS
    assert set(features) == set(iam.FEATURES)


def test_the_default_deployment_grants_no_delete_move_copy_or_volume_update() -> None:
    features = _default_features()
    have = granted(stack_statements(features))

    assert features == {"backups", "selectors"}
    assert not sorted(p for p in have if DANGEROUS.search(p))
    assert have == {"VOLUME_BACKUP_CREATE", "BOOT_VOLUME_BACKUP_CREATE", "VOLUME_WRITE", "VOLUME_INSPECT"}


PLACEHOLDER_VALUES = {
    "<dynamic-group>": "local.dynamic_group",
    "<compartment>": "var.compartment_ocid",
    "<metrics-compartment>": "local.metrics_compartment",
    "<metrics-namespace>": "var.backup_metrics_namespace",
    "<function>": "oci_functions_function.backup_handler.id",
    "<tag-namespace>": "namespace",
    "<sandbox-compartment>": "var.backup_restore_test_compartment_id",
}


def test_the_stack_fills_in_every_placeholder_of_the_statements() -> None:
    expression = _stack_locals()["function_statements"]
    filled = dict(re.findall(r'"(<[a-z-]+>)", ([\w.\[\]]+)\)', expression))
    assert filled == PLACEHOLDER_VALUES
    assert tuple(PLACEHOLDER_VALUES) == iam.PLACEHOLDERS
    assert "local.defined_tag_namespaces" in expression and 'regexall("<tag-namespace>", template)' in expression
    used = {p for entries in GRANTS.values() for e in entries for p in re.findall(r"<[a-z-]+>", e["statement"])}
    assert used <= set(PLACEHOLDER_VALUES)


def test_filled_in_statements_are_policy_statements_oci_reads() -> None:
    values = {
        "<dynamic-group>": "backup-app-backup-handler",
        "<compartment>": "ocid1.compartment.oc1..aaaa",
        "<metrics-compartment>": "ocid1.compartment.oc1..bbbb",
        "<metrics-namespace>": "backups",
        "<function>": "ocid1.fnfunc.oc1.iad.aaaa",
        "<sandbox-compartment>": "ocid1.compartment.oc1..cccc",
    }
    every = [entry["statement"] for entries in GRANTS.values() for entry in entries]
    statements = iam.expand(sorted(set(every)), values, ["Operations", "CostCenter"])

    assert len(statements) == len(set(every)) + 1  # the tag-namespace statement, once per namespace
    for statement in statements:
        assert "<" not in statement, statement
        grants_of(statement)  # parses, and its conditions name permissions its verb grants


@pytest.mark.skipif(shutil.which("terraform") is None, reason="the terraform binary is not installed")
def test_terraform_evaluates_the_statements_as_this_test_does(tmp_path: Path) -> None:
    """Where terraform is installed: the stack's own expressions, evaluated by terraform console."""
    locals_src = (STACK / "locals.tf").read_text()
    statements_src = re.search(r"  function_statements = flatten\(\[.*?\n  \]\)\n", locals_src, re.DOTALL)
    templates_src = re.search(r"  grant_templates = .*?\]\)\)\)\n", locals_src, re.DOTALL)
    namespaces_src = re.search(r"  defined_tag_namespaces = .*\n", locals_src)
    assert statements_src and templates_src and namespaces_src
    (tmp_path / "main.tf").write_text(
        'variable "features" {\n  type = map(bool)\n}\n'
        'variable "backup_defined_tag_namespaces" {}\nvariable "compartment_ocid" {}\n'
        'variable "backup_metrics_namespace" {}\nvariable "backup_restore_test_compartment_id" {}\n'
        "locals {\n"
        '  dynamic_group = "dg"\n  metrics_compartment = "mc"\n  features = var.features\n'
        f'  grants_by_feature = jsondecode(file("{iam.GRANTS}")).features\n'
        + namespaces_src.group(0)
        + templates_src.group(0)
        + statements_src.group(0).replace("oci_functions_function.backup_handler.id", '"fn"')
        + "}\n"
    )
    features = {"backups", "groups", "retention", "copies", "metrics", "batches", "definedTags", "restoreTests"}
    variables = {
        "features": {feature: feature in features for feature in iam.FEATURES},
        "backup_defined_tag_namespaces": "Operations, CostCenter",
        "compartment_ocid": "c",
        "backup_metrics_namespace": "backups",
        "backup_restore_test_compartment_id": "sc",
    }
    (tmp_path / "values.tfvars.json").write_text(json.dumps(variables))
    answer = subprocess.run(
        ["terraform", "console", "-var-file=values.tfvars.json"],
        input="jsonencode(local.function_statements)\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},  # no version check over the network
        timeout=120,
        check=True,
    )
    evaluated = json.loads(json.loads(answer.stdout.strip().splitlines()[-1]))
    values = {"<dynamic-group>": "dg", "<compartment>": "c", "<metrics-compartment>": "mc"}
    values |= {"<metrics-namespace>": "backups", "<function>": "fn", "<sandbox-compartment>": "sc"}
    templates = sorted({entry["statement"] for entry in stack_statements(features)})
    assert evaluated == iam.expand(templates, values, ["Operations", "CostCenter"])


def test_the_vault_statements_are_the_ones_the_readme_gives_with_their_reasons() -> None:
    kms = _stack_locals()["kms_statements"]
    for text, reason in iam.KMS_STATEMENTS:
        hcl = (
            text.replace("<dynamic-group>", "${local.dynamic_group}")
            .replace("<vault-compartment>", "${local.vault_compartment}")
            .replace("<key>", "${key}")
        )
        assert hcl in kms, hcl
        assert reason


# ----------------------------------------------------------------------------- generated files


def test_grants_json_and_the_readme_iam_block_are_current() -> None:
    assert iam.stale() == [], "run `.venv/bin/python -m localdev.iam --write`"


def test_the_readme_lists_every_statement_with_what_it_grants() -> None:
    readme = iam.README.read_text()
    block = readme[readme.index(iam.README_BEGIN) : readme.index(iam.README_END)]
    for entries in GRANTS.values():
        for entry in entries:
            assert f"`{entry['statement']}` | {', '.join(entry['grants'])}" in block
    assert "no DELETE, MOVE, COPY or VOLUME_UPDATE" in readme


def test_volumes_are_created_and_deleted_only_in_the_restore_test_sandbox() -> None:
    for features in COMBINATIONS:
        for entry in stack_statements(features):
            writes = grants_of(entry["statement"]) & {"VOLUME_CREATE", "VOLUME_DELETE", "VOLUME_UPDATE"}
            if writes:
                assert " in compartment id <sandbox-compartment> " in entry["statement"], entry["statement"]
                assert "restoreTests" in features

"""The stack against the OCI provider's schema (8.28.0, vendored), and the checker itself on small snippets.

Each check of tests/deploy/provider_schema.py has a snippet here that it must catch (and, where it matters, a
corrected snippet it must pass), so a check that silently stops working fails a test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy import stack
from tests.deploy.provider_schema import (
    PROVIDER,
    PROVIDER_VERSION,
    SCHEMA_DIR,
    SCHEMA_FILE,
    STACK,
    Finding,
    ProviderSchema,
    check_directory,
    check_text,
    extract,
    load_schema,
    main,
    used_types,
)

SOURCE_COMMIT = "8de3c480b4bf08d8edd40ef0cc4ad0340bd01721"


@pytest.fixture(scope="module")
def schema() -> ProviderSchema:
    return load_schema()


def _checks(schema: ProviderSchema, snippet: str) -> set[tuple[str, str]]:
    return {(finding.address, finding.check) for finding in check_text(snippet, schema)}


def _findings(schema: ProviderSchema, snippet: str) -> list[Finding]:
    return check_text(snippet, schema)


RULE = """
resource "oci_events_rule" "r" {
  compartment_id = "ocid1.compartment.oc1..c"
  display_name   = "r"
  is_enabled     = true
  condition      = %(condition)s
  actions {
    %(actions)s {
      action_type = %(action_type)s
      is_enabled  = true
      function_id = "ocid1.fnfunc.oc1..f"
    }
  }
}
"""


def _rule(
    condition: str = 'jsonencode({ eventType = ["x"] })', actions: str = "action", action_type: str = '"FAAS"'
) -> str:
    return RULE % {"condition": condition, "actions": actions, "action_type": action_type}


SCHEDULE = """
resource "oci_resource_scheduler_schedule" "s" {
  compartment_id     = "ocid1.compartment.oc1..c"
  action             = %(action)s
  recurrence_type    = "CRON"
  recurrence_details = "0 2 * * *"
  resources {
    id = "ocid1.fnfunc.oc1..f"
    parameters {
      parameter_type = "BODY"
      value          = %(value)s
    }
  }
}
"""


def _schedule(value: str = '[jsonencode({ source = "schedule" })]', action: str = '"START_RESOURCE"') -> str:
    return SCHEDULE % {"value": value, "action": action}


FUNCTION = """
resource "oci_functions_function" "f" {
  application_id = "ocid1.fnapp.oc1..a"
  display_name   = "f"
  memory_in_mbs  = %(memory)s
  %(extra)s
}
"""


def _function(extra: str = "", memory: str = '"256"') -> str:
    return FUNCTION % {"memory": memory, "extra": extra}


APPLICATION = """
resource "oci_functions_application" "a" {
  compartment_id = "ocid1.compartment.oc1..c"
  display_name   = "a"
  subnet_ids     = %s
}
"""


def _application(subnet_ids: str) -> str:
    return APPLICATION % subnet_ids


VALUE = "resources[0].parameters[0].value"


# --- the vendored extract ---------------------------------------------------------------------------------------


def test_vendored_schema_is_provider_8_28_0_at_its_release_commit(schema):
    assert SCHEMA_FILE.name == f"oci-{PROVIDER_VERSION}.json"
    assert schema.version == PROVIDER_VERSION == "8.28.0"
    assert schema.source_commit == SOURCE_COMMIT
    readme = (SCHEMA_DIR / "README.md").read_text()
    assert "8.28.0" in readme and SOURCE_COMMIT in readme
    assert "terraform providers schema -json" in readme and "python -m tests.deploy.provider_schema extract" in readme


def test_vendored_schema_covers_every_type_the_stack_declares(schema):
    used = used_types()
    assert used["resource"] and used["data"]
    assert used["resource"] <= set(schema.resources)
    assert used["data"] <= set(schema.data_sources)


def test_stack_requires_the_provider_version_it_is_checked_against():
    [terraform] = stack.load()["versions.tf"]["terraform"]
    [providers] = terraform["required_providers"]
    assert providers["oci"]["source"] == "oracle/oci"
    assert providers["oci"]["version"] == f">= {PROVIDER_VERSION}, < 9.0.0"


def test_the_snippets_here_are_valid(schema):
    """The base snippets pass, so each test below sees only the finding it provokes."""
    assert _findings(schema, _rule() + _schedule() + _function()) == []


# --- the stack ----------------------------------------------------------------------------------------------------


def test_stack_matches_the_provider_schema(schema):
    findings = check_directory(STACK, schema)
    assert findings == [], "\n".join(str(finding) for finding in findings)


def test_alarm_severity_variable_admits_only_what_the_sdk_accepts(schema):
    """severity is read from a variable, which the checker cannot type: the variable's validation does it."""
    files = stack.load()
    alarm = stack.resource(files, "oci_monitoring_alarm", "volume_example")
    assert alarm["severity"] == "${var.alarm_severity}"
    allowed = schema.resources["oci_monitoring_alarm"]["block"]["attributes"]["severity"]["sdk_enum_values"]
    [validation] = stack.variables(files)["alarm_severity"]["validation"]
    assert (
        validation["condition"] == f"${{contains({json.dumps(allowed, separators=(', ', ': '))}, var.alarm_severity)}}"
    )


def test_check_command_exits_zero_on_the_stack(capsys):
    assert main(["check"]) == 0
    assert capsys.readouterr().out == ""


# --- types and names ----------------------------------------------------------------------------------------------


def test_unknown_resource_and_data_source_types_are_reported(schema):
    snippet = 'resource "oci_functions_fn" "f" {}\ndata "oci_identity_tenancies" "t" {}'
    assert _checks(schema, snippet) == {
        ("oci_functions_fn.f", "unknown-type"),
        ("data.oci_identity_tenancies.t", "unknown-type"),
    }


def test_unknown_arguments_are_reported_at_any_depth(schema):
    snippet = _function('memory = "256"')
    assert _checks(schema, snippet) == {("oci_functions_function.f.memory", "unknown-argument")}
    nested = _rule().replace('function_id = "ocid1.fnfunc.oc1..f"', 'function = "ocid1.fnfunc.oc1..f"')
    assert _checks(schema, nested) == {("oci_events_rule.r.actions[0].action[0].function", "unknown-argument")}


def test_unknown_nested_blocks_are_reported(schema):
    snippet = _function("tracing {\n is_enabled = true\n }")
    assert _checks(schema, snippet) == {("oci_functions_function.f.tracing", "unknown-block")}


def test_block_written_as_argument_and_argument_as_block_are_reported(schema):
    as_argument = _function("trace_config = [{ is_enabled = true }]")
    assert _checks(schema, as_argument) == {("oci_functions_function.f.trace_config", "unknown-argument")}
    as_block = _function('config {\n A = "b"\n }')
    assert _checks(schema, as_block) == {("oci_functions_function.f.config", "unknown-block")}


# --- required, computed, deprecated, counts -------------------------------------------------------------------------


def test_missing_required_arguments_are_reported(schema):
    snippet = _function().replace('display_name   = "f"', "")
    assert _checks(schema, snippet) == {("oci_functions_function.f", "missing-argument")}
    nested = _rule().replace("action_type = ", "description = ")
    assert _checks(schema, nested) == {("oci_events_rule.r.actions[0].action[0]", "missing-argument")}


def test_required_argument_set_to_null_is_missing(schema):
    snippet = _function(memory="null")
    assert _checks(schema, snippet) == {("oci_functions_function.f", "missing-argument")}


def test_missing_required_block_is_reported(schema):
    snippet = """
resource "oci_events_rule" "r" {
  compartment_id = "c"
  display_name   = "r"
  is_enabled     = true
  condition      = "{}"
}
"""
    findings = _findings(schema, snippet)
    assert [(f.address, f.check) for f in findings] == [("oci_events_rule.r", "missing-block")]
    assert "actions" in findings[0].message


def test_computed_only_attributes_are_reported(schema):
    snippet = _function('invoke_endpoint = "https://example"')
    assert _checks(schema, snippet) == {("oci_functions_function.f.invoke_endpoint", "computed-only")}
    nested = _rule().replace("is_enabled  = true", 'is_enabled  = true\n      state = "ACTIVE"')
    assert _checks(schema, nested) == {("oci_events_rule.r.actions[0].action[0].state", "computed-only")}


def test_deprecated_nested_block_is_reported(schema):
    """oci_events_rule: actions { actions {} } is deprecated for actions { action {} }."""
    findings = _findings(schema, _rule(actions="actions"))
    assert [(f.address, f.check) for f in findings] == [("oci_events_rule.r.actions[0].actions", "deprecated")]
    assert "Use action instead" in findings[0].message


def test_deprecated_argument_is_reported():
    block = {
        "attributes": {
            "old": {"type": "string", "optional": True, "deprecated": True, "deprecation_message": "use new"},
            "new": {"type": "string", "optional": True},
        }
    }
    schema = ProviderSchema(resources={"oci_thing": {"block": block}}, data_sources={})
    findings = _findings(schema, 'resource "oci_thing" "t" {\n old = "x"\n}')
    assert [(f.address, f.check, f.message) for f in findings] == [("oci_thing.t.old", "deprecated", "use new")]
    assert _findings(schema, 'resource "oci_thing" "t" {\n new = "x"\n}') == []


def test_more_blocks_than_max_items_are_reported(schema):
    snippet = _function("trace_config {\n is_enabled = true\n }\ntrace_config {\n is_enabled = false\n }")
    assert _checks(schema, snippet) == {("oci_functions_function.f.trace_config", "block-count")}
    two_actions = _rule().replace("  actions {", "  actions {\n  }\n  actions {", 1)
    assert ("oci_events_rule.r.actions", "block-count") in _checks(schema, two_actions)


def test_single_nested_block_appears_at_most_once(schema):
    snippet = _function('timeouts {\n create = "5m"\n }\ntimeouts {\n create = "6m"\n }')
    findings = _findings(schema, snippet)
    assert [(f.address, f.check) for f in findings] == [("oci_functions_function.f.timeouts", "block-count")]
    assert "single" in findings[0].message
    assert _findings(schema, _function('timeouts {\n create = "5m"\n }')) == []


def test_conflicting_arguments_and_blocks_are_reported(schema):
    both = _rule().replace("  actions {", '  condition_details {\n event_types = ["x"]\n }\n  actions {', 1)
    assert ("oci_events_rule.r.condition", "conflict") in _checks(schema, both)
    actions = _rule().replace(
        "  actions {", '  actions {\n    actions {\n      action_type = "ONS"\n      is_enabled = true\n    }', 1
    )
    assert ("oci_events_rule.r.actions[0].action", "conflict") in _checks(schema, actions)


# --- literal types --------------------------------------------------------------------------------------------------


def test_bare_string_where_a_list_is_required_is_reported(schema):
    """The schedule's parameters.value is a list of one JSON string: jsonencode(...) alone is one string."""
    findings = _findings(schema, _schedule(value='jsonencode({ source = "schedule" })'))
    assert [(f.address, f.check) for f in findings] == [(f"oci_resource_scheduler_schedule.s.{VALUE}", "type")]
    assert "a bare string where a list of string is required" in findings[0].message
    subnets = _checks(schema, _application('"ocid1.subnet.oc1.iad.s"'))
    assert subnets == {("oci_functions_application.a.subnet_ids", "type")}
    assert _findings(schema, _application('["ocid1.subnet.oc1.iad.s"]')) == []


def test_template_string_is_a_string(schema):
    assert _checks(schema, _application('"${var.subnet}"')) == {("oci_functions_application.a.subnet_ids", "type")}
    assert _findings(schema, _application('["${var.subnet}"]')) == []


def test_number_where_a_string_is_required_is_reported(schema):
    findings = _findings(schema, _function(memory="256"))
    assert [(f.address, f.check) for f in findings] == [("oci_functions_function.f.memory_in_mbs", "type")]
    assert findings[0].message == "a number where a string is required"


def test_string_where_a_number_is_required_is_reported(schema):
    snippet = _function('timeout_in_seconds = "120"')
    assert _checks(schema, snippet) == {("oci_functions_function.f.timeout_in_seconds", "type")}
    assert _findings(schema, _function("timeout_in_seconds = 120")) == []


def test_literal_bool_and_string_are_told_apart(schema):
    as_string = _rule().replace("  is_enabled     = true", '  is_enabled     = "true"')
    assert _checks(schema, as_string) == {("oci_events_rule.r.is_enabled", "type")}
    bool_in_strings = """
data "oci_identity_region_subscriptions" "home" {
  tenancy_id = "t"
  filter {
    name   = "is_home_region"
    values = [true]
  }
}
"""
    findings = _findings(schema, bool_in_strings)
    assert [(f.address, f.check) for f in findings] == [
        ("data.oci_identity_region_subscriptions.home.filter[0].values[0]", "type")
    ]
    assert _findings(schema, bool_in_strings.replace("[true]", '["true"]')) == []


def test_map_values_are_typed(schema):
    assert _checks(schema, _function('config = ["A"]')) == {("oci_functions_function.f.config", "type")}
    assert _checks(schema, _function("config = { A = 1 }")) == {("oci_functions_function.f.config.A", "type")}
    assert _findings(schema, _function('config = { A = "1" }')) == []


def test_expressions_are_not_typed_offline(schema):
    snippet = (
        _function(
            'timeout_in_seconds = var.timeout\nconfig = local.config\nimage = "${var.registry}/backup:1"',
            memory="var.memory",
        )
        + _schedule(value="var.body")
        + _rule(condition='var.on ? "{}" : "[]"')
    )
    assert _findings(schema, snippet) == []


# --- values ---------------------------------------------------------------------------------------------------------


def test_allowed_values_are_checked_case_insensitively_where_the_schema_says(schema):
    assert _findings(schema, _rule(action_type='"faas"')) == []
    findings = _findings(schema, _rule(action_type='"LAMBDA"'))
    assert [(f.address, f.check) for f in findings] == [("oci_events_rule.r.actions[0].action[0].action_type", "value")]
    assert "FAAS, ONS, OSS" in findings[0].message


def test_case_sensitive_allowed_values_are_checked_exactly(schema):
    key = """
resource "oci_kms_key" "k" {
  compartment_id      = "c"
  display_name        = "k"
  management_endpoint = "https://kms"
  desired_state       = %s
  key_shape {
    algorithm = "AES"
    length    = 32
  }
}
"""
    assert _findings(schema, key % '"ENABLED"') == []
    assert _checks(schema, key % '"enabled"') == {("oci_kms_key.k.desired_state", "value")}


def test_enforced_sdk_enum_values_are_checked(schema):
    assert _checks(schema, _schedule(action='"RESTART_RESOURCE"')) == {
        ("oci_resource_scheduler_schedule.s.action", "value")
    }
    assert _findings(schema, _schedule(action='"start_resource"')) == [], "the SDK compares case-insensitively"


def test_sdk_enum_values_not_enforced_are_not_checked(schema):
    alarm = """
resource "oci_monitoring_alarm" "a" {
  compartment_id        = "c"
  metric_compartment_id = "c"
  display_name          = "a"
  namespace             = "oci_blockstore"
  query                 = "VolumeWriteOps[1m].sum() > 1"
  severity              = %s
  destinations          = ["t"]
  is_enabled            = true
  overrides {
    severity = "SEVERE"
  }
}
"""
    assert _findings(schema, alarm % '"WARNING"') == [], "overrides.severity is not enforced by the SDK"
    assert _checks(schema, alarm % '"SEVERE"') == {("oci_monitoring_alarm.a.severity", "value")}


def test_string_is_json_is_checked_on_literals_and_jsonencode_passes(schema):
    assert _checks(schema, _rule(condition='"{eventType: x}"')) == {("oci_events_rule.r.condition", "value")}
    assert _findings(schema, _rule(condition='"{\\"eventType\\": [\\"x\\"]}"')) == []
    heredoc = '<<EOT\n{"eventType": ["x"]}\nEOT'
    assert _findings(schema, _rule(condition=heredoc)) == []
    assert _checks(schema, _schedule(value='["not json"]')) == {
        (f"oci_resource_scheduler_schedule.s.{VALUE}[0]", "value")
    }
    assert _findings(schema, _schedule(value='["{\\"source\\": \\"schedule\\"}"]')) == []


def test_string_holding_an_integer_is_checked(schema):
    assert _checks(schema, _function(memory='"256MB"')) == {("oci_functions_function.f.memory_in_mbs", "value")}


def test_list_length_limits_are_checked(schema):
    two = "[jsonencode({ a = 1 }), jsonencode({ b = 2 })]"
    assert _checks(schema, _schedule(value=two)) == {(f"oci_resource_scheduler_schedule.s.{VALUE}", "value")}
    assert _checks(schema, _schedule(value="[]")) == {(f"oci_resource_scheduler_schedule.s.{VALUE}", "value")}
    policy = 'resource "oci_identity_policy" "p" {\n compartment_id = "c"\n name = "p"\n description = "p"\n'
    policy += " statements = []\n}"
    assert _checks(schema, policy) == {("oci_identity_policy.p.statements", "value")}


# --- dynamic blocks and meta-arguments ------------------------------------------------------------------------------


DYNAMIC_RULE = """
resource "oci_events_rule" "r" {
  compartment_id = "c"
  display_name   = "r"
  is_enabled     = true
  condition      = "{}"
  dynamic "%(label)s" {
    for_each = var.functions
    content {
      action {
        action_type = "FAAS"
        is_enabled  = true
        %(argument)s = actions.value
      }
    }
  }
}
"""


def test_dynamic_block_satisfies_a_required_block_and_its_content_is_checked(schema):
    assert _findings(schema, DYNAMIC_RULE % {"label": "actions", "argument": "function_id"}) == []
    wrong = DYNAMIC_RULE % {"label": "actions", "argument": "function"}
    assert _checks(schema, wrong) == {
        ("oci_events_rule.r.dynamic.actions[0].content.action[0].function", "unknown-argument")
    }


def test_dynamic_block_of_an_unknown_type_is_reported(schema):
    snippet = DYNAMIC_RULE % {"label": "targets", "argument": "function_id"}
    assert _checks(schema, snippet) == {
        ("oci_events_rule.r.dynamic.targets[0]", "unknown-block"),
        ("oci_events_rule.r", "missing-block"),
    }


def test_dynamic_block_without_content_or_for_each_is_reported(schema):
    snippet = _function(
        'dynamic "trace_config" {\n for_each = var.t\n}\n'
        'dynamic "success_destination" {\n content {\n kind = "NONE"\n }\n}'
    )
    assert _checks(schema, snippet) == {
        ("oci_functions_function.f.dynamic.trace_config[0]", "meta-argument"),
        ("oci_functions_function.f.dynamic.success_destination[0]", "meta-argument"),
    }


def test_meta_arguments_are_understood(schema):
    snippet = _function(
        "count      = var.on ? 1 : 0\n"
        "provider   = oci.home\n"
        "depends_on = [oci_functions_application.a]\n"
        "lifecycle {\n"
        "  create_before_destroy = true\n"
        "  ignore_changes        = [config]\n"
        "  precondition {\n"
        "    condition     = length(var.x) < 3\n"
        '    error_message = "too long"\n'
        "  }\n"
        "}"
    )
    assert _findings(schema, snippet) == []
    data = 'data "oci_identity_tenancy" "t" {\n for_each = toset(var.ids)\n tenancy_id = each.value\n}'
    assert _findings(schema, data) == []


def test_misused_meta_arguments_are_reported(schema):
    both = _function("count = 1\nfor_each = var.m")
    assert _checks(schema, both) == {("oci_functions_function.f", "meta-argument")}
    quoted = _function('provider = "oci.home"')
    assert _checks(schema, quoted) == {("oci_functions_function.f.provider", "meta-argument")}
    for_each_list = _function('for_each = ["a"]')
    assert _checks(schema, for_each_list) == {("oci_functions_function.f.for_each", "meta-argument")}
    lifecycle = _function("lifecycle {\n prevent_delete = true\n precondition {\n condition = true\n }\n}")
    assert _checks(schema, lifecycle) == {
        ("oci_functions_function.f.lifecycle.prevent_delete", "meta-argument"),
        ("oci_functions_function.f.lifecycle.precondition[0]", "meta-argument"),
    }
    data = 'data "oci_identity_tenancy" "t" {\n tenancy_id = "t"\n lifecycle {\n prevent_destroy = true\n }\n}'
    assert _checks(schema, data) == {("data.oci_identity_tenancy.t.lifecycle.prevent_destroy", "meta-argument")}


def test_meta_argument_names_are_arguments_inside_nested_blocks(schema):
    """count is a meta-argument of the resource, but an ordinary argument of provisioned_concurrency_config."""
    nested = _function('provisioned_concurrency_config {\n strategy = "CONSTANT"\n count = 10\n}')
    assert _findings(schema, nested) == []
    wrong = _function('provisioned_concurrency_config {\n strategy = "CONSTANT"\n count = "10"\n}')
    assert _checks(schema, wrong) == {("oci_functions_function.f.provisioned_concurrency_config[0].count", "type")}


# --- refreshing the extract -----------------------------------------------------------------------------------------


def _full_schema() -> dict[str, object]:
    block = {"block": {"attributes": {"id": {"type": "string", "computed": True}}}}
    return {
        "format_version": "1.0",
        "provider_schemas": {
            PROVIDER: {
                "provider": {"block": {}},
                "resource_schemas": {"oci_a": block, "oci_b": block, "oci_unused": block},
                "data_source_schemas": {"oci_d": block, "oci_unused": block},
            }
        },
    }


def test_extract_keeps_only_the_named_types():
    document = extract(_full_schema(), {"oci_a", "oci_b"}, {"oci_d"})
    provider = document["provider_schemas"][PROVIDER]
    assert set(provider["resource_schemas"]) == {"oci_a", "oci_b"}
    assert set(provider["data_source_schemas"]) == {"oci_d"}
    assert "provider" not in provider and document["format_version"] == "1.0"


def test_extract_refuses_a_type_the_provider_lacks():
    with pytest.raises(KeyError, match="oci_missing"):
        extract(_full_schema(), {"oci_a", "oci_missing"}, set())


def test_extract_command_keeps_the_stack_types(tmp_path: Path, capsys, schema):
    full = {
        "format_version": "1.0",
        "provider_schemas": {
            PROVIDER: {
                "resource_schemas": dict(schema.resources) | {"oci_core_instance": {"block": {}}},
                "data_source_schemas": dict(schema.data_sources),
            }
        },
    }
    source = tmp_path / "full.json"
    source.write_text(json.dumps(full))
    assert main(["extract", str(source)]) == 0
    written = json.loads(capsys.readouterr().out)["provider_schemas"][PROVIDER]
    assert set(written["resource_schemas"]) == set(schema.resources)
    assert set(written["data_source_schemas"]) == set(schema.data_sources)

"""Check Terraform files against the OCI provider's schema, offline (no terraform binary, no provider download).

The schema is the vendored extract in deploy/terraform/provider-schema/ (layout of ``terraform providers schema
-json``, plus the provider's own validations; see the README there). Every ``resource`` and ``data`` block is
walked, nested and ``dynamic`` blocks included, and reported:

- ``unknown-type``: a resource or data source type the schema does not have;
- ``unknown-argument`` / ``unknown-block``: a name the schema does not have at that place (or a block written as
  an argument, or an argument written as a block);
- ``missing-argument`` / ``missing-block``: a required argument not set, fewer blocks than ``min_items``;
- ``block-count``: more blocks than ``max_items``, or more than one of a ``single`` block;
- ``computed-only``: an attribute only the provider sets;
- ``deprecated``: a deprecated argument or block;
- ``conflict``: two arguments or blocks the schema says conflict;
- ``type``: a literal of the wrong type (a bare string where a list is required, a number or bool where a
  string is required, ...). Terraform would convert a number or bool to a string by itself; the check still
  asks for the type the schema names, so that the file says what the provider receives;
- ``value``: a literal outside ``allowed_values``, or outside ``sdk_enum_values`` where the SDK enforces them,
  a list length outside an attribute's ``min_items``/``max_items``, a string that is not JSON where the schema
  validates ``StringIsJSON`` or not an integer where it validates ``ValidateInt64TypeString``;
- ``meta-argument``: a misused ``count``/``for_each``/``depends_on``/``provider``/``lifecycle`` or ``dynamic``.

Expressions (references, function calls, conditionals, templates with interpolations) have no value offline and
are skipped by the type and value checks, except what is certain: ``jsonencode(...)`` is a string holding JSON,
and a template ``"...${x}..."`` is a string.

``python -m tests.deploy.provider_schema check`` prints the findings for the stack; ``... extract FULL.json``
filters the output of ``terraform providers schema -json`` to the types the stack uses (see the README).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

STACK = Path(__file__).resolve().parent.parent.parent / "deploy" / "terraform"
SCHEMA_DIR = STACK / "provider-schema"
PROVIDER_VERSION = "8.28.0"
SCHEMA_FILE = SCHEMA_DIR / f"oci-{PROVIDER_VERSION}.json"
PROVIDER = "registry.terraform.io/oracle/oci"

_BOOKKEEPING = frozenset({"__comments__", "__inline_comments__", "__is_block__"})
# Meta-arguments Terraform itself reads in a resource or data block (not the provider's schema).
_RESOURCE_META = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"})
_DATA_META = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle"})
_LIFECYCLE_ARGUMENTS = {
    "resource": frozenset({"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"}),
    "data": frozenset(),
}
_CONDITION_BLOCKS = frozenset({"precondition", "postcondition"})
_DYNAMIC_KEYS = frozenset({"for_each", "iterator", "labels", "content"})
_INT64 = re.compile(r"[+-]?[0-9]+")


# --- the schema ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderSchema:
    """One provider's resource and data source schemas, as ``terraform providers schema -json`` prints them."""

    resources: Mapping[str, Any]
    data_sources: Mapping[str, Any]
    version: str | None = None
    source_commit: str | None = None

    def block(self, kind: str, rtype: str) -> Mapping[str, Any] | None:
        types = self.resources if kind == "resource" else self.data_sources
        schema = types.get(rtype)
        return None if schema is None else schema["block"]


# Terraform's own resource types (terraform.io/builtin/terraform), which no provider's schema lists: their
# schema as Terraform documents it (terraform_data: input, triggers_replace; output and id computed).
BUILTIN_RESOURCES: dict[str, Any] = {
    "terraform_data": {
        "version": 0,
        "block": {
            "attributes": {
                "id": {"type": "string", "computed": True},
                "input": {"type": "dynamic", "optional": True},
                "output": {"type": "dynamic", "computed": True},
                "triggers_replace": {"type": "dynamic", "optional": True},
            },
            "block_types": {},
        },
    }
}


def load_schema(path: Path = SCHEMA_FILE) -> ProviderSchema:
    document = json.loads(path.read_text())
    provider = document["provider_schemas"][PROVIDER]
    return ProviderSchema(
        resources={**BUILTIN_RESOURCES, **provider.get("resource_schemas", {})},
        data_sources=provider.get("data_source_schemas", {}),
        version=provider.get("provider_version"),
        source_commit=provider.get("source_commit"),
    )


# --- findings -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    address: str  # e.g. oci_events_rule.volume_events.actions[0].actions[0]
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.address}: [{self.check}] {self.message}"


# --- literal values -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """What can be known offline about an argument's value.

    ``kind`` is ``string``, ``number``, ``bool``, ``list``, ``object``, ``null`` or ``unknown`` (an expression).
    ``literal`` is the value when ``known`` (a literal).
    """

    kind: str
    literal: Any = None
    known: bool = False
    items: tuple[Value, ...] = ()
    fields: tuple[tuple[str, Value], ...] = field(default=())


_UNKNOWN = Value("unknown")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def _has_interpolation(text: str) -> bool:
    """A template sequence ``${`` or ``%{`` that is not escaped as ``$${`` / ``%%{``."""
    index = 0
    while index < len(text) - 1:
        pair = text[index : index + 2]
        if text[index] in "$%" and text[index + 1 : index + 3] == text[index] + "{":
            index += 3
            continue
        if pair in ("${", "%{"):
            return True
        index += 1
    return False


def _unescape(text: str) -> str:
    """The value of a quoted HCL string's body (python-hcl2 keeps the escapes as written)."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            escaped = text[index + 1]
            if escaped in _ESCAPES:
                out.append(_ESCAPES[escaped])
                index += 2
                continue
            if escaped in "uU":
                width = 4 if escaped == "u" else 8
                out.append(chr(int(text[index + 2 : index + 2 + width], 16)))
                index += 2 + width
                continue
        out.append(char)
        index += 1
    return "".join(out).replace("$${", "${").replace("%%{", "%{")


def _whole_call(expression: str, function: str) -> bool:
    """Whether ``expression`` is exactly one call of ``function`` (not, say, ``jsonencode(x) == y``)."""
    expression = expression.strip()
    if not expression.startswith(function + "("):
        return False
    depth = 0
    quoted = False
    index = len(function)
    while index < len(expression):
        char = expression[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index == len(expression) - 1
        index += 1
    return False


def classify(raw: Any) -> Value:
    """The offline view of a value as python-hcl2 parsed it (quotes kept on string literals)."""
    if raw is None:
        return Value("null", known=True)
    if isinstance(raw, bool):
        return Value("bool", raw, known=True)
    if isinstance(raw, int | float):
        return Value("number", raw, known=True)
    if isinstance(raw, list):
        return Value("list", items=tuple(classify(item) for item in raw), known=True)
    if isinstance(raw, dict):
        fields = tuple((_unquote(key), classify(value)) for key, value in raw.items() if key not in _BOOKKEEPING)
        return Value("object", fields=fields, known=True)
    if not isinstance(raw, str):
        return _UNKNOWN
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        if body.startswith("<<"):  # heredoc: "<<EOT\n...\nEOT"
            lines = body.split("\n")
            text = "\n".join(lines[1:-1])
            return Value("string") if _has_interpolation(text) else Value("string", text, known=True)
        if _has_interpolation(body):
            return Value("string")
        return Value("string", _unescape(body), known=True)
    if raw.startswith("${") and raw.endswith("}"):
        if _whole_call(raw[2:-1], "jsonencode"):
            return Value("string")  # valid JSON by construction: its content is not needed

        return _UNKNOWN
    return _UNKNOWN


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def _is_block_list(raw: Any) -> bool:
    return (
        isinstance(raw, list) and bool(raw) and all(isinstance(item, dict) and item.get("__is_block__") for item in raw)
    )


def _type_name(schema_type: Any) -> str:
    if isinstance(schema_type, str):
        return schema_type
    container, element = schema_type
    if container == "object":
        return "object"
    return f"{container} of {_type_name(element)}"


def _a(kind: str) -> str:
    return {"object": "an object or map", "list": "a list", "null": "null"}.get(kind, f"a {kind}")


def _string_is_json(value: Value) -> str | None:
    """None when the value is JSON (or cannot be known), else the reason it is not."""
    if value.kind != "string" or not value.known:
        return None
    try:
        json.loads(value.literal)
    except ValueError as exc:
        return f"{value.literal!r} is not valid JSON ({exc})"
    return None


# --- the walk -----------------------------------------------------------------------------------------------------


@dataclass
class _Walk:
    file: str
    findings: list[Finding] = field(default_factory=list)

    def report(self, address: str, check: str, message: str) -> None:
        self.findings.append(Finding(self.file, address, check, message))

    # types and values

    def check_type(self, address: str, schema_type: Any, value: Value) -> None:
        if value.kind in ("unknown", "null"):
            return
        if isinstance(schema_type, str):
            if schema_type in ("dynamic", value.kind):
                return
            self.report(address, "type", f"{_a(value.kind)} where {_a(schema_type)} is required")
            return
        container, element = schema_type
        if container in ("list", "set"):
            if value.kind != "list":
                what = "a bare string" if value.kind == "string" else _a(value.kind)
                self.report(address, "type", f"{what} where a {_type_name(schema_type)} is required")
                return
            for index, item in enumerate(value.items):
                self.check_type(f"{address}[{index}]", element, item)
        elif container == "map":
            if value.kind != "object":
                self.report(address, "type", f"{_a(value.kind)} where a {_type_name(schema_type)} is required")
                return
            for key, item in value.fields:
                self.check_type(f"{address}.{key}", element, item)
        elif container == "object":
            if value.kind != "object":
                self.report(address, "type", f"{_a(value.kind)} where an object is required")
                return
            for key, item in value.fields:
                if key not in element:
                    self.report(address, "unknown-argument", f"object attribute {key!r} is not in the schema")
                else:
                    self.check_type(f"{address}.{key}", element[key], item)

    def check_value(self, address: str, spec: Mapping[str, Any], value: Value) -> None:
        if value.kind == "string" and value.known:
            self._check_allowed(address, spec, value.literal)
        validation = spec.get("validation")
        if validation == "validation.StringIsJSON" and (problem := _string_is_json(value)):
            self.report(address, "value", f"must be JSON (StringIsJSON): {problem}")
        if (
            validation == "tfresource.ValidateInt64TypeString"
            and value.kind == "string"
            and value.known
            and (not _INT64.fullmatch(value.literal) or not -(2**63) <= int(value.literal) < 2**63)
        ):
            self.report(address, "value", f"{value.literal!r} must be a string holding a base-10 integer")
        if value.kind == "list":
            count = len(value.items)
            if "min_items" in spec and count < spec["min_items"]:
                self.report(address, "value", f"{count} element(s); at least {spec['min_items']} required")
            if "max_items" in spec and count > spec["max_items"]:
                self.report(address, "value", f"{count} element(s); at most {spec['max_items']} allowed")
            if spec.get("element_validation") == "validation.StringIsJSON":
                for index, item in enumerate(value.items):
                    if problem := _string_is_json(item):
                        self.report(f"{address}[{index}]", "value", f"must be JSON (StringIsJSON): {problem}")

    def _check_allowed(self, address: str, spec: Mapping[str, Any], literal: str) -> None:
        if "allowed_values" in spec:
            allowed = spec["allowed_values"]
            if spec.get("allowed_values_ignore_case"):
                ok = literal.casefold() in {value.casefold() for value in allowed}
            else:
                ok = literal in allowed
            if not ok:
                self.report(address, "value", f"{literal!r} is not one of {', '.join(allowed)}")
        if spec.get("sdk_enum_enforced") and "sdk_enum_values" in spec:
            allowed = spec["sdk_enum_values"]
            if literal.casefold() not in {value.casefold() for value in allowed}:
                self.report(
                    address, "value", f"{literal!r} is not one of {', '.join(allowed)} (the SDK rejects it at apply)"
                )

    # blocks

    def check_body(
        self,
        address: str,
        schema: Mapping[str, Any],
        body: Mapping[str, Any],
        path: tuple[str, ...],
        meta: frozenset[str] = frozenset(),
    ) -> None:
        attributes: Mapping[str, Any] = schema.get("attributes", {})
        block_types: Mapping[str, Any] = schema.get("block_types", {})
        static: dict[str, list[dict[str, Any]]] = {}
        dynamic: dict[str, list[dict[str, Any]]] = {}
        for key, raw in body.items():
            if key in _BOOKKEEPING or key in meta:
                continue
            name = f"{address}.{key}"
            if key == "dynamic" and isinstance(raw, list):
                for labelled in raw:
                    for label, content in labelled.items():
                        if label not in _BOOKKEEPING:
                            dynamic.setdefault(_unquote(label), []).append(content)
                continue
            if _is_block_list(raw):
                if key in block_types:
                    static[key] = raw
                elif key in attributes:
                    self.report(name, "unknown-block", f"{key} is an argument, not a block: write `{key} = ...`")
                else:
                    self.report(name, "unknown-block", f"no block type {key!r} here")
                continue
            if key in block_types:
                self.report(name, "unknown-argument", f"{key} is a block, not an argument: write `{key} {{ ... }}`")
            elif key not in attributes:
                self.report(name, "unknown-argument", f"no argument {key!r} here")
            else:
                self.check_attribute(name, key, attributes[key], classify(raw), body, path)
        for key, spec in attributes.items():
            if spec.get("required") and (key not in body or body[key] is None):
                self.report(address, "missing-argument", f"required argument {key!r} is not set")
        for label, contents in dynamic.items():
            self.check_dynamic(f"{address}.dynamic.{label}", label, block_types, contents, path)
        for key, spec in block_types.items():
            self.check_blocks(address, key, spec, static.get(key, []), key in dynamic, body, path)

    def check_attribute(
        self,
        address: str,
        key: str,
        spec: Mapping[str, Any],
        value: Value,
        body: Mapping[str, Any],
        path: tuple[str, ...],
    ) -> None:
        if spec.get("computed") and not spec.get("optional") and not spec.get("required"):
            self.report(address, "computed-only", f"{key} is set by the provider and cannot be written")
            return
        if spec.get("deprecated"):
            self.report(address, "deprecated", spec.get("deprecation_message", f"{key} is deprecated"))
        self._check_conflicts(address, key, spec, body, path)
        self.check_type(address, spec["type"], value)
        self.check_value(address, spec, value)

    def check_blocks(
        self,
        address: str,
        key: str,
        spec: Mapping[str, Any],
        instances: list[dict[str, Any]],
        has_dynamic: bool,
        body: Mapping[str, Any],
        path: tuple[str, ...],
    ) -> None:
        count = len(instances)
        name = f"{address}.{key}"
        if count or has_dynamic:
            if spec.get("deprecation_message") or spec["block"].get("deprecated"):
                self.report(name, "deprecated", spec.get("deprecation_message", f"block {key} is deprecated"))
            self._check_conflicts(name, key, spec, body, path)
        if spec.get("nesting_mode") == "single" and count > 1:
            self.report(name, "block-count", f"{count} {key} blocks; at most one (nesting single)")
        if "max_items" in spec and count > spec["max_items"]:
            self.report(name, "block-count", f"{count} {key} blocks; at most {spec['max_items']}")
        if "min_items" in spec and count < spec["min_items"] and not has_dynamic:
            self.report(address, "missing-block", f"{count} {key} blocks; at least {spec['min_items']} required")
        for index, instance in enumerate(instances):
            self.check_body(f"{name}[{index}]", spec["block"], instance, (*path, key))

    def check_dynamic(
        self,
        address: str,
        label: str,
        block_types: Mapping[str, Any],
        contents: list[dict[str, Any]],
        path: tuple[str, ...],
    ) -> None:
        for index, dynamic in enumerate(contents):
            name = f"{address}[{index}]"
            for key in dynamic:
                if key not in _BOOKKEEPING and key not in _DYNAMIC_KEYS:
                    self.report(name, "meta-argument", f"no {key!r} in a dynamic block (for_each, iterator, content)")
            if "for_each" not in dynamic:
                self.report(name, "meta-argument", "a dynamic block needs for_each")
            content: Any = dynamic.get("content")
            if not _is_block_list(content) or len(content) != 1:
                self.report(name, "meta-argument", "a dynamic block needs exactly one content block")
                continue
            if label not in block_types:
                self.report(name, "unknown-block", f"dynamic {label!r}: no block type {label!r} here")
                continue
            self.check_body(f"{name}.content", block_types[label]["block"], content[0], (*path, label))

    def _check_conflicts(
        self,
        address: str,
        key: str,
        spec: Mapping[str, Any],
        body: Mapping[str, Any],
        path: tuple[str, ...],
    ) -> None:
        for other in spec.get("conflicts_with", []):
            names = tuple(part for part in other.split(".") if not part.isdigit())
            if names[:-1] == path and names[-1] in _present(body):
                self.report(address, "conflict", f"{key} conflicts with {names[-1]}")

    # meta-arguments

    def check_meta(self, address: str, kind: str, body: Mapping[str, Any]) -> None:
        if "count" in body and "for_each" in body:
            self.report(address, "meta-argument", "count and for_each cannot both be set")
        if "count" in body and classify(body["count"]).kind not in ("number", "unknown"):
            self.report(f"{address}.count", "meta-argument", "count must be a number")
        if "for_each" in body and classify(body["for_each"]).kind not in ("object", "unknown"):
            self.report(f"{address}.for_each", "meta-argument", "for_each must be a map or a set of strings")
        if "depends_on" in body and not isinstance(body["depends_on"], list):
            self.report(f"{address}.depends_on", "meta-argument", "depends_on must be a list of references")
        if "provider" in body and classify(body["provider"]).kind != "unknown":
            self.report(f"{address}.provider", "meta-argument", "provider is a reference (oci.alias), not a string")
        if "lifecycle" in body:
            self.check_lifecycle(f"{address}.lifecycle", kind, body["lifecycle"])

    def check_lifecycle(self, address: str, kind: str, raw: Any) -> None:
        if not _is_block_list(raw):
            self.report(address, "meta-argument", "lifecycle is a block")
            return
        if len(raw) > 1:
            self.report(address, "meta-argument", "at most one lifecycle block")
        for block in raw:
            for key, value in block.items():
                if key in _BOOKKEEPING:
                    continue
                if key in _CONDITION_BLOCKS and _is_block_list(value):
                    for index, condition in enumerate(value):
                        for required in ("condition", "error_message"):
                            if required not in condition:
                                self.report(f"{address}.{key}[{index}]", "meta-argument", f"{key} needs {required}")
                elif key not in _LIFECYCLE_ARGUMENTS[kind]:
                    self.report(f"{address}.{key}", "meta-argument", f"no {key!r} in the lifecycle of a {kind}")


def _present(body: Mapping[str, Any]) -> set[str]:
    names = {key for key, value in body.items() if key not in _BOOKKEEPING and value is not None}
    for labelled in body.get("dynamic", []) if isinstance(body.get("dynamic"), list) else []:
        names.update(_unquote(label) for label in labelled if label not in _BOOKKEEPING)
    return names


def _blocks(parsed: Mapping[str, Any], kind: str) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for block in parsed.get(kind, []):
        for rtype, named in block.items():
            if rtype in _BOOKKEEPING:
                continue
            for name, body in named.items():
                if name not in _BOOKKEEPING:
                    yield _unquote(rtype), _unquote(name), body


def check_parsed(parsed: Mapping[str, Any], schema: ProviderSchema, file: str = "main.tf") -> list[Finding]:
    """Findings for one file as ``hcl2.load`` returns it (quotes and ``__is_block__`` kept)."""
    walk = _Walk(file)
    for kind, meta in (("resource", _RESOURCE_META), ("data", _DATA_META)):
        for rtype, name, body in _blocks(parsed, kind):
            address = f"{'data.' if kind == 'data' else ''}{rtype}.{name}"
            block = schema.block(kind, rtype)
            if block is None:
                walk.report(address, "unknown-type", f"the provider schema has no {kind} type {rtype!r}")
                continue
            walk.check_meta(address, kind, body)
            walk.check_body(address, block, body, (), meta)
    return sorted(walk.findings)


def check_text(text: str, schema: ProviderSchema, file: str = "main.tf") -> list[Finding]:
    return check_parsed(hcl2.loads(text), schema, file)


def check_directory(directory: Path = STACK, schema: ProviderSchema | None = None) -> list[Finding]:
    """Findings for every ``*.tf`` file of ``directory`` (the stack by default)."""
    schema = schema or load_schema()
    findings: list[Finding] = []
    for path in sorted(directory.glob("*.tf")):
        findings.extend(check_text(path.read_text(), schema, path.name))
    return findings


# --- the extract --------------------------------------------------------------------------------------------------


def used_types(directory: Path = STACK) -> dict[str, set[str]]:
    """The resource and data source types the ``*.tf`` files of ``directory`` declare."""
    used: dict[str, set[str]] = {"resource": set(), "data": set()}
    for path in sorted(directory.glob("*.tf")):
        parsed = hcl2.loads(path.read_text())
        for kind, types in used.items():
            types.update(rtype for rtype, _, _ in _blocks(parsed, kind) if rtype not in BUILTIN_RESOURCES)
    return used


def extract(full: Mapping[str, Any], resources: set[str], data_sources: set[str]) -> dict[str, Any]:
    """``terraform providers schema -json`` output cut down to the named types of the OCI provider."""
    provider = full["provider_schemas"][PROVIDER]
    missing = (resources - set(provider["resource_schemas"])) | (data_sources - set(provider["data_source_schemas"]))
    if missing:
        raise KeyError(f"the provider schema has no {', '.join(sorted(missing))}")
    return {
        "format_version": full["format_version"],
        "provider_schemas": {
            PROVIDER: {
                "resource_schemas": {name: provider["resource_schemas"][name] for name in sorted(resources)},
                "data_source_schemas": {name: provider["data_source_schemas"][name] for name in sorted(data_sources)},
            }
        },
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"] and len(argv) == 1:
        findings = check_directory()
        sys.stdout.write("".join(f"{finding}\n" for finding in findings))
        return 1 if findings else 0
    if argv[:1] == ["extract"] and len(argv) == 2:
        used = used_types()
        current = load_schema()
        document = extract(
            json.loads(Path(argv[1]).read_text()),
            used["resource"] | set(current.resources),
            used["data"] | set(current.data_sources),
        )
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return 0
    sys.stderr.write(
        "usage: python -m tests.deploy.provider_schema check\n"
        "       python -m tests.deploy.provider_schema extract SCHEMA.json\n"
        "         (SCHEMA.json: the output of terraform providers schema -json)\n"
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

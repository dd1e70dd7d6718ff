"""The stack's .tf files as python-hcl2 parses them, with the quotes of string literals dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

from tests.deploy.provider_schema import STACK

_BOOKKEEPING = ("__comments__", "__inline_comments__", "__is_block__")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; drop them (and its bookkeeping keys)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in _BOOKKEEPING}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    return value


def load(directory: Path = STACK) -> dict[str, dict[str, Any]]:
    return {path.name: unquote(hcl2.loads(path.read_text())) for path in sorted(directory.glob("*.tf"))}


def blocks(files: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [block for parsed in files.values() for block in parsed.get(kind, [])]


def resource(files: dict[str, dict[str, Any]], rtype: str, name: str) -> dict[str, Any]:
    for block in blocks(files, "resource"):
        if rtype in block and name in block[rtype]:
            body: dict[str, Any] = block[rtype][name]
            return body
    raise AssertionError(f"no resource {rtype}.{name}")


def variables(files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: body for block in blocks(files, "variable") for name, body in block.items()}


def locals_(files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: value for block in blocks(files, "locals") for name, value in block.items()}

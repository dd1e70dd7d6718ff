"""Plain-words descriptions of pydantic validation errors.

Callers see ``{"field": "volumeId", "problem": "must be a volume OCID"}`` — the
field as they spelled it and why it was refused — never pydantic's error types,
URLs or the offending input echoed back.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import ValidationError

_PLAIN = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "tuple_type": "must be a JSON array",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "literal_error": None,  # pydantic's own message ("Input should be 'FULL' or 'INCREMENTAL'") is plain
    "string_pattern_mismatch": "has an invalid format",
    "datetime_from_date_parsing": "must be an RFC 3339 timestamp",
    "datetime_parsing": "must be an RFC 3339 timestamp",
    "datetime_type": "must be an RFC 3339 timestamp",
}


def _field_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "":
            path += '.""' if path else '""'
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def _problem(error_type: str, message: str) -> str:
    plain = _PLAIN.get(error_type)
    if plain:
        return plain
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    # pydantic's remaining messages ("String should have at most 255 characters", ...) are plain sentences.
    return message[:1].lower() + message[1:]


def describe(exc: ValidationError, known_fields: Iterable[str] = ()) -> list[dict[str, str]]:
    """Each validation error as ``{"field", "problem"}``, suggesting a known field for typos."""
    known = list(known_fields)
    problems: list[dict[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = _field_path(error["loc"])
        problem = _problem(error["type"], error["msg"])
        if error["type"] == "extra_forbidden" and known:
            name = str(error["loc"][-1])
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) or [
                k for k in known if k.lower() == name.lower()
            ]
            if close:
                problem += f" (did you mean {close[0]!r}?)"
        problems.append({"field": field, "problem": problem})
    return problems

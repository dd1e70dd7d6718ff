"""Plain-words descriptions of pydantic validation errors.

Callers see ``{"field": "volumeId", "problem": "must be a volume OCID"}`` — the
field as they spelled it and why it was refused — never pydantic's error types,
URLs or the offending input echoed back.

The answer stays small whatever the input: at most :data:`MAX_PROBLEMS` problems
are described (the rest are counted), and a field path is cut to
:data:`MAX_FIELD_CHARS` characters.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

MAX_PROBLEMS = 20
MAX_FIELD_CHARS = 200

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


@dataclass(frozen=True)
class Problems:
    """The first :data:`MAX_PROBLEMS` problems, and how many there were in all."""

    items: list[dict[str, str]]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.items)

    def summary(self, shown: int = 5) -> str:
        text = "; ".join(f"{p['field']} {p['problem']}" for p in self.items[:shown])
        return text + (f" (and {self.total - shown} more)" if self.total > shown else "")


def bounded_field(name: str) -> str:
    """A field name as it may appear in an answer: cut to :data:`MAX_FIELD_CHARS`."""
    return name if len(name) <= MAX_FIELD_CHARS else name[:MAX_FIELD_CHARS] + "..."


def _field_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "":
            path += '.""' if path else '""'
        else:
            path += f".{part}" if path else str(part)
        if len(path) > MAX_FIELD_CHARS:
            break
    return bounded_field(path) or "(body)"


def _problem(error_type: str, message: str) -> str:
    plain = _PLAIN.get(error_type)
    if plain:
        return plain
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    # pydantic's remaining messages ("String should have at most 255 characters", ...) are plain sentences.
    return message[:1].lower() + message[1:]


def describe(exc: ValidationError, known_fields: Iterable[str] = ()) -> Problems:
    """The first validation errors as ``{"field", "problem"}``, suggesting a known field for typos."""
    known = list(known_fields)
    problems: list[dict[str, str]] = []
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    for error in errors[:MAX_PROBLEMS]:
        field = _field_path(error["loc"])
        problem = _problem(error["type"], error["msg"])
        if error["type"] == "extra_forbidden" and known:
            name = str(error["loc"][-1])
            close = difflib.get_close_matches(name[:MAX_FIELD_CHARS], known, n=1, cutoff=0.6) or [
                k for k in known if k.lower() == name.lower()
            ]
            if close:
                problem += f" (did you mean {close[0]!r}?)"
        problems.append({"field": field, "problem": problem})
    return Problems(problems, len(errors))

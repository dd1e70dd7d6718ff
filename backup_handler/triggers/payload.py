r"""Request bytes → JSON, within size and nesting limits, before any model sees them.

The nesting check scans the bytes once without recursion, so a body such as
``[[[[...]]]]`` nested a million deep is refused in linear time instead of
reaching the JSON parser's recursion limit.

JSON lets a string escape half of a UTF-16 surrogate pair (``"\ud800"``); Python
decodes it to a string no UTF-8 encoder accepts, which would fail only after a
backup was made, when the answer is encoded. Such bodies are refused up front
(RFC 8259 §8.2 calls them unpredictable across implementations). So are objects that name a key twice
(§4): which one counts differs between parsers, so such a body is refused rather than read by its last one.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from backup_handler.errors import InvalidJson, PayloadTooLarge

EMPTY = object()
"""What :func:`decode` returns for an empty body (a schedule tick without BODY); JSON null is None."""

_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")
# An escaped surrogate (\uD800-\uDFFF); a cheap test before walking the decoded value.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON text in ``raw`` nests arrays/objects deeper than ``limit``."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # it cannot nest deeper than it has openings (two scans in C instead of one in Python)
    depth = 0
    in_string = False
    escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


def decode(raw: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """The JSON value in ``raw``; :data:`EMPTY` for an empty (or all-whitespace) body."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the request body is {len(raw)} bytes; at most {max_bytes} are accepted")
    if not raw.strip():
        return EMPTY
    if json_depth_exceeds(raw, max_depth):
        raise InvalidJson(f"the request body nests JSON deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidJson("the request body is not UTF-8 text; send a JSON object") from None
    try:
        value = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except _Duplicate as exc:
        raise InvalidJson(f"the request body names {exc} twice in one object; name each field once") from None
    except _NotJson:
        raise InvalidJson("the request body holds NaN, Infinity or a number out of range; send plain JSON") from None
    except ValueError as exc:
        position = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidJson(f"the request body is not valid JSON{position}; send a JSON object") from None
    if _ESCAPED_SURROGATE.search(raw) and has_lone_surrogate(value):
        raise InvalidJson("the request body holds a string with an unpaired UTF-16 surrogate (such as \\ud800)")
    return value


class _NotJson(ValueError):
    """NaN, Infinity or a number too large for a float: Python's parser takes them, JSON does not."""


class _Duplicate(ValueError):
    """A key given twice in one object: JSON parsers disagree on which one counts, so neither does."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(json.dumps(key[:64]))
            seen.add(key)
    return value


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJson(text)
    return number


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string (or object key) in a decoded JSON value cannot be encoded as UTF-8."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False

"""List pagination as the API does it: ``limit`` and ``page`` in, ``opc-next-page`` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from localdev.emulator.api import ErrorResponse, Response

MAX_LIMIT = 1000


def page(items: Sequence[Any], query: Mapping[str, list[str]], page_size: int) -> Response:
    """One page of ``items``; the ``page`` token is the offset of the next item."""
    limit = min(_number(query, "limit", page_size), MAX_LIMIT)
    start = _number(query, "page", 0)
    if limit < 1:
        raise ErrorResponse(400, "InvalidParameter", "limit must be at least 1")
    end = start + limit
    headers = {"opc-next-page": str(end)} if end < len(items) else {}
    return Response(200, list(items[start:end]), headers)


def _number(query: Mapping[str, list[str]], name: str, default: int) -> int:
    """A non-negative integer query parameter (``page`` tokens are offsets); 400 when it is not one."""
    text = query.get(name, [""])[0]
    if not text:
        return default
    if not text.isdigit():
        raise ErrorResponse(400, "InvalidParameter", f"Invalid {name}: {text[:64]}")
    return int(text)

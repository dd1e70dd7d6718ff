"""List pagination as the API does it: ``limit`` and ``page`` in, ``opc-next-page`` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from localdev.emulator.api import Response

MAX_LIMIT = 1000


def page(items: Sequence[Any], query: Mapping[str, list[str]], page_size: int) -> Response:
    """One page of ``items``; the ``page`` token is the offset of the next item."""
    limit = min(int(query.get("limit", [str(page_size)])[0]), MAX_LIMIT)
    start = int(query.get("page", ["0"])[0] or 0)
    end = start + limit
    headers = {"opc-next-page": str(end)} if end < len(items) else {}
    return Response(200, list(items[start:end]), headers)

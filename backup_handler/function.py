"""The fdk entry point: an invocation's context and bytes in, an fdk Response out.

The Fn platform lets only 200, 502 and 504 out of the container; anything else
becomes 200. So a direct invocation answers 200 (success), 502 (anything
failed) or 504 (the deadline cut the run short), and the JSON body says the
rest. An HTTP-gateway invocation (``Fn-Intent: httprequest``) gets the precise
status in ``Fn-Http-Status``, which fdk sets from the status given here.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from fdk import response

from backup_handler.app import App, monotonic_deadline

logger = logging.getLogger(__name__)

GATEWAY_INTENT = "httprequest"
JSON = "application/json"

_app: App | None = None


def app() -> App:
    """The process-wide App, built on the first invocation."""
    global _app
    if _app is None:
        _app = App()
    return _app


def container_status(status: int) -> int:
    """The status a direct (non-gateway) invocation can carry for a precise one."""
    if status < 400:
        return 200
    if status == 504:
        return 504
    return 502


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    headers = {str(key).lower(): str(value) for key, value in (ctx.Headers() or {}).items()}
    body = data.getvalue() if isinstance(data, io.BytesIO) else (data.read() if data is not None else b"")
    reply = app().handle(body, headers, monotonic_deadline(ctx.Deadline()))
    gateway = headers.get("fn-intent") == GATEWAY_INTENT
    status = reply.status if gateway else container_status(reply.status)
    return response.Response(
        ctx,
        response_data=reply.body(),
        headers={"Content-Type": JSON, **reply.headers},
        status_code=status,
    )

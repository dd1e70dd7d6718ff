"""The fdk entry point: an invocation's context and bytes in, an fdk Response out.

:mod:`backup_handler.answers.delivery` decides the container status. For an HTTP-gateway
invocation the container answers 200 (the only status whose body the platform
passes on) and the precise status travels in ``Fn-Http-Status``.

Whether an invocation came through a gateway is read from ``Fn-Http-Request-Url``,
which only the platform sets and fdk reads before it merges the gateway caller's
own headers (``Fn-Http-H-*``) into ``ctx.Headers()``: a caller who sends its own
``Fn-Intent`` header cannot turn gateway handling off.
"""

from __future__ import annotations

import io
from typing import Any

from fdk import response

from backup_handler.answers.delivery import container_status
from backup_handler.app import App, monotonic_deadline

JSON = "application/json"
FN_HTTP_STATUS = "fn-http-status"

_app: App | None = None


def app() -> App:
    """The process-wide App, built on the first invocation."""
    global _app
    if _app is None:
        _app = App()
    return _app


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    headers = {str(key).lower(): str(value) for key, value in (ctx.Headers() or {}).items()}
    body = data.getvalue() if isinstance(data, io.BytesIO) else (data.read() if data is not None else b"")
    reply = app().handle(body, headers, monotonic_deadline(ctx.Deadline()))
    gateway = ctx.RequestURL() is not None
    answer = response.Response(
        ctx,
        response_data=reply.body(),
        headers={"Content-Type": JSON, **reply.headers},
        status_code=container_status(reply, invoke_type=headers.get("fn-invoke-type", "sync"), gateway=gateway),
    )
    if gateway:
        # fdk set Fn-Http-Status from the container status (200); the gateway's caller gets the precise one.
        ctx.GetResponseHeaders()[FN_HTTP_STATUS] = str(reply.status)
    return answer

"""The Fn platform between an invoker and the function container, as the invoker sees it.

:class:`FnPlatform` stands where the Fn agent (fnproject/fn ``api/agent``, ``writeResp``) and
the OCI Functions invoke endpoint stand. It sends each invocation to a
:class:`~localdev.fnprocess.FunctionProcess` (the container) and turns the container's answer
into what the invoker receives:

- container 200: the container's headers (less hop-by-hop ones) and body;
- container 502: the platform's own error, HTTP 502
  ``{"code": "FunctionInvokeExecutionFailed", "message": "function failed"}``; none of the
  function's headers or body reach the invoker;
- container 504, or no answer by ``Fn-Deadline``: HTTP 504
  ``{"code": "FunctionInvokeTimeout", "message": "function timed out"}``;
- any other container status (fdk lets none out) or a broken connection: as a 502;
- HTTP gateway (``Fn-Intent: httprequest``, API Gateway in front): the invoker's headers travel
  as ``Fn-Http-H-<name>``; on a container 200 the invoker's status is the container's
  ``Fn-Http-Status`` and its headers are the ``Fn-Http-H-*`` ones unwrapped, plus
  ``Content-Type`` and ``Fn-Call-Id``; a container 502/504 is dropped as above;
- detached (``Fn-Invoke-Type: detached``, Resource Scheduler): ``202 Accepted`` at once with an
  empty body and an ``opc-request-id``; the call runs on in the container.

Every :class:`Invocation` keeps the container's raw answer (:attr:`Invocation.container`, and
:meth:`Invocation.wait` for one still running) for tests and debugging.
:func:`fn_invoke_output` renders an invocation as ``fn invoke`` prints it.

Two simplifications: one process stands for every container of the function, so concurrent
invocations reach it concurrently (the platform would spread them over containers); and a
container the platform stopped waiting for at ``Fn-Deadline`` is not discarded, so its late
answer still lands in :attr:`Invocation.container`.
"""

from __future__ import annotations

import functools
import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from localdev.fnprocess import FnResponse, FunctionProcess

InvokeType = Literal["sync", "detached"]

EXECUTION_FAILED = "FunctionInvokeExecutionFailed"
TIMEOUT = "FunctionInvokeTimeout"
_PLATFORM_ERRORS = {
    502: (EXECUTION_FAILED, "function failed"),
    504: (TIMEOUT, "function timed out"),
}
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_GATEWAY_HEADER_PREFIX = "fn-http-h-"
_GATEWAY_STATUS = "fn-http-status"
_GATEWAY_PATH = "/backup"


def platform_error(status: int, call_id: str = "") -> FnResponse:
    """The platform's own answer for a container status that is not 200: 504 for a 504, else 502."""
    status = _platform_status(status)
    code, message = _PLATFORM_ERRORS[status]
    headers = {"content-type": "application/json"}
    if call_id:
        headers["fn-call-id"] = call_id
    return FnResponse(status, headers, json.dumps({"code": code, "message": message}).encode())


def _platform_status(container_status: int) -> int:
    """504 for a container 504, 502 for anything else that is not a 200."""
    return 504 if container_status == 504 else 502


def agent_view(container: FnResponse, *, gateway: bool = False, call_id: str = "") -> FnResponse:
    """What the invoker receives for the container's answer (status, headers, body)."""
    if container.status != 200:
        return platform_error(container.status, call_id)
    headers = {name: value for name, value in container.headers.items() if name not in _HOP_BY_HOP}
    if call_id:
        headers["fn-call-id"] = call_id
    if not gateway:
        return FnResponse(200, headers, container.body)
    status = 200
    unwrapped: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith(_GATEWAY_HEADER_PREFIX) and len(name) > len(_GATEWAY_HEADER_PREFIX):
            unwrapped[name.removeprefix(_GATEWAY_HEADER_PREFIX)] = value
        elif name == _GATEWAY_STATUS:
            try:
                status = int(value)
            except ValueError:
                status = 200
        elif name in ("content-type", "fn-call-id"):
            unwrapped[name] = value
    return FnResponse(status, unwrapped, container.body)


class _ContainerCall:
    """One call to the container on its own thread, so the platform can stop waiting at the deadline."""

    def __init__(
        self,
        function: FunctionProcess,
        body: bytes | str | dict[str, Any] | None,
        headers: dict[str, str],
        deadline_seconds: float,
        invoke_type: InvokeType,
        content_type: str,
    ) -> None:
        self.answer: FnResponse | None = None
        self.error: str | None = None
        self.seconds: float | None = None  # how long the container took to answer
        self.done = threading.Event()
        call = functools.partial(
            function.call,
            body,
            headers=headers,
            deadline_seconds=deadline_seconds,
            content_type=content_type,
            invoke_type=invoke_type,
        )
        self._thread = threading.Thread(
            target=self._run, args=(call,), name=f"fn-call-{headers.get('Fn-Call-Id', '')}", daemon=True
        )
        self._thread.start()

    def _run(self, call: Callable[[], FnResponse]) -> None:
        started = time.monotonic()
        try:
            self.answer = call()
        except (OSError, http.client.HTTPException) as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.seconds = time.monotonic() - started
            self.done.set()


@dataclass(frozen=True)
class Invocation:
    """One invocation as the invoker saw it, and the container's raw answer behind it."""

    status: int
    headers: dict[str, str]
    body: bytes
    invoke_type: InvokeType
    call_id: str
    platform_error: str | None  # the platform's error code when it answered for the function
    _call: _ContainerCall = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """A 2xx: what a source counts as delivered."""
        return 200 <= self.status < 300

    @property
    def container(self) -> FnResponse | None:
        """The container's answer (status, headers, body) once it has answered; ``None`` before."""
        return self._call.answer

    @property
    def container_seconds(self) -> float | None:
        """How long the container took to answer (or to fail), once it has."""
        return self._call.seconds

    @property
    def container_error(self) -> str | None:
        """Why the container gave no answer (the connection failed), if so."""
        return self._call.error

    def json(self) -> Any:
        return json.loads(self.body)

    def wait(self, timeout: float = 60.0) -> FnResponse:
        """The container's answer, waiting up to ``timeout`` seconds for a call still running."""
        if not self._call.done.wait(timeout):
            raise TimeoutError(f"the container did not answer call {self.call_id} within {timeout}s")
        if self._call.answer is None:
            raise ConnectionError(f"the container gave no answer to call {self.call_id}: {self._call.error}")
        return self._call.answer


class FnPlatform:
    """The Fn agent in front of one function process: invoke as an invoker does."""

    def __init__(self, function: FunctionProcess) -> None:
        self.function = function

    def invoke(
        self,
        body: bytes | str | dict[str, Any] | None = b"",
        *,
        headers: dict[str, str] | None = None,
        deadline_seconds: float = 30.0,
        invoke_type: InvokeType = "sync",
        gateway: bool = False,
        content_type: str = "application/json",
    ) -> Invocation:
        """Invoke the function; a sync call returns once answered or at ``Fn-Deadline``, a detached one at once."""
        call_id = uuid.uuid4().hex.upper()
        request_id = uuid.uuid4().hex.upper()
        sent = {"Fn-Call-Id": call_id}
        if gateway:
            sent |= {f"Fn-Http-H-{name}": value for name, value in (headers or {}).items()}
            sent |= {"Fn-Intent": "httprequest", "Fn-Http-Method": "POST", "Fn-Http-Request-Url": _GATEWAY_PATH}
        else:
            sent |= headers or {}
        gives_up_at = time.monotonic() + deadline_seconds
        call = _ContainerCall(self.function, body, sent, deadline_seconds, invoke_type, content_type)
        if invoke_type == "detached":
            return Invocation(
                202, {"fn-call-id": call_id, "opc-request-id": request_id}, b"", invoke_type, call_id, None, call
            )
        answered = call.done.wait(max(0.0, gives_up_at - time.monotonic()))
        answer = call.answer
        error: str | None = None
        if answer is not None and answer.status == 200:
            seen = agent_view(answer, gateway=gateway, call_id=call_id)
        else:
            status = (
                _platform_status(answer.status)
                if answer is not None
                else (502 if answered else 504)  # a broken connection, or no answer by the deadline
            )
            seen = platform_error(status, call_id)
            error = _PLATFORM_ERRORS[status][0]
        return Invocation(
            seen.status, {**seen.headers, "opc-request-id": request_id}, seen.body, invoke_type, call_id, error, call
        )


def fn_invoke_output(invocation: Invocation | FnResponse) -> str:
    """What ``fn invoke`` prints for this answer: the body, or an error line for a platform error.

    Like the fn CLI, a status of 400 or more whose body is JSON with a ``message`` prints
    ``Error invoking function. status: <status> message: <message>``; anything else prints the body.
    """
    if invocation.status >= 400:
        try:
            document = json.loads(invocation.body)
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("message"):
            return f"Error invoking function. status: {invocation.status} message: {document['message']}"
    return invocation.body.decode(errors="replace").removesuffix("\n")

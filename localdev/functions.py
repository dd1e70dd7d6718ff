"""A local OCI Functions invoke endpoint: ``POST /{version}/functions/{functionId}/actions/invoke``.

:class:`FunctionsEmulator` serves InvokeFunction over HTTP on loopback for the functions
registered with it, each a :class:`~localdev.platform.FnPlatform` in front of its container.
Like the service it:

- verifies the request's HTTP signature as the Block Storage emulator does
  (:mod:`localdev.emulator.signing`; 401 ``NotAuthenticated`` otherwise);
- 404s (``NotAuthorizedOrNotFound``) an unknown function or path;
- takes ``fn-invoke-type`` (``sync``, the default, or ``detached``) and ``fn-intent``
  (``cloudevent``, the default, or ``httprequest``, which the platform hands on as a gateway
  request); anything else is 400 ``InvalidParameter``; a body over 6 MB is 413;
- detached: answers ``202 Accepted`` at once, empty, with ``opc-request-id`` and ``fn-call-id``,
  while the function runs on; sync: answers what the platform answers.

Both API versions the SDK has used for this path, ``20181201`` and ``20260325``, are served.
Every invocation is recorded (:attr:`FunctionsEmulator.invocations`, :meth:`~FunctionsEmulator.wait_for`),
with the container's own answer to wait for (:meth:`FunctionInvocation.wait`).

A function may be registered with several platforms (each in front of its own function
process): like OCI spreading invocations over containers, each invocation goes to the process
with the fewest invocations still running, the earliest registered first on a tie
(:attr:`FunctionInvocation.process` says which).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from localdev.credentials import Identity
from localdev.emulator import signing
from localdev.fnprocess import FnResponse
from localdev.platform import FnPlatform, Invocation, InvokeType

MAX_BODY_BYTES = 6 * 1024 * 1024
_INVOKE_PATH = re.compile(r"/(?:20181201|20260325)/functions/(?P<function_id>[^/]+)/actions/invoke")
_INVOKE_TYPES: dict[str, InvokeType] = {"sync": "sync", "detached": "detached"}
_INTENTS = frozenset({"cloudevent", "httprequest"})


@dataclass(frozen=True)
class FunctionInvocation:
    """One accepted invocation: what was asked, what the invoker got, and the container's answer."""

    function_id: str
    invoke_type: InvokeType
    intent: str
    body: bytes
    opc_request_id: str
    invocation: Invocation  # the platform's view; its status is what the invoker received
    path: str = ""
    """The request's path (which API version it named)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request's headers, names in lower case (the signature's ``authorization`` left out)."""
    process: int = 0
    """Which of the function's registered platforms served it."""

    @property
    def status(self) -> int:
        return self.invocation.status

    def wait(self, timeout: float = 60.0) -> FnResponse:
        """The container's own answer, waiting up to ``timeout`` seconds for one still running."""
        return self.invocation.wait(timeout)

    @property
    def container_running(self) -> bool:
        """Whether the container is still working on it."""
        return self.invocation.container_seconds is None


class FunctionsEmulator:
    """The invoke endpoint for the functions given; use as a context manager or :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        identity: Identity,
        functions: Mapping[str, FnPlatform] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.identity = identity
        self.functions: dict[str, list[FnPlatform]] = {key: [value] for key, value in (functions or {}).items()}
        self.timeout_seconds = timeout_seconds  # a sync invocation's Fn-Deadline
        self.invocations: list[FunctionInvocation] = []
        self.rejected_signatures = 0
        self._revoked: set[str] = set()
        self._changed = threading.Condition()
        self._server = _make_server(self, host, port)
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FunctionsEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="functions", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FunctionsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def register(self, function_id: str, platform: FnPlatform, *more: FnPlatform) -> None:
        """Serve ``function_id`` with these platforms (one or more function processes), replacing any before."""
        with self._changed:
            self.functions[function_id] = [platform, *more]

    def _least_busy(self, function_id: str) -> tuple[int, FnPlatform] | None:
        with self._changed:
            platforms = self.functions.get(function_id)
            if not platforms:
                return None
            running = [0] * len(platforms)
            for invocation in self.invocations:
                if invocation.function_id == function_id and invocation.container_running:
                    running[invocation.process] += 1
            chosen = min(range(len(platforms)), key=lambda index: running[index])
            return chosen, platforms[chosen]

    def revoke(self, jti: str) -> None:
        """Stop accepting a session token."""
        with self._changed:
            self._revoked.add(jti)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[FunctionInvocation]:
        """The invocations once at least ``count`` have been accepted; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.invocations) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.invocations)} of {count} invocations within {timeout}s")
                self._changed.wait(remaining)
            return list(self.invocations)

    # ------------------------------------------------- serving (the server's)

    def serve(self, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body answering a POST to ``target`` (headers keyed in lower case)."""
        request_id = headers.get("opc-request-id") or uuid.uuid4().hex.upper()
        with self._changed:
            revoked = set(self._revoked)
        why = signing.verify(self.identity, revoked, "POST", target, headers, body)
        if why is not None:
            with self._changed:
                self.rejected_signatures += 1
            message = f"The required information to complete authentication was not provided or was incorrect: {why}"
            return _error(401, "NotAuthenticated", message, request_id)
        found = _INVOKE_PATH.fullmatch(target.split("?", 1)[0])
        chosen = self._least_busy(found["function_id"]) if found else None
        if found is None or chosen is None:
            return _error(404, "NotAuthorizedOrNotFound", "Authorization failed or function not found", request_id)
        process, platform = chosen
        invoke_type = _INVOKE_TYPES.get(headers.get("fn-invoke-type", "sync").lower())
        intent = headers.get("fn-intent", "cloudevent").lower()
        if invoke_type is None or intent not in _INTENTS:
            return _error(400, "InvalidParameter", "fn-invoke-type or fn-intent is not valid", request_id)
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "PayloadTooLarge", "The request body exceeds 6 MB", request_id)
        invocation = platform.invoke(
            body,
            headers={"Opc-Request-Id": request_id},
            deadline_seconds=self.timeout_seconds,
            invoke_type=invoke_type,
            gateway=intent == "httprequest",
            content_type=headers.get("content-type", "application/json"),
        )
        with self._changed:
            self.invocations.append(
                FunctionInvocation(
                    found["function_id"],
                    invoke_type,
                    intent,
                    body,
                    request_id,
                    invocation,
                    path=target.split("?", 1)[0],
                    headers={name: value for name, value in headers.items() if name != "authorization"},
                    process=process,
                )
            )
            self._changed.notify_all()
        answered = {**invocation.headers, "opc-request-id": request_id}
        return invocation.status, answered, invocation.body


def _error(status: int, code: str, message: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json", "opc-request-id": request_id}
    return status, headers, json.dumps({"code": code, "message": message}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FunctionsEmulator"
    functions: ClassVar[FunctionsEmulator]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, answered, payload = self.functions.serve(self.path, headers, body)
        self.send_response(status)
        sent = {name.lower(): value for name, value in answered.items() if name.lower() != "content-length"}
        for name, value in sent.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _make_server(functions: FunctionsEmulator, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(_Handler):
        pass

    Handler.functions = functions
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server

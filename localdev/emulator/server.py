"""The HTTP side: reading requests, the order in which a request meets the emulator, writing answers.

For each request: verify its signature (401 otherwise), find its route, take a create-throttle
slot (429 when none is free), take a matching fault, wait out the latency, then drop, answer
with the fault, or perform the operation; record the call; write the answer or close the
connection. Only the methods the routing table uses are served.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import parse_qs, urlsplit

from localdev.emulator import routes
from localdev.emulator.api import Call, Request, Response, error, is_create

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from localdev.emulator.faults import Fault
    from localdev.emulator.routes import Route


class Host(Protocol):
    """What the server needs of the emulator it serves (the emulator's service module builds the server)."""

    epoch: int
    latency_seconds: float

    def authenticate(self, method: str, target: str, headers: dict[str, str], body: bytes) -> str | None: ...

    def create_slot(self) -> AbstractContextManager[bool]: ...

    def take_fault(self, operation: str) -> Fault | None: ...

    def perform(self, route: Route, request: Request) -> Response: ...

    def record(self, call: Call) -> None: ...


@dataclass(frozen=True)
class _Answer:
    """Exactly what goes on the wire."""

    status: int
    payload: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, response: Response) -> _Answer:
        payload = b"" if response.status == 204 else json.dumps(response.document).encode()  # No Content
        return cls(response.status, payload, headers=response.headers)


def _read(body: bytes) -> dict[str, Any] | None:
    """A body that is a JSON object, for the call log (None when it is not)."""
    if not body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _target_of(document: dict[str, Any] | None) -> str | None:
    """The volume (or volume group) a create request names, for the call log (None when unreadable)."""
    if document is None:
        return None
    target = document.get("volumeId", document.get("bootVolumeId", document.get("volumeGroupId")))
    return target if isinstance(target, str) else None


class RequestHandler(BaseHTTPRequestHandler):
    """Serves one connection's requests for :attr:`emulator`."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "BlockStorageEmulator"
    emulator: ClassVar[Host]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def serve(self) -> None:
        emulator = self.emulator
        request_id = self.headers.get("opc-request-id") or uuid.uuid4().hex.upper()
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        why = emulator.authenticate(self.command, self.path, headers, body)
        if why is not None:
            message = f"The required information to complete authentication was not provided or was incorrect: {why}"
            self._send(_Answer.of(Response(401, error("NotAuthenticated", message))), request_id)
            return
        url = urlsplit(self.path)
        route, params = routes.match(self.command, url.path)
        token = headers.get("opc-retry-token")
        request = Request(self.command, url.path, params, parse_qs(url.query), body, token)
        document = _read(body)
        call = Call(
            self.command,
            url.path,
            route.operation,
            0,
            token,
            _target_of(document),
            request_id,
            query=request.query,
            headers={name: value for name, value in headers.items() if name != "authorization"},
            body_keys=tuple(document) if document is not None else None,
        )
        if is_create(route.operation):
            with emulator.create_slot() as admitted:  # given back before the answer is written
                answer = self._answer(route, request, call) if admitted else self._throttled(call)
        else:
            answer = self._answer(route, request, call)
        if answer is None:
            self._drop()
        else:
            self._send(answer, request_id)

    def _answer(self, route: Route, request: Request, call: Call) -> _Answer | None:
        """What to answer (None: close the connection without answering); the call is recorded."""
        emulator = self.emulator
        epoch = emulator.epoch
        fault = emulator.take_fault(route.operation)
        delay = emulator.latency_seconds + (fault.latency if fault else 0.0)
        if delay:
            time.sleep(delay)
        if fault and fault.hold:
            fault.hold.wait()
        if epoch != emulator.epoch:  # the test that sent this has ended
            return None
        if fault and fault.drop == "before":
            self._record(call, 0, "drop-before")
            return None
        if fault and fault.body is not None:
            status = fault.status or 200
            self._record(call, status, "raw-body")
            return _Answer(status, fault.body, fault.content_type or "application/json")
        if fault and fault.status is not None:
            self._record(call, fault.status, str(fault.status))
            return _Answer.of(Response(fault.status, error(fault.error_code, "Injected fault")))
        response = emulator.perform(route, request)
        if fault and fault.drop == "after":
            self._record(call, response.status, "drop-after")
            return None
        self._record(call, response.status)
        return _Answer.of(response)

    def _throttled(self, call: Call) -> _Answer:
        self._record(call, 429, "throttled")
        return _Answer.of(Response(429, error("TooManyRequests", "Too many requests for the tenancy")))

    def _record(self, call: Call, status: int, fault: str | None = None) -> None:
        call.status = status
        call.fault = fault
        self.emulator.record(call)

    def _send(self, answer: _Answer, request_id: str) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.payload)))
        self.send_header("opc-request-id", request_id)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


for _method in routes.METHODS:
    setattr(RequestHandler, f"do_{_method}", RequestHandler.serve)


def make_server(emulator: Host, host: str, port: int) -> ThreadingHTTPServer:
    """A server (not yet serving) whose requests go to ``emulator``."""

    class Handler(RequestHandler):
        pass

    Handler.emulator = emulator
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server

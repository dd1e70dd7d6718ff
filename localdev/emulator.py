"""A local Block Storage API that behaves like the service, for tests, the runner and benchmarks.

It serves, over HTTP on loopback, the paths the function uses:

- ``POST /20160918/volumeBackups`` and ``POST /20160918/bootVolumeBackups``
- ``GET /20160918/volumeBackups[/{id}]``, ``GET /20160918/bootVolumeBackups[/{id}]``
- ``GET /20160918/volumes`` and ``GET /20160918/bootVolumes`` (paginated: ``limit``, ``page``, ``opc-next-page``)

and like the service it:

- verifies every request's HTTP signature (draft-cavage, rsa-sha256) with the session key
  carried in a genuine, unexpired, unrevoked resource-principal token (401 otherwise);
- checks ``x-content-sha256`` and ``content-length`` against the body it received;
- answers errors as ``{"code", "message"}`` with an ``opc-request-id`` header;
- 404s unknown volumes, refuses a second backup of a volume while one is in progress (409
  ``Conflict``), and keeps ``opc-retry-token`` semantics: the same token with the same body
  returns the original response; with a different body, 409 ``Conflict``; a token whose backup
  was deleted answers 409 ``InvalidatedRetryToken``.

Faults are injected by schedule from the test's side (:meth:`BlockStorageEmulator.inject`):
``the next N creates answer 429/500/503``, ``drop the connection`` (before or after the
create is carried out), ``add latency``. State is inspected in-process (:meth:`backups`,
:attr:`calls`); there is no admin HTTP surface for a client to find.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from localdev.credentials import COMPARTMENT, Identity

API = "/20160918"
AD = "Uocm:US-ASHBURN-AD-1"
_SIGNATURE_FIELD = re.compile(r'(\w+)="([^"]*)"')


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Fault:
    """One injected misbehaviour, consumed by the next matching request."""

    operation: str  # "create" (either kind), "createVolumeBackup", "createBootVolumeBackup", "any"
    status: int | None = None
    code: str | None = None
    drop: str | None = None  # "before": close without answering; "after": do the work, then close
    latency: float = 0.0


@dataclass
class Call:
    """What the emulator saw of one API request (after authentication)."""

    method: str
    path: str
    operation: str
    status: int
    retry_token: str | None
    resource_id: str | None
    opc_request_id: str
    fault: str | None = None


@dataclass
class _TokenRecord:
    body_digest: str
    response: dict[str, Any]
    backup_id: str


@dataclass
class _State:
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, _TokenRecord] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)  # volume → its newest backup
    faults: deque[Fault] = field(default_factory=deque)


class BlockStorageEmulator:
    """The emulator; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, identity: Identity, host: str = "127.0.0.1", port: int = 0) -> None:
        self.identity = identity
        self._lock = threading.RLock()
        self._state = _State()
        self.calls: list[Call] = []
        self.rejected_signatures = 0
        self.in_progress_seconds = 1.0
        self.latency_seconds = 0.0
        self.page_size = 100
        self.extra_backup_fields: dict[str, Any] = {}  # fields a newer API version might add
        self._revoked: set[str] = set()
        self.epoch = 0  # bumped by reset(): a request from before a reset is dropped, not applied
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> BlockStorageEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> BlockStorageEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------- test controls

    def reset(self) -> None:
        with self._lock:
            self.epoch += 1
            self._state = _State()
            self.calls = []
            self.rejected_signatures = 0
            self.in_progress_seconds = 1.0
            self.latency_seconds = 0.0
            self.page_size = 100
            self.extra_backup_fields = {}

    def add_volume(self, volume_id: str, *, boot: bool = False, display_name: str | None = None) -> None:
        with self._lock:
            self._state.volumes[volume_id] = {
                "id": volume_id,
                "compartmentId": COMPARTMENT,
                "availabilityDomain": AD,
                "displayName": display_name or volume_id.rsplit(".", 1)[-1][:16],
                "lifecycleState": "AVAILABLE",
                "sizeInGBs": 50 if boot else 100,
                "sizeInMBs": (50 if boot else 100) * 1024,
                "timeCreated": _now(),
                "boot": boot,
            }

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each is consumed by the next request it matches, in order."""
        with self._lock:
            self._state.faults.extend(faults)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._state.faults)

    def revoke(self, jti: str) -> None:
        """Stop accepting a session token (as after the platform rotates credentials)."""
        with self._lock:
            self._revoked.add(jti)

    def delete_backup(self, backup_id: str) -> None:
        """Delete a backup; a retry token that created it is then invalidated."""
        with self._lock:
            self._state.backups.pop(backup_id, None)

    def backups(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._view(backup_id) for backup_id in self._state.backups]

    def creates(self) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.operation.startswith("create")]

    # ------------------------------------------------------------ internals

    def _take_fault(self, operation: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._state.faults):
                if fault.operation in (operation, "any") or (
                    fault.operation == "create" and operation.startswith("create")
                ):
                    del self._state.faults[index]
                    return fault
        return None

    def _view(self, backup_id: str) -> dict[str, Any]:
        backup = dict(self._state.backups[backup_id])
        if time.monotonic() - self._state.created_at[backup_id] >= self.in_progress_seconds:
            backup["lifecycleState"] = "AVAILABLE"
        return backup

    def _in_progress(self, volume_id: str) -> bool:
        backup_id = self._state.latest.get(volume_id)
        return (
            backup_id is not None
            and backup_id in self._state.backups
            and time.monotonic() - self._state.created_at[backup_id] < self.in_progress_seconds
        )

    def create(self, kind: str, body: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any]]:
        """CreateVolumeBackup / CreateBootVolumeBackup semantics; returns (status, JSON)."""
        id_field = "volumeId" if kind == "volume" else "bootVolumeId"
        allowed = {id_field, "type", "displayName", "freeformTags", "definedTags", "kmsKeyId"}
        unknown = set(body) - allowed
        if unknown:
            return 400, _error("InvalidParameter", f"Unknown field(s): {', '.join(sorted(unknown))}")
        volume_id = body.get(id_field)
        if not isinstance(volume_id, str):
            return 400, _error("InvalidParameter", f"{id_field} is required")
        if body.get("type", "INCREMENTAL") not in ("FULL", "INCREMENTAL"):
            return 400, _error("InvalidParameter", "type must be FULL or INCREMENTAL")
        name = body.get("displayName")
        if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 255):
            return 400, _error("InvalidParameter", "displayName must be 1 to 255 characters")
        if token is not None and not 1 <= len(token) <= 64:
            return 400, _error("InvalidParameter", "opc-retry-token must be 1 to 64 characters")
        digest = hashlib.sha256(json.dumps([kind, body], sort_keys=True).encode()).hexdigest()
        with self._lock:
            if token is not None and token in self._state.tokens:
                record = self._state.tokens[token]
                if record.backup_id not in self._state.backups:
                    return 409, _error("InvalidatedRetryToken", "The retry token was invalidated by a later operation")
                if record.body_digest != digest:
                    return 409, _error("Conflict", "The retry token was already used for a different request")
                return 200, record.response
            volume = self._state.volumes.get(volume_id)
            if volume is None or volume["boot"] != (kind == "bootVolume"):
                return 404, _error(
                    "NotAuthorizedOrNotFound", f"Authorization failed or requested resource not found: {volume_id}"
                )
            if self._in_progress(volume_id):
                return 409, _error("Conflict", f"A backup of volume {volume_id} is already in progress")
            prefix = "volumebackup" if kind == "volume" else "bootvolumebackup"
            backup_id = f"ocid1.{prefix}.oc1.iad.{uuid.uuid4().hex}{uuid.uuid4().hex[:20]}"
            now = _now()
            backup: dict[str, Any] = {
                "id": backup_id,
                "compartmentId": volume["compartmentId"],
                id_field: volume_id,
                "displayName": name or f"{volume['displayName']}-backup",
                "type": body.get("type", "INCREMENTAL"),
                "sourceType": "MANUAL",
                "lifecycleState": "CREATING",
                "freeformTags": body.get("freeformTags") or {},
                "definedTags": body.get("definedTags") or {},
                "systemTags": {},
                "kmsKeyId": body.get("kmsKeyId"),
                "expirationTime": None,
                "sizeInGBs": None,
                "sizeInMBs": None,
                "uniqueSizeInGBs": None,
                "uniqueSizeInMbs": None,
                "timeCreated": now,
                "timeRequestReceived": now,
            }
            backup.update(self.extra_backup_fields)
            if kind == "volume":
                backup["sourceVolumeBackupId"] = None
            else:
                backup["imageId"] = None
                backup["sourceBootVolumeBackupId"] = None
            self._state.backups[backup_id] = backup
            self._state.created_at[backup_id] = time.monotonic()
            self._state.latest[volume_id] = backup_id
            if token is not None:
                self._state.tokens[token] = _TokenRecord(digest, backup, backup_id)
            return 200, backup

    def list_page(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> tuple[list[Any], str | None]:
        limit = min(int(query.get("limit", [self.page_size])[0]), 1000)
        start = int(query.get("page", ["0"])[0] or 0)
        page = items[start : start + limit]
        next_page = str(start + limit) if start + limit < len(items) else None
        return page, next_page

    def authenticate(self, method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
        """None when the request is signed by a genuine session; else why not."""
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Signature "):
            return "missing signature"
        fields = dict(_SIGNATURE_FIELD.findall(authorization))
        key_id = fields.get("keyId", "")
        if fields.get("algorithm") != "rsa-sha256" or not key_id.startswith("ST$"):
            return "unsupported signature"
        try:
            public_key, claims = self.identity.session_key(key_id[3:])
        except Exception:
            return "invalid or expired session token"
        if claims.get("jti") in self._revoked:
            return "revoked session token"
        signed = fields.get("headers", "date").split()
        required = {"date", "(request-target)", "host"}
        if method in ("POST", "PUT"):
            required |= {"content-length", "content-type", "x-content-sha256"}
            expected_digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if headers.get("x-content-sha256") != expected_digest:
                return "body digest mismatch"
            if headers.get("content-length") != str(len(body)):
                return "content-length mismatch"
        if not required <= set(signed):
            return "required headers not signed"
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {target}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                return f"signed header {name} missing"
        try:
            public_key.verify(
                base64.b64decode(fields.get("signature", "")),
                "\n".join(lines).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "signature does not verify"
        return None


def _target_of(body: bytes) -> str | None:
    """The volume a create request names, for the call log (None when unreadable)."""
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    target = document.get("volumeId", document.get("bootVolumeId"))
    return target if isinstance(target, str) else None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


_OPERATIONS = {
    ("POST", "volumeBackups"): "createVolumeBackup",
    ("POST", "bootVolumeBackups"): "createBootVolumeBackup",
    ("GET", "volumeBackups"): "listVolumeBackups",
    ("GET", "bootVolumeBackups"): "listBootVolumeBackups",
    ("GET", "volumes"): "listVolumes",
    ("GET", "bootVolumes"): "listBootVolumes",
}


def _handler_for(emulator: BlockStorageEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes
        server_version = "BlockStorageEmulator"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _send(self, status: int, document: Any, request_id: str, extra: dict[str, str] | None = None) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("opc-request-id", request_id)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _serve(self) -> None:
            request_id = self.headers.get("opc-request-id") or uuid.uuid4().hex.upper()
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            why = emulator.authenticate(self.command, self.path, headers, body)
            if why is not None:
                with emulator._lock:
                    emulator.rejected_signatures += 1
                self._send(
                    401,
                    _error(
                        "NotAuthenticated",
                        f"The required information to complete authentication was not provided or was incorrect: {why}",
                    ),
                    request_id,
                )
                return
            url = urlsplit(self.path)
            parts = url.path.removeprefix(API).strip("/").split("/")
            operation = _OPERATIONS.get((self.command, parts[0]), "unknown")
            if len(parts) == 2 and self.command == "GET":
                operation = "get" + operation.removeprefix("list").rstrip("s")
            token = headers.get("opc-retry-token")
            call = Call(self.command, url.path, operation, 0, token, _target_of(body), request_id)

            epoch = emulator.epoch
            fault = emulator._take_fault(operation)
            delay = emulator.latency_seconds + (fault.latency if fault else 0.0)
            if delay:
                time.sleep(delay)
            if epoch != emulator.epoch:  # the test that sent this has ended
                self._drop()
                return
            if fault and fault.drop == "before":
                call.fault = "drop-before"
                self._record(call, 0)
                self._drop()
                return
            if fault and fault.status:
                call.fault = str(fault.status)
                code = fault.code or {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(
                    fault.status, "InternalServerError"
                )
                self._record(call, fault.status)
                self._send(fault.status, _error(code, "Injected fault"), request_id)
                return

            status, document, extra = self._dispatch(operation, parts, url.query, body, token, call)
            self._record(call, status)
            if fault and fault.drop == "after":
                call.fault = "drop-after"
                self._drop()
                return
            self._send(status, document, request_id, extra)

        def _record(self, call: Call, status: int) -> None:
            call.status = status
            with emulator._lock:
                emulator.calls.append(call)

        def _dispatch(
            self, operation: str, parts: list[str], query_text: str, body: bytes, token: str | None, call: Call
        ) -> tuple[int, Any, dict[str, str]]:
            query = parse_qs(query_text)
            if operation.startswith("create"):
                try:
                    document = json.loads(body or b"{}")
                except ValueError:
                    return 400, _error("InvalidParameter", "Body is not JSON"), {}
                if not isinstance(document, dict):
                    return 400, _error("InvalidParameter", "Body must be an object"), {}
                kind = "volume" if operation == "createVolumeBackup" else "bootVolume"
                status, answer = emulator.create(kind, document, token)
                return status, answer, {}
            with emulator._lock:
                if operation in ("getVolumeBackup", "getBootVolumeBackup"):
                    if parts[1] in emulator._state.backups:
                        return 200, emulator._view(parts[1]), {}
                    return 404, _error("NotAuthorizedOrNotFound", "Backup not found"), {}
                if operation in ("listVolumes", "listBootVolumes"):
                    boot = operation == "listBootVolumes"
                    items = [
                        {k: v for k, v in volume.items() if k != "boot"}
                        for volume in emulator._state.volumes.values()
                        if volume["boot"] == boot and volume["compartmentId"] == query.get("compartmentId", [""])[0]
                    ]
                elif operation in ("listVolumeBackups", "listBootVolumeBackups"):
                    id_field = "volumeId" if operation == "listVolumeBackups" else "bootVolumeId"
                    items = [
                        emulator._view(backup_id)
                        for backup_id, backup in emulator._state.backups.items()
                        if id_field in backup and (id_field not in query or backup[id_field] == query[id_field][0])
                    ]
                else:
                    return 404, _error("NotAuthorizedOrNotFound", "Unknown path"), {}
                page, next_page = emulator.list_page(items, query)
            return 200, page, ({"opc-next-page": next_page} if next_page else {})

    return Handler

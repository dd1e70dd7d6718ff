"""The shapes an operation works with: the request it is given, the answer it returns, the call log.

An operation handler is a function ``(service, request) -> Response`` in its resource family's
module; it reads and changes the emulator's state through the :class:`Service` it is given, and
refuses a request by raising :class:`ErrorResponse`. The server runs handlers under the
emulator's lock, so a handler needs no locking of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from localdev.emulator.clock import Clock
    from localdev.emulator.variants import Variants

Stores_co = TypeVar("Stores_co", covariant=True)

API = "/20160918"
DEFAULT_REGION = "us-ashburn-1"
_REGION_KEYS = {
    "us-ashburn-1": "iad",
    "us-phoenix-1": "phx",
    "us-sanjose-1": "sjc",
    "eu-frankfurt-1": "fra",
    "eu-amsterdam-1": "ams",
    "uk-london-1": "lhr",
    "ap-tokyo-1": "nrt",
    "ca-toronto-1": "yyz",
}


def now() -> str:
    """The current time as the API writes it (RFC 3339, milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def region_key(region: str) -> str:
    """The short key OCIDs carry for a region (``iad`` for ``us-ashburn-1``; the name itself when unknown)."""
    return _REGION_KEYS.get(region, region)


def new_ocid(resource_type: str, region: str) -> str:
    """A fresh OCID of a regional resource."""
    return f"ocid1.{resource_type}.oc1.{region_key(region)}.{uuid.uuid4().hex}{uuid.uuid4().hex[:20]}"


def is_create(operation: str) -> bool:
    """Whether an operation creates a resource (what ``Fault("create")`` and the throttle apply to)."""
    return operation.startswith("create")


def error(code: str, message: str) -> dict[str, Any]:
    """The API's error document."""
    return {"code": code, "message": message}


@dataclass(frozen=True)
class Request:
    """An authenticated API request, as a handler sees it."""

    method: str
    path: str
    params: Mapping[str, str]  # the path pattern's ``{name}`` segments
    query: Mapping[str, list[str]]
    body: bytes
    retry_token: str | None


@dataclass(frozen=True)
class Response:
    """A JSON answer: status, document, and headers beyond the content ones."""

    status: int
    document: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class ErrorResponse(Exception):
    """Raised by a handler to answer with the API's error document."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.response = Response(status, error(code, message))


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object (an empty body is ``{}``)."""
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        raise ErrorResponse(400, "InvalidParameter", "Body is not JSON") from None
    if not isinstance(document, dict):
        raise ErrorResponse(400, "InvalidParameter", "Body must be an object")
    return document


def query_value(request: Request, name: str, *, required: bool = False) -> str | None:
    """A query parameter's value (an empty one counts as missing): 400 ``MissingParameter`` if required."""
    values = request.query.get(name)
    if not values or not values[0]:
        if required:
            raise ErrorResponse(400, "MissingParameter", f"Missing required parameter: {name}")
        return None
    return values[0]


def query_choice(request: Request, name: str, allowed: Collection[str]) -> str | None:
    """An optional enumerated query parameter (compared case-insensitively, returned upper-case)."""
    value = query_value(request, name)
    if value is None:
        return None
    if value.upper() not in allowed:
        raise ErrorResponse(400, "InvalidParameter", f"{name} must be one of {', '.join(sorted(allowed))}")
    return value.upper()


def not_found(resource_id: str) -> ErrorResponse:
    """The API's 404 for a resource that does not exist or the caller may not see."""
    return ErrorResponse(
        404, "NotAuthorizedOrNotFound", f"Authorization failed or requested resource not found: {resource_id}"
    )


class Service(Protocol[Stores_co]):
    """What of the emulator a handler may use: its resources and the settings a test turns.

    Generic in the stores: each resource family's module names the stores its handlers read (a small
    protocol of its own), so no family module imports the whole state and the state imports no handler.
    """

    @property
    def state(self) -> Stores_co: ...

    region: str
    clock: Clock
    in_progress_seconds: float
    page_size: int
    extra_backup_fields: dict[str, Any]
    copy_seconds: float
    max_concurrent_copies: int
    platform_images: set[str]
    variants: Variants

    def peer(self, region: str) -> Peer | None:
        """The emulator of another region linked to this one, if any."""
        ...


class Peer(Protocol):
    """What an emulator offers another region's: taking in a copy of one of its backups."""

    region: str

    def accept_copy(self, source: Mapping[str, Any], body: Mapping[str, Any], seconds: float) -> dict[str, Any]:
        """Start a copy of ``source`` in this region, in progress for ``seconds``; the new backup."""
        ...


Handler = Callable[["Service[Any]", Request], Response]


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
    query: Mapping[str, list[str]] = field(default_factory=dict)
    """The query parameters, as parsed (each name's values)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request headers, names in lower case (the signature's ``authorization`` left out)."""
    body_keys: tuple[str, ...] | None = None
    """The top-level keys of a JSON object body, in the order sent (None: no body, or not a JSON object)."""

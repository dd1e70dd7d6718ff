"""Block Storage through the ``oci`` SDK, signed as the function's resource principal.

:class:`OciBlockStorage` builds its signer and client once, on first use, and
reuses them for every later invocation (the signer refreshes its own token, and
re-reads the token files after a 401). It drives the SDK's ``BaseClient``
directly rather than the generated ``BlockstorageClient``:

- the generated client imports all of ``oci.core.models`` (about 1,000 classes:
  +0.17 s and +22 MB per cold start here) to build model objects the function
  would only turn back into JSON;
- with ``skip_deserialization`` the API's JSON comes back as sent, so callers get
  every field the API returned, including ones newer than this SDK.

Signing, retries, the 401 token refresh and error parsing are still the SDK's.

What comes back is checked before it is passed on: an error body is passed
through only when it is OCI's error JSON (``{"code", "message"}``, bounded), so
a proxy's HTML page naming internal hosts never reaches a caller; a success
whose body is not a JSON object with an ``id`` is :class:`InvalidResponse`.

Retries are bounded by the invocation's deadline, never the SDK's 600 s default.
The SDK's circuit breaker is off: its default one is shared by every client in
the process and, after 10 transient failures, fails every call for 30 s — one
throttled burst would then fail the remaining targets and the next invocations
without asking the API. Retries here are few and deadline-bounded, and a failed
trigger is redelivered by Events/Notifications, which is the backoff that matters.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Protocol

from backup_handler import logs
from backup_handler.errors import ApiError, ConfigurationError, CredentialsError, InvalidResponse, NetworkError
from backup_handler.ocids import TargetKind
from backup_handler.settings import Settings

if TYPE_CHECKING:
    from oci.base_client import BaseClient

API_VERSION_PATH = "/20160918"
_ENDPOINT_TEMPLATE = "https://iaas.{region}.{dualStack?ds.oci.:}{secondLevelDomain}"
_PATHS: dict[TargetKind, str] = {"volume": "/volumeBackups", "bootVolume": "/bootVolumeBackups"}
_RESPONSE_TYPES: dict[TargetKind, str] = {"volume": "VolumeBackup", "bootVolume": "BootVolumeBackup"}
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 20.0
_RETRY_BASE_SLEEP_SECONDS = 0.25
_RETRY_MAX_SLEEP_SECONDS = 4.0
# What a created backup's id looks like, per kind; and the most JSON one is allowed to hold.
_BACKUP_IDS: dict[TargetKind, re.Pattern[str]] = {
    "volume": re.compile(r"ocid1\.volumebackup\.[a-z0-9.-]{1,240}"),
    "bootVolume": re.compile(r"ocid1\.bootvolumebackup\.[a-z0-9.-]{1,236}"),
}
MAX_BACKUP_JSON_CHARS = 64 * 1024
# OCI error codes are CamelCase words (NotAuthorizedOrNotFound, TooManyRequests, ...).
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,63}$")
MAX_ERROR_MESSAGE_CHARS = 512

logger = logging.getLogger(__name__)


class Created:
    """A backup the API accepted: its JSON as sent, and the request id."""

    __slots__ = ("backup", "opc_request_id")

    def __init__(self, backup: dict[str, Any], opc_request_id: str | None) -> None:
        self.backup = backup
        self.opc_request_id = opc_request_id


class BlockStorage(Protocol):
    """What the backup step needs from Block Storage."""

    def prepare(self) -> None:
        """Get ready to call the API (credentials, client); raise :class:`CredentialsError` if it cannot."""
        ...

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        """Create a (boot) volume backup; raise :class:`ApiError` or :class:`NetworkError`."""
        ...


class OciBlockStorage:
    """The real API, through a resource-principal signer built on first use."""

    def __init__(self, settings: Settings, signer: Any = None) -> None:
        self._settings = settings
        self._signer = signer
        self._client: BaseClient | None = None
        self._lock = threading.Lock()

    def prepare(self) -> None:
        self.client()

    def client(self) -> BaseClient:
        """The shared client; building it reads the resource-principal files once."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return client

    def _resource_principal_signer(self) -> Any:
        import oci.auth.signers

        try:
            return oci.auth.signers.get_resource_principals_signer()
        except Exception as exc:  # missing, unreadable or corrupt files: the SDK raises many kinds
            # The exception text can hold file paths or token fragments: log only its type.
            logs.emit(logger, logging.ERROR, "credentials", error=type(exc).__name__)
            raise CredentialsError(
                "the function's resource-principal credentials could not be read "
                "(OCI_RESOURCE_PRINCIPAL_VERSION, OCI_RESOURCE_PRINCIPAL_RPST, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM); "
                "on OCI Functions the platform provides them: check the function's dynamic group and policies"
            ) from None

    def _build(self) -> BaseClient:
        import oci.circuit_breaker
        from oci._vendor.requests.adapters import HTTPAdapter
        from oci.base_client import BaseClient, OCIHTTPAdapter

        signer = self._signer or self._resource_principal_signer()
        kwargs: dict[str, Any] = {
            "regional_client": True,
            "base_path": API_VERSION_PATH,
            "service_endpoint_template": _ENDPOINT_TEMPLATE,
            "service_endpoint_template_per_realm": {},
            "endpoint_service_name": "iaas",
            "service_uses_dualstack_endpoints_by_default": False,
            "client_level_dualstack_endpoints_enabled": None,
            "skip_deserialization": True,
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
            "timeout": (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
        }
        if self._settings.blockstorage_endpoint:
            kwargs["service_endpoint"] = self._settings.blockstorage_endpoint
        try:
            client = BaseClient("blockstorage", {}, signer, {}, **kwargs)
        except Exception as exc:  # no region to derive the endpoint from, an endpoint the SDK refuses
            logs.emit(logger, logging.ERROR, "client", error=type(exc).__name__)
            raise ConfigurationError(
                "the Block Storage client could not be built: the function needs its region "
                "(OCI_RESOURCE_PRINCIPAL_REGION, set by OCI Functions) or BACKUP_BLOCKSTORAGE_ENDPOINT"
            ) from None
        # One pooled connection per concurrent backup, so fan-out does not reconnect.
        size = self._settings.max_concurrency
        client.session.mount("https://", OCIHTTPAdapter(pool_connections=1, pool_maxsize=size))
        client.session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=size))
        return client

    def _retry_strategy(self, budget_seconds: float) -> Any:
        import oci.retry

        max_sleep = min(_RETRY_MAX_SLEEP_SECONDS, max(budget_seconds / 4, 0.05))
        return oci.retry.RetryStrategyBuilder(
            max_attempts_check=True,
            max_attempts=self._settings.max_attempts,
            # The SDK checks elapsed time before it sleeps: leave room for one sleep.
            total_elapsed_time_check=True,
            total_elapsed_time_seconds=max(budget_seconds - max_sleep, 0.01),
            service_error_check=True,
            # 409 only for IncorrectState (resource busy, retryable per Oracle's API error list and the
            # SDK's default strategy); a 409 Conflict (backup in progress) is an answer.
            service_error_retry_config={-1: [], 429: [], 409: ["IncorrectState"]},
            service_error_retry_on_any_5xx=True,  # except 501, as the SDK defines it
            retry_base_sleep_time_seconds=_RETRY_BASE_SLEEP_SECONDS,
            retry_exponential_growth_factor=2,
            retry_max_wait_between_calls_seconds=max_sleep,
            backoff_type=oci.retry.BACKOFF_FULL_JITTER_EQUAL_ON_THROTTLE_VALUE,
        ).get_retry_strategy()

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        client = self.client()
        from oci.exceptions import RequestException, ServiceError

        headers = {"accept": "application/json", "content-type": "application/json", "opc-retry-token": retry_token}
        try:
            response = self._retry_strategy(budget_seconds).make_retrying_call(
                client.call_api,
                resource_path=_PATHS[kind],
                method="POST",
                header_params=headers,
                body=body,
                response_type=_RESPONSE_TYPES[kind],
                operation_name="create_volume_backup" if kind == "volume" else "create_boot_volume_backup",
            )
        except ServiceError as exc:
            raise _api_error(exc) from None
        except (RequestException, OSError) as exc:
            raise NetworkError(_network_problem(exc)) from None
        request_id = _request_id(response.headers.get("opc-request-id"))
        id_field = "volumeId" if kind == "volume" else "bootVolumeId"
        backup = response.data
        if not _is_backup_of(backup, kind, body[id_field]):
            raise InvalidResponse(
                "Block Storage answered success without a backup of the volume in its body", opcRequestId=request_id
            )
        return Created(backup, request_id)


def _is_backup_of(backup: Any, kind: TargetKind, volume_id: str) -> bool:
    """Whether an API answer is a (boot) volume backup of ``volume_id``, small and plain enough to pass on."""
    if not isinstance(backup, dict):
        return False
    backup_id, id_field = backup.get("id"), ("volumeId" if kind == "volume" else "bootVolumeId")
    if not (isinstance(backup_id, str) and _BACKUP_IDS[kind].fullmatch(backup_id)) or backup.get(id_field) != volume_id:
        return False
    try:  # RFC 8259 JSON only (no NaN or Infinity), and a VolumeBackup's size (about 1 KB), not megabytes
        return len(json.dumps(backup, allow_nan=False)) <= MAX_BACKUP_JSON_CHARS
    except (ValueError, TypeError):
        return False


def _request_id(value: Any) -> str | None:
    return value[:256] if isinstance(value, str) else None


def _api_error(exc: Any) -> ApiError:
    """The API's error as the caller may see it: OCI's own code and message, or a fixed message."""
    status = exc.status if isinstance(exc.status, int) and 100 <= exc.status <= 599 else 502
    code, message = exc.code, exc.message
    if isinstance(code, str) and _ERROR_CODE.match(code) and isinstance(message, str):
        if len(message) > MAX_ERROR_MESSAGE_CHARS:
            message = message[:MAX_ERROR_MESSAGE_CHARS] + "..."
        return ApiError(code=code, message=message, status=status, opc_request_id=_request_id(exc.request_id))
    # Not OCI's error JSON (a proxy's page, a load balancer's text): its text stays out of the answer.
    return ApiError(
        code=InvalidResponse.code,
        message=f"Block Storage answered HTTP {status} without an OCI error document",
        status=status,
        opc_request_id=_request_id(exc.request_id),
    )


def _network_problem(exc: BaseException) -> str:
    """A plain description of a transport failure, without endpoints or SDK text."""
    from oci._vendor.requests import exceptions as requests_exceptions

    chain: list[BaseException] = [exc, *[arg for arg in exc.args if isinstance(arg, BaseException)]]
    if any(isinstance(item, requests_exceptions.Timeout) for item in chain):
        return "Block Storage did not answer in time"
    return "the connection to Block Storage failed or was dropped"

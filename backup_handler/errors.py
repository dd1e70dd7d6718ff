"""The errors a caller can receive, each with a stable ``code``.

Every failure the function reports is one of these, rendered as JSON by
:meth:`BackupError.to_json`. Nothing else (``str(exception)``, tracebacks,
Python reprs, SDK internals) ever reaches a caller.

Exception tree::

    BackupError                      code               status  retryable
    ├── RequestError                                    400     no
    │   ├── InvalidJson              InvalidJson        400     no
    │   ├── PayloadTooLarge          PayloadTooLarge    413     no
    │   ├── UnrecognizedEvent        UnrecognizedEvent  400     no
    │   ├── InvalidRequest           InvalidRequest     400     no   (+ "errors": [{field, problem}], "moreErrors")
    │   └── NoTargets                NoTargets          400     no
    ├── ConfigurationError           ConfigurationError 500     yes  (+ "errors")
    │   └── CredentialsError         CredentialsError   500     yes
    ├── ApiError                     <the API's code>   <the API's status>  by status (+ "opcRequestId")
    ├── NetworkError                 NetworkError       502     yes
    ├── InvalidResponse              InvalidResponse    502     yes
    ├── DeadlineExceeded             DeadlineExceeded   504     yes
    └── InternalError                InternalError      500     yes

``status`` is the precise HTTP status: it travels in ``Fn-Http-Status`` for
HTTP-gateway invocations and in the body's ``status`` otherwise.
``retryable`` says whether a redelivery of the same trigger could succeed where
this attempt did not (throttling, server errors, the network, configuration or
IAM an operator can fix); :mod:`backup_handler.answers.delivery` turns it into the
container status a source trigger sees. A failure that outlives its exception
(one per target of a run) is kept as a :class:`Failure`: plain data, with no
traceback or SDK objects attached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """A failure as data: what the caller is told, and whether a redelivery could help."""

    code: str
    message: str
    status: int
    retryable: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "status": self.status, **self.extra}


class BackupError(Exception):
    """Base class: a failure with a stable code, an HTTP status and a plain message."""

    code: str = "InternalError"
    status: int = 500
    retryable: bool = True

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = {key: value for key, value in extra.items() if value is not None}

    def to_json(self) -> dict[str, Any]:
        """The error as the caller sees it: ``{code, message, status, ...}``."""
        return self.failure().to_json()

    def failure(self) -> Failure:
        """This error as plain data, free of the exception's traceback and context."""
        return Failure(self.code, self.message, self.status, self.retryable, dict(self.extra))


class RequestError(BackupError):
    """The invocation's body cannot become a backup request; sending it again cannot help."""

    code = "InvalidRequest"
    status = 400
    retryable = False


class InvalidJson(RequestError):
    code = "InvalidJson"


class PayloadTooLarge(RequestError):
    code = "PayloadTooLarge"
    status = 413


class UnrecognizedEvent(RequestError):
    code = "UnrecognizedEvent"


class InvalidRequest(RequestError):
    """Validation failed; ``errors`` lists ``{"field", "problem"}`` pairs."""

    code = "InvalidRequest"


class NoTargets(RequestError):
    """A trigger named no volume to back up: usually a misconfigured rule or alarm."""

    code = "NoTargets"


class ConfigurationError(BackupError):
    """The function's configuration (its ``BACKUP_*`` variables) is invalid."""

    code = "ConfigurationError"
    status = 500


class CredentialsError(ConfigurationError):
    """The resource-principal credentials could not be read or used to sign."""

    code = "CredentialsError"


# 5xx except 501 (as the SDK defines transient), throttling, 401/404 (credentials and IAM an
# operator can fix while the source still redelivers), 409 IncorrectState (resource busy).
_RETRYABLE_STATUSES = frozenset({401, 404, 429})
_RETRYABLE_CONFLICTS = frozenset({"IncorrectState"})


class ApiError(BackupError):
    """Block Storage answered with an error: its code, message and status pass through."""

    def __init__(self, code: str, message: str, status: int, opc_request_id: str | None = None) -> None:
        super().__init__(message, opcRequestId=opc_request_id)
        self.code = code
        self.status = status
        self.opc_request_id = opc_request_id
        self.retryable = (
            (status >= 500 and status != 501)
            or status in _RETRYABLE_STATUSES
            or (status == 409 and code in _RETRYABLE_CONFLICTS)
        )


class NetworkError(BackupError):
    """Block Storage could not be reached (connection refused or dropped, timeout)."""

    code = "NetworkError"
    status = 502


class InvalidResponse(BackupError):
    """Block Storage, or something in front of it, answered with a body that is not the API's JSON.

    A success whose body is no backup is this class; an error status whose body is not OCI's
    error document is an :class:`ApiError` with this code and the status received.
    """

    code = "InvalidResponse"
    status = 502


class DeadlineExceeded(BackupError):
    """The invocation's deadline arrived before the work was done."""

    code = "DeadlineExceeded"
    status = 504


class InternalError(BackupError):
    """An unexpected failure inside the function; details are in the function's log only."""

    code = "InternalError"
    status = 500

"""The errors a caller can receive, each with a stable ``code``.

Every failure the function reports is one of these, rendered as JSON by
:meth:`BackupError.to_json`. Nothing else (``str(exception)``, tracebacks,
Python reprs, SDK internals) ever reaches a caller.

Exception tree::

    BackupError                      code            status
    ├── RequestError                                 400
    │   ├── InvalidJson              InvalidJson     400
    │   ├── PayloadTooLarge          PayloadTooLarge 413
    │   ├── UnrecognizedEvent        UnrecognizedEvent 400
    │   ├── InvalidRequest           InvalidRequest  400  (+ "errors": [{field, problem}])
    │   └── NoTargets                NoTargets       400
    ├── ConfigurationError           ConfigurationError 500 (+ "errors")
    ├── ApiError                     <the API's code> <the API's status> (+ "opcRequestId")
    ├── NetworkError                 NetworkError    502
    ├── DeadlineExceeded             DeadlineExceeded 504
    └── InternalError                InternalError   500

``status`` is the precise HTTP status: it travels in ``Fn-Http-Status`` for
HTTP-gateway invocations. Direct invocations only see 200, 502 or 504 (see
:func:`backup_handler.function.container_status`).
"""

from __future__ import annotations

from typing import Any


class BackupError(Exception):
    """Base class: a failure with a stable code, an HTTP status and a plain message."""

    code: str = "InternalError"
    status: int = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = {key: value for key, value in extra.items() if value is not None}

    def to_json(self) -> dict[str, Any]:
        """The error as the caller sees it: ``{code, message, status, ...}``."""
        return {"code": self.code, "message": self.message, "status": self.status, **self.extra}


class RequestError(BackupError):
    """The invocation's body cannot become a backup request."""

    code = "InvalidRequest"
    status = 400


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


class ApiError(BackupError):
    """Block Storage answered with an error: its code, message and status pass through."""

    def __init__(self, code: str, message: str, status: int, opc_request_id: str | None = None) -> None:
        super().__init__(message, opcRequestId=opc_request_id)
        self.code = code
        self.status = status
        self.opc_request_id = opc_request_id


class NetworkError(BackupError):
    """Block Storage could not be reached (connection refused or dropped, timeout)."""

    code = "NetworkError"
    status = 502


class DeadlineExceeded(BackupError):
    """The invocation's deadline arrived before the work was done."""

    code = "DeadlineExceeded"
    status = 504


class InternalError(BackupError):
    """An unexpected failure inside the function; details are in the function's log only."""

    code = "InternalError"
    status = 500

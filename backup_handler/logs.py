"""The function's log lines: one JSON object per line, whatever the input held.

Field names, messages and resource ids can come from an invoker, so a log line
is never built by formatting them into text: :func:`emit` serializes a dict
with ``ensure_ascii``, which escapes newlines, control characters and lone
surrogates, so no input can forge or split a line. String values are cut to a
bounded length. fdk prefixes each line with the call id.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

MAX_VALUE_CHARS = 1024
MAX_TRACEBACK_CHARS = 8192


def _bounded(value: Any, limit: int = MAX_VALUE_CHARS) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"...(+{len(value) - limit} chars)"
    if isinstance(value, dict):
        return {str(key)[:limit]: _bounded(item, limit) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_bounded(item, limit) for item in value]
    return value


def line(event: str, **fields: Any) -> str:
    """``{"event": event, **fields}`` as one line of ASCII JSON (``None`` fields left out)."""
    document = {"event": event, **{key: _bounded(value) for key, value in fields.items() if value is not None}}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True, default=repr)


def emit(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log one structured line at ``level``."""
    if logger.isEnabledFor(level):
        logger.log(level, line(event, **fields))


def emit_defect(logger: logging.Logger, event: str, exc: BaseException, **fields: Any) -> None:
    """Log an unexpected exception at ERROR: its type and traceback as escaped fields of one line."""
    trace = "".join(traceback.format_exception(exc))
    if len(trace) > MAX_TRACEBACK_CHARS:
        trace = "..." + trace[-MAX_TRACEBACK_CHARS:]
    document = {"event": event, **fields, "error": type(exc).__name__, "trace": trace}
    logger.error(json.dumps(_bounded(document, MAX_TRACEBACK_CHARS), separators=(",", ":"), ensure_ascii=True))

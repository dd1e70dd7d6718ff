"""What the Fn platform is given: the container status for an answer.

The Fn agent passes a function's headers and body to the invoker only with a 200;
a 502 becomes the platform's own "function failed" (``FunctionInvokeExecutionFailed``)
and a 504 a timeout, with nothing of the answer (fnproject/fn ``api/agent/agent.go``,
``writeResp``; see ../shared/reference/oci-platform-facts.md §2). So:

- **HTTP gateway** (``Fn-Intent: httprequest``): container 200, always; the precise
  status travels in ``Fn-Http-Status`` (set by :mod:`backup_handler.function`).
- **No trigger at all** (not JSON, not an object, an unrecognised shape): 200 with the
  error document, whatever the invoke type: no redelivery can fix it and a person must
  be able to read why.
- **Manual invocation or audit, sync**: 200, always; the body is the VolumeBackup (the
  audit's findings) or the error document, whose ``status`` tells them apart.
- **Source triggers** (Events, alarms through Notifications, schedules) **and detached
  invocations**: the status is a delivery verdict. 502, or 504 for the deadline, exactly
  when a redelivery could succeed where this one did not; otherwise 200, and a failure
  is logged at ERROR with its code, since no invoker will read the body.
"""

from __future__ import annotations

import logging

from backup_handler import logs
from backup_handler.answers.response import Reply

logger = logging.getLogger(__name__)

DETACHED = "detached"


def container_status(reply: Reply, *, invoke_type: str, gateway: bool) -> int:
    """The status to hand fdk for ``reply``."""
    if gateway or reply.trigger is None:
        return 200
    if reply.trigger in ("manual", "audit") and invoke_type != DETACHED:  # a person reads the answer
        return 200
    if reply.redeliver is not None:
        return reply.redeliver
    if reply.status >= 400:
        logs.emit(
            logger,
            logging.ERROR,
            "not-redelivered",
            trigger=reply.trigger,
            status=reply.status,
            code=reply.document.get("code"),
            failed=[error.get("code") for error in reply.document.get("errors", [])][:20] or None,
            note="a redelivery cannot fix this; the answer is 200 so the source does not retry",
        )
    return 200

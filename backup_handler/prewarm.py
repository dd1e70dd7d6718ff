"""Prewarm entrypoint: import and build everything before listening, then serve as fdk does.

    entrypoint: /python/bin/python -m backup_handler.prewarm /function/func.py handler

fdk imports ``func.py`` on the first call, so a container started ahead of demand
(OCI Functions provisioned concurrency) would still pay imports, the signer and the
client on its first invocation. This entrypoint pays them at start-up instead,
before the socket appears, and the first invocation runs at warm speed. A failure
while warming is logged and left for the first call to report.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def main() -> None:
    from fdk.scripts.fdk import main as serve

    try:
        from backup_handler.function import app

        app().warm()
    except Exception as exc:
        from backup_handler import logs

        logs.emit(logger, logging.WARNING, "prewarm", outcome="failed", error=type(exc).__name__)
    serve()


if __name__ == "__main__":
    main()

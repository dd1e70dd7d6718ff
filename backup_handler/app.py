"""The function's pipeline: body bytes → request → backups → :class:`Reply`.

:class:`App` owns what lives across invocations — the settings, the Block
Storage client and the worker pool — and builds each lazily, on the first call
that needs it. Tests inject their own settings and Block Storage.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from backup_handler.backup import BackupRunner, RunResult
from backup_handler.blockstorage import BlockStorage, OciBlockStorage
from backup_handler.errors import BackupError, ConfigurationError, InternalError
from backup_handler.payload import decode
from backup_handler.request import build_request
from backup_handler.response import Reply, error_reply, result_reply
from backup_handler.settings import Settings

logger = logging.getLogger(__name__)
PACKAGE_LOGGER = "backup_handler"
# fdk sets the root logger to DEBUG; these would log every request (and the SDK, its internals).
QUIET_LOGGERS = ("urllib3", "oci", "circuitbreaker")


def configure_logging(level: str) -> None:
    logging.getLogger(PACKAGE_LOGGER).setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class App:
    def __init__(
        self,
        settings: Settings | None = None,
        blockstorage: BlockStorage | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = environ if environ is not None else os.environ
        self._settings = settings
        self._config_error: ConfigurationError | None = None
        self._blockstorage = blockstorage
        self._runner: BackupRunner | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            if self._config_error is not None:
                raise self._config_error
            try:
                self._settings = Settings.from_env(self._environ)
            except ConfigurationError as exc:
                self._config_error = exc
                raise
            configure_logging(self._settings.log_level)
        return self._settings

    def runner(self) -> BackupRunner:
        if self._runner is None:
            settings = self.settings()
            if self._blockstorage is None:
                self._blockstorage = OciBlockStorage(settings)
            self._runner = BackupRunner(settings, self._blockstorage)
        return self._runner

    def warm(self) -> None:
        """Build everything the first backup needs (settings, signer, client, pool) now."""
        self.runner().warm()
        if isinstance(self._blockstorage, OciBlockStorage):
            self._blockstorage.client()

    def handle(self, body: bytes, headers: Mapping[str, str], deadline: float) -> Reply:
        """Answer one invocation; ``deadline`` is a ``time.monotonic()`` value. Never raises."""
        try:
            return result_reply(self._run(body, headers, deadline))
        except BackupError as exc:
            if exc.status >= 500:
                logger.error("invocation failed: %s %s", exc.code, exc.message)
            else:
                logger.info("invocation refused: %s %s", exc.code, exc.message)
            return error_reply(exc)
        except Exception:
            logger.exception("invocation failed unexpectedly")
            return error_reply(InternalError("the function failed unexpectedly; see its log"))

    def _run(self, body: bytes, headers: Mapping[str, str], deadline: float) -> RunResult:
        settings = self.settings()
        value = decode(body, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
        request = build_request(value, headers=headers, settings=settings, now=datetime.now(UTC))
        if request.nothing_to_do is not None:
            logger.info("nothing to back up: %s", request.nothing_to_do)
            return RunResult(request, (), deadline_hit=False)
        return self.runner().run(request, deadline)


def monotonic_deadline(rfc3339: str | None, default_seconds: float = 30.0) -> float:
    """An ``Fn-Deadline`` timestamp as a ``time.monotonic()`` value."""
    now = time.monotonic()
    if not rfc3339:
        return now + default_seconds
    try:
        moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except ValueError:
        logger.warning("unreadable deadline %r; assuming %ss", rfc3339, default_seconds)
        return now + default_seconds
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return now + (moment.timestamp() - time.time())

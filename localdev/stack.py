"""Everything a local invocation needs, wired together: credentials, emulator, function."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from localdev.credentials import Credentials, Identity, function_environment
from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import FunctionProcess
from localdev.samples import seed


class LocalStack:
    """Minted resource-principal files, a seeded emulator, and the function under fdk."""

    def __init__(self, workdir: Path | None = None, env: dict[str, str] | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="backup-local-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.identity = Identity()
        self.credentials: Credentials = self.identity.mint(self.workdir / "rp")
        self.emulator = BlockStorageEmulator(self.identity)
        seed(self.emulator)
        self._extra_env = env or {}
        self.function: FunctionProcess | None = None

    def function_env(self, **overrides: str) -> dict[str, str]:
        return {
            **function_environment(self.credentials),
            "BACKUP_BLOCKSTORAGE_ENDPOINT": self.emulator.endpoint,
            "BACKUP_IDENTITY_ENDPOINT": self.emulator.endpoint,
            # Used only once BACKUP_METRICS_NAMESPACE / BACKUP_NOTIFY_TOPIC_ID are set.
            "BACKUP_METRICS_ENDPOINT": self.emulator.endpoint,
            "BACKUP_NOTIFY_ENDPOINT": self.emulator.endpoint,
            **self._extra_env,
            **overrides,
        }

    def rotate_credentials(self) -> Credentials:
        """Replace the files with a new session and stop accepting the old one."""
        old = self.credentials
        self.credentials = self.identity.mint(self.workdir / "rp")
        self.emulator.revoke(old.jti)
        return self.credentials

    def start(self, **env: str) -> LocalStack:
        self.emulator.start()
        self.function = FunctionProcess(self.workdir / "fn", self.function_env(**env)).start()
        return self

    def stop(self) -> None:
        if self.function is not None:
            self.function.stop()
        self.emulator.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BackupEndPump:
    """Delivers an emulator's backup-end events as they happen: polls
    :meth:`~localdev.emulator.BlockStorageEmulator.backup_end_events` every ``interval`` seconds
    from a thread of its own, so every :meth:`~localdev.emulator.BlockStorageEmulator.on_backup_end`
    callback is called soon after a backup becomes ``AVAILABLE``."""

    def __init__(self, emulator: BlockStorageEmulator, interval: float = 0.05) -> None:
        self.emulator = emulator
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backup-end-pump", daemon=True)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.emulator.backup_end_events()

    def start(self) -> BackupEndPump:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> BackupEndPump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

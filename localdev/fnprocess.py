"""The function under the real fdk runtime, driven as the Fn platform drives it.

:class:`FunctionProcess` starts ``fdk func.py handler`` with ``FN_FORMAT=http-stream``
and ``FN_LISTENER=unix:<dir>/lsnr.sock``, waits for the socket to appear, and sends
each invocation as ``POST /call`` over that socket with the platform's headers
(``Fn-Call-Id``, ``Fn-Deadline``, ``Fn-Invoke-Type``, ``Content-Type``).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_CLEARED_PREFIXES = ("BACKUP_", "OCI_RESOURCE_PRINCIPAL_", "FN_")


@dataclass(frozen=True)
class FnResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def fdk_command(func_path: Path = ROOT / "func.py", entrypoint: str = "handler") -> list[str]:
    """``fdk <func.py> handler`` with the fdk installed beside this Python."""
    return [str(Path(sys.executable).parent / "fdk"), str(func_path), entrypoint]


class FunctionProcess:
    """One function container: a fresh fdk process listening on a Unix socket."""

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        command: list[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.socket_path = workdir / "lsnr.sock"
        self.log_path = workdir / "function.log"
        self._command = command or fdk_command()
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self, timeout: float = 20.0) -> FunctionProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in (self.socket_path, self.workdir / "phonylsnr.sock"):
            stale.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED_PREFIXES)}
        env.update(
            {
                "FN_FORMAT": "http-stream",
                "FN_LISTENER": f"unix:{self.socket_path}",
                "FN_APP_NAME": "backup-app",
                "FN_FN_NAME": "backup-handler",
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self._env)
        log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self._process = subprocess.Popen(
            self._command,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.socket_path.exists():
            if self._process.poll() is not None:
                raise RuntimeError(f"fdk exited with {self._process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"fdk did not listen on {self.socket_path} within {timeout}s")
            time.sleep(0.005)
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def call(
        self,
        body: bytes | str | dict[str, Any] | None = b"",
        *,
        headers: dict[str, str] | None = None,
        deadline_seconds: float = 30.0,
        content_type: str = "application/json",
        invoke_type: str = "sync",
        timeout: float | None = None,
    ) -> FnResponse:
        """One invocation, as the platform sends it; returns status, headers and body."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        deadline = datetime.now(UTC) + timedelta(seconds=deadline_seconds)
        sent = {
            "Fn-Call-Id": uuid.uuid4().hex.upper(),
            "Fn-Deadline": deadline.isoformat().replace("+00:00", "Z"),
            "Fn-Invoke-Type": invoke_type,
            "Content-Type": content_type,
            **(headers or {}),
        }
        connection = _UnixConnection(str(self.socket_path), timeout or deadline_seconds + 30)
        try:
            connection.request("POST", "/call", body=body or b"", headers=sent)
            answer = connection.getresponse()
            return FnResponse(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> FunctionProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

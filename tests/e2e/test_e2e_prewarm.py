"""The prewarm entrypoint loads the function before its first call; the default one does not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import ROOT, FunctionProcess, fdk_command
from localdev.stack import LocalStack
from tests.conftest import event_bytes

pytestmark = pytest.mark.e2e


def _loaded(pid: int, library: str) -> bool:
    return library in Path(f"/proc/{pid}/maps").read_text()


def test_prewarm_entrypoint_imports_before_the_first_call_and_serves_it(
    stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "backup_handler.prewarm", str(ROOT / "func.py"), "handler"]
    with FunctionProcess(tmp_path / "prewarm", stack.function_env(), command=command) as fn:
        assert _loaded(fn.pid, "pydantic_core")  # the function and its models are in memory already
        assert _loaded(fn.pid, "_rust")  # and the signer's cryptography backend: the client was built

        answer = fn.call(event_bytes("manual.json"))

        assert answer.status == 200
        assert answer.json()["volumeId"] == emulator.backups()[0]["volumeId"]


def test_default_entrypoint_defers_imports_to_the_first_call(
    stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path
) -> None:
    with FunctionProcess(tmp_path / "default", stack.function_env(), command=fdk_command()) as fn:
        assert not _loaded(fn.pid, "pydantic_core")
        assert fn.call(event_bytes("manual.json")).status == 200
        assert _loaded(fn.pid, "pydantic_core")


def test_prewarm_with_broken_configuration_still_starts_and_reports_it(
    stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "backup_handler.prewarm", str(ROOT / "func.py"), "handler"]
    env = stack.function_env(BACKUP_TYPE="HOURLY")
    with FunctionProcess(tmp_path / "broken", env, command=command) as fn:
        answer = fn.call(event_bytes("manual.json"))

    assert answer.json()["code"] == "ConfigurationError"

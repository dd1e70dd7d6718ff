"""Shared fixtures: sample payloads, the emulator, and the function under the real fdk runtime."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from backup_handler.oci.blockstorage import OciBlockStorage
from backup_handler.runs.ownership import Ownership
from backup_handler.settings import Settings
from localdev.credentials import function_environment
from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import FunctionProcess
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES, seed
from localdev.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# CI draws the same examples on every run: a property that fails there fails again on a rerun, and a green
# run does not depend on which examples chance picked. Locally the examples vary, to find new failures.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def event_bytes(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def event_json(name: str) -> dict[str, Any]:
    value = json.loads(event_bytes(name))
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(workdir=tmp_path_factory.mktemp("stack"))
    local.start()
    yield local
    local.stop()


@pytest.fixture
def emulator(stack: LocalStack) -> BlockStorageEmulator:
    """The session's emulator, emptied and re-seeded with the sample volumes."""
    stack.emulator.reset()
    seed(stack.emulator)
    return stack.emulator


@pytest.fixture
def fn(stack: LocalStack, emulator: BlockStorageEmulator) -> FunctionProcess:
    """The session's function process (default configuration), with a fresh emulator."""
    assert stack.function is not None and stack.function.alive(), stack.function and stack.function.log()
    return stack.function


@pytest.fixture
def platform(fn: FunctionProcess) -> FnPlatform:
    """The session's function behind the Fn platform model: what an invoker really sees."""
    return FnPlatform(fn)


@pytest.fixture
def start_function(
    stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path
) -> Iterator[Callable[..., FunctionProcess]]:
    """Start another function process with configuration overrides; stopped after the test."""
    started: list[FunctionProcess] = []

    def start(**env: str) -> FunctionProcess:
        process = FunctionProcess(tmp_path / f"fn{len(started)}", stack.function_env(**env)).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def start_platform(start_function: Callable[..., FunctionProcess]) -> Callable[..., FnPlatform]:
    """Start another function process with configuration overrides, behind the platform model."""

    def start(**env: str) -> FnPlatform:
        return FnPlatform(start_function(**env))

    return start


@pytest.fixture
def settings(stack: LocalStack) -> Settings:
    return Settings(blockstorage_endpoint=stack.emulator.endpoint)


@pytest.fixture
def blockstorage(
    stack: LocalStack, emulator: BlockStorageEmulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> OciBlockStorage:
    """The real SDK client, in-process, signing as the minted resource principal."""
    for name, value in function_environment(stack.credentials).items():
        monkeypatch.setenv(name, value)
    return OciBlockStorage(settings)


# ------------------------------------------------------------------ lifecycle

DEPLOYMENT = "backup-app/backup-handler"
"""The deployment identity of a function process the fixtures start (FN_APP_NAME/FN_FN_NAME)."""
OWN = {
    "backup-trigger": "schedule",
    "backup-source": "20261120T000000Z/3600s",
    "backup-deployment": DEPLOYMENT,
    "backup-kind": "volume",
}
"""The tags the function stamps on an automatic volume backup: what makes a seeded backup its own."""
OWN_BOOT = {**OWN, "backup-kind": "bootVolume"}
OWN_GROUP = {**OWN, "backup-kind": "volumeGroup"}
COPY_SUFFIX = Ownership(DEPLOYMENT).copy_suffix
"""How the fixtures' deployment names its copies: ``<source name><COPY_SUFFIX>``."""
PEER_REGION = "us-phoenix-1"


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def backup_end(backup_id: str, volume_id: str = VOLUMES[0], *, boot: bool = False) -> dict[str, Any]:
    """The createvolumebackup.end (or createbootvolumebackup.end) event of a backup, shaped as the sample."""
    event = event_json("event-bootbackup-end.json" if boot else "event-backup-end.json")
    event["eventID"] = f"end-{backup_id[-12:]}"
    event["data"]["resourceId"] = backup_id
    event["data"]["additionalDetails"]["volumeId"] = volume_id
    return event


def states(emulator: BlockStorageEmulator) -> dict[str, str]:
    return {backup["id"]: backup["lifecycleState"] for backup in emulator.backups()}


@pytest.fixture
def peer(stack: LocalStack, emulator: BlockStorageEmulator) -> Iterator[BlockStorageEmulator]:
    """The copy region: a second emulator the session's one copies into."""
    other = BlockStorageEmulator(stack.identity, region=PEER_REGION).start()
    emulator.add_region(other)
    yield other
    other.stop()

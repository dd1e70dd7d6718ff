"""A single manual backup runs on a thread of its own: answered by its deadline, never behind an earlier call."""

from __future__ import annotations

import threading
from collections.abc import Callable

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES
from tests.conftest import event_bytes


def test_a_call_still_under_way_past_its_deadline_does_not_hold_up_the_next_manual_backup(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()
    release = threading.Event()
    emulator.inject(Fault("create", hold=release))  # the first create stays in flight until released
    try:
        first = platform.invoke(event_bytes("manual.json"), deadline_seconds=2.0)
        assert first.status == 200  # the manual invoker reads why
        assert (first.json()["code"], first.json()["status"]) == ("DeadlineExceeded", 504)

        # The first call still holds its thread: the next request gets another and is answered at once.
        second = platform.invoke({"volumeId": VOLUMES[1]}, deadline_seconds=10.0)
        assert second.status == 200, second.json()
        assert second.json()["volumeId"] == VOLUMES[1]
        assert second.json()["id"].startswith("ocid1.volumebackup.")
    finally:
        release.set()


def test_the_single_backup_answer_is_the_volume_backup_and_one_log_line(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = start_platform()

    answer = platform.invoke(event_bytes("manual.json"))

    assert answer.status == 200
    backup = answer.json()
    assert len(emulator.creates()) == 1 and backup["volumeId"] == VOLUMES[0]
    lines = [line for line in platform.function.log().splitlines() if backup["id"] in line]
    assert len(lines) == 1 and '"event":"backup"' in lines[0] and '"outcome":"created"' in lines[0]

"""Deletion safety of restore tests, end to end: what must never be deleted, whatever the function is sent.

A restore-test volume is deleted only when the API's own record of it shows all three: it is in the sandbox
compartment, stamped with this deployment's identity, and its stamp names the backup it was really restored
from (``sourceDetails``). Forged events, foreign volumes in the sandbox, copied or mismatched stamps, a
list answer that lies about a volume, and deletions that fail are each tried here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, SANDBOX, VOLUMES
from tests.conftest import ago, event_json
from tests.e2e.test_e2e_restore_tests import IDENTITY, STAMP, section, tick

pytestmark = pytest.mark.e2e

DELETES = ("deleteVolume", "deleteBootVolume")


def deleted(emulator: BlockStorageEmulator) -> list[str]:
    """Every volume a delete was asked for (the last path segment of each DeleteVolume / DeleteBootVolume)."""
    return [call.path.rsplit("/", 1)[-1] for call in emulator.calls if call.operation in DELETES]


def foreign(n: int, *, boot: bool = False) -> str:
    kind = "bootvolume" if boot else "volume"
    return f"ocid1.{kind}.oc1.iad.abuwcljrforeignvolume{n:038d}"


def planted(
    emulator: BlockStorageEmulator,
    volume_id: str,
    *,
    compartment: str = SANDBOX,
    tags: dict[str, str] | None = None,
    source: dict[str, Any] | None = None,
    boot: bool = False,
) -> str:
    """A volume someone else made, as the API would show it: AVAILABLE, tagged and sourced as given."""
    emulator.add_volume(volume_id, boot=boot, compartment_id=compartment, freeform_tags=tags, time_created=None)
    emulator.state.volumes.records[volume_id]["sourceDetails"] = source
    return volume_id


def created_event(volume_id: str, *, compartment: str = SANDBOX, tags: dict[str, str] | None = None) -> dict[str, Any]:
    event = event_json("event-createvolume.json")
    event["eventID"] = f"forged-{volume_id[-8:]}"
    event["extensions"] = {"compartmentId": compartment}
    event["data"].update(resourceId=volume_id, compartmentId=compartment, freeformTags=tags or {})
    return event


@pytest.fixture
def restoring(start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator) -> Callable[..., FnPlatform]:
    emulator.in_progress_seconds = 3600

    def start(**env: str) -> FnPlatform:
        return start_platform(BACKUP_RESTORE_TEST_COMPARTMENT_ID=SANDBOX, **env)

    return start


def test_forged_createvolume_end_events_delete_nothing_that_is_not_provably_a_test(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    ours = {STAMP: backup, "backup-deployment": IDENTITY}
    restored = {"type": "volumeBackup", "id": backup}
    cases = {
        # a production volume, claimed to be in the sandbox and stamped, in the event only
        "production volume": (VOLUMES[0], created_event(VOLUMES[0], tags=ours)),
        "production boot volume": (BOOT_VOLUMES[0], created_event(BOOT_VOLUMES[0], tags=ours)),
        # someone else's volume in the sandbox, no stamp
        "foreign, no stamp": (planted(emulator, foreign(1)), created_event(foreign(1))),
        # a stamp copied from another deployment's test
        "other deployment": (
            planted(
                emulator, foreign(2), tags={**ours, "backup-deployment": "other-app/backup-handler"}, source=restored
            ),
            created_event(foreign(2)),
        ),
        # our complete stamp and a matching source, but moved out of the sandbox
        "outside the sandbox": (
            planted(emulator, foreign(3), compartment=COMPARTMENT, tags=ours, source=restored),
            created_event(foreign(3), compartment=SANDBOX),
        ),
        # our stamp on a blank volume
        "blank volume": (planted(emulator, foreign(4), tags=ours, source=None), created_event(foreign(4))),
        # our stamp on a volume restored from another backup
        "other source": (
            planted(emulator, foreign(5), tags=ours, source={"type": "volumeBackup", "id": backup + "x"}),
            created_event(foreign(5)),
        ),
        # our stamp on a clone of a volume
        "clone": (
            planted(emulator, foreign(6), tags=ours, source={"type": "volume", "id": backup}),
            created_event(foreign(6)),
        ),
        # the stamp in another spelling of the same backup
        "upper-case stamp": (
            planted(emulator, foreign(7), tags={**ours, STAMP: backup.upper()}, source=restored),
            created_event(foreign(7)),
        ),
        # a boot volume whose stamp names a volume backup
        "kind mismatch": (
            planted(emulator, foreign(8, boot=True), boot=True, tags=ours, source=restored),
            created_event(foreign(8, boot=True)),
        ),
    }

    for name, (volume_id, event) in cases.items():
        answer = platform.invoke(event)
        assert answer.status == 200, (name, answer.body)
        tests = section(answer)
        assert [entry["testVolumeId"] for entry in tests["ignored"]] == [volume_id], name
        assert tests["verified"] == tests["failed"] == tests["cleaned"] == [], name

    assert deleted(emulator) == []
    assert not any(call.operation in ("updateVolumeBackup", "updateBootVolumeBackup") for call in emulator.calls)
    assert all(v["lifecycleState"] == "AVAILABLE" for v in emulator.volumes())


def test_a_tick_never_deletes_foreign_or_unprovable_volumes_in_the_sandbox_and_counts_its_own_stamped_ones(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_RESTORE_TEST_MAX="1", BACKUP_RESTORE_TEST_TTL="1h")
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    ours = {STAMP: backup, "backup-deployment": IDENTITY}
    restored = {"type": "volumeBackup", "id": backup}
    old = ago(30).isoformat()
    for n, (tags, source) in enumerate(
        [
            ({}, restored),  # a person's restore, unstamped
            ({**ours, "backup-deployment": "other-app/backup-handler"}, restored),  # another deployment's test
            ({STAMP: backup}, restored),  # a stamp without the deployment
            (ours, {"type": "volumeBackup", "id": backup + "x"}),  # our stamp, another source
        ]
    ):
        planted(emulator, foreign(n), tags=tags, source=source)
        emulator.state.volumes.records[foreign(n)].update(timeCreated=old, lifecycleState="PROVISIONING")

    tests = section(platform.invoke(tick(VOLUMES[0])))

    assert deleted(emulator) == []
    assert [entry["testVolumeId"] for entry in tests["ignored"]] == [foreign(3)]
    # Stamped for this deployment, though unprovable: it counts against the maximum, so nothing is started.
    assert tests["started"] == [] and tests["inProgress"] == 1
    assert tests["failed"] == []  # old and stuck, but not provably a test: not this deployment's to judge


def test_a_list_answer_naming_a_production_volume_as_a_sandbox_test_deletes_nothing(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    """Deletion reads the compartment from the volume's own record, and the record must say the sandbox."""
    platform = restoring()
    backup = emulator.add_backup(VOLUMES[0], time_created=ago(2))
    production = dict(next(v for v in emulator.volumes() if v["id"] == VOLUMES[0]))
    production.update(
        freeformTags={STAMP: backup, "backup-deployment": IDENTITY},
        sourceDetails={"type": "volumeBackup", "id": backup},
        timeCreated=ago(30).isoformat(),
    )
    emulator.inject(Fault("listVolumes", body=json.dumps([production]).encode()))

    tests = section(platform.invoke(tick(VOLUMES[0])))

    assert deleted(emulator) == []
    assert [entry["testVolumeId"] for entry in tests["ignored"]] == [VOLUMES[0]]


def test_a_test_volume_whose_delete_fails_is_reported_and_still_counted(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_MAX_ATTEMPTS="1", BACKUP_RESTORE_TEST_MAX="1")
    emulator.add_backup(VOLUMES[0], time_created=ago(2))
    emulator.add_backup(VOLUMES[1], time_created=ago(2))
    [started] = section(platform.invoke(tick(VOLUMES[0])))["started"]
    emulator.advance(seconds=5)
    emulator.inject(Fault("deleteVolume", status=500))

    tests = section(platform.invoke(tick(VOLUMES[0], VOLUMES[1])))

    assert [entry["testVolumeId"] for entry in tests["verified"]] == [started["testVolumeId"]]
    assert tests["cleaned"] == [] and tests["errors"][0]["resourceId"] == started["testVolumeId"]
    assert tests["started"] == [] and tests["inProgress"] == 1  # still there: no second test beside it
    assert deleted(emulator) == [started["testVolumeId"]]


def test_a_volume_the_event_names_that_cannot_be_read_is_left_alone(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring(BACKUP_MAX_ATTEMPTS="1")
    missing = foreign(9)

    answer = platform.invoke(created_event(missing, tags={STAMP: "ocid1.volumebackup.oc1.iad.x"}))

    # A 404 may be a missing grant an operator can add: the event is redelivered, nothing is deleted meanwhile.
    assert (answer.status, answer.platform_error) == (502, "FunctionInvokeExecutionFailed")
    assert answer.wait().json()["restoreTests"]["errors"][0]["code"] == "NotAuthorizedOrNotFound"
    assert deleted(emulator) == []


def test_an_invoker_cannot_steer_where_restore_tests_go(
    restoring: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    platform = restoring()

    answers = [
        platform.invoke({**tick(VOLUMES[0]), "restoreTestCompartmentId": COMPARTMENT}),
        platform.invoke({**tick(VOLUMES[0]), "restoreTests": {"max": 50}}),
    ]

    assert all(answer.json()["code"] == "InvalidRequest" for answer in answers)
    assert not any(call.operation in ("createVolume", "createBootVolume") for call in emulator.calls)

"""The orphan sweep in a busy compartment, end to end: everyone's backups listed, only the deployment's own held,
and a sweep that would hold more than its cap leaves the compartment for the tick, deleting nothing there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES
from tests.conftest import OWN, ago, states
from tests.e2e.test_e2e_retention import GONE, seed_hourly, tick

pytestmark = pytest.mark.e2e

PEOPLE = 1200  # past one page of the list (1,000 items)
OTHERS = 30


def seed_busy(emulator: BlockStorageEmulator) -> dict[str, list[str]]:
    """A named volume's and a deleted volume's own backups among many people's and another deployment's."""
    other = {**OWN, "backup-deployment": "other-app/backup-handler"}
    emulator.add_volume(GONE, lifecycle_state="TERMINATED")
    people = [
        emulator.add_backup(
            VOLUMES[1 + n % (len(VOLUMES) - 1)],
            time_created=ago(1 + n / 1000),
            freeform_tags={"owner": "dba", "cost-centre": f"cc-{n}"},
            source_type="SCHEDULED",
        )
        for n in range(PEOPLE)
    ]
    others = [emulator.add_backup(GONE, time_created=ago(5 + n / 100), freeform_tags=other) for n in range(OTHERS)]
    return {
        "named": seed_hourly(emulator, VOLUMES[0], [ago(d) for d in (4, 3, 2)]),
        "gone": seed_hourly(emulator, GONE, [ago(d) for d in (4, 3, 2, 1)]),
        "untouchable": people + others,
    }


def test_a_sweep_among_many_foreign_backups_holds_and_decides_only_its_own(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_SWEEP_MAX_BACKUPS="20")
    seeded = seed_busy(emulator)

    summary = tick(platform, VOLUMES[0])

    after = states(emulator)
    assert [after[b] for b in seeded["gone"]] == ["TERMINATED", "TERMINATED", "TERMINATED", "AVAILABLE"]
    assert all(after[b] == "TERMINATED" for b in seeded["named"])
    assert all(after[b] == "AVAILABLE" for b in seeded["untouchable"])
    orphans = summary["orphans"]
    assert orphans["complete"] is True and orphans["deleted"] == 3 and orphans["sourceGone"] == 1
    assert orphans["otherBackupsListed"] == PEOPLE
    assert summary["foreignOwnBackups"] == OTHERS
    assert "reason" not in orphans


def test_a_sweep_that_would_pass_its_cap_leaves_the_compartment_and_deletes_none_of_its_orphans(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator
) -> None:
    emulator.in_progress_seconds = 0.0
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1", BACKUP_RETENTION_SWEEP_MAX_BACKUPS="5")
    seeded = seed_busy(emulator)

    summary = tick(platform, VOLUMES[0])

    after = states(emulator)
    assert all(after[b] == "AVAILABLE" for b in seeded["gone"] + seeded["untouchable"])
    # The tick's own volume still gets its retention, from its own (complete) list.
    assert all(after[b] == "TERMINATED" for b in seeded["named"])
    orphans = summary["orphans"]
    assert orphans["complete"] is False and orphans["deleted"] == 0
    assert "BACKUP_RETENTION_SWEEP_MAX_BACKUPS (5)" in orphans["reason"]
    assert orphans["compartmentsLeft"] == [COMPARTMENT]
    assert orphans["backups"] == 0 and orphans["sourceGone"] == 0

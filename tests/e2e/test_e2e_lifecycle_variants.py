"""The lifecycle under every plausible answer where OCI does not document its own, end to end.

Each test sets one of the emulator's :class:`~localdev.emulator.variants.Variants` to each plausible
answer in turn; the function must stay safe under all of them: a limit is retried later and never
a permanent failure, a refused deletion is never counted as one, ownership of copies never rests on
what a copy says of its volume or source type, and member backups are never retained on their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from localdev.emulator import BlockStorageEmulator, Fault
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, VOLUMES
from tests.conftest import COPY_SUFFIX, OWN, OWN_BOOT, PEER_REGION, ago, backup_end, states

pytestmark = pytest.mark.e2e

LIMIT_ANSWERS = [(429, "TooManyRequests"), (409, "Conflict"), (400, "LimitExceeded")]


def copies_env(peer: BlockStorageEmulator, **env: str) -> dict[str, str]:
    return {"BACKUP_COPY_REGION": PEER_REGION, "BACKUP_COPY_ENDPOINT": peer.endpoint, **env}


@pytest.mark.parametrize(("status", "code"), LIMIT_ANSWERS)
def test_whatever_the_copy_limit_answers_the_copy_is_retried_later_never_given_up(
    start_platform: Callable[..., FnPlatform],
    emulator: BlockStorageEmulator,
    peer: BlockStorageEmulator,
    status: int,
    code: str,
) -> None:
    emulator.variants.copy_limit_refusal = (status, code)
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer, BACKUP_MAX_ATTEMPTS="1"))
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    emulator.max_concurrent_copies = 0  # every slot taken

    refused = platform.invoke(backup_end(source))
    emulator.max_concurrent_copies = 10
    redelivered = platform.invoke(backup_end(source))

    assert (refused.status, refused.platform_error) == (502, "FunctionInvokeExecutionFailed")  # redelivered
    assert refused.wait().json()["lifecycleErrors"][0]["code"] == code
    assert [c["backupId"] for c in redelivered.json()["copied"]] == [source]


@pytest.mark.parametrize(("status", "code"), LIMIT_ANSWERS)
def test_whatever_a_boot_volumes_one_copy_at_a_time_answers_it_is_retried_later(
    start_platform: Callable[..., FnPlatform],
    emulator: BlockStorageEmulator,
    peer: BlockStorageEmulator,
    status: int,
    code: str,
) -> None:
    emulator.variants.copy_limit_refusal = (status, code)
    emulator.copy_seconds = 3600.0
    # Another deployment copies its backup of the same boot volume; the destination does not show which
    # volume that copy is of, so only the service's refusal says the boot volume is busy.
    peer.variants.copy_volume_id = False
    other = start_platform(FN_APP_NAME="other", **copies_env(peer, BACKUP_MAX_ATTEMPTS="1"))
    foreign = {**OWN_BOOT, "backup-deployment": "other/backup-handler"}
    theirs = emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(2), freeform_tags=foreign)
    assert other.invoke(backup_end(theirs, BOOT_VOLUMES[0], boot=True)).json()["copiedCount"] == 1
    platform = start_platform(**copies_env(peer, BACKUP_MAX_ATTEMPTS="1"))
    ours = emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(1), freeform_tags=OWN_BOOT)

    refused = platform.invoke(backup_end(ours, BOOT_VOLUMES[0], boot=True))

    document = refused.wait().json()
    assert refused.status == 502 and document["lifecycleErrors"][0]["code"] == code  # retried later, not given up
    assert document.get("notCopyableCount", 0) == 0
    assert "backup-copy" not in {b["id"]: b for b in emulator.backups()}[ours]["freeformTags"]


@pytest.mark.parametrize(("status", "code"), [(400, "InvalidParameter"), (400, "NotAllowed"), (409, "Conflict")])
def test_whatever_the_refusal_of_a_custom_image_boot_volume_it_is_never_a_loss_and_bounded(
    start_platform: Callable[..., FnPlatform],
    emulator: BlockStorageEmulator,
    peer: BlockStorageEmulator,
    status: int,
    code: str,
) -> None:
    custom_boot = "ocid1.bootvolume.oc1.iad.abuwcljrbootvolumecustomimage000000000000000000000000002"
    emulator.add_volume(custom_boot, boot=True, image_id="ocid1.image.oc1.iad.aaaaaaaacustom")
    emulator.variants.boot_copy_refusal = (status, code)
    platform = start_platform(**copies_env(peer, BACKUP_MAX_ATTEMPTS="1", BACKUP_RETENTION_KEEP_LAST="2"))
    boot = [emulator.add_backup(custom_boot, time_created=ago(d), freeform_tags=OWN_BOOT) for d in (3, 2, 1)]

    document = platform.invoke(backup_end(boot[-1], custom_boot, boot=True)).wait().json()

    # One copy asked for per run (the rest of the boot volume's backups wait), retention unaffected.
    assert [c.operation for c in emulator.calls if c.operation.startswith("copy")] == ["copyBootVolumeBackup"]
    assert [e["backupId"] for e in document["deleted"]] == [boot[0]]
    assert document["lifecycleErrors"][0]["code"] == code and document["copied"] == []


@pytest.mark.parametrize(("status", "code"), [(409, "Conflict"), (400, "InvalidParameter"), (403, "NotAllowed")])
def test_a_deletion_refused_for_a_lock_the_list_did_not_show_is_reported_never_counted(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, status: int, code: str
) -> None:
    emulator.variants.locked_delete_refusal = (status, code)
    platform = start_platform(BACKUP_RETENTION_KEEP_LAST="1")
    locked = emulator.add_backup(
        VOLUMES[0],
        time_created=ago(3),
        freeform_tags=OWN,
        retention_period={"retentionTimeUnit": "DAYS", "retentionTimeAmount": 30},
        is_retention_lock_enabled=True,
    )
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    listed = {b["id"]: b for b in emulator.backups()}
    unlocked_view = {**listed[locked], "isRetentionLockEnabled": False, "timeRetentionExpiresAt": None}
    emulator.inject(Fault("listVolumeBackups", body=json.dumps([listed[newest], unlocked_view]).encode()))

    document = platform.invoke(backup_end(newest)).wait().json()

    assert document["deleted"] == [] and document["deletedCount"] == 0
    assert document["lifecycleErrors"][0]["code"] == code and document["lifecycleErrors"][0]["resourceId"] == locked
    assert states(emulator)[locked] == "AVAILABLE"


def test_copies_that_do_not_say_their_volume_are_never_duplicated_nor_pruned(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    peer.variants.copy_volume_id = False
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer, BACKUP_RETENTION_KEEP_LAST="1"))
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (2, 1)]
    older = peer.add_backup(
        VOLUMES[0], time_created=ago(5), freeform_tags=OWN, source_backup_id=own[0], display_name=f"o{COPY_SUFFIX}"
    )

    runs = [platform.invoke(backup_end(own[-1])).json() for _ in range(2)]

    assert [c["backupId"] for c in runs[0]["copied"]] == [own[-1]] and runs[1]["copied"] == []
    assert all(run["lifecycleErrors"] == [] for run in runs)
    assert {b["id"]: b["lifecycleState"] for b in peer.backups()}[older] == "AVAILABLE"  # fail closed: kept
    assert sum(1 for b in peer.backups() if b.get("sourceVolumeBackupId") == own[-1]) == 1


@pytest.mark.parametrize("source_type", ["MANUAL", "SCHEDULED", None])
def test_copies_are_told_apart_whatever_their_source_type_in_the_destination(
    start_platform: Callable[..., FnPlatform],
    emulator: BlockStorageEmulator,
    peer: BlockStorageEmulator,
    source_type: str | None,
) -> None:
    peer.variants.copy_source_type = source_type
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer, BACKUP_RETENTION_KEEP_LAST="1"))
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2)]
    first = platform.invoke(backup_end(own[-1])).json()
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)

    second = platform.invoke(backup_end(newest)).json()
    third = platform.invoke(backup_end(newest)).json()

    assert [c["backupId"] for c in first["copied"]] == [own[-1]]
    assert [c["backupId"] for c in second["copied"]] == [newest]
    pruned = [e["backupId"] for e in third["deleted"] if e.get("region") == PEER_REGION]
    assert pruned == [first["copied"][0]["copyId"]]
    live = [b for b in peer.backups() if b["lifecycleState"] == "AVAILABLE"]
    assert [b["sourceVolumeBackupId"] for b in live] == [newest]

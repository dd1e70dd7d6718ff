"""Cross-region copies end to end: no churn, no copy reported that is gone, OCI's copy limits, copy locks,
and a schedule's dry run that previews what its catch-up would delete and copy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localdev.emulator import BlockStorageEmulator
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, VOLUMES
from tests.conftest import COPY_SUFFIX, OWN, OWN_BOOT, PEER_REGION, ago, backup_end, states

pytestmark = pytest.mark.e2e

KEY_A = "ocid1.key.oc1.phx.aaaaaaaacopykeyaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
KEY_B = "ocid1.key.oc1.phx.aaaaaaaacopykeybbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
CUSTOM_BOOT = "ocid1.bootvolume.oc1.iad.abuwcljrbootvolumecustomimage000000000000000000000000001"
LOCK_YEAR = {"retentionTimeUnit": "YEARS", "retentionTimeAmount": 1}


def copies_env(peer: BlockStorageEmulator, **env: str) -> dict[str, str]:
    return {"BACKUP_COPY_REGION": PEER_REGION, "BACKUP_COPY_ENDPOINT": peer.endpoint, **env}


def copy_calls(emulator: BlockStorageEmulator) -> list[str]:
    return [call.operation for call in emulator.calls if call.operation.startswith("copy")]


def test_sources_kept_only_by_their_lock_are_not_copied_so_no_copy_is_made_and_pruned_every_run(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer, BACKUP_RETENTION_KEEP_LAST="1"))
    locked = [
        emulator.add_backup(
            VOLUMES[0],
            time_created=ago(d),
            freeform_tags=OWN,
            retention_period=LOCK_YEAR,
            is_retention_lock_enabled=True,
        )
        for d in (3, 2)
    ]
    newest = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)

    runs = [platform.invoke(backup_end(newest)).json() for _ in range(3)]

    assert [c["backupId"] for c in runs[0]["copied"]] == [newest]
    assert runs[0]["keptByProtection"] == 2
    for later in runs[1:]:
        assert later["copied"] == [] and later["deleted"] == [] and later["lifecycleErrors"] == []
    assert [b["sourceVolumeBackupId"] for b in peer.backups()] == [newest]
    assert all(states(emulator)[b] == "AVAILABLE" for b in locked)


def test_the_copy_of_a_kept_backup_is_kept_even_when_a_deleted_newer_backups_copy_outranks_it(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer, BACKUP_RETENTION_KEEP_LAST="2"))
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]
    copies = [
        peer.add_backup(
            VOLUMES[0], time_created=ago(d), freeform_tags=OWN, source_backup_id=s, display_name=f"n{COPY_SUFFIX}"
        )
        for s, d in zip(own, (2.9, 1.9, 0.9), strict=True)
    ]
    emulator.terminate(own[2])  # a person deletes the newest backup; its copy stays

    runs = [platform.invoke(backup_end(own[1])).json() for _ in range(2)]

    assert all(run["copied"] == [] and run["deleted"] == [] for run in runs), runs
    assert {b["id"]: b["lifecycleState"] for b in peer.backups()} == dict.fromkeys(copies, "AVAILABLE")


def test_a_replayed_retry_token_never_reports_a_terminated_copy_as_copied(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer))
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    [first] = platform.invoke(backup_end(source)).json()["copied"]
    peer.terminate(first["copyId"])  # deleted in the destination by someone else

    again = platform.invoke(backup_end(source)).json()

    [second] = again["copied"]
    assert second["copyId"] != first["copyId"]
    live = [b for b in peer.backups() if b["lifecycleState"] != "TERMINATED"]
    assert [b["id"] for b in live] == [second["copyId"]]


def test_a_faulty_copy_is_not_a_copy_the_backup_is_copied_again_and_the_answer_says_so(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer))
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN, display_name="nightly")
    faulty = peer.add_backup(
        VOLUMES[0],
        time_created=ago(0.5),
        freeform_tags=OWN,
        source_backup_id=source,
        display_name=f"nightly{COPY_SUFFIX}",
        lifecycle_state="FAULTY",
    )

    document = platform.invoke(backup_end(source)).json()

    [copied] = document["copied"]
    assert copied["backupId"] == source and copied["replaces"] == [faulty] and "FAULTY" in copied["reason"]
    assert {b["id"]: b["lifecycleState"] for b in peer.backups()}[copied["copyId"]] in ("CREATING", "AVAILABLE")


def test_on_a_copy_limit_day_the_newest_backup_takes_the_slot(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 3600.0  # copies stay in progress
    emulator.max_concurrent_copies = 1
    platform = start_platform(**copies_env(peer, BACKUP_MAX_ATTEMPTS="1"))
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]

    answer = platform.invoke(backup_end(own[-1]))
    document = answer.wait().json()

    assert [c["backupId"] for c in document["copied"]] == [own[-1]]
    assert [b["sourceVolumeBackupId"] for b in peer.backups()] == [own[-1]]
    # The refusal is a limit: retried later (redelivered), and the rest waits rather than being refused too.
    assert answer.status == 502 and document["lifecycleErrors"][0]["code"] == "TooManyRequests"
    assert [entry["backupId"] for entry in document["deferredCopies"]] == [own[0]]
    assert copy_calls(emulator) == ["copyVolumeBackup", "copyVolumeBackup"]


def test_a_change_of_copy_key_makes_a_new_copy_request_not_a_conflict(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)
    before = start_platform(**copies_env(peer, BACKUP_COPY_KMS_KEY_ID=KEY_A))
    [first] = before.invoke(backup_end(source)).json()["copied"]
    peer.delete_backup(first["copyId"])  # gone from the destination's lists; the token is still remembered
    after = start_platform(**copies_env(peer, BACKUP_COPY_KMS_KEY_ID=KEY_B))

    document = after.invoke(backup_end(source)).json()

    assert document["lifecycleErrors"] == []
    [second] = document["copied"]
    assert {b["id"]: b for b in peer.backups()}[second["copyId"]]["kmsKeyId"] == KEY_B


def test_copies_get_the_configured_retention_lock_once_available(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 0.0
    platform = start_platform(
        **copies_env(
            peer, BACKUP_RETENTION_PERIOD_DAYS="30", BACKUP_RETENTION_LOCK="true", BACKUP_PREVENT_DELETION="true"
        )
    )
    source = emulator.add_backup(VOLUMES[0], time_created=ago(1), freeform_tags=OWN)

    first = platform.invoke(backup_end(source)).json()
    second = platform.invoke(backup_end(source)).json()
    third = platform.invoke(backup_end(source)).json()

    [copy] = peer.backups()
    assert copy["id"] == first["copied"][0]["copyId"]
    assert copy["isRetentionLockEnabled"] is True and copy["isPreventDeletionEnabled"] is True
    assert copy["retentionPeriod"] == {"retentionTimeUnit": "DAYS", "retentionTimeAmount": 30}
    assert copy["timeRetentionExpiresAt"] is not None
    assert second["copiesLocked"] == 1 and "copiesLocked" not in third  # once
    assert [c.operation for c in peer.calls if c.method == "PUT"] == ["updateVolumeBackup"]


def test_a_schedule_dry_run_previews_its_catch_up_and_calls_no_mutating_api(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    platform = start_platform(**copies_env(peer, BACKUP_RETENTION_KEEP_LAST="1"))
    own = [emulator.add_backup(VOLUMES[0], time_created=ago(d), freeform_tags=OWN) for d in (3, 2, 1)]

    answer = platform.invoke(
        {"source": "schedule", "volumeIds": [VOLUMES[0]], "dryRun": True}, invoke_type="detached"
    ).wait()

    document = answer.json()
    assert answer.status == 200 and document["dryRun"] is True
    assert [item["resourceId"] for item in document["wouldCreate"]] == [VOLUMES[0]]
    assert {entry["backupId"] for entry in document["deleted"]} == set(own[:2])
    assert [(c["backupId"], c["copyId"]) for c in document["copied"]] == [(own[2], None)]
    assert [c for c in emulator.calls if c.method != "GET"] == [] and [c for c in peer.calls if c.method != "GET"] == []
    assert set(states(emulator).values()) == {"AVAILABLE"} and peer.backups() == []


# ------------------------------------------------------------------ boot volumes


def test_boot_volume_backups_copy_one_at_a_time_the_newest_first_and_the_rest_later(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.copy_seconds = 3600.0
    platform = start_platform(**copies_env(peer))
    boot = [emulator.add_backup(BOOT_VOLUMES[0], time_created=ago(d), freeform_tags=OWN_BOOT) for d in (2, 1)]

    answer = platform.invoke(backup_end(boot[-1], BOOT_VOLUMES[0], boot=True))
    again = platform.invoke(backup_end(boot[-1], BOOT_VOLUMES[0], boot=True))

    document = answer.json()
    assert answer.status == 200 and document["lifecycleErrors"] == []
    assert [c["backupId"] for c in document["copied"]] == [boot[-1]]
    assert [entry["backupId"] for entry in document["deferredCopies"]] == [boot[0]]
    assert again.status == 200 and again.json()["copied"] == [] and again.json()["lifecycleErrors"] == []
    assert copy_calls(emulator) == ["copyBootVolumeBackup"]


def test_a_boot_volume_of_a_custom_image_is_refused_once_then_never_asked_again(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    emulator.add_volume(CUSTOM_BOOT, boot=True, image_id="ocid1.image.oc1.iad.aaaaaaaacustomimage")
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer))
    boot = [emulator.add_backup(CUSTOM_BOOT, time_created=ago(d), freeform_tags=OWN_BOOT) for d in (2, 1)]

    first = platform.invoke(backup_end(boot[-1], CUSTOM_BOOT, boot=True))
    later = [platform.invoke(backup_end(b, CUSTOM_BOOT, boot=True)) for b in (boot[-1], boot[0])]

    assert first.status == 200  # permanent: not redelivered
    [error] = first.json()["lifecycleErrors"]
    assert error["resourceId"] == boot[-1] and "platform images" in error["message"]
    assert first.json()["notCopyableCount"] >= 1
    for answer in later:
        assert answer.status == 200 and answer.json()["lifecycleErrors"] == [] and answer.json()["copied"] == []
    assert copy_calls(emulator) == ["copyBootVolumeBackup"]  # asked once, ever
    tagged = {b["id"]: b for b in emulator.backups()}[boot[-1]]
    assert tagged["freeformTags"]["backup-copy"] == "notCopyable"
    assert tagged["freeformTags"]["backup-deployment"] == OWN_BOOT["backup-deployment"]  # its other tags kept
    assert peer.backups() == []


def test_a_boot_volume_of_a_custom_image_built_from_a_platform_image_is_copied(
    start_platform: Callable[..., FnPlatform], emulator: BlockStorageEmulator, peer: BlockStorageEmulator
) -> None:
    custom = "ocid1.image.oc1.iad.aaaaaaaacustomfromplatform"
    emulator.add_volume(CUSTOM_BOOT, boot=True, image_id=custom)
    emulator.platform_images.add(custom)  # a custom image built from a platform image
    emulator.copy_seconds = 0.0
    platform = start_platform(**copies_env(peer))
    backup = emulator.add_backup(CUSTOM_BOOT, time_created=ago(1), freeform_tags=OWN_BOOT)

    document = platform.invoke(backup_end(backup, CUSTOM_BOOT, boot=True)).json()

    assert [c["backupId"] for c in document["copied"]] == [backup] and document["lifecycleErrors"] == []

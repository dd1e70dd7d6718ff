"""The volumes the sample payloads in ``events/`` name; the emulator is seeded with them."""

from __future__ import annotations

from localdev.credentials import COMPARTMENT

AD = "Uocm:US-ASHBURN-AD-1"

VOLUMES = (
    "ocid1.volume.oc1.iad.abuwcljrdatavolume0000000000000000000000000000000000000001",
    "ocid1.volume.oc1.iad.abuwcljrdatavolume0000000000000000000000000000000000000002",
    "ocid1.volume.oc1.iad.abuwcljrdatavolume0000000000000000000000000000000000000003",
)
BOOT_VOLUMES = ("ocid1.bootvolume.oc1.iad.abuwcljrbootvolume000000000000000000000000000000000000001",)
VOLUME_GROUP = "ocid1.volumegroup.oc1.iad.abuwcljrvolumegroup00000000000000000000000000000000000001"
# The restore-test sandbox events/event-createvolume-restore-test.json is from (BACKUP_RESTORE_TEST_COMPARTMENT_ID).
SANDBOX = "ocid1.compartment.oc1..aaaaaaaalocalrestoresandbox00000000000000000000000000000"
# The selector samples pick volumes tagged backup=daily (and, in schedule-selector.json, tier gold).
DAILY = {"backup": "daily"}
GOLD = {"Operations": {"tier": "gold"}}


def seed(emulator: object) -> None:
    """Add the sample volumes, their tags and a volume group (holding the third volume) to an emulator."""
    emulator.add_volume(VOLUMES[0], freeform_tags=DAILY, defined_tags=GOLD)  # type: ignore[attr-defined]
    emulator.add_volume(VOLUMES[1], freeform_tags=DAILY)  # type: ignore[attr-defined]
    emulator.add_volume(VOLUMES[2], freeform_tags=DAILY)  # type: ignore[attr-defined]
    for volume_id in BOOT_VOLUMES:
        emulator.add_volume(volume_id, boot=True, freeform_tags=DAILY, defined_tags=GOLD)  # type: ignore[attr-defined]
    emulator.add_volume_group(  # type: ignore[attr-defined]
        VOLUME_GROUP, COMPARTMENT, AD, [VOLUMES[2]], freeform_tags=DAILY, defined_tags=GOLD, display_name="db-group"
    )

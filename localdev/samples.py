"""The volumes the sample payloads in ``events/`` name; the emulator is seeded with them."""

from __future__ import annotations

VOLUMES = (
    "ocid1.volume.oc1.iad.abuwcljrdatavolume0000000000000000000000000000000000000001",
    "ocid1.volume.oc1.iad.abuwcljrdatavolume0000000000000000000000000000000000000002",
    "ocid1.volume.oc1.iad.abuwcljrdatavolume0000000000000000000000000000000000000003",
)
BOOT_VOLUMES = ("ocid1.bootvolume.oc1.iad.abuwcljrbootvolume000000000000000000000000000000000000001",)


def seed(emulator: object) -> None:
    """Add the sample volumes to an emulator."""
    for volume_id in VOLUMES:
        emulator.add_volume(volume_id)  # type: ignore[attr-defined]
    for volume_id in BOOT_VOLUMES:
        emulator.add_volume(volume_id, boot=True)  # type: ignore[attr-defined]

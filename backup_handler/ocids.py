"""OCIDs of the resources the function backs up, checked by resource type."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator

TargetKind = Literal["volume", "bootVolume"]

# ocid1.<type>.<realm>.[region][.future use].<unique id>
_OCID = r"^ocid1\.{type}\.[a-z0-9]+\.[a-z0-9-]*(?:\.[a-z0-9-]*)?\.[a-z0-9]+$"
_PATTERNS: dict[TargetKind, re.Pattern[str]] = {
    "volume": re.compile(_OCID.format(type="volume")),
    "bootVolume": re.compile(_OCID.format(type="bootvolume")),
}
_MAX_OCID_LENGTH = 255


def kind_of(ocid: str) -> TargetKind | None:
    """The backup target kind an OCID names, or None when it names anything else."""
    if len(ocid) > _MAX_OCID_LENGTH:
        return None
    for kind, pattern in _PATTERNS.items():
        if pattern.match(ocid):
            return kind
    return None


def _checker(expected: tuple[TargetKind, ...], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if kind_of(value) not in expected:
            raise ValueError(f"must be {what} OCID")
        return value

    return AfterValidator(check)


VolumeOcid = Annotated[str, _checker(("volume",), "a volume (ocid1.volume....)")]
BootVolumeOcid = Annotated[str, _checker(("bootVolume",), "a boot volume (ocid1.bootvolume....)")]
TargetOcid = Annotated[
    str, _checker(("volume", "bootVolume"), "a volume or boot volume (ocid1.volume.... or ocid1.bootvolume....)")
]

"""OCIDs of the resources the function backs up, checked by resource type.

Real alarm messages carry OCIDs in upper case (``OCID1.VOLUME.OC1...``) in their
dimensions; the API's OCIDs are lower case. :func:`normalize` lower-cases
anything that starts with ``ocid1.`` in any case, and every check here accepts
either spelling and yields the lower-case form, which is what is sent to the API.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator

TargetKind = Literal["volume", "bootVolume", "volumeGroup"]

# ocid1.<type>.<realm>.[region][.future use].<unique id>
_OCID = r"^ocid1\.{type}\.[a-z0-9]+\.[a-z0-9-]*(?:\.[a-z0-9-]*)?\.[a-z0-9]+$"
_PATTERNS: dict[TargetKind, re.Pattern[str]] = {
    "volume": re.compile(_OCID.format(type="volume")),
    "bootVolume": re.compile(_OCID.format(type="bootvolume")),
    "volumeGroup": re.compile(_OCID.format(type="volumegroup")),
}
_COMPARTMENT = re.compile(_OCID.format(type="(?:compartment|tenancy)"))
# Backups of every kind: an event or dimension naming one of these is about a backup.
_BACKUP = re.compile(r"^ocid1\.(?:volumebackup|bootvolumebackup|volumegroupbackup)\.")
_MAX_OCID_LENGTH = 255


def normalize(value: str) -> str:
    """``value`` lower-cased when it is an OCID (``ocid1.`` in any case), else unchanged."""
    return value.lower() if value[:6].lower() == "ocid1." else value


def kind_of(ocid: str) -> TargetKind | None:
    """The backup target kind an OCID names (either case), or None when it names anything else."""
    if len(ocid) > _MAX_OCID_LENGTH:
        return None
    ocid = normalize(ocid)
    for kind, pattern in _PATTERNS.items():
        if pattern.fullmatch(ocid):
            return kind
    return None


def is_backup(ocid: str) -> bool:
    """Whether an OCID names a volume, boot volume or volume group backup."""
    return bool(_BACKUP.match(normalize(ocid[:_MAX_OCID_LENGTH])))


def _checker(expected: tuple[TargetKind, ...], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if kind_of(value) not in expected:
            raise ValueError(f"must be {what} OCID")
        return normalize(value)

    return AfterValidator(check)


def _compartment(value: str) -> str:
    ocid = normalize(value)
    if len(ocid) > _MAX_OCID_LENGTH or not _COMPARTMENT.fullmatch(ocid):
        raise ValueError("must be a compartment or tenancy OCID (ocid1.compartment.... or ocid1.tenancy....)")
    return ocid


CompartmentOcid = Annotated[str, AfterValidator(_compartment)]
VolumeOcid = Annotated[str, _checker(("volume",), "a volume (ocid1.volume....)")]
BootVolumeOcid = Annotated[str, _checker(("bootVolume",), "a boot volume (ocid1.bootvolume....)")]
VolumeGroupOcid = Annotated[str, _checker(("volumeGroup",), "a volume group (ocid1.volumegroup....)")]
TargetOcid = Annotated[
    str, _checker(("volume", "bootVolume"), "a volume or boot volume (ocid1.volume.... or ocid1.bootvolume....)")
]
AnyTargetOcid = Annotated[
    str,
    _checker(
        ("volume", "bootVolume", "volumeGroup"),
        "a volume, boot volume or volume group (ocid1.volume...., ocid1.bootvolume.... or ocid1.volumegroup....)",
    ),
]

"""Where OCI does not document what it does, the plausible answers, and which one the emulator gives.

The function must be safe under every one of them; a test picks each in turn
(``emulator.variants.copy_limit_refusal = (409, "Conflict")``), and :meth:`reset` restores the
defaults. The README's "What only a tenancy can show" lists what a first deployment should
confirm for each.
"""

from __future__ import annotations

from dataclasses import dataclass

Refusal = tuple[int, str]


@dataclass
class Variants:
    """The emulator's answer to each question OCI's documentation leaves open."""

    copy_limit_refusal: Refusal = (429, "TooManyRequests")
    """A copy refused for a limit on copies in progress (10 per source region; one per boot volume).
    Plausible: 429 TooManyRequests, 409 Conflict, 400 LimitExceeded."""

    boot_copy_refusal: Refusal = (400, "InvalidParameter")
    """A boot volume backup whose boot volume is not of a platform image (nor of a custom image built
    from one) refused a copy. Plausible: 400 InvalidParameter, 400 NotAllowed, 409 Conflict."""

    locked_delete_refusal: Refusal = (409, "Conflict")
    """Deleting a backup its retention lock, hold or prevent-deletion protects.
    Plausible: 409 Conflict, 400 InvalidParameter, 403 NotAllowed."""

    copy_volume_id: bool = True
    """Whether a copy in the destination region says which volume it is a backup of (``volumeId``)."""

    copy_source_type: str | None = "MANUAL"
    """A copy's ``sourceType`` in the destination region: "MANUAL", "SCHEDULED", or absent (None)."""

    members_carry_group_tags: bool = True
    """Whether the member backups of a volume group backup carry the group backup's tags."""

    members_announce_end: bool = False
    """Whether member backups of a group backup emit ``createvolumebackup.end`` of their own."""

    group_announces_end: bool = False
    """Whether a volume group backup emits ``createvolumegroupbackup.end`` (not in the catalogue the
    project was checked against)."""

"""Source tags on backups: the free-form tags ``BACKUP_COPY_VOLUME_TAGS`` copies from a volume onto its backups.

OCI does not copy a volume's tags onto a backup made through the API (CreateVolumeBackup takes the
backup's own ``freeformTags``); copies of backups carry their source backup's tags. So, as AWS DLM's
``copyTags``, the function copies the allow-listed keys itself, from the volume (boot volume, volume
group) as it is when the backup is made.

Precedence, strongest first: the function's stamped tags, ``BACKUP_FREEFORM_TAGS``, an invoker's
``freeformTags``, then the volume's: a copied tag never replaces a key the body already holds (keys
compared exactly, as OCI compares free-form keys), so a volume's owner cannot override configuration,
an invoker, or what retention and ownership rely on.

OCI allows at most 64 tags on a backup (free-form and defined together). The function keeps room for
every tag it reserves; copied tags fill what is left, in the order the setting lists them, and the rest
are dropped with a reported reason: the backup is never failed for a tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backup_handler.vocabulary.fields import MAX_TAGS, RESERVED_TAGS
from backup_handler.vocabulary.tags import freeform_value

# The longest a tag value may be (Oracle's tag limits): a longer value on a volume is not copied.
MAX_TAG_VALUE_CHARS = 256


@dataclass(frozen=True)
class Copied:
    """The tags to add to a body, and why allow-listed keys the volume carries were left out."""

    tags: dict[str, str]
    dropped: tuple[str, ...] = ()


def copied_tags(allowed: tuple[str, ...], volume_tags: Any, body: Mapping[str, Any]) -> Copied:
    """Which of ``allowed`` to copy from ``volume_tags`` onto a create ``body`` (its free-form and defined tags)."""
    present = body.get("freeformTags") or {}
    defined = body.get("definedTags") or {}
    used = len([key for key in present if key not in RESERVED_TAGS]) + sum(
        len(keys) for keys in defined.values() if isinstance(keys, Mapping)
    )
    room = MAX_TAGS - len(RESERVED_TAGS) - used
    tags: dict[str, str] = {}
    dropped: list[str] = []
    for key in allowed:
        value = freeform_value(volume_tags, key)
        if value is None or freeform_value(present, key) is not None:
            continue  # the volume does not carry it, or the body already does (which wins)
        if len(value) > MAX_TAG_VALUE_CHARS:
            dropped.append(f"{key}: its value is longer than {MAX_TAG_VALUE_CHARS} characters")
            continue
        if len(tags) >= room:
            dropped.append(f"{key}: the backup would carry more than {MAX_TAGS} tags")
            continue
        tags[key] = value
    return Copied(tags, tuple(dropped))

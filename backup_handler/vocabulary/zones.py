"""IANA time zones (``BACKUP_TIMEZONE``), whether or not the image has a time zone database.

``UTC`` needs no database. Any other name is read from the system database (``/usr/share/zoneinfo``)
through :mod:`zoneinfo`, which falls back to the ``tzdata`` package when installed; when neither has
it, from the copy of the IANA database that ``pytz`` ships inside its package (``pytz`` is a runtime
dependency of the ``oci`` SDK, so it is in every image the function runs in). A name none of them
knows is refused: the function never counts days in a zone other than the one configured.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# An IANA zone name: Area/Location[/Sub], or a single word (UTC, CET, EST5EDT); no dots, so no path escapes.
ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,29}(/[A-Za-z0-9_+-]{1,30}){0,2}")
MAX_ZONE_NAME_CHARS = 64


@cache
def load_zone(name: str) -> tzinfo:
    """The time zone ``name`` names; raises ValueError for a name no database here knows."""
    if name == "UTC":
        return UTC
    if len(name) > MAX_ZONE_NAME_CHARS or not ZONE_NAME.fullmatch(name):
        raise ValueError("must be an IANA time zone name such as UTC or Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    bundled = _bundled(name)
    if bundled is None:
        raise ValueError("is not a time zone the IANA database knows (such as UTC or Europe/Berlin)")
    return bundled


def _bundled(name: str) -> tzinfo | None:
    """``name`` from the IANA data pytz carries (``pytz/zoneinfo/<name>``), or None."""
    try:
        data = resources.files("pytz").joinpath("zoneinfo", *name.split("/"))
        if not data.is_file():
            return None
        with data.open("rb") as file:
            return ZoneInfo.from_file(file, key=name)
    except (ModuleNotFoundError, OSError, ValueError):
        return None

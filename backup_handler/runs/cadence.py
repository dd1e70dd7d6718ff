"""Full backups on a cadence: is a full backup due now?

The cadence (``BACKUP_FULL_EVERY``) is one term ``<n><unit>``: ``n`` a whole number
from 1 to 9999 without leading zeros, ``unit`` one of

* ``h``: hours, counted on the UTC clock, so a DST change neither stretches nor
  shrinks them;
* ``d``: calendar days, ``w``: ISO weeks (Monday to Sunday), ``mo``: calendar
  months, ``y``: calendar years, all in the given time zone.

Nothing else is accepted: no spaces, no upper case, no sums such as ``1w2d``.

A full backup is due when there is none yet, or when the newest one lies ``n`` or
more periods before the period of ``now``: with ``7d``, a full taken on the 1st at
02:00:05 makes the next one due from midnight on the 8th, so a scheduled run a few
seconds earlier in the day than the last one does not push the full back a day.
With ``1w`` the full is due from the Monday after the week of the newest one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal, cast

CadenceUnit = Literal["h", "d", "w", "mo", "y"]

MAX_COUNT = 9999
_GRAMMAR = re.compile(r"([1-9][0-9]{0,3})(h|d|w|mo|y)")
# UTC needs no time zone database (an image may lack one: see vocabulary/zones.py).
_UTC_ZONE: tzinfo = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cadence:
    """Every ``count`` periods of ``unit``; ``str()`` gives the canonical text back."""

    count: int
    unit: CadenceUnit

    def __post_init__(self) -> None:
        if type(self.count) is not int or not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"count must be a whole number from 1 to {MAX_COUNT}, got {self.count!r}")
        if self.unit not in ("h", "d", "w", "mo", "y"):
            raise ValueError(f"unit must be one of h, d, w, mo, y, got {self.unit!r}")

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


def parse_cadence(text: str) -> Cadence:
    """Parse ``BACKUP_FULL_EVERY``: exactly ``<n>h``, ``<n>d``, ``<n>w``, ``<n>mo`` or ``<n>y``."""
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid full-backup cadence {text!r}: expected <n>h, <n>d, <n>w, <n>mo or <n>y "
            f"with n from 1 to {MAX_COUNT}, e.g. 7d or 1mo"
        )
    return Cadence(int(match.group(1)), cast(CadenceUnit, match.group(2)))


def full_due(newest_full: datetime | None, now: datetime, every: Cadence, tz: tzinfo = _UTC_ZONE) -> bool:
    """True when a full backup should be taken at ``now``.

    ``newest_full`` is when the newest full backup was taken, None if there is none.
    A newest full later than ``now`` (a clock that went back) is not due.
    """
    _require_aware(now, "now")
    if newest_full is None:
        return True
    _require_aware(newest_full, "newest_full")
    return period_index(now, every.unit, tz) - period_index(newest_full, every.unit, tz) >= every.count


def period_index(moment: datetime, unit: CadenceUnit, tz: tzinfo = _UTC_ZONE) -> int:
    """A number that grows by one from each period of ``unit`` to the next."""
    _require_aware(moment, "moment")
    if unit == "h":
        return (moment - _EPOCH) // timedelta(hours=1)
    local = moment.astimezone(tz)
    if unit == "d":
        return local.toordinal()
    if unit == "w":
        # Day 1 of the proleptic calendar (0001-01-01) is a Monday.
        return (local.toordinal() - 1) // 7
    if unit == "mo":
        return local.year * 12 + local.month - 1
    return local.year


def _require_aware(moment: datetime, what: str) -> None:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")

"""Retention tiers the way backup people think: restic ``forget`` semantics.

``decide`` is a pure function. Given the snapshots of one group (one volume, one
schedule: whatever the caller groups by), a :class:`Policy` and the current time,
it says which snapshots to keep and which rules keep them. It reproduces
``restic forget`` (``ApplyPolicy`` in restic's ``snapshot_policy.go``, 0.16 and
later) rule for rule:

* Snapshots are ordered newest first. Equal times are ordered by id, so the
  decision does not depend on the order of the input (restic leaves ties in the
  order it happened to load the snapshots).
* ``last``, ``hourly``, ``daily``, ``weekly``, ``monthly``, ``yearly`` are tiers.
  Walking from the newest snapshot, a tier with budget left keeps a snapshot when
  its period (the snapshot itself for ``last``; the clock hour, calendar day, ISO
  week, calendar month or calendar year in ``Policy.tz`` for the others) differs
  from the period of the snapshot that tier kept last, and spends one of its
  budget. So each tier keeps the newest snapshot of each of its N most recent
  periods that have a snapshot. ``UNLIMITED`` (-1) never runs out.
* A tier that still has budget when it reaches the oldest snapshot keeps that one
  too, even in a period it already holds ("oldest daily snapshot"), so a short
  history is kept whole as far back as it goes.
* ``within`` keeps every snapshot strictly newer than the newest snapshot's time
  minus the duration, measured from the newest snapshot that is not in the future
  of ``now``, not from ``now``: a host that stopped backing up does not lose its
  last snapshots to the clock. The years, months and days are taken off the wall
  clock in ``Policy.tz`` (so ``1m`` before March 31 is "February 31", which is
  March 3 or 2), then the hours are taken off as elapsed time.
* A snapshot is kept if any rule keeps it. Reasons are listed in restic's order
  and words: ``within <d>``, then ``last``, ``hourly``, ..., ``yearly snapshot``.
* An empty policy keeps everything (reason ``policy is empty``, restic's words
  in ``ApplyPolicy`` up to 0.15; the restic command refuses to run instead).

restic counts periods in the UTC offset each snapshot recorded, which is the
zone of the machine that made it, and does the ``within`` arithmetic in the zone
of the newest snapshot. Here both happen in ``Policy.tz``: the same answer as
restic for snapshots taken, and ``forget`` run, in that zone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

UNLIMITED = -1
"""A tier count that never runs out (restic's ``--keep-daily unlimited``)."""

EMPTY_POLICY_REASON = "policy is empty"
LAST_REASON = "last snapshot"
HOURLY_REASON = "hourly snapshot"
DAILY_REASON = "daily snapshot"
WEEKLY_REASON = "weekly snapshot"
MONTHLY_REASON = "monthly snapshot"
YEARLY_REASON = "yearly snapshot"
OLDEST_PREFIX = "oldest "

_UNITS = {"y": "years", "m": "months", "d": "days", "h": "hours"}


@dataclass(frozen=True)
class RelativeDuration:
    """restic's keep-within duration: years, months, days and hours, each counted on its own.

    ``str()`` gives restic's spelling (``1y2m3d4h``, zero parts left out), which is also
    how the duration appears in a ``within`` reason.
    """

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __post_init__(self) -> None:
        for name in _UNITS.values():
            value = getattr(self, name)
            if type(value) is not int:
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")

    def __str__(self) -> str:
        return "".join(f"{getattr(self, name)}{unit}" for unit, name in _UNITS.items() if getattr(self, name))

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.hours)

    def before(self, moment: datetime, tz: tzinfo) -> datetime:
        """The instant this duration before ``moment``, as restic's keep-within computes it.

        Years, months and days come off the wall clock of ``moment`` in ``tz``; an
        overflowing day rolls into the next month (March 31 less one month is
        "February 31", that is March 3, or March 2 in a leap year). A wall time that the
        zone skips or repeats is placed like Go's ``time.Date`` places it. Then the hours
        come off as elapsed time. The answer is in UTC.

        Raises OverflowError when the answer is outside the range of ``datetime``.
        """
        _require_aware(moment, "moment")
        local = moment.astimezone(tz)
        month_index = local.month - 1 - self.months
        year = local.year - self.years + month_index // 12
        month = month_index % 12 + 1
        try:
            first_of_month = date(year, month, 1).toordinal()
            day = date.fromordinal(first_of_month + local.day - 1 - self.days)
            wall = datetime.combine(day, local.time())
            return _wall_to_instant(wall, tz) - timedelta(hours=self.hours)
        except (ValueError, OverflowError) as exc:
            raise OverflowError(f"{self} before {moment.isoformat()} is out of range") from exc


def parse_within(text: str) -> RelativeDuration:
    """Parse a keep-within duration the way restic's ``ParseDuration`` does.

    The text is a run of ``<digits><unit>`` terms, unit ``y`` (years), ``m`` (months,
    not minutes), ``d`` (days) or ``h`` (hours), in any order, e.g. ``2d``, ``36h``,
    ``1y2m3d4h``. Surrounding white space is ignored. As in restic, a unit given twice
    takes its last value (``1d2d`` is ``2d``), and the empty text is the zero duration,
    which keeps nothing. Negative numbers are refused, as ``restic forget`` refuses them.
    """
    rest = text.strip()
    parts: dict[str, int] = {}
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if rest.startswith("-"):
            raise ValueError(f"invalid duration {text!r}: negative values are not allowed")
        if digits == 0:
            raise ValueError(f"invalid duration {text!r}: expected a number at {rest!r}")
        number, rest = int(rest[:digits]), rest[digits:]
        if not rest:
            raise ValueError(f"invalid duration {text!r}: no unit after {number}")
        if rest[0] not in _UNITS:
            raise ValueError(f"invalid duration {text!r}: unit {rest[0]!r} is not one of y, m, d, h")
        parts[_UNITS[rest[0]]] = number
        rest = rest[1:]
    return RelativeDuration(**parts)


# UTC needs no time zone database (an image may lack one: see vocabulary/zones.py).
_UTC_ZONE: tzinfo = UTC


@dataclass(frozen=True)
class Policy:
    """How many periods of each tier to keep, and for how long to keep everything.

    A count is 0 (tier off), a positive number of periods, or ``UNLIMITED`` (-1).
    ``within`` is None or a zero duration when off. Periods are counted in ``tz``.
    """

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: RelativeDuration | None = None
    tz: tzinfo = _UTC_ZONE

    def __post_init__(self) -> None:
        for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
            value = getattr(self, name)
            if type(value) is not int:
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < UNLIMITED:
                raise ValueError(f"{name} must be a count >= 0 or UNLIMITED (-1), got {value}")
        if self.within is not None and not isinstance(self.within, RelativeDuration):
            raise TypeError("within must be a RelativeDuration (see parse_within) or None")
        if not isinstance(self.tz, tzinfo):
            raise TypeError("tz must be a tzinfo, e.g. zoneinfo.ZoneInfo('Europe/Berlin')")

    @property
    def is_empty(self) -> bool:
        counts = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        return not any(counts) and (self.within is None or self.within.is_zero)


@dataclass(frozen=True)
class Point:
    """One snapshot: an id and the aware time it was taken."""

    id: str
    time: datetime

    def __post_init__(self) -> None:
        _require_aware(self.time, f"time of {self.id!r}")


@dataclass(frozen=True)
class Decision:
    """Keep or not, and the rules that keep it (empty when it goes)."""

    id: str
    time: datetime
    keep: bool
    reasons: tuple[str, ...]


_BucketKey = Callable[[datetime, int], Hashable]


def _hour(local: datetime, _: int) -> Hashable:
    return (local.year, local.month, local.day, local.hour)


def _day(local: datetime, _: int) -> Hashable:
    return local.date()


def _iso_week(local: datetime, _: int) -> Hashable:
    iso = local.isocalendar()
    return (iso.year, iso.week)


def _month(local: datetime, _: int) -> Hashable:
    return (local.year, local.month)


def _year(local: datetime, _: int) -> Hashable:
    return local.year


def _position(_: datetime, position: int) -> Hashable:
    return position


def decide(snapshots: Sequence[Point], policy: Policy, now: datetime) -> list[Decision]:
    """Apply ``policy`` to one group of snapshots; one decision per snapshot, newest first.

    ``now`` only matters to ``within``: snapshots later than ``now`` are not taken as
    the newest one it measures from (if all are, ``within`` keeps everything, as in restic).
    """
    _require_aware(now, "now")
    seen: set[str] = set()
    for point in snapshots:
        if point.id in seen:
            raise ValueError(f"snapshot id {point.id!r} appears more than once")
        seen.add(point.id)

    # In UTC: Python compares two times of one zone by their wall clocks, folds ignored.
    ordered = sorted(sorted(snapshots, key=lambda p: p.id), key=lambda p: p.time.astimezone(UTC), reverse=True)
    if policy.is_empty:
        return [Decision(p.id, p.time, True, (EMPTY_POLICY_REASON,)) for p in ordered]

    within = policy.within if policy.within is not None and not policy.within.is_zero else None
    cutoff = _within_cutoff(ordered, within, policy.tz, now) if within is not None else None

    tiers: list[tuple[int, _BucketKey, str]] = [
        (policy.last, _position, LAST_REASON),
        (policy.hourly, _hour, HOURLY_REASON),
        (policy.daily, _day, DAILY_REASON),
        (policy.weekly, _iso_week, WEEKLY_REASON),
        (policy.monthly, _month, MONTHLY_REASON),
        (policy.yearly, _year, YEARLY_REASON),
    ]
    budgets = [count for count, _, _ in tiers]
    last_kept: list[Hashable] = [None] * len(tiers)
    oldest = len(ordered) - 1

    decisions: list[Decision] = []
    for position, point in enumerate(ordered):
        reasons: list[str] = []
        if within is not None and (cutoff is None or point.time.astimezone(UTC) > cutoff):
            reasons.append(f"within {within}")
        local = point.time.astimezone(policy.tz)
        for tier, (_, bucket_of, reason) in enumerate(tiers):
            if budgets[tier] == 0:
                continue
            bucket = bucket_of(local, position)
            same_period = bucket == last_kept[tier]
            if same_period and position != oldest:
                continue
            reasons.append(OLDEST_PREFIX + reason if same_period else reason)
            last_kept[tier] = bucket
            if budgets[tier] > 0:
                budgets[tier] -= 1
        decisions.append(Decision(point.id, point.time, bool(reasons), tuple(reasons)))
    return decisions


def _within_cutoff(ordered: Sequence[Point], within: RelativeDuration, tz: tzinfo, now: datetime) -> datetime | None:
    """Snapshots strictly after this are within; None means all of them are."""
    now = now.astimezone(UTC)
    newest_past = next((p.time for p in ordered if p.time.astimezone(UTC) < now), None)
    if newest_past is None:
        return None
    try:
        return within.before(newest_past, tz)
    except OverflowError:
        return None


def _offset_at(instant: datetime, tz: tzinfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    if offset is None:
        raise ValueError(f"time zone {tz!r} gives no UTC offset")
    return offset


def _wall_to_instant(wall: datetime, tz: tzinfo) -> datetime:
    """The instant a naive wall time in ``tz`` stands for, chosen as Go's ``time.Date`` does.

    Go takes the offset in force at the wall time read as UTC, and keeps it if the
    resulting instant still has that offset; otherwise it takes the offset in force at
    that instant. For a repeated wall time that gives the later occurrence east of UTC
    and the earlier one west of it; a skipped wall time moves by the size of the jump.
    """
    as_utc = wall.replace(tzinfo=UTC)
    guess = as_utc - _offset_at(as_utc, tz)
    return as_utc - _offset_at(guess, tz)


def _require_aware(moment: datetime, what: str) -> None:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")

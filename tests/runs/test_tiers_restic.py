"""``decide`` against ``restic forget --dry-run`` on generated timelines.

Each timeline is one restic host in one shared throwaway repository, written in its
own time zone. For every policy, ``restic forget`` runs once per zone (with ``TZ`` set
to it, which is where restic does the keep-within arithmetic) and its kept set and
reasons are compared with ``decide`` for every timeline of that zone.

restic before 0.16 knows neither ``unlimited`` nor the rule that a tier with budget
left keeps the oldest snapshot; restic 0.16 and 0.17 give that rule restic's plain
reason, 0.18 prefixes it with "oldest". The expectation is adjusted to the restic
found, exactly (see ``_as_restic_says``).
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backup_handler.runs.tiers import (
    OLDEST_PREFIX,
    UNLIMITED,
    Decision,
    Point,
    Policy,
    decide,
    parse_within,
)
from tests.runs.restic_oracle import ForgetGroup, ResticRepo, restic_binary, restic_version

Version = tuple[int, int, int]


@dataclass(frozen=True)
class Timeline:
    host: str
    zone: str
    instants: tuple[datetime, ...]


@dataclass(frozen=True)
class Case:
    name: str
    policy: Policy
    args: tuple[str, ...]
    needs: Version = (0, 0, 0)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _clusters(
    rng: random.Random, start: datetime, end: datetime, clusters: int, burst: int, spread: timedelta
) -> list[datetime]:
    """Irregular gaps: cluster starts drawn uniformly, each with up to ``burst`` snapshots."""
    span = (end - start).total_seconds()
    out: list[datetime] = []
    for _ in range(clusters):
        centre = start + timedelta(seconds=int(rng.uniform(0, span)))
        for _ in range(rng.randint(1, burst)):
            out.append(centre + timedelta(seconds=int(rng.uniform(0, spread.total_seconds()))))
    return [moment for moment in out if moment < end]


def _timelines() -> list[Timeline]:
    hour = timedelta(minutes=75)
    timelines: list[Timeline] = []

    rng = random.Random(101)
    years = _clusters(rng, _utc(2019, 5, 3, 8), _utc(2023, 3, 20), 45, 4, hour)
    years += _clusters(rng, _utc(2023, 3, 20), _utc(2023, 3, 31, 12), 12, 5, hour)
    years += [
        _utc(2019, 12, 31, 23, 59, 59),
        _utc(2020, 1, 1),
        _utc(2020, 2, 29, 12),
        _utc(2023, 2, 27, 10),
        _utc(2023, 2, 28, 23),
        _utc(2023, 3, 1, 0, 30),
        _utc(2023, 3, 2, 11),
        _utc(2023, 3, 3, 11, 59, 59),
        _utc(2023, 3, 3, 12),  # 1m before the newest is "February 31": exactly here, so not within
        _utc(2023, 3, 3, 12, 0, 1),
        _utc(2023, 3, 31, 12),  # the newest
    ]
    timelines.append(Timeline("utc-years", "UTC", tuple(years)))

    rng = random.Random(202)
    base = sorted(_clusters(rng, _utc(2022, 1, 1), _utc(2022, 3, 1), 15, 3, hour))
    tied = [*base, base[0], base[0], base[-1], *rng.sample(base, 8), *rng.sample(base, 3)]
    tied += [_utc(2099, 1, 1), _utc(2099, 1, 1)]  # in the future: kept as newest, not measured from
    timelines.append(Timeline("utc-ties", "UTC", tuple(tied)))

    rng = random.Random(303)
    berlin = _clusters(rng, _utc(2020, 9, 1), _utc(2021, 10, 29), 40, 4, hour)
    berlin += [
        _utc(2020, 12, 27, 22, 30),  # Sunday 23:30 local, ISO week 52
        _utc(2020, 12, 27, 23, 30),  # Monday 00:30 local (week 53), still Sunday in UTC
        _utc(2020, 12, 31, 22, 59, 59),
        _utc(2020, 12, 31, 23),  # New Year locally, December 31 in UTC
        _utc(2021, 1, 3, 22, 30),  # Sunday 23:30 local: ISO 2020-W53 in 2021
        _utc(2021, 1, 3, 23, 30),  # Monday January 4 locally: 2021-W01
        _utc(2021, 3, 27, 23, 30),
        _utc(2021, 3, 28, 0, 30),  # 01:30 CET, just before the clocks skip 02:00-03:00
        _utc(2021, 3, 28, 0, 59, 59),
        _utc(2021, 3, 28, 1),  # 03:00 CEST
        _utc(2021, 3, 28, 1, 30),
        _utc(2021, 3, 28, 22, 30),
        _utc(2021, 10, 30, 0, 45),  # 2d before the newest is 00:30 UTC here, 48 hours is 01:30
        _utc(2021, 10, 30, 1, 15),
        _utc(2021, 10, 30, 22, 30),
        _utc(2021, 10, 31, 0, 15),  # 02:15 CEST
        _utc(2021, 10, 31, 0, 45),  # 02:45 CEST
        _utc(2021, 10, 31, 1, 15),  # 02:15 CET, the repeated hour
        _utc(2021, 10, 31, 1, 45),  # 02:45 CET
        _utc(2021, 10, 31, 2, 5),
        _utc(2021, 10, 31, 12),
        _utc(2021, 10, 31, 23, 10),
        _utc(2021, 11, 1, 0, 40),
        _utc(2021, 11, 1, 1, 30),  # newest, 02:30 CET: 1d before is the repeated 02:30
    ]
    timelines.append(Timeline("berlin-dst", "Europe/Berlin", tuple(berlin)))

    rng = random.Random(404)
    new_york = _clusters(rng, _utc(2020, 9, 15), _utc(2021, 3, 13), 40, 4, hour)
    new_york += [
        _utc(2020, 11, 1, 3, 59, 59),
        _utc(2020, 11, 1, 4),  # midnight EDT
        _utc(2020, 11, 1, 5, 10),  # 01:10 EDT
        _utc(2020, 11, 1, 5, 50),
        _utc(2020, 11, 1, 6, 10),  # 01:10 EST, the repeated hour
        _utc(2020, 11, 1, 6, 50),
        _utc(2020, 11, 1, 7, 5),
        _utc(2021, 1, 1, 4, 30),  # 23:30 on New Year's Eve locally, 2021 in UTC
        _utc(2021, 1, 1, 4, 59, 59),
        _utc(2021, 1, 1, 5),
        _utc(2021, 1, 1, 5, 30),
        _utc(2021, 3, 13, 6, 45),  # 2d before the newest is 07:30 UTC here, 48 hours is 06:30
        _utc(2021, 3, 13, 7, 15),
        _utc(2021, 3, 14, 6, 30),  # 01:30 EST
        _utc(2021, 3, 14, 6, 40),
        _utc(2021, 3, 14, 6, 59, 59),
        _utc(2021, 3, 14, 7),  # 03:00 EDT
        _utc(2021, 3, 14, 7, 10),
        _utc(2021, 3, 14, 7, 20),
        _utc(2021, 3, 14, 12),
        _utc(2021, 3, 15, 3),
        _utc(2021, 3, 15, 6, 30),  # newest, 02:30 EDT: 1d before is the skipped 02:30
    ]
    timelines.append(Timeline("newyork-dst", "America/New_York", tuple(new_york)))

    rng = random.Random(505)
    kolkata = _clusters(rng, _utc(2022, 5, 1), _utc(2022, 5, 12), 60, 3, hour)
    kolkata += [_utc(2022, 5, 5, 18, 29, 59), _utc(2022, 5, 5, 18, 30), _utc(2022, 5, 6, 0, 29, 59)]
    timelines.append(Timeline("kolkata-hours", "Asia/Kolkata", tuple(kolkata)))

    rng = random.Random(606)
    tokyo = _clusters(rng, _utc(2014, 3, 1), _utc(2025, 6, 1), 30, 2, hour)
    for year in range(2014, 2025):
        tokyo += _clusters(rng, _utc(year, 12, 26), _utc(year + 1, 1, 6), 4, 1, hour)
    for year in (2015, 2018, 2020, 2024):
        tokyo += [_utc(year, 12, 31, 14, 59, 59), _utc(year, 12, 31, 15)]  # midnight JST
    timelines.append(Timeline("tokyo-year-ends", "Asia/Tokyo", tuple(tokyo)))

    rng = random.Random(707)
    sydney = _clusters(rng, _utc(2012, 1, 1), _utc(2024, 12, 31), 40, 2, hour)
    sydney += [
        _utc(2021, 4, 3, 15, 30),  # 02:30 AEDT
        _utc(2021, 4, 3, 16, 30),  # 02:30 AEST, the repeated hour
        _utc(2021, 10, 2, 15, 59),
        _utc(2021, 10, 2, 16),  # 03:00 AEDT, 02:00-03:00 skipped
    ]
    timelines.append(Timeline("sydney-sparse", "Australia/Sydney", tuple(sydney)))
    return timelines


TIMELINES = _timelines()
ZONES = sorted({timeline.zone for timeline in TIMELINES})
UNLIMITED_SINCE: Version = (0, 16, 0)
BEYOND_ANY_TIMELINE = "1000000"


def _case(name: str, args: str, needs: Version = (0, 0, 0), **policy: object) -> Case:
    return Case(name, Policy(**policy), tuple(args.split()), needs)  # type: ignore[arg-type]


CASES = [
    _case("last-5", "--keep-last 5", last=5),
    _case("last-30", "--keep-last 30", last=30),
    _case("hourly-10", "--keep-hourly 10", hourly=10),
    _case("hourly-60", "--keep-hourly 60", hourly=60),
    _case("daily-7", "--keep-daily 7", daily=7),
    _case("daily-40", "--keep-daily 40", daily=40),
    _case("weekly-6", "--keep-weekly 6", weekly=6),
    _case("weekly-80", "--keep-weekly 80", weekly=80),
    _case("monthly-12", "--keep-monthly 12", monthly=12),
    _case("monthly-200", "--keep-monthly 200", monthly=200),
    _case("yearly-3", "--keep-yearly 3", yearly=3),
    _case("yearly-15", "--keep-yearly 15", yearly=15),
    _case("within-1d", "--keep-within 1d", within=parse_within("1d")),
    _case("within-2d", "--keep-within 2d", within=parse_within("2d")),
    _case("within-36h", "--keep-within 36h", within=parse_within("36h")),
    _case("within-1m", "--keep-within 1m", within=parse_within("1m")),
    _case("within-1y2m3d4h", "--keep-within 1y2m3d4h", within=parse_within("1y2m3d4h")),
    _case(
        "gold",
        "--keep-hourly 24 --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --keep-yearly 2",
        hourly=24,
        daily=7,
        weekly=4,
        monthly=12,
        yearly=2,
    ),
    _case(
        "mixed",
        "--keep-last 2 --keep-daily 10 --keep-monthly 3 --keep-within 3d",
        last=2,
        daily=10,
        monthly=3,
        within=parse_within("3d"),
    ),
    _case("daily-unlimited", "--keep-daily unlimited", UNLIMITED_SINCE, daily=UNLIMITED),
    _case(
        "weekly-unlimited-yearly-2",
        "--keep-weekly unlimited --keep-yearly 2 --keep-hourly 3",
        UNLIMITED_SINCE,
        weekly=UNLIMITED,
        yearly=2,
        hourly=3,
    ),
    _case("last-unlimited", "--keep-last unlimited", UNLIMITED_SINCE, last=UNLIMITED),
]


@dataclass
class Oracle:
    repo: ResticRepo
    version: Version
    points: dict[str, list[Point]]  # by host
    written: dict[str, datetime]  # id -> the time written, in the timeline's zone


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    binary = restic_binary()
    if binary is None:
        if os.environ.get("CI"):  # CI installs restic (.ci/run): a missing oracle there is a failure, not a skip
            pytest.fail("restic is not on PATH; .ci/run installs it with `apt-get install restic`")
        pytest.skip("restic is not on PATH; install it with `apt-get install restic`")
    repo = ResticRepo.create(binary, tmp_path_factory.mktemp("restic") / "repo")
    points: dict[str, list[Point]] = {}
    written: dict[str, datetime] = {}
    for timeline in TIMELINES:
        zone = ZoneInfo(timeline.zone)
        points[timeline.host] = []
        for instant in timeline.instants:
            local = instant.astimezone(zone)
            snapshot_id = repo.add_snapshot(local, timeline.host)
            points[timeline.host].append(Point(snapshot_id, instant))
            written[snapshot_id] = local
    yield Oracle(repo, restic_version(binary), points, written)


def _as_restic_says(decisions: list[Decision], version: Version) -> dict[str, tuple[str, ...]]:
    """What this restic version reports for ``decisions``: reasons by id, () for removed.

    Before 0.16 a tier does not keep the oldest snapshot in a period it already holds, so
    those reasons go (and the snapshot with them if nothing else keeps it); 0.16 and 0.17
    give them without the "oldest " prefix.
    """
    expected: dict[str, tuple[str, ...]] = {}
    for decision in decisions:
        reasons = decision.reasons
        if version < (0, 16, 0):
            reasons = tuple(reason for reason in reasons if not reason.startswith(OLDEST_PREFIX))
        elif version < (0, 18, 0):
            reasons = tuple(reason.removeprefix(OLDEST_PREFIX) for reason in reasons)
        expected[decision.id] = reasons
    return expected


def _by_instant(reasons: dict[str, tuple[str, ...]], points: list[Point]) -> dict[datetime, list[tuple[str, ...]]]:
    """Reasons grouped by snapshot time. restic breaks ties in load order, so among
    snapshots taken at the same instant only the set of outcomes is comparable."""
    grouped: dict[datetime, list[tuple[str, ...]]] = defaultdict(list)
    for point in points:
        grouped[point.time].append(reasons[point.id])
    return {instant: sorted(outcomes) for instant, outcomes in grouped.items()}


def _mismatches(
    group: ForgetGroup, points: list[Point], expected: dict[str, tuple[str, ...]], zone: ZoneInfo
) -> list[str]:
    said = {snapshot_id: () for snapshot_id in group.removed} | group.kept
    if set(said) != {point.id for point in points}:
        return [f"restic decided on {len(said)} snapshots, decide() on {len(points)}"]
    restic_side = _by_instant(said, points)
    ours = _by_instant(expected, points)
    return [
        f"{instant.astimezone(zone).isoformat()}: restic {restic_side[instant]} decide {ours[instant]}"
        for instant in sorted(ours, reverse=True)
        if restic_side[instant] != ours[instant]
    ]


def _compare(oracle: Oracle, case: Case, zone_name: str) -> list[str]:
    zone = ZoneInfo(zone_name)
    hosts = [timeline.host for timeline in TIMELINES if timeline.zone == zone_name]
    groups = oracle.repo.forget(list(case.args), hosts, zone_name)
    now = datetime.now(UTC)
    problems: list[str] = []
    for host in hosts:
        decisions = decide(oracle.points[host], replace(case.policy, tz=zone), now)
        found = _mismatches(groups[host], oracle.points[host], _as_restic_says(decisions, oracle.version), zone)
        problems += [f"{host}: {line}" for line in found]
    return problems


def test_restic_reads_back_every_snapshot_at_the_instant_and_offset_written(oracle: Oracle) -> None:
    listed = oracle.repo.snapshots()
    assert set(oracle.written) <= set(listed)
    for snapshot_id, local in oracle.written.items():
        read = datetime.fromisoformat(listed[snapshot_id]["time"])
        # Compared in UTC: Python never finds a repeated local time equal to a time in another zone.
        assert (read.astimezone(UTC), read.utcoffset()) == (local.astimezone(UTC), local.utcoffset()), snapshot_id


def test_written_snapshots_record_time_as_restic_backup_does(oracle: Oracle, tmp_path: Path) -> None:
    """A real ``restic backup --time`` in the zone records the same time text; for wall
    times the zone skips or repeats it picks the instant ``RelativeDuration.before`` picks
    (both are Go's ``time.Date``), which is where keep-within puts its cutoff."""
    data = tmp_path / "data"
    data.write_text("tiers")
    checks = [
        ("Europe/Berlin", "2021-07-01 12:34:56", datetime(2021, 7, 2, 12, 34, 56)),
        ("Europe/Berlin", "2021-10-31 02:30:00", datetime(2021, 11, 1, 2, 30)),  # repeated
        ("Europe/Berlin", "2021-03-28 02:30:00", datetime(2021, 3, 29, 2, 30)),  # skipped
        ("America/New_York", "2020-11-01 01:30:00", datetime(2020, 11, 2, 1, 30)),  # repeated
        ("America/New_York", "2021-03-14 02:30:00", datetime(2021, 3, 15, 2, 30)),  # skipped
    ]
    made = [oracle.repo.backup(data, wall, "real-backup", zone) for zone, wall, _ in checks]
    listed = oracle.repo.snapshots()
    real_times = [next(sn["time"] for id_, sn in listed.items() if id_.startswith(short)) for short in made]

    one_day = parse_within("1d")
    written: list[str] = []
    for (zone_name, wall, day_after), real_time in zip(checks, real_times, strict=True):
        zone = ZoneInfo(zone_name)
        instant = datetime.fromisoformat(real_time)
        assert instant == one_day.before(day_after.replace(tzinfo=zone), zone), (zone_name, wall, real_time)
        written.append(oracle.repo.add_snapshot(instant.astimezone(zone), "written-backup"))
    listed = oracle.repo.snapshots()
    assert [listed[snapshot_id]["time"] for snapshot_id in written] == real_times


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_decide_keeps_what_restic_forget_keeps(oracle: Oracle, case: Case, zone_name: str) -> None:
    if oracle.version < case.needs:
        # restic before 0.16 has no `unlimited`: a count larger than any timeline's snapshots keeps one per
        # period for every period, which is what `unlimited` means.
        case = replace(case, args=tuple(BEYOND_ANY_TIMELINE if arg == "unlimited" else arg for arg in case.args))
    problems = _compare(oracle, case, zone_name)
    assert not problems, "\n".join([f"{case.name} in {zone_name}: {len(problems)} differences", *problems[:20]])


@pytest.mark.parametrize(
    ("host", "case_name"),
    [
        ("berlin-dst", "daily-40"),
        ("berlin-dst", "weekly-80"),
        ("berlin-dst", "within-2d"),
        ("newyork-dst", "yearly-15"),
        ("newyork-dst", "within-2d"),
        ("kolkata-hours", "hourly-60"),
        ("tokyo-year-ends", "yearly-15"),
        ("tokyo-year-ends", "weekly-80"),
    ],
)
def test_timelines_tell_a_wrong_time_zone_apart(oracle: Oracle, host: str, case_name: str) -> None:
    """The generated snapshots sit on period boundaries: counting them in UTC instead of
    their own zone must change what is kept, or the comparison above would prove little."""
    (timeline,) = [timeline for timeline in TIMELINES if timeline.host == host]
    (case,) = [case for case in CASES if case.name == case_name]
    group = oracle.repo.forget(list(case.args), [host], timeline.zone)[host]
    wrong = decide(oracle.points[host], replace(case.policy, tz=ZoneInfo("UTC")), datetime.now(UTC))
    assert _mismatches(group, oracle.points[host], _as_restic_says(wrong, oracle.version), ZoneInfo(timeline.zone))

"""Retention at steady state over simulated years: tiers, orphans and caps (``python -m bench.lifecycle tiers``).

    python -m bench.lifecycle tiers                  # 100 volumes, hourly backups, 2 years, Gold-like tiers
    python -m bench.lifecycle tiers --volumes 20 --days 120
    python -m bench.lifecycle orphans                # volumes deleted and untagged midway; keep-last lowered

Two simulated years of hourly schedule ticks over 100 volumes is 17,520 ticks and 1.75 million backups: through
the fdk runtime and HTTP that would take days, so the ticks are driven in this process. What runs is the
function's own lifecycle code (``Lifecycle.catch_up`` with the tick's orphan sweep, the retention decision,
the caps, the selector's resolution) over the function's own operation table; only the transport differs:
:class:`InProcessApi` hands each call to the emulator's own handler for that operation (the same handlers its
HTTP server runs) instead of signing and sending it. Each tick the emulator's clock moves an hour and a backup
of every volume appears, stamped by that clock and tagged as the function tags a scheduled backup. The
function's clock is the later of its own and the newest time the API wrote, so its days follow the emulator's.

After each simulated day the number of backups each volume keeps is compared with what the policy keeps,
computed here independently of the function (:func:`expected_kept`: the newest backup of each of the N most
recent hours, days, ISO weeks, months and years, by plain grouping). It exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from backup_handler.errors import ApiError
from backup_handler.oci.api import OPERATIONS, SERVICES, Answer, OciApi
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.runs.lifecycle import Lifecycle, LifecycleResult, Sweep
from backup_handler.runs.selection import Resolution
from backup_handler.settings import Settings
from backup_handler.triggers.request import Target
from backup_handler.vocabulary.fields import Selector
from localdev.credentials import COMPARTMENT, Identity
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.api import Request
from localdev.emulator.routes import UNKNOWN, match

IDENTITY = "bench/retention"
GOLD = {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 2}
TAGS = {"backup": "gold"}


def volume_id(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrretentionbench{n:037d}"


def own_tags(slot: str) -> dict[str, str]:
    """What the function stamps on a scheduled backup of a volume."""
    return {
        "backup-trigger": "schedule",
        "backup-source": f"{slot}/3600s",
        "backup-deployment": IDENTITY,
        "backup-kind": "volume",
    }


class InProcessApi(OciApi):
    """The function's operation table answered by the emulator's handlers in this process (no HTTP, no signing)."""

    def __init__(self, settings: Settings, emulator: BlockStorageEmulator) -> None:
        super().__init__(settings, signer=object())
        self.emulator = emulator
        self.calls: Counter[str] = Counter()

    def call(
        self,
        name: str,
        *,
        budget_seconds: float,
        query: Mapping[str, Any] | None = None,
        path: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_token: str | None = None,
        retry_throttling: bool = True,
    ) -> Answer:
        operation = OPERATIONS[name]
        if operation.service != "blockstorage":
            raise ApiError("NotImplemented", f"{name} is not served in process", 501)
        target = SERVICES["blockstorage"].base_path + operation.path.format(**(path or {}))
        route, params = match(operation.method, target)
        if route is UNKNOWN:
            raise ApiError("NotAuthorizedOrNotFound", f"unknown path {target}", 404)
        request = Request(
            operation.method,
            target,
            params,
            {key: [str(value)] for key, value in (query or {}).items() if value is not None},
            json.dumps(body).encode() if body is not None else b"",
            retry_token,
        )
        self.calls[name] += 1
        response = self.emulator.perform(route, request)
        if response.status >= 400:
            document = response.document if isinstance(response.document, dict) else {}
            raise ApiError(str(document.get("code", "Error")), str(document.get("message", "")), response.status)
        return Answer(response.document, None, response.headers.get("opc-next-page"))


# ------------------------------------------------------------------------------------- the policy, independently


def expected_kept(times: Sequence[datetime], counts: Mapping[str, int], keep_last: int = 0) -> set[datetime]:
    """Which of one volume's backups (their times, all distinct) restic's tiers keep, by plain grouping (UTC).

    Each tier keeps the newest backup of each of its N most recent periods that have one; a tier with periods
    to spare keeps the oldest backup too; the newest is always kept.
    """
    if not times:
        return set()
    newest_first = sorted(times, reverse=True)
    periods: dict[str, Callable[[datetime], Any]] = {
        "hourly": lambda t: (t.year, t.month, t.day, t.hour),
        "daily": lambda t: t.date(),
        "weekly": lambda t: tuple(t.isocalendar())[:2],
        "monthly": lambda t: (t.year, t.month),
        "yearly": lambda t: t.year,
    }
    kept = {newest_first[0], *newest_first[:keep_last]}
    for tier, count in counts.items():
        if not count:
            continue
        newest_of: dict[Any, datetime] = {}
        for moment in newest_first:
            newest_of.setdefault(periods[tier](moment), moment)
        chosen = sorted(newest_of.values(), reverse=True)[:count]
        kept.update(chosen)
        if len(chosen) < count:
            kept.add(newest_first[-1])
    return kept


# --------------------------------------------------------------------------------------------------- the world


@dataclass
class World:
    emulator: BlockStorageEmulator
    api: InProcessApi
    volumes: list[str]
    made: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    """Every backup of this deployment per volume: (time, OCID), oldest first."""

    def tick(self, volumes: Iterable[str]) -> list[dict[str, Any]]:
        """An hour passes; a backup of each of ``volumes`` appears, as a scheduled tick makes it."""
        self.emulator.advance(hours=1)
        now = self.emulator.clock.now()
        slot = now.strftime("%Y%m%dT%H0000Z")
        created = []
        for volume in volumes:
            backup_id = self.emulator.add_backup(volume, time_created=now, freeform_tags=own_tags(slot))
            self.made.setdefault(volume, []).append((now, backup_id))
            created.append({"id": backup_id, "volumeId": volume, "compartmentId": COMPARTMENT})
        return created

    def states(self) -> dict[str, str]:
        """Each backup's lifecycle state (in process, single-threaded: the store is read directly)."""
        return {
            backup_id: record["lifecycleState"] for backup_id, record in self.emulator.state.backups.records.items()
        }

    def forget_terminated(self) -> None:
        """Deleted backups drop out of the lists after a while, as OCI's do (keeps the emulator's lists short)."""
        records = self.emulator.state.backups.records
        for backup_id in [b for b, record in records.items() if record["lifecycleState"] == "TERMINATED"]:
            self.emulator.delete_backup(backup_id)


def make_world(volumes: int, start: datetime) -> World:
    emulator = BlockStorageEmulator(Identity())
    emulator.in_progress_seconds = 0.0
    emulator.page_size = 1000
    emulator.clock.advance(start - emulator.clock.now())
    ids = [volume_id(n) for n in range(volumes)]
    for volume in ids:
        emulator.add_volume(volume, freeform_tags=TAGS)
    api = InProcessApi(settings_for(), emulator)
    return World(emulator, api, ids)


def settings_for(**retention: Any) -> Settings:
    return Settings(deployment_id=IDENTITY, **retention)


def run_tick(
    world: World, settings: Settings, created: list[dict[str, Any]], selected: Iterable[str]
) -> LifecycleResult:
    """The function's schedule catch-up for a tick: retention of what it backed up, and its orphan sweep."""
    world.api._settings = settings  # the table's client settings are not used in process
    lifecycle = Lifecycle(settings, world.api, AdaptiveLimiter(16))
    sweep = Sweep(
        compartments=(COMPARTMENT,), selected=frozenset(selected), rotation=created[0]["id"] if created else ""
    )
    return lifecycle.catch_up(created, time.monotonic() + 300, dry_run=False, sweep=sweep)


# ------------------------------------------------------------------------------------------------ tiers


def quiet() -> None:
    """The function's log lines (one per scope and deletion; the WARNINGs for the other deployment's backups and the
    caps each run) would be most of the run's time and output: the answers say the same, counted."""
    logging.getLogger("backup_handler").setLevel(logging.ERROR)


def tiers(argv: list[str] | None = None) -> int:
    quiet()
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle tiers")
    parser.add_argument("--volumes", type=int, default=100)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--every", type=int, default=1, help="hours between the schedule's catch-ups (backups: hourly)")
    parser.add_argument("--report-every", type=int, default=30, help="print a row every this many days")
    args = parser.parse_args(argv)
    if not 1 <= args.every <= 24 or 24 % args.every:
        parser.error("--every must divide a day: 1, 2, 3, 4, 6, 8, 12 or 24")
    start = datetime(2027, 1, 1, tzinfo=UTC)
    world = make_world(args.volumes, start)
    # The per-volume cap is the default (10) when the catch-up runs every hour; a catch-up every few hours has
    # that many hours' worth to delete at once (the caps are the orphans scenario's to show).
    caps = (
        {}
        if args.every == 1
        else {"retention_max_deletes_per_volume": 2 * args.every, "retention_max_deletes": 100_000}
    )
    settings = settings_for(**{f"retention_keep_{tier}": count for tier, count in GOLD.items()}, **caps)
    problems: list[str] = []
    totals: Counter[str] = Counter()
    per_day: list[dict[str, float]] = []
    began = time.monotonic()
    print(f"{'day':>5}{'date':>12}{'kept/vol':>10}{'expected':>10}{'lists/day':>11}{'deletes/day':>13}{'s/day':>8}")
    for day in range(1, args.days + 1):
        day_began = time.monotonic()
        before = Counter(world.api.calls)
        created: list[dict[str, Any]] = []
        for hour in range(1, 25):
            created = world.tick(world.volumes)
            if hour % args.every:
                continue
            result = run_tick(world, settings, created, world.volumes)
            world.forget_terminated()
            if result.errors:
                problems.append(f"day {day}: {result.errors[:2]}")
            if result.held:
                problems.append(f"day {day}: the steady state met a deletion cap ({result.cap})")
        calls = world.api.calls - before
        states = world.states()
        kept_counts = []
        for volume in world.volumes:
            alive = [moment for moment, backup_id in world.made[volume] if states.get(backup_id) == "AVAILABLE"]
            expected = expected_kept([moment for moment, _ in world.made[volume]], GOLD)
            if set(alive) != expected:
                problems.append(f"day {day}: {volume[-6:]} keeps {len(alive)}, the policy {len(expected)}")
            kept_counts.append(len(alive))
        world.made = {v: [(m, b) for m, b in made if states.get(b) == "AVAILABLE"] for v, made in world.made.items()}
        lists = sum(n for name, n in calls.items() if name.startswith("List"))
        deletes = sum(n for name, n in calls.items() if name.startswith("Delete"))
        totals.update(calls)
        seconds = time.monotonic() - day_began
        per_day.append({"lists": lists, "deletes": deletes, "seconds": seconds})
        if day % args.report_every == 0 or day == args.days or day <= 2:
            expected_now = len(expected_kept([m for m, _ in world.made[world.volumes[0]]], GOLD))
            date = f"{world.emulator.clock.now():%Y-%m-%d}"
            average = sum(kept_counts) / len(kept_counts)
            print(f"{day:>5}{date:>12}{average:>10.1f}{expected_now:>10}{lists:>11}{deletes:>13}{seconds:>8.2f}")
        if len(problems) > 20:
            break
    elapsed = time.monotonic() - began
    steady = per_day[-30:] if per_day else []
    print(
        f"{args.volumes} volumes, hourly backups over {len(per_day)} days, a catch-up every {args.every} h "
        f"({len(per_day) * 24 // args.every} runs) in {elapsed:.0f} s "
        f"({elapsed / max(len(per_day) * 24 // args.every, 1) * 1000:.1f} ms a run): "
        f"{totals['DeleteVolumeBackup']} deleted; "
        f"last 30 days per day: {sum(d['lists'] for d in steady) / max(len(steady), 1):.0f} list calls, "
        f"{sum(d['deletes'] for d in steady) / max(len(steady), 1):.0f} deletions"
    )
    for problem in problems[:20]:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


# ---------------------------------------------------------------------------------------------------- orphans

ORPHAN_POLICY = {"daily": 7, "weekly": 4}
ORPHAN_MAX_AGE_DAYS = 60


def expected_with_max_age(times: Sequence[datetime], now: datetime) -> set[datetime]:
    """The orphan scenario's policy (daily 7, weekly 4, max age 60 days), computed independently."""
    kept = expected_kept(times, ORPHAN_POLICY)
    newest = max(times) if times else None
    return {t for t in kept if t == newest or now - t <= timedelta(days=ORPHAN_MAX_AGE_DAYS)}


def orphans(argv: list[str] | None = None) -> int:
    """Volumes deleted and untagged midway: their backups follow the orphan policy; then keep-last is lowered
    sharply and every run stops at the deletion caps, and says so, until the volumes are down to the new rule."""
    quiet()
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle orphans")
    parser.add_argument("--volumes", type=int, default=40)
    parser.add_argument("--days", type=int, default=120, help="days of the tiers (then keep-last is lowered)")
    parser.add_argument("--change-day", type=int, default=30, help="the day volumes are deleted and untagged")
    parser.add_argument("--max-deletes", type=int, default=150)
    parser.add_argument("--max-deletes-per-volume", type=int, default=5)
    args = parser.parse_args(argv)
    world = make_world(args.volumes, datetime(2027, 1, 1, tzinfo=UTC))
    selector = Selector.model_validate({"compartmentId": COMPARTMENT, "freeformTags": TAGS, "kinds": ["volume"]})
    settings = settings_for(
        retention_keep_daily=ORPHAN_POLICY["daily"],
        retention_keep_weekly=ORPHAN_POLICY["weekly"],
        retention_max_age_days=ORPHAN_MAX_AGE_DAYS,
        retention_max_deletes=args.max_deletes,
        retention_max_deletes_per_volume=args.max_deletes_per_volume,
    )
    deleted, untagged = world.volumes[:3] + world.volumes[3:5], world.volumes[5:10]
    # A person's backup and another deployment's of each volume that will be deleted: never touched.
    untouchable = [
        world.emulator.add_backup(volume, time_created=world.emulator.clock.now(), freeform_tags=tags)
        for volume in deleted
        for tags in ({"owner": "dba"}, {**own_tags("20270101T000000Z"), "backup-deployment": "other/backup-handler"})
    ]
    problems: list[str] = []
    began = time.monotonic()
    orphan_reports: list[dict[str, Any]] = []
    print(f"{'day':>5}{'selected':>10}{'orphans':>9}{'kept/selected':>15}{'kept/orphan':>13}{'deleted':>9}")
    for day in range(1, args.days + 1):
        if day == args.change_day:
            for volume in deleted[:3]:
                world.emulator.forget_volume(volume)  # gone from the lists
            for volume in deleted[3:]:
                world.emulator.change_volume(volume, lifecycle_state="TERMINATED")
            for volume in untagged:
                world.emulator.change_volume(volume, freeform_tags={})
        day_deleted = 0
        for _ in range(24):
            selected = [
                item.resource_id for item in Resolution(selector, world.api, lambda: 60.0) if isinstance(item, Target)
            ]
            created = world.tick(selected)
            result = run_tick(world, settings, created, selected)
            world.forget_terminated()
            day_deleted += result.deleted_count
            if result.errors:
                problems.append(f"day {day}: {result.errors[:2]}")
            if result.orphans:
                orphan_reports.append(result.orphans)
        now = world.emulator.clock.now()
        states = world.states()
        orphan_set = set(deleted) | set(untagged) if day >= args.change_day else set()
        kept_selected: list[int] = []
        kept_orphan: list[int] = []
        for volume in world.volumes:
            times = [moment for moment, _ in world.made.get(volume, [])]
            alive = {moment for moment, backup_id in world.made.get(volume, []) if states.get(backup_id) == "AVAILABLE"}
            expected = expected_with_max_age(times, now)
            if alive != expected:
                problems.append(f"day {day}: {volume[-4:]} keeps {len(alive)}, the policy {len(expected)}")
            (kept_orphan if volume in orphan_set else kept_selected).append(len(alive))
        world.made = {v: [(m, b) for m, b in made if states.get(b) == "AVAILABLE"] for v, made in world.made.items()}
        if day % 10 == 0 or day in (1, args.change_day):
            last = orphan_reports[-1] if orphan_reports else {}
            orphans = sum(last.get(k, 0) for k in ("sourceGone", "sourceUnseen", "notSelected"))
            print(
                f"{day:>5}{len(kept_selected):>10}{orphans:>9}"
                f"{sum(kept_selected) / max(len(kept_selected), 1):>15.1f}"
                f"{sum(kept_orphan) / max(len(kept_orphan), 1):>13.1f}{day_deleted:>9}"
            )
        if len(problems) > 20:
            break
    survivors = [b for b in untouchable if world.states().get(b) == "AVAILABLE"]
    if len(survivors) != len(untouchable):
        problems.append(f"{len(untouchable) - len(survivors)} backups of a person or another deployment deleted")
    last = orphan_reports[-1] if orphan_reports else {}
    print(
        f"orphans after day {args.change_day}: {last.get('sourceGone')} volumes gone (TERMINATED), "
        f"{last.get('sourceUnseen')} no longer listed and {last.get('notSelected')} untagged, each down to its "
        f"newest backup once the {ORPHAN_MAX_AGE_DAYS}-day max age passed; "
        f"{len(survivors)} of {len(untouchable)} backups of a person and another deployment kept"
    )
    problems += _lowered_keep_last(world, selector, args)
    print(f"{time.monotonic() - began:.0f} s")
    for problem in problems[:20]:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


def _lowered_keep_last(world: World, selector: Selector, args: argparse.Namespace) -> list[str]:
    """Keep-last lowered from the tiers to 1: each run stops at the caps and says so, until all are down to 1."""
    problems = []
    lowered = settings_for(
        retention_keep_last=1,
        retention_max_deletes=args.max_deletes,
        retention_max_deletes_per_volume=args.max_deletes_per_volume,
    )
    before = sum(1 for state in world.states().values() if state == "AVAILABLE")
    runs, capped = 0, 0
    largest = 0
    while runs < 100:
        selected = [
            item.resource_id for item in Resolution(selector, world.api, lambda: 60.0) if isinstance(item, Target)
        ]
        created = world.tick(selected)
        result = run_tick(world, lowered, created, selected)
        world.forget_terminated()
        runs += 1
        largest = max(largest, result.deleted_count)
        if result.deleted_count > args.max_deletes:
            problems.append(f"a run deleted {result.deleted_count}, past BACKUP_RETENTION_MAX_DELETES")
        per_volume = Counter(entry.get("volumeId") for entry in result.deleted)
        if (
            per_volume
            and max(per_volume.values()) > args.max_deletes_per_volume
            and len(result.deleted) == result.deleted_count
        ):
            problems.append("a run deleted more of one volume than BACKUP_RETENTION_MAX_DELETES_PER_VOLUME")
        if result.held:
            capped += 1
            if "retentionCapped" not in result.document():
                problems.append("a capped run did not say so")
        else:
            break
    states = world.states()
    own = [
        (volume, backup_id)
        for volume, made in world.made.items()
        for _, backup_id in made
        if states.get(backup_id) == "AVAILABLE"
    ]
    left = Counter(volume for volume, _ in own)
    if any(count != 1 for count in left.values()):
        problems.append(f"after lowering keep-last to 1, volumes keep {sorted(set(left.values()))}")
    print(
        f"keep-last lowered to 1 with {before} AVAILABLE backups: {capped} runs stopped at the cap "
        f"(largest run {largest} deletions; caps {args.max_deletes} per run, {args.max_deletes_per_volume} per "
        f"volume), {runs} runs until every one of {len(left)} volumes keeps 1"
    )
    return problems

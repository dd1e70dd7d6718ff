"""Steady state of two deployments' retention on the same volumes, over simulated weeks.

    python -m bench.lifecycle                       # 20 volumes, 4 volume groups, 21 days
    python -m bench.lifecycle --volumes 50 --groups 10 --days 28 --keep-last 2 5

Two deployments of the function (two applications, ``alpha`` and ``beta``, with different
``BACKUP_RETENTION_KEEP_LAST``) back up the same volumes every simulated day: each with an alarm
message naming every volume (that day's timestamp is its idempotency key), and each with a
schedule tick backing up every volume group (retention of group backups runs in the tick's
catch-up). Every backup-end event, the member backups' own included, is delivered to both
deployments, as each deployment's Events rule would. Each day moves the emulator's clock one day
forward (so retry tokens of the day before have expired, as Block Storage's do after 24 hours).

Beside them on every volume sit a person's backup, a backup policy's, and a person's backup that
carries the function's trigger and source tags but no deployment identity: none may be touched.

Exits non-zero unless, at the end, each deployment keeps exactly its own newest N backups of each
volume and its own newest N group backups of each group, none of the other deployment's, the
person's or the policy's backups was deleted, and no member backup was deleted apart from its group.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localdev.credentials import COMPARTMENT
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.volumes import AD
from localdev.fnprocess import ROOT, FunctionProcess
from localdev.platform import FnPlatform
from localdev.stack import LocalStack

DEPLOYMENTS = ("alpha", "beta")
FUNCTION = "backup-handler"


def _volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrlifecycle{n:044d}"


def _group(n: int) -> str:
    return f"ocid1.volumegroup.oc1.iad.abuwcljrlifecyclegroup{n:034d}"


def _identity(deployment: str) -> str:
    return f"{deployment}/{FUNCTION}"


def _seed(emulator: BlockStorageEmulator, volumes: int, groups: int) -> list[str]:
    """The volumes, the groups (two volumes each, of their own) and the backups nobody may touch."""
    long_ago = datetime.now(UTC) - timedelta(days=90)
    untouchable: list[str] = []
    for n in range(volumes):
        emulator.add_volume(_volume(n), freeform_tags={"backup": "bench"})
        untouchable.append(emulator.add_backup(_volume(n), time_created=long_ago, freeform_tags={"owner": "dba"}))
        untouchable.append(emulator.add_backup(_volume(n), time_created=long_ago, source_type="SCHEDULED"))
        legacy = {"backup-trigger": "alarm", "backup-source": "copied-from-the-console"}
        untouchable.append(emulator.add_backup(_volume(n), time_created=long_ago, freeform_tags=legacy))
    for g in range(groups):
        members = [_volume(volumes + 2 * g), _volume(volumes + 2 * g + 1)]
        for member in members:
            emulator.add_volume(member, freeform_tags={"backup": "bench-group"})
        emulator.add_volume_group(_group(g), COMPARTMENT, AD, members, display_name=f"group-{g}")
    return untouchable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--volumes", type=int, default=20)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--keep-last", type=int, nargs=2, default=[2, 5], metavar=("ALPHA", "BETA"))
    args = parser.parse_args(argv)
    keep = dict(zip(DEPLOYMENTS, args.keep_last, strict=True))

    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp, LocalStack(Path(tmp) / "stack") as stack:
        emulator = stack.emulator
        emulator.reset()
        emulator.in_progress_seconds = 0.0
        emulator.variants.members_carry_group_tags = True  # the harder case: members look like the group's
        emulator.variants.members_announce_end = True
        untouchable = _seed(emulator, args.volumes, args.groups)
        processes = {
            name: FunctionProcess(
                Path(tmp) / name,
                stack.function_env(
                    FN_APP_NAME=name, BACKUP_RETENTION_KEEP_LAST=str(keep[name]), BACKUP_MAX_CONCURRENCY="16"
                ),
            ).start()
            for name in DEPLOYMENTS
        }
        try:
            outcome = _simulate(emulator, processes, args, keep)
        finally:
            for process in processes.values():
                process.stop()
    return _report(outcome, untouchable, args, keep)


def _simulate(
    emulator: BlockStorageEmulator,
    processes: dict[str, FunctionProcess],
    args: argparse.Namespace,
    keep: dict[str, int],
) -> dict[str, Any]:
    platforms = {name: FnPlatform(process) for name, process in processes.items()}
    alarm = json.loads((ROOT / "events" / "alarm.json").read_text())
    alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": _volume(n)} for n in range(args.volumes)]
    tick = {"source": "schedule", "volumeGroupIds": [_group(g) for g in range(args.groups)]}
    made: dict[str, list[str]] = {name: [] for name in DEPLOYMENTS}
    deleted: Counter[str] = Counter()
    invocations = 0
    started = time.monotonic()
    print(f"{'day':>4}{'created':>9}{'events':>8}{'deleted α':>11}{'deleted β':>11}{'foreign seen':>14}")
    for day in range(1, args.days + 1):
        emulator.advance(days=1)
        created = 0
        for offset, name in enumerate(DEPLOYMENTS):
            moment = alarm["timestampEpochMillis"] + (day * 2 + offset) * 43_200_000
            answer = platforms[name].invoke({**alarm, "timestampEpochMillis": moment}, deadline_seconds=120).json()
            summary = platforms[name].invoke(tick, invoke_type="detached", deadline_seconds=120).wait().json()
            invocations += 2
            made[name] += [b["id"] for b in answer["backups"]] + [b["id"] for b in summary["backups"]]
            created += len(answer["backups"]) + len(summary["backups"])
            deleted[name] += summary.get("deletedCount", 0)
        events = emulator.backup_end_events()
        foreign = 0
        for event in events:  # each deployment's Events rule delivers every backup-end event
            for name in DEPLOYMENTS:
                document = platforms[name].invoke(event, deadline_seconds=60).json()
                invocations += 1
                deleted[name] += document.get("deletedCount", 0)
                foreign += document.get("foreignOwnBackups", 0)
        print(f"{day:>4}{created:>9}{len(events):>8}{deleted['alpha']:>11}{deleted['beta']:>11}{foreign:>14}")
    return {
        "made": made,
        "deleted": deleted,
        "invocations": invocations,
        "seconds": time.monotonic() - started,
        "backups": emulator.backups(),
        "groups": emulator.volume_group_backups(),
    }


def _report(outcome: dict[str, Any], untouchable: list[str], args: argparse.Namespace, keep: dict[str, int]) -> int:
    backups = {b["id"]: b for b in outcome["backups"]}
    groups = {b["id"]: b for b in outcome["groups"]}
    problems: list[str] = []
    for name in DEPLOYMENTS:
        mine = set(outcome["made"][name])
        newest: dict[str, list[dict[str, Any]]] = {}
        for item in [*backups.values(), *groups.values()]:
            if item["id"] in mine and not item.get("volumeGroupBackupId"):
                scope = item.get("volumeId") or item.get("volumeGroupId")
                newest.setdefault(scope, []).append(item)
        kept_total = 0
        for scope, items in newest.items():
            items.sort(key=lambda b: b["timeCreated"], reverse=True)
            kept = [b["id"] for b in items if b["lifecycleState"] == "AVAILABLE"]
            expected = [b["id"] for b in items[: keep[name]]]
            kept_total += len(kept)
            if kept != expected:
                problems.append(f"{name}: {scope} keeps {len(kept)} backups, not its newest {keep[name]}")
        print(
            f"{name} (keep-last {keep[name]}): made {len(mine)}, deleted {outcome['deleted'][name]}, "
            f"keeps {kept_total} = {kept_total / max(len(newest), 1):.1f} per volume or group ({len(newest)})"
        )
    survivors = sum(backups[b]["lifecycleState"] == "AVAILABLE" for b in untouchable)
    if survivors != len(untouchable):
        problems.append(f"{len(untouchable) - survivors} backups of people or policies were deleted")
    alone = [
        b["id"]
        for b in backups.values()
        if b.get("volumeGroupBackupId")
        and b["lifecycleState"] == "TERMINATED"
        and groups[b["volumeGroupBackupId"]]["lifecycleState"] != "TERMINATED"
    ]
    if alone:
        problems.append(f"{len(alone)} member backups were deleted apart from their group")
    # Each deployment deletes only its own: what each made and lost equals what it deleted itself.
    for name in DEPLOYMENTS:
        gone = sum(
            1
            for b in outcome["made"][name]
            if (backups.get(b) or groups.get(b) or {}).get("lifecycleState") == "TERMINATED"
        )
        if gone != outcome["deleted"][name]:
            problems.append(f"{name} lost {gone} backups but deleted {outcome['deleted'][name]} itself")
        else:
            print(f"{name}: every one of its {gone} backups that is gone, it deleted itself (none by the other)")
    group_units = sum(1 for b in groups.values() if b["lifecycleState"] == "AVAILABLE")
    print(
        f"after {args.days} days: {survivors} of {len(untouchable)} backups of people, a policy and untagged "
        f"copies of the tags kept; {group_units} group backups kept as units; {len(alone)} member backups "
        f"deleted alone; {outcome['invocations']} invocations in {outcome['seconds']:.1f} s"
    )
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Steady state of two deployments' retention on the same volumes, over simulated weeks.

    python -m bench.lifecycle                       # 20 volumes, 4 volume groups, 21 days
    python -m bench.lifecycle --volumes 50 --groups 10 --days 28 --keep-last 2 5
    python -m bench.lifecycle restore-tests         # restore tests over 30 days (see restore_test_loop)
    python -m bench.lifecycle tiers                 # Gold-like tiers, 100 volumes, hourly for 2 years (bench.retention)
    python -m bench.lifecycle orphans               # volumes deleted and untagged midway; keep-last lowered

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


# --------------------------------------------------------------------------------------------- restore tests

RESTORE_SANDBOX = "ocid1.compartment.oc1..aaaaaaaarestorebenchsandbox0000000000000000000000000000000"
RESTORE_IDENTITY = "backup-app/backup-handler"  # FN_APP_NAME/FN_FN_NAME as localdev sets them


def restore_test_loop(argv: list[str] | None = None) -> int:
    """Restore tests over simulated days: each tick tests due volumes in the sandbox, events and ticks settle them.

    python -m bench.lifecycle restore-tests [--volumes 12 --boot-volumes 3 --days 30 --max 3 --every 7]

    Each simulated day: the emulator's clock moves one day; a backup policy has made a new backup of every
    volume; a schedule tick names every volume (its restore tests start); restores take ten minutes of the
    emulator's clock, after which each ``createvolume.end`` (and ``createbootvolume.begin``) event is
    delivered as an Events rule would. One volume's restores always end FAULTY. Foreign volumes sit in the
    sandbox (a person's, another deployment's test) and must survive. Exits non-zero unless every volume
    passed a test within its interval, at most MAX test volumes existed at once, every settled test volume
    was deleted and none backed up, nothing outside the function's own tests was deleted, and the FAULTY
    volume's tests were all reported failed.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle restore-tests")
    parser.add_argument("--volumes", type=int, default=12)
    parser.add_argument("--boot-volumes", type=int, default=3)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--max", type=int, default=3)
    parser.add_argument("--every", type=int, default=7, help="days between passed tests of a volume")
    args = parser.parse_args(argv)

    def volume(n: int) -> str:
        return f"ocid1.volume.oc1.iad.abuwcljrrestorebench{n:039d}"

    def boot(n: int) -> str:
        return f"ocid1.bootvolume.oc1.iad.abuwcljrrestorebench{n:035d}"

    volumes = [volume(n) for n in range(args.volumes)]
    boots = [boot(n) for n in range(args.boot_volumes)]
    faulty = volumes[-1]
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp, LocalStack(Path(tmp) / "stack") as stack:
        emulator = stack.emulator
        emulator.reset()
        emulator.in_progress_seconds = 0.0
        emulator.restore_seconds = 600.0
        for volume_id in volumes:
            emulator.add_volume(volume_id, size_in_gbs=50)
        for volume_id in boots:
            emulator.add_volume(volume_id, boot=True)
        emulator.fail_restores_of(faulty)
        # Others' volumes in the sandbox: a person's scratch volume, another deployment's test volume.
        scratch = "ocid1.volume.oc1.iad.abuwcljrrestorebenchscratch0000000000000000000000000000001"
        theirs = "ocid1.volume.oc1.iad.abuwcljrrestorebenchtheirs00000000000000000000000000000001"
        emulator.add_volume(scratch, compartment_id=RESTORE_SANDBOX)
        emulator.add_volume(
            theirs,
            compartment_id=RESTORE_SANDBOX,
            freeform_tags={"backup-restore-test-of": "ocid1.volumebackup.oc1.iad.x", "backup-deployment": "other/fn"},
        )
        env = stack.function_env(
            BACKUP_RESTORE_TEST_COMPARTMENT_ID=RESTORE_SANDBOX,
            BACKUP_RESTORE_TEST_MAX=str(args.max),
            BACKUP_RESTORE_TEST_EVERY=f"{args.every}d",
        )
        body = {"source": "schedule", "volumeIds": volumes, "bootVolumeIds": boots}
        passes: dict[str, list[int]] = {v: [] for v in [*volumes, *boots]}
        attempts: dict[str, int] = {}
        failed_reported: list[str] = []
        passed_faulty = 0
        most = 0
        started = time.monotonic()
        with FunctionProcess(Path(tmp) / "fn", env) as process:
            platform = FnPlatform(process)
            print(f"{'day':>4}{'started':>9}{'verified':>10}{'failed':>8}{'deleted':>9}{'at once':>9}")
            for day in range(1, args.days + 1):
                emulator.advance(days=1)
                for volume_id in [*volumes, *boots]:  # the day's backup by a backup policy
                    emulator.add_backup(volume_id, source_type="SCHEDULED")
                answers = [platform.invoke(body, deadline_seconds=120).json()["restoreTests"]]
                most = max(most, _live_tests(emulator))
                emulator.advance(seconds=600)
                most = max(most, _live_tests(emulator))
                for event in emulator.volume_events():
                    answers.append(platform.invoke(event, deadline_seconds=60).json().get("restoreTests", {}))
                for tests in answers:
                    for entry in tests.get("started", []):
                        attempts[entry["volumeId"]] = attempts.get(entry["volumeId"], 0) + 1
                    sources = {b["id"]: str(b.get("volumeId") or b.get("bootVolumeId")) for b in emulator.backups()}
                    for entry in tests.get("verified", []):
                        source = sources[entry["backupId"]]
                        passes[source].append(day)
                        passed_faulty += source == faulty
                    failed_reported += [sources[entry["backupId"]] for entry in tests.get("failed", [])]
                print(
                    f"{day:>4}"
                    + "".join(
                        f"{sum(len(t.get(k, [])) for t in answers):>{w}}"
                        for k, w in (("started", 9), ("verified", 10), ("failed", 8), ("cleaned", 9))
                    )
                    + f"{_live_tests(emulator):>9}"
                )
        seconds = time.monotonic() - started
        tests = [
            v for v in emulator.volumes() if v.get("freeformTags", {}).get("backup-deployment") == RESTORE_IDENTITY
        ]
        open_tests = [v for v in tests if v["lifecycleState"] not in ("TERMINATING", "TERMINATED")]
        deleted = {call.path.rsplit("/", 1)[-1] for call in emulator.calls if call.operation.startswith("delete")}
        backed_up = {call.resource_id for call in emulator.calls if call.operation.endswith("Backup")}
        test_ids = {v["id"] for v in tests}
        gaps = {
            v: max(b - a for a, b in zip([0, *days], [*days, args.days + 1], strict=True))
            for v, days in passes.items()
            if v != faulty
        }
        worst = max(gaps.values())
        calls = {
            op: sum(1 for call in emulator.calls if call.operation == op)
            for op in (
                "createVolume",
                "createBootVolume",
                "deleteVolume",
                "deleteBootVolume",
                "updateVolumeBackup",
                "updateBootVolumeBackup",
            )
        }
        checks = {
            "every volume passed within its interval": worst <= args.every + 1,
            f"at most {args.max} test volumes at once": most <= args.max,
            "every settled test volume deleted": len(open_tests) <= args.max
            and deleted >= test_ids - {v["id"] for v in open_tests},
            "no test volume backed up": not (backed_up & test_ids),
            "nothing but its own tests deleted": deleted <= test_ids,
            "the FAULTY volume's tests reported failed": passed_faulty == 0
            and failed_reported.count(faulty) == attempts.get(faulty, 0) > 0,
        }
        print(
            f"after {args.days} days: {sum(len(d) for d in passes.values())} tests passed, "
            f"{len(failed_reported)} failed ({failed_reported.count(faulty)} of the FAULTY volume, "
            f"{attempts.get(faulty, 0)} attempted); {len(test_ids)} test volumes made, {len(open_tests)} still "
            f"restoring; longest gap between passed tests {worst} days (interval {args.every}); at most {most} "
            f"at once (max {args.max}); calls {calls}; {seconds:.1f} s"
        )
        for name, ok in checks.items():
            print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


def _live_tests(emulator: BlockStorageEmulator) -> int:
    """Restore-test volumes in the sandbox that exist now (neither being nor already deleted)."""
    return sum(
        1
        for v in emulator.volumes()
        if v["compartmentId"] == RESTORE_SANDBOX
        and v.get("freeformTags", {}).get("backup-deployment") == RESTORE_IDENTITY
        and v["lifecycleState"] not in ("TERMINATING", "TERMINATED")
    )


if __name__ == "__main__" and sys.argv[1:2] == ["restore-tests"]:
    sys.exit(restore_test_loop(sys.argv[2:]))
if __name__ == "__main__" and sys.argv[1:2] == ["tiers"]:
    from bench.retention import tiers

    sys.exit(tiers(sys.argv[2:]))
if __name__ == "__main__" and sys.argv[1:2] == ["orphans"]:
    from bench.retention import orphans

    sys.exit(orphans(sys.argv[2:]))
if __name__ == "__main__":
    sys.exit(main())

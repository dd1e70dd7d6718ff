"""Steady state of a daily backup of many volumes under keep-last retention, over simulated days; and restore tests.

    python -m bench.lifecycle                      # 100 volumes, 10 days, keep-last 7
    python -m bench.lifecycle --volumes 20 --days 5 --keep-last 3
    python -m bench.lifecycle restore-tests        # restore tests over 30 days (see restore_test_loop)

Each simulated day moves the emulator's clock forward one day, backs up every volume once
(an alarm message naming every volume, with that day's timestamp as its idempotency key: a
schedule tick would share its slot with the other ticks of the real hour), lets the backups
become AVAILABLE, and delivers each backup's ``createvolumebackup.end`` event to the function,
as an Events rule would; retention runs on each event. Manual backups are not retention's to
delete, so the daily backups are automatic ones. A few backups
made by people and by a backup policy sit on each volume from the start and must survive.
Reports what the emulator holds after each day, and exits non-zero when the steady state is
not ``keep-last`` backups per volume or a backup not made by the function was deleted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import ROOT, FunctionProcess
from localdev.platform import FnPlatform
from localdev.stack import LocalStack


def _volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrlifecycle{n:044d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--volumes", type=int, default=100)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--keep-last", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp, LocalStack(Path(tmp) / "stack") as stack:
        emulator = stack.emulator
        emulator.reset()
        emulator.in_progress_seconds = 0.0
        others: list[str] = []
        for n in range(args.volumes):
            emulator.add_volume(_volume(n), freeform_tags={"backup": "bench"})
            long_ago = datetime.now(UTC) - timedelta(days=90)
            others.append(emulator.add_backup(_volume(n), time_created=long_ago, freeform_tags={"owner": "dba"}))
            others.append(emulator.add_backup(_volume(n), time_created=long_ago, source_type="SCHEDULED"))
        env = stack.function_env(BACKUP_RETENTION_KEEP_LAST=str(args.keep_last), BACKUP_MAX_CONCURRENCY="16")
        started = time.monotonic()
        with FunctionProcess(Path(tmp) / "fn", env) as process:
            platform = FnPlatform(process)
            alarm = json.loads((ROOT / "events" / "alarm.json").read_text())
            alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": _volume(n)} for n in range(args.volumes)]
            print(f"{'day':>4}{'created':>9}{'events':>8}{'deleted':>9}{'own AVAILABLE':>15}{'per volume':>12}")
            for day in range(1, args.days + 1):
                emulator.advance(days=1)
                daily = {**alarm, "timestampEpochMillis": alarm["timestampEpochMillis"] + day * 86_400_000}
                answer = platform.invoke(daily, deadline_seconds=120)
                created = len(answer.json().get("backups", []))
                deleted = 0
                events = emulator.backup_end_events()
                for event in events:
                    deleted += len(platform.invoke(event, deadline_seconds=60).json().get("deleted", []))
                own = [
                    b
                    for b in emulator.backups()
                    if b["lifecycleState"] == "AVAILABLE" and "backup-trigger" in (b.get("freeformTags") or {})
                ]
                print(f"{day:>4}{created:>9}{len(events):>8}{deleted:>9}{len(own):>15}{len(own) / args.volumes:>12.1f}")
        states = {b["id"]: b["lifecycleState"] for b in emulator.backups()}
        survivors = sum(states.get(b) == "AVAILABLE" for b in others)
        steady = len(own) == args.keep_last * args.volumes if args.days >= args.keep_last else True
        print(
            f"after {args.days} days: {len(own)} of the function's backups kept "
            f"({len(own) / args.volumes:.1f} per volume, keep-last {args.keep_last}); "
            f"{survivors} of {len(others)} backups by people and policies kept; "
            f"{time.monotonic() - started:.1f} s"
        )
    return 0 if steady and survivors == len(others) else 1


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
if __name__ == "__main__":
    sys.exit(main())

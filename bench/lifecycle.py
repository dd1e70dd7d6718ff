"""Steady state of a daily backup of many volumes under keep-last retention, over simulated days.

    python -m bench.lifecycle                      # 100 volumes, 10 days, keep-last 7
    python -m bench.lifecycle --volumes 20 --days 5 --keep-last 3

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


if __name__ == "__main__":
    sys.exit(main())

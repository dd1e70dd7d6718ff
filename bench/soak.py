"""Soak: many redelivered triggers with injected faults; count duplicates, losses and lateness.

    python -m bench.soak                 # 1,000 deliveries, ~30% with a fault
    python -m bench.soak --deliveries 200 --fault-rate 0.5

Each distinct trigger (event, alarm, schedule body, manual request with an idempotency
key) names its own volumes and is delivered about four times, interleaved with the
others, through the real fdk runtime. Before a delivery, with probability
``--fault-rate``, the emulator is told to fail the next create (429, 500, 503, a
connection dropped before or after the backup is made, or 0.3 s of latency).
Backups stay in progress for 5 s, so redeliveries meet in-progress backups.

Reports: duplicates (backups beyond one per trigger and volume; must be 0), lost
targets (a trigger's volume without a backup after all deliveries; must be 0), and
the slowest answer as a fraction of its deadline.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from typing import Any

from localdev.emulator import Fault
from localdev.fnprocess import ROOT
from localdev.stack import LocalStack

FAULTS = [
    Fault("create", status=429),
    Fault("create", status=500),
    Fault("create", status=503),
    Fault("create", drop="before"),
    Fault("create", drop="after"),
    Fault("create", latency=0.3),
]
BASE = json.loads((ROOT / "events" / "alarm.json").read_text())


def _volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrsoakvolume{n:048d}"


def _trigger(kind: str, n: int, volumes: list[str]) -> tuple[dict[str, Any], dict[str, str], str]:
    """(body, headers, the backup-source tag its backups carry)."""
    if kind == "event":
        event_id = f"soak-event-{n}"
        body = {
            "eventType": "com.oraclecloud.blockvolumes.createvolume.end",
            "cloudEventsVersion": "0.1",
            "eventID": event_id,
            "eventTime": "2026-11-27T09:15:24Z",
            "data": {"resourceId": volumes[0]},
        }
        return body, {}, event_id
    if kind == "alarm":
        alarm = json.loads(json.dumps(BASE))
        alarm["dedupeKey"] = f"soak-dedupe-{n}"
        alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": v} for v in volumes]
        return alarm, {"x-oci-ns-messageid": f"soak-msg-{n}"}, f"soak-msg-{n}"
    if kind == "schedule":
        return {"source": "schedule", "volumeIds": volumes}, {}, ""
    key = f"soak-manual-{n}"
    return {"volumeId": volumes[0], "idempotencyKey": key}, {}, key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--deadline", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    distinct = max(args.deliveries // 4, 1)
    triggers = []
    next_volume = 0
    for n in range(distinct):
        kind = rng.choice(["event", "alarm", "schedule", "manual"])
        count = 2 if kind in ("alarm", "schedule") else 1
        volumes = [_volume(next_volume + i) for i in range(count)]
        next_volume += count
        triggers.append((kind, volumes, *_trigger(kind, n, volumes)))
    deliveries = [index for index in range(distinct) for _ in range(4)][: args.deliveries]
    rng.shuffle(deliveries)

    statuses: Counter[int] = Counter()
    lateness: list[float] = []
    faults = 0
    with LocalStack() as stack:
        assert stack.function is not None
        for n in range(next_volume):
            stack.emulator.add_volume(_volume(n))
        stack.emulator.in_progress_seconds = 5.0
        started = time.monotonic()
        for index in deliveries:
            _, _, body, headers, _ = triggers[index]
            if rng.random() < args.fault_rate:
                stack.emulator.inject(rng.choice(FAULTS))
                faults += 1
            sent = time.monotonic()
            answer = stack.function.call(body, headers=headers, deadline_seconds=args.deadline)
            lateness.append((time.monotonic() - sent) / args.deadline)
            statuses[answer.status] += 1
        wall = time.monotonic() - started

        per_volume = Counter(
            backup.get("volumeId") or backup.get("bootVolumeId") for backup in stack.emulator.backups()
        )
        expected = {volume for _, volumes, *_ in triggers for volume in volumes}
        duplicates = sum(count - 1 for count in per_volume.values() if count > 1)
        lost = sorted(expected - set(per_volume))
        creates = len(stack.emulator.creates())

    print(f"deliveries            {len(deliveries)} ({distinct} distinct triggers, {len(expected)} volumes)")
    print(f"faults injected       {faults} ({faults / len(deliveries):.0%} of deliveries)")
    print(f"answers               {dict(sorted(statuses.items()))}")
    print(f"create calls          {creates}")
    print(f"backups               {sum(per_volume.values())}")
    print(f"duplicates            {duplicates}")
    print(f"lost targets          {len(lost)}")
    print(f"slowest answer        {max(lateness):.1%} of its deadline ({max(lateness) * args.deadline:.2f} s)")
    print(f"median answer         {statistics.median(lateness) * args.deadline * 1000:.1f} ms")
    print(f"wall time             {wall:.1f} s")
    return 0 if duplicates == 0 and not lost else 1


if __name__ == "__main__":
    sys.exit(main())

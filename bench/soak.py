"""Soak: triggers delivered as their sources deliver them, with injected faults and short deadlines.

    python -m bench.soak                     # 1,000 deliveries, ~30% with a fault, ~5% with a short deadline
    python -m bench.soak --deliveries 40     # a quick run

Each distinct trigger (event, alarm, schedule body, manual request with an idempotency key)
names its own volumes and is delivered about four times, interleaved with the others (sources
deliver at least once, a schedule ticks again within its slot, a caller repeats a request),
through the Fn platform model (:mod:`localdev.platform`) in front of the real fdk runtime:

- events: as an Events rule (:class:`~localdev.redelivery.DeliverySource`, ``kind="events"``),
  redelivered with backoff while the platform answers anything but a 2xx;
- alarms: as Notifications, redelivered the same way; every delivery of one message, and every
  attempt of each, carries the message's ``x-oci-ns-messageid``;
- schedules: detached, as Resource Scheduler invokes (202 at once); the soak waits for the
  container's answer before the next delivery. Nothing redelivers a detached call: the next tick does;
- manual: sync, as ``fn invoke``; the answer is 200 and the body's ``status`` is the outcome.

Before a delivery, with probability ``--fault-rate``, the emulator is told to fail the next
create (429, 500, 503, a connection dropped before or after the backup is made, or 0.3 s of
latency). With probability ``--short-rate`` an event or alarm delivery instead gets a deadline
of ``--short-min``..``--short-max`` seconds (the function answers
``BACKUP_DEADLINE_MARGIN_SECONDS``, 1.0 s, before it) and its first create is slowed by
0.5..``--short-latency`` seconds, so some attempts run out of time and the source's redelivery
must finish the job. Backups stay in progress for 5 s, so redeliveries meet in-progress backups.

Reports: duplicates (backups beyond one per trigger and volume; must be 0), lost targets (a
trigger's volume without a backup after all deliveries; must be 0), attempts per redelivered
delivery, first attempts that failed and whether redelivery recovered them, answers as the
invoker and as the container saw them, and the slowest answer as a fraction of its deadline.
Everything runs on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from localdev.emulator import Fault
from localdev.fnprocess import ROOT
from localdev.platform import FnPlatform, Invocation
from localdev.redelivery import DeliverySource
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
KINDS = ("event", "alarm", "schedule", "manual")
REDELIVERED = ("event", "alarm")  # the kinds a source redelivers on a non-2xx


@dataclass
class Trigger:
    kind: str
    volumes: list[str]
    body: dict[str, Any]
    message_id: str | None  # an alarm's Notifications message id


@dataclass
class Tally:
    """What the deliveries saw."""

    invoker: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    container: Counter[int] = field(default_factory=Counter)
    manual_outcomes: Counter[int] = field(default_factory=Counter)
    attempts: Counter[int] = field(default_factory=Counter)  # attempts per redelivered delivery
    first_failed: int = 0
    recovered: int = 0
    given_up: int = 0
    lateness: list[float] = field(default_factory=list)  # the container's answer time / deadline, per call

    def record(self, kind: str, invocation: Invocation, deadline: float) -> None:
        """Count an answer; the container's time is waited for (a detached call runs on after its 202)."""
        with contextlib.suppress(ConnectionError):  # counted as container status 0
            invocation.wait(deadline + 30)
        self.lateness.append((invocation.container_seconds or 0.0) / deadline)
        self.invoker[kind][invocation.status] += 1
        self.container[invocation.container.status if invocation.container else 0] += 1


def _volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrsoakvolume{n:048d}"


def _trigger(kind: str, n: int, volumes: list[str]) -> Trigger:
    if kind == "event":
        body = {
            "eventType": "com.oraclecloud.blockvolumes.createvolume.end",
            "cloudEventsVersion": "0.1",
            "eventID": f"soak-event-{n}",
            "eventTime": "2026-11-27T09:15:24Z",
            "data": {"resourceId": volumes[0]},
        }
        return Trigger(kind, volumes, body, None)
    if kind == "alarm":
        alarm = json.loads(json.dumps(BASE))
        alarm["dedupeKey"] = f"soak-dedupe-{n}"
        alarm["alarmMetaData"][0]["dimensions"] = [{"resourceId": v} for v in volumes]
        return Trigger(kind, volumes, alarm, f"soak-msg-{n}")
    if kind == "schedule":
        return Trigger(kind, volumes, {"source": "schedule", "volumeIds": volumes}, None)
    return Trigger(kind, volumes, {"volumeId": volumes[0], "idempotencyKey": f"soak-manual-{n}"}, None)


def _manual_outcome(invocation: Invocation) -> int:
    """The precise status of a manual answer: the body's ``status``, else the HTTP status."""
    try:
        document = invocation.json()
    except ValueError:
        return invocation.status
    status = document.get("status") if isinstance(document, dict) else None
    return status if isinstance(status, int) else invocation.status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--deadline", type=float, default=10.0)
    parser.add_argument("--short-rate", type=float, default=0.05, help="event/alarm deliveries with a short deadline")
    parser.add_argument("--short-min", type=float, default=1.5, help="shortest short deadline, seconds")
    parser.add_argument("--short-max", type=float, default=3.0, help="longest short deadline, seconds")
    parser.add_argument("--short-latency", type=float, default=2.5, help="most latency added to a short delivery")
    parser.add_argument("--max-attempts", type=int, default=6, help="attempts a source makes per delivery")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    distinct = max(args.deliveries // 4, 1)
    triggers: list[Trigger] = []
    next_volume = 0
    for n in range(distinct):
        kind = rng.choice(KINDS)
        count = 2 if kind in ("alarm", "schedule") else 1
        triggers.append(_trigger(kind, n, [_volume(next_volume + i) for i in range(count)]))
        next_volume += count
    deliveries = [index for index in range(distinct) for _ in range(4)][: args.deliveries]
    rng.shuffle(deliveries)

    tally = Tally()
    faults = shorts = 0
    latency_ends = 0.0  # when the last injected latency has run out
    # One schedule slot for the whole run: a run that crossed a slot boundary would rightly back up again.
    with LocalStack(env={"BACKUP_SCHEDULE_SLOT_SECONDS": "86400"}) as stack:
        assert stack.function is not None
        platform = FnPlatform(stack.function)
        sources = {
            kind: DeliverySource(
                platform, "events" if kind == "event" else "notifications", max_attempts=args.max_attempts
            )
            for kind in REDELIVERED
        }
        for n in range(next_volume):
            stack.emulator.add_volume(_volume(n))
        stack.emulator.in_progress_seconds = 5.0
        started = time.monotonic()
        for index in deliveries:
            trigger = triggers[index]
            deadline = args.deadline
            if trigger.kind in REDELIVERED and rng.random() < args.short_rate:
                deadline = rng.uniform(args.short_min, args.short_max)
                latency = rng.uniform(0.5, args.short_latency)
                stack.emulator.inject(Fault("create", latency=latency))
                latency_ends = max(latency_ends, time.monotonic() + latency)
                shorts += 1
            elif rng.random() < args.fault_rate:
                fault = rng.choice(FAULTS)
                stack.emulator.inject(fault)
                latency_ends = max(latency_ends, time.monotonic() + fault.latency)
                faults += 1

            if trigger.kind in REDELIVERED:
                source = sources[trigger.kind]
                delivery = source.deliver(trigger.body, message_id=trigger.message_id, deadline_seconds=deadline)
                for invocation in delivery.attempts:
                    tally.record(trigger.kind, invocation, deadline)
                tally.attempts[len(delivery.attempts)] += 1
                if not delivery.attempts[0].ok:
                    tally.first_failed += 1
                    tally.recovered += delivery.recovered
                    tally.given_up += not delivery.delivered
            else:
                detached = trigger.kind == "schedule"
                invocation = platform.invoke(
                    trigger.body, deadline_seconds=deadline, invoke_type="detached" if detached else "sync"
                )
                tally.record(trigger.kind, invocation, deadline)
                if trigger.kind == "manual":
                    tally.manual_outcomes[_manual_outcome(invocation)] += 1
        wall = time.monotonic() - started

        time.sleep(max(0.0, latency_ends - time.monotonic()))  # every slowed create has landed
        per_volume = Counter(
            backup.get("volumeId") or backup.get("bootVolumeId") for backup in stack.emulator.backups()
        )
        expected = {volume for trigger in triggers for volume in trigger.volumes}
        duplicates = sum(count - 1 for count in per_volume.values() if count > 1)
        lost = sorted(expected - set(per_volume))
        creates = len(stack.emulator.creates())

    kinds = Counter(triggers[index].kind for index in deliveries)
    redelivered = sum(tally.attempts.values())
    attempts_total = sum(count * n for n, count in tally.attempts.items())
    worst = max(tally.lateness)
    print(
        f"deliveries            {len(deliveries)} ({distinct} distinct triggers, {len(expected)} volumes): "
        + ", ".join(f"{kind} {kinds[kind]}" for kind in KINDS)
    )
    print(f"faults injected       {faults} ({faults / len(deliveries):.0%} of deliveries)")
    print(
        f"short deadlines       {shorts} event/alarm deliveries ({args.short_min}–{args.short_max} s, "
        f"first create slowed 0.5–{args.short_latency} s)"
    )
    print("invoker answers       " + "  ".join(f"{kind} {dict(sorted(tally.invoker[kind].items()))}" for kind in KINDS))
    print(f"container answers     {dict(sorted(tally.container.items()))}")
    print(f"manual outcomes       {dict(sorted(tally.manual_outcomes.items()))} (the body's status)")
    print(
        f"attempts per delivery {dict(sorted(tally.attempts.items()))} "
        f"(events and alarms; mean {attempts_total / max(redelivered, 1):.2f})"
    )
    print(
        f"first attempt failed  {tally.first_failed}: recovered by redelivery {tally.recovered}, "
        f"given up {tally.given_up}"
    )
    print(f"create calls          {creates}")
    print(f"backups               {sum(per_volume.values())}")
    print(f"duplicates            {duplicates}")
    print(f"lost targets          {len(lost)}")
    print(f"slowest answer        {worst:.1%} of its deadline")
    print(f"median answer         {statistics.median(tally.lateness):.2%} of its deadline")
    print(f"wall time             {wall:.1f} s")
    return 0 if duplicates == 0 and not lost and tally.given_up == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Fan-out, throttled fan-out and a 10,000-volume selector with batches, all in one run.

    python -m bench.scale               # full run (about a minute and a half on 2 cores)
    python -m bench.scale --quick       # one run per fan-out, a 2,000-volume tenancy

Every scenario gets a fresh ``fdk func.py handler`` process, driven through the Fn
platform model (``FnPlatform``) against the Block Storage emulator on loopback:

- ``fan-out``: one schedule tick naming 200 volumes, 100 ms of emulated API latency,
  ``BACKUP_MAX_CONCURRENCY=16``; seconds from invocation to the container's answer
  (median of N runs). Each run resets the emulator and names 200 volumes no other run
  names, so every run creates 200 new backups (a second tick in the same schedule slot
  would carry the same retry tokens).
- ``throttled fan-out``: the same with the emulator answering 429 above 10 creates in
  flight; 429s answered, and the peak of creates in flight (the emulator's own count,
  sampled every millisecond). Beside it, in the same run: a client configured to the
  limit (``BACKUP_MAX_CONCURRENCY=10``, which the throttle never refuses; the target is
  within 1.5× of it), the same function with the limiter it had before (global pauses:
  ``bench/reference/paused_limiter_func.py``), and the fan-out above (no throttle) for
  reference. One process serves every run of a row, as one warm container would: its
  limiter keeps what earlier runs taught it.
- ``selector``: ``seed_tenancy`` (10,000 volumes, 500 boot volumes, 3 compartments, 3 ADs)
  and a schedule tick selecting every AVAILABLE volume and boot volume tagged
  ``backup: daily`` from the tenancy (root compartment) down, with batching on
  (``BACKUP_BATCH_SIZE`` 250, ``BACKUP_BATCH_CHAINS`` 2, ``BACKUP_INVOKE_ENDPOINT`` the
  local Functions endpoint, ``FN_FN_ID``). The parent runs in its own process; the
  Functions endpoint hands every batch (a detached invocation of the same function OCID)
  to the least busy of three more processes, as OCI spreads invocations over containers, so
  the parent's peak RSS is the parent's alone. The parent starts one invocation per chain;
  each batch hands the next batch of its chain on when it is done. The peak of creates in
  flight across all processes (the emulator's count) is reported next to the cap the
  configuration sets (chains × ``BACKUP_MAX_CONCURRENCY``), with 20 ms of API latency so
  that creates overlap. Each batch's ``Fn-Deadline`` is 120 s (func.yaml's timeout).
- ``audit``: the same 10,000-volume tenancy with one backup per AVAILABLE volume (every 10th two
  days old, every 25th none), audited in one cold process (``{"source": "audit"}`` selecting every
  kind from the tenancy down, RPO 24 h): list calls (the emulator's count and the audit's own),
  seconds, and the process's peak RSS (< 100 MB). The audit must check every resource, find exactly
  the seeded ones out of RPO, and call nothing but list operations.

Correctness is checked, not assumed: every failure (a container status other than 200, an
``errors``/``pending``/``notAttempted`` entry), every duplicate backup (the emulator's
backups per volume), every target not backed up, and creates in flight above the cap make
the exit status 1. Time targets (fan-out ≤ 2 s, throttled ≤ 1.5× the tuned client) are
reported PASS/MISS but do not change the exit status: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localdev.credentials import TENANCY
from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import FnResponse, FunctionProcess, fdk_command
from localdev.functions import FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.stack import LocalStack
from localdev.tenancy import Tenancy, seed_tenancy

FAN_OUT_VOLUMES = 200
FAN_OUT_LATENCY = 0.1
FAN_OUT_TARGET_SECONDS = 2.0
THROTTLE_LIMIT = 10
CONCURRENCY = 16
CHAINS = 2
BATCH_PROCESSES = 3  # more processes than chains: the cap shown is the chains', not the processes'
SELECTOR_LATENCY = 0.02
THROTTLED_TARGET_RATIO = 1.5  # the throttled fan-out against a client configured to the limit
PAUSED_LIMITER_FUNC = Path(__file__).resolve().parent / "reference" / "paused_limiter_func.py"
FUNCTION_ID = "ocid1.fnfunc.oc1.iad.aaaaaaaabackuphandlerscalebench0000000000000000000000000000"
FUNCTION_TIMEOUT = 120.0  # func.yaml: each invocation's Fn-Deadline
PAGE_LIMIT = 1000  # what the function asks each list call for (backup_handler.oci.api.MAX_PAGE_ITEMS)
SELECTOR_TAGS = {"backup": "daily"}  # the tick's selector; Tenancy.select(backup="daily") below
WARM_VOLUME = "ocid1.volume.oc1.iad.abuwcljrscalewarm000000000000000000000000000000000000000001"


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _volume(row: str, run: int, n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrscale{row}r{run:02d}{n:044d}"


def _target_of(backup: dict[str, Any]) -> str | None:
    target = backup.get("volumeId") or backup.get("bootVolumeId") or backup.get("volumeGroupId")
    return target if isinstance(target, str) else None


def _problems(answer: FnResponse) -> int:
    """Targets a container's summary did not back up or skip, plus 1 for a status other than 200."""
    try:
        document = answer.json()
    except ValueError:
        return 1
    if not isinstance(document, dict):
        return 1
    unfinished = sum(len(document.get(key) or []) for key in ("errors", "pending", "notAttempted"))
    return unfinished + (answer.status != 200) + ("code" in document and "status" in document)


@contextmanager
def _peak_in_flight(emulator: BlockStorageEmulator, peak: list[int]) -> Iterator[None]:
    """Sample the emulator's creates in flight every millisecond; the most seen is appended to ``peak``."""
    stop = threading.Event()
    seen = [0]

    def sample() -> None:
        while not stop.is_set():
            seen[0] = max(seen[0], emulator.creates_in_flight())
            stop.wait(0.001)

    sampler = threading.Thread(target=sample, name="in-flight-sampler", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()
        peak.append(seen[0])


# ------------------------------------------------------------------ fan-out


@dataclass
class FanOut:
    """One fan-out configuration, run ``runs`` times in one warm process."""

    name: str
    concurrency: int
    throttle: int | None
    func: Path | None = None  # another func.py (the limiter before), or the function itself
    seconds: list[float] = field(default_factory=list)
    failures: int = 0  # container non-200s and targets errored, pending or not attempted
    lost: int = 0  # targets of the tick with no backup in the emulator
    duplicates: int = 0  # backups beyond one per target
    throttled: list[int] = field(default_factory=list)  # 429s the emulator answered, per run
    creates: list[int] = field(default_factory=list)  # create requests, per run
    peak_in_flight: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def figures(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "throttle": self.throttle,
            "median_s": round(self.median, 3),
            "runs_s": [round(s, 3) for s in self.seconds],
            "failures": self.failures,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "throttled_429": self.throttled,
            "creates": self.creates,
            "peak_in_flight": max(self.peak_in_flight),
        }


def fan_out(stack: LocalStack, workdir: Path, row: FanOut, key: str, runs: int) -> FanOut:
    emulator = stack.emulator
    command = fdk_command(row.func) if row.func else None
    process = FunctionProcess(
        workdir / key, stack.function_env(BACKUP_MAX_CONCURRENCY=str(row.concurrency)), command=command
    )
    with process:
        platform = FnPlatform(process)
        for run in range(runs):
            volumes = [_volume(key, run, n) for n in range(FAN_OUT_VOLUMES)]
            emulator.reset()  # restores the default settings: set them again below
            for volume in [*volumes, WARM_VOLUME]:
                emulator.add_volume(volume)
            emulator.in_progress_seconds = 0
            emulator.latency_seconds = FAN_OUT_LATENCY
            if run == 0:  # the first call imports the SDK and builds the client: not what is measured
                warm = platform.invoke({"volumeId": WARM_VOLUME, "idempotencyKey": uuid.uuid4().hex})
                assert warm.status == 200, warm.body[:300]
            emulator.max_concurrent_creates = row.throttle
            before = len(emulator.calls)
            tick = {"source": "schedule", "volumeIds": volumes}
            with _peak_in_flight(emulator, row.peak_in_flight):
                started = time.monotonic()
                answer = platform.invoke(tick, invoke_type="detached", deadline_seconds=60).wait(90)
                row.seconds.append(time.monotonic() - started)
            calls = emulator.calls[before:]
            creates = [call for call in calls if call.operation.startswith("create")]
            row.creates.append(len(creates))
            row.throttled.append(sum(call.fault == "throttled" for call in creates))
            row.failures += _problems(answer)
            made = Counter(_target_of(backup) for backup in emulator.backups())
            row.lost += sum(made[volume] == 0 for volume in volumes)
            row.duplicates += sum(max(0, made[volume] - 1) for volume in volumes)
    return row


# ------------------------------------------------------------------ selector


@dataclass
class Selection:
    volumes: int
    expected: int = 0
    selected: int = 0  # what the parent handed on (``batched``)
    list_calls: int = 0
    list_calls_logged: int | None = None  # the function's own count, from its "selection" log line
    list_calls_at_limit: int = 0  # what limit=1000 pages come to for this tenancy
    list_calls_at_default: int = 0  # ... and the emulator's default page (no limit sent)
    default_page_size: int = 0
    parent_seconds: float = 0.0
    parent_status: int = 0
    chains: int = 0
    started_by_parent: int = 0
    cap: int = CHAINS * CONCURRENCY
    per_process: list[int] = field(default_factory=list)  # batch invocations each process served
    batches: int = 0
    batch_invocations: int = 0
    last_backup_seconds: float = 0.0
    backups: int = 0
    distinct: int = 0
    duplicates: int = 0
    lost: int = 0
    extra: int = 0
    failures: int = 0
    creates: int = 0
    throttled: int = 0
    peak_in_flight: list[int] = field(default_factory=list)
    parent_rss_kb: int = 0
    batch_rss_kb: list[int] = field(default_factory=list)
    seed_seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)  # requests the emulator saw, by operation
    shaped_wrong: int = 0  # with SHAPED_ENV: backups not FULL or without the volume's copied tag

    def figures(self) -> dict[str, Any]:
        figures = {key: value for key, value in self.__dict__.items() if key != "peak_in_flight"}
        figures["peak_in_flight"] = max(self.peak_in_flight, default=0)
        figures["parent_seconds"] = round(self.parent_seconds, 3)
        figures["last_backup_seconds"] = round(self.last_backup_seconds, 3)
        figures["seed_seconds"] = round(self.seed_seconds, 3)
        return figures


def _subtree(tenancy: Tenancy, emulator: BlockStorageEmulator) -> list[str]:
    """The compartments a selector from the tenancy reaches, in the order the function lists them (breadth first)."""
    children: dict[str, list[str]] = {}
    for record in emulator.state.compartments.records.values():
        children.setdefault(record["compartmentId"], []).append(record["id"])
    order, queue = [TENANCY], [TENANCY]
    while queue:
        parent = queue.pop(0)
        for child in children.get(parent, []):
            order.append(child)
            queue.append(child)
    assert set(order) == {TENANCY, *tenancy.compartment_ids}
    return order


def _expected_list_calls(tenancy: Tenancy, compartments: list[str], page: int) -> int:
    """Pages of ListCompartments, ListVolumes (AVAILABLE only) and ListBootVolumes (any state) at ``page`` items."""
    calls = len(compartments)  # one ListCompartments page per compartment visited (each has < page children)
    for compartment in compartments:
        volumes = sum(
            1
            for v in tenancy.volumes
            if not v.boot and v.compartment_id == compartment and v.lifecycle_state == "AVAILABLE"
        )
        boots = sum(1 for v in tenancy.volumes if v.boot and v.compartment_id == compartment)
        calls += max(1, math.ceil(volumes / page)) + max(1, math.ceil(boots / page))
    return calls


def _logged_list_calls(process: FunctionProcess) -> int | None:
    for line in process.log().splitlines():
        start = line.find("{")
        if start < 0 or '"event":"selection"' not in line:
            continue
        try:
            document = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(document, dict) and isinstance(document.get("listCalls"), int):
            return int(document["listCalls"])
    return None


# The selector again, each body shaped from its volume: a FULL every 7 days (none yet: every backup is FULL)
# and the volume's `backup` tag copied. What it adds is its calls beyond the plain selector's, in the same run.
SHAPED_ENV = {"BACKUP_FULL_EVERY": "7d", "BACKUP_COPY_VOLUME_TAGS": "backup"}
SHAPING_OPERATIONS = (
    "listVolumeBackups",
    "listBootVolumeBackups",
    "getVolume",
    "getBootVolume",
    "listVolumes",
    "listBootVolumes",
)


def selector(stack: LocalStack, workdir: Path, volumes: int, extra_env: dict[str, str] | None = None) -> Selection:
    emulator = stack.emulator
    result = Selection(volumes)
    emulator.reset()
    started = time.monotonic()
    tenancy = seed_tenancy(emulator, volumes=volumes)
    result.seed_seconds = time.monotonic() - started
    result.default_page_size = emulator.page_size
    daily = [*tenancy.select(backup="daily"), *tenancy.select(boot=True, backup="daily")]
    expected = {v.id for v in daily if v.lifecycle_state == "AVAILABLE"}
    result.expected = len(expected)
    compartments = _subtree(tenancy, emulator)
    result.list_calls_at_limit = _expected_list_calls(tenancy, compartments, PAGE_LIMIT)
    result.list_calls_at_default = _expected_list_calls(tenancy, compartments, emulator.page_size)

    with FunctionsEmulator(stack.identity, timeout_seconds=FUNCTION_TIMEOUT) as functions:
        env = stack.function_env(
            BACKUP_IDENTITY_ENDPOINT=emulator.endpoint,
            BACKUP_INVOKE_ENDPOINT=functions.endpoint,
            BACKUP_MAX_CONCURRENCY=str(CONCURRENCY),
            BACKUP_BATCH_CHAINS=str(CHAINS),
            FN_FN_ID=FUNCTION_ID,
            **(extra_env or {}),
        )
        batch_processes = [FunctionProcess(workdir / f"selector-batches-{n}", env) for n in range(BATCH_PROCESSES)]
        with FunctionProcess(workdir / "selector-parent", env) as parent:
            for process in batch_processes:
                process.start()
            try:
                functions.register(FUNCTION_ID, *(FnPlatform(process) for process in batch_processes))
                tick = {
                    "source": "schedule",
                    "selector": {
                        "compartmentId": TENANCY,
                        "includeSubcompartments": True,
                        "freeformTags": SELECTOR_TAGS,
                        "kinds": ["volume", "bootVolume"],
                    },
                }
                emulator.latency_seconds = SELECTOR_LATENCY
                with _peak_in_flight(emulator, result.peak_in_flight):
                    started = time.monotonic()
                    invocation = FnPlatform(parent).invoke(
                        tick, invoke_type="detached", deadline_seconds=FUNCTION_TIMEOUT
                    )
                    answer = invocation.wait(FUNCTION_TIMEOUT + 10)
                    result.parent_seconds = time.monotonic() - started
                    result.started_by_parent = len(functions.invocations)
                    result.parent_status = answer.status
                    result.failures += _problems(answer)
                    plan = answer.json()
                    result.selected = int(plan.get("batched") or 0)
                    result.chains = len(plan.get("chains") or [])
                    result.batches = len(plan.get("batches") or [])
                    handed_on = functions.wait_for(result.batches, timeout=FUNCTION_TIMEOUT * 4)
                    for batch in handed_on:
                        if batch.status != 202:
                            result.failures += 1
                        result.failures += _problems(batch.wait(FUNCTION_TIMEOUT + 10))
                    result.last_backup_seconds = time.monotonic() - started
                emulator.latency_seconds = 0.0
                result.batch_invocations = len(functions.invocations)
                served = Counter(batch.process for batch in functions.invocations)
                result.per_process = [served[n] for n in range(BATCH_PROCESSES)]
                result.parent_rss_kb = _peak_rss_kb(parent.pid)
                result.batch_rss_kb = [_peak_rss_kb(process.pid) for process in batch_processes]
                result.list_calls_logged = _logged_list_calls(parent)
            finally:
                for process in batch_processes:
                    process.stop()

    calls = list(emulator.calls)
    result.list_calls = sum(call.operation.startswith("list") for call in calls)
    creates = [call for call in calls if call.operation.startswith("create")]
    result.creates = len(creates)
    result.throttled = sum(call.fault == "throttled" for call in creates)
    made = Counter(_target_of(backup) for backup in emulator.backups())
    result.backups = sum(made.values())
    result.distinct = len(made)
    result.duplicates = sum(count - 1 for count in made.values())
    result.lost = len(expected - made.keys())
    result.extra = len(made.keys() - expected)
    result.calls = dict(Counter(call.operation for call in calls))
    if extra_env:
        result.shaped_wrong = sum(
            backup["type"] != "FULL" or (backup.get("freeformTags") or {}).get("backup") != "daily"
            for backup in emulator.backups()
        )
    return result


# ------------------------------------------------------------------ audit

AUDIT_STALE_EVERY = 10  # every 10th AVAILABLE volume's only backup is two days old: out of a 24-hour RPO
AUDIT_NONE_EVERY = 25  # every 25th has no backup at all


@dataclass
class AuditScale:
    """A coverage audit of every AVAILABLE volume, boot volume and group of the tenancy, in a cold process."""

    volumes: int
    expected_checked: int = 0
    expected_out_of_rpo: int = 0
    backups_seeded: int = 0
    checked: int = 0
    out_of_rpo: int = 0
    list_calls: int = 0  # list requests the emulator saw
    list_calls_answered: int = 0  # the audit's own count, from its answer
    other_calls: int = 0  # anything but a list: must be 0 (the audit only reads)
    seconds: float = 0.0  # invocation to answer, cold process
    audit_seconds: float = 0.0  # the audit itself, from its answer
    status: int = 0
    total_gbs: float = 0.0
    parent_rss_kb: int = 0
    baseline_rss_kb: int = 0  # the same cold process auditing a selection of nothing, in the same run
    seed_seconds: float = 0.0

    @property
    def correct(self) -> bool:
        return (
            self.status == 200
            and self.other_calls == 0
            and self.checked == self.expected_checked
            and self.out_of_rpo == self.expected_out_of_rpo
            and self.list_calls == self.list_calls_answered
        )

    def figures(self) -> dict[str, Any]:
        figures = dict(self.__dict__)
        for key in ("seconds", "audit_seconds", "seed_seconds"):
            figures[key] = round(figures[key], 3)
        figures["correct"] = self.correct
        return figures

    def rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (f"audit: {self.volumes:,} volumes, every kind, 0 ms, one cold process", "", "", ""),
            (
                "",
                "resources checked (expected)",
                f"{self.checked:,} ({self.expected_checked:,})",
                _check(self.checked == self.expected_checked),
            ),
            (
                "",
                "out of RPO (expected)",
                f"{self.out_of_rpo:,} ({self.expected_out_of_rpo:,})",
                _check(self.out_of_rpo == self.expected_out_of_rpo),
            ),
            ("", "backups read", f"{self.backups_seeded:,}", ""),
            (
                "",
                "list calls (answered) / other calls",
                f"{self.list_calls} ({self.list_calls_answered}) / {self.other_calls}",
                _check(self.list_calls == self.list_calls_answered and self.other_calls == 0),
            ),
            ("", "seconds to the answer (cold process)", f"{self.seconds:.2f} (status {self.status})", ""),
            ("", "seconds of the audit itself", f"{self.audit_seconds:.2f}", ""),
            ("", "storage counted, GB", f"{self.total_gbs:,.0f}", ""),
            (
                "",
                f"parent peak RSS MB (< {AUDIT_RSS_LIMIT_MB})",
                f"{self.parent_rss_kb / 1024:.1f}",
                _check(self.parent_rss_kb / 1024 < AUDIT_RSS_LIMIT_MB),
            ),
            ("", "  baseline: auditing nothing, MB", f"{self.baseline_rss_kb / 1024:.1f}", ""),
        ]


AUDIT_RSS_LIMIT_MB = 100


def audit_scale(stack: LocalStack, workdir: Path, volumes: int) -> AuditScale:
    """Seed the tenancy with one backup per AVAILABLE volume (some stale, some none) and audit all of it."""
    emulator = stack.emulator
    result = AuditScale(volumes)
    emulator.reset()
    started = time.monotonic()
    tenancy = seed_tenancy(emulator, volumes=volumes)
    now = datetime.now(UTC)
    available = [volume for volume in tenancy.volumes if volume.lifecycle_state == "AVAILABLE"]
    for n, volume in enumerate(available):
        if n % AUDIT_NONE_EVERY == 0:
            result.expected_out_of_rpo += 1
            continue
        stale = n % AUDIT_STALE_EVERY == 0
        result.expected_out_of_rpo += stale
        emulator.add_backup(
            volume.id,
            time_created=now - timedelta(hours=48 if stale else 2),
            freeform_tags={"backup-trigger": "schedule", "backup-source": "bench"},
        )
        result.backups_seeded += 1
    result.expected_out_of_rpo += len(tenancy.volume_group_ids)  # the groups have no backup
    result.expected_checked = len(available) + len(tenancy.volume_group_ids)
    result.seed_seconds = time.monotonic() - started

    selector: dict[str, Any] = {
        "compartmentId": TENANCY,
        "includeSubcompartments": True,
        "kinds": ["volume", "bootVolume", "volumeGroup"],
    }
    body = {"source": "audit", "selector": selector}
    env = stack.function_env(BACKUP_AUDIT_RPO_HOURS="24")
    with FunctionProcess(workdir / "audit-baseline", env) as process:
        nothing = {"source": "audit", "selector": {**selector, "freeformTags": {"no": "such tag"}}}
        baseline = FnPlatform(process).invoke(nothing, invoke_type="detached", deadline_seconds=FUNCTION_TIMEOUT)
        result.status = baseline.wait(FUNCTION_TIMEOUT + 10).status
        result.baseline_rss_kb = _peak_rss_kb(process.pid)
    before = len(emulator.calls)
    with FunctionProcess(workdir / "audit", env) as process:
        started = time.monotonic()
        answer = FnPlatform(process).invoke(body, invoke_type="detached", deadline_seconds=FUNCTION_TIMEOUT)
        response = answer.wait(FUNCTION_TIMEOUT + 10)
        result.seconds = time.monotonic() - started
        result.parent_rss_kb = _peak_rss_kb(process.pid)
    result.status = response.status
    document = response.json()
    calls = emulator.calls[before:]
    result.list_calls = sum(call.operation.startswith("list") for call in calls)
    result.other_calls = len(calls) - result.list_calls
    if isinstance(document, dict) and "checked" in document:
        result.checked = int(document["checked"])
        result.out_of_rpo = int(document["counts"]["rpo"])
        result.list_calls_answered = int(document["listCalls"])
        result.audit_seconds = float(document["seconds"])
        result.total_gbs = float(document["storage"]["totalGBs"])
    return result


# ------------------------------------------------------------------ report


def _check(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--runs", type=int, default=3, help="runs per fan-out row (the median is reported)")
    parser.add_argument("--volumes", type=int, default=10_000, help="block volumes in the seeded tenancy")
    parser.add_argument("--quick", action="store_true", help="1 run per fan-out row, a 2,000-volume tenancy")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.volumes = 1, 2_000

    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, LocalStack(Path(tmp) / "stack") as stack:
        work = Path(tmp)
        plain = fan_out(stack, work, FanOut("fan-out", CONCURRENCY, None), "a", args.runs)
        throttled = fan_out(stack, work, FanOut("throttled", CONCURRENCY, THROTTLE_LIMIT), "b", args.runs)
        tuned = fan_out(stack, work, FanOut("throttled, tuned", THROTTLE_LIMIT, THROTTLE_LIMIT), "c", args.runs)
        before = fan_out(
            stack,
            work,
            FanOut("throttled, limiter before", CONCURRENCY, THROTTLE_LIMIT, func=PAUSED_LIMITER_FUNC),
            "d",
            args.runs,
        )
        selection = selector(stack, work, args.volumes)
        shaped = selector(stack, work, args.volumes, SHAPED_ENV)
        audited = audit_scale(stack, work, args.volumes)
    elapsed = time.monotonic() - begun

    def runs(row: FanOut) -> str:
        return " ".join(f"{s:.2f}" for s in row.seconds)

    s = selection
    n = args.runs
    table: list[tuple[str, str, str, str]] = [
        (f"fan-out: {FAN_OUT_VOLUMES} vols, {FAN_OUT_LATENCY * 1000:.0f} ms, c{CONCURRENCY}", "", "", ""),
        ("", f"seconds to answer (median of {n})", f"{plain.median:.2f}", _target(plain.median)),
        ("", "runs", runs(plain), ""),
        ("", "failures / lost / duplicates", f"{plain.failures} / {plain.lost} / {plain.duplicates}", _zero(plain)),
        ("", "peak creates in flight", str(max(plain.peak_in_flight)), ""),
        (f"throttled fan-out: 429 above {THROTTLE_LIMIT} in flight, c{CONCURRENCY}", "", "", ""),
        ("", f"seconds to answer (median of {n})", f"{throttled.median:.2f}", ""),
        ("", "runs", runs(throttled), ""),
        (
            "",
            "failures / lost / duplicates",
            f"{throttled.failures} / {throttled.lost} / {throttled.duplicates}",
            _zero(throttled),
        ),
        ("", "429s answered, per run", " ".join(map(str, throttled.throttled)), ""),
        ("", "create requests, per run", " ".join(map(str, throttled.creates)), ""),
        ("", "peak creates in flight (admitted)", str(max(throttled.peak_in_flight)), ""),
        ("", "× the unthrottled fan-out", f"{throttled.median / plain.median:.2f}", ""),
        (
            "",
            "× the client tuned to the limit (below)",
            f"{throttled.median / tuned.median:.2f}",
            _ratio(throttled.median / tuned.median),
        ),
        (f"  baseline: same throttle, c{THROTTLE_LIMIT} (never refused)", "", "", ""),
        ("", f"seconds to answer (median of {n})", f"{tuned.median:.2f}", ""),
        ("", "failures / 429s", f"{tuned.failures} / {sum(tuned.throttled)}", _zero(tuned)),
        ("", "peak creates in flight", str(max(tuned.peak_in_flight)), ""),
        (f"  before: same throttle, c{CONCURRENCY}, the limiter with global pauses", "", "", ""),
        ("", f"seconds to answer (median of {n})", f"{before.median:.2f}", ""),
        ("", "runs", runs(before), ""),
        ("", "failures / 429s", f"{before.failures} / {sum(before.throttled)}", _zero(before)),
        ("", "× the client tuned to the limit", f"{before.median / tuned.median:.2f}", ""),
        (
            f"selector: {s.volumes:,} volumes, {SELECTOR_LATENCY * 1000:.0f} ms, batches of 250 in {CHAINS} chains, "
            f"c{CONCURRENCY}, {BATCH_PROCESSES} batch processes",
            "",
            "",
            "",
        ),
        ("", "targets selected (expected)", f"{s.selected:,} ({s.expected:,})", _check(s.selected == s.expected)),
        (
            "",
            f"list calls (limit={PAGE_LIMIT})",
            f"{s.list_calls} (logged {s.list_calls_logged}, expected {s.list_calls_at_limit})",
            _check(s.list_calls == s.list_calls_at_limit),
        ),
        ("", f"  at the emulator's default {s.default_page_size}/page", str(s.list_calls_at_default), ""),
        ("", "seconds to the parent's answer (cold process)", f"{s.parent_seconds:.2f} (status {s.parent_status})", ""),
        ("", "chains; invocations the parent started", f"{s.chains}; {s.started_by_parent}", ""),
        (
            "",
            "batches (invocations; per process)",
            f"{s.batches} ({s.batch_invocations}; {' + '.join(map(str, s.per_process))})",
            _check(s.batches == s.batch_invocations and sum(1 for n in s.per_process if n) >= 2),
        ),
        ("", "seconds to the last backup", f"{s.last_backup_seconds:.2f}", ""),
        ("", "backups made (distinct volumes)", f"{s.backups:,} ({s.distinct:,})", _check(s.backups == s.expected)),
        (
            "",
            "failures / lost / duplicates / extra",
            f"{s.failures} / {s.lost} / {s.duplicates} / {s.extra}",
            _check(not (s.failures or s.lost or s.duplicates or s.extra)),
        ),
        (
            "",
            f"peak creates in flight, all processes (cap {CHAINS} × {CONCURRENCY})",
            f"{max(s.peak_in_flight, default=0)} (cap {s.cap})",
            _check(max(s.peak_in_flight, default=0) <= s.cap),
        ),
        ("", "parent peak RSS MB (own process)", f"{s.parent_rss_kb / 1024:.1f}", ""),
        ("", "batch processes peak RSS MB", " / ".join(f"{kb / 1024:.1f}" for kb in s.batch_rss_kb), ""),
        *_shaped_rows(s, shaped),
        *audited.rows(),
    ]
    figure_width = max(len(row[1]) for row in table)
    value_width = max(len(row[2]) for row in table if row[1])
    print(f"  {'figure':<{figure_width}}  {'value':<{value_width}}  check")
    for scenario, figure, value, check in table:
        if scenario:
            print(scenario)
        else:
            print(f"  {figure:<{figure_width}}  {value:<{value_width}}  {check}".rstrip())
    print(f"(whole run {elapsed:.0f} s)")

    correct = (
        all(not (row.failures or row.lost or row.duplicates) for row in (plain, throttled, tuned, before))
        and not (s.failures or s.lost or s.duplicates or s.extra)
        and s.selected == s.expected == s.backups
        and audited.correct
        and max(s.peak_in_flight, default=0) <= s.cap
        and s.batches == s.batch_invocations
        and not (shaped.failures or shaped.lost or shaped.duplicates or shaped.extra or shaped.shaped_wrong)
        and shaped.selected == shaped.expected == shaped.backups
    )
    figures = {
        "fan_out": plain.figures(),
        "throttled": throttled.figures(),
        "throttled_tuned": tuned.figures(),
        "throttled_limiter_before": before.figures(),
        "throttled_vs_tuned": round(throttled.median / tuned.median, 3),
        "throttled_target_met": throttled.median / tuned.median <= THROTTLED_TARGET_RATIO,
        "selector": s.figures(),
        "selector_shaped": shaped.figures(),
        "audit": audited.figures(),
        "fan_out_target_met": plain.median <= FAN_OUT_TARGET_SECONDS,
        "correct": correct,
        "elapsed_s": round(elapsed, 1),
    }
    print(json.dumps(figures, separators=(",", ":")))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if correct else 1


def _shaped_rows(plain: Selection, shaped: Selection) -> list[tuple[str, str, str, str]]:
    """The shaped selector beside the plain one: its correctness and the calls shaping added, per backup."""
    env = ", ".join(f"{key}={value}" for key, value in SHAPED_ENV.items())
    added = {op: shaped.calls.get(op, 0) - plain.calls.get(op, 0) for op in SHAPING_OPERATIONS}
    per = sum(added.values()) / max(shaped.backups, 1)
    return [
        (f"selector again, {env}", "", "", ""),
        (
            "",
            "backups made; failures / lost / duplicates / not FULL or untagged",
            f"{shaped.backups:,}; {shaped.failures} / {shaped.lost} / {shaped.duplicates} / {shaped.shaped_wrong}",
            _check(
                shaped.backups == shaped.expected
                and not (shaped.failures or shaped.lost or shaped.duplicates or shaped.shaped_wrong)
            ),
        ),
        ("", "calls added over the plain selector", " ".join(f"{op} +{n}" for op, n in added.items()), ""),
        ("", "calls added per backup", f"{per:.2f}", ""),
        (
            "",
            "seconds to the last backup (plain)",
            f"{shaped.last_backup_seconds:.2f} ({plain.last_backup_seconds:.2f})",
            "",
        ),
    ]


def _target(seconds: float) -> str:
    return f"{'PASS' if seconds <= FAN_OUT_TARGET_SECONDS else 'MISS'} ≤ {FAN_OUT_TARGET_SECONDS:.0f} s"


def _ratio(ratio: float) -> str:
    return f"{'PASS' if ratio <= THROTTLED_TARGET_RATIO else 'MISS'} ≤ {THROTTLED_TARGET_RATIO}×"


def _zero(row: FanOut) -> str:
    return _check(not (row.failures or row.lost or row.duplicates))


if __name__ == "__main__":
    sys.exit(main())

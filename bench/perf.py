"""Cold start, warm latency, peak memory and fan-out, against reference functions in the same run.

    python -m bench.perf                # full run (about 2 minutes)
    python -m bench.perf --quick        # fewer samples

Every function runs under the real fdk runtime on a Unix socket, against the local
Block Storage emulator on loopback, signing as a minted resource principal:

- ``minimal fdk``: the smallest fdk function (no SDK);
- ``SDK floor``: signer and BlockstorageClient built once and reused — the least any
  SDK-based function can do; the targets are ratios to it;
- ``sample style``: Oracle's sample style, signer and client built on every call;
- ``backup-handler``: this function, and ``backup-handler (prewarm)``, its prewarm
  entrypoint (``python -m backup_handler.prewarm``), which imports and builds its clients
  before listening, as a provisioned-concurrency container would.

Measures: cold start (process start → first answer, median of N fresh processes);
first call after the socket is ready (what a pre-started container's first caller waits);
warm latency (median and p99 of M calls); peak RSS (VmHWM); fan-out (200 volumes at
100 ms emulated API latency); and, where a cgroup v1 memory controller is writable,
the whole sequence again inside a 128 MB memory cgroup (the smallest OCI Functions shape).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from localdev.fnprocess import ROOT, FunctionProcess, fdk_command
from localdev.samples import VOLUMES, seed
from localdev.stack import LocalStack

REFERENCE = Path(__file__).resolve().parent / "reference"
CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
FAN_OUT_VOLUMES = 200
FAN_OUT_LATENCY = 0.1


@dataclass
class Row:
    name: str
    cold: list[float] = field(default_factory=list)
    first_after_ready: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        warm = sorted(self.warm)
        return {
            "cold_s": statistics.median(self.cold),
            "first_ms": statistics.median(self.first_after_ready) * 1000,
            "warm_ms": statistics.median(warm) * 1000,
            "warm_p99_ms": warm[min(len(warm) - 1, int(len(warm) * 0.99))] * 1000,
            "rss_mb": max(self.rss_kb) / 1024,
        }


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _manual(volume: str) -> bytes:
    return json.dumps({"volumeId": volume}).encode()


def measure_cold(stack: LocalStack, row: Row, command: list[str], workdir: Path) -> None:
    """One fresh process: process start → first answer, and socket ready → first answer."""
    process = FunctionProcess(workdir, stack.function_env(), command=command)
    started = time.monotonic()
    process.start()
    ready = time.monotonic()
    answer = process.call(_manual(VOLUMES[0]))
    done = time.monotonic()
    assert answer.status == 200, answer.body[:300]
    row.cold.append(done - started)
    row.first_after_ready.append(done - ready)
    row.rss_kb.append(_peak_rss_kb(process.pid))
    process.stop()


def measure_warm(
    stack: LocalStack, rows: dict[str, Row], commands: dict[str, list[str]], workdir: Path, warms: int
) -> None:
    """Warm calls, interleaved across one live process per candidate so noise falls on all alike."""
    processes = {
        name: FunctionProcess(workdir / f"warm-{index}", stack.function_env(), command=command).start()
        for index, (name, command) in enumerate(commands.items())
    }
    try:
        for _ in range(20):
            for process in processes.values():
                process.call(_manual(VOLUMES[1]))
        for _ in range(warms):
            for name, process in processes.items():
                sent = time.perf_counter()
                process.call(_manual(VOLUMES[1]))
                rows[name].warm.append(time.perf_counter() - sent)
        for name, process in processes.items():
            rows[name].rss_kb.append(_peak_rss_kb(process.pid))
    finally:
        for process in processes.values():
            process.stop()


def fan_out(stack: LocalStack, process: FunctionProcess, runs: int = 3) -> list[float]:
    volumes = [f"ocid1.volume.oc1.iad.abuwcljrfanout{n:050d}" for n in range(FAN_OUT_VOLUMES)]
    tick = json.dumps({"source": "schedule", "volumeIds": volumes}).encode()
    times = []
    try:
        for run in range(runs):
            # A fresh emulator each run, so every run creates 200 new backups at the emulated latency.
            stack.emulator.reset()
            seed(stack.emulator)
            for volume in volumes:
                stack.emulator.add_volume(volume)
            stack.emulator.latency_seconds = FAN_OUT_LATENCY
            stack.emulator.in_progress_seconds = 0
            process.call({"volumeId": VOLUMES[0], "idempotencyKey": uuid.uuid4().hex})  # warm the path
            started = time.monotonic()
            answer = process.call(tick, deadline_seconds=60)
            times.append(time.monotonic() - started)
            document = answer.json()
            assert answer.status == 200 and len(document["backups"]) == FAN_OUT_VOLUMES, (
                run,
                document["errors"][:2],
                document["skipped"][:2],
                len(document["backups"]),
            )
    finally:
        stack.emulator.latency_seconds = 0.0
    return times


def capped_run(stack: LocalStack, workdir: Path, limit_mb: int, warms: int) -> dict[str, object]:
    """Cold start, warm calls and a 200-volume fan-out inside a memory cgroup of ``limit_mb``."""
    group = CGROUP_V1_MEMORY / f"backup-bench-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(limit_mb * 1024 * 1024))
        (group / "memory.swappiness").write_text("0")
    except OSError as exc:
        return {"skipped": f"no writable cgroup v1 memory controller ({exc.strerror})"}
    command = ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh", *fdk_command()]
    process = FunctionProcess(workdir, stack.function_env(), command=command)
    try:
        process.start()
        assert process.call(_manual(VOLUMES[0])).status == 200
        for _ in range(warms):
            assert process.call(_manual(VOLUMES[1])).status == 200
        fan = fan_out(stack, process, runs=1)
        alive = process.alive()
        return {
            "limit_mb": limit_mb,
            "survived": alive,
            "peak_rss_mb": round(_peak_rss_kb(process.pid) / 1024, 1) if alive else None,
            "cgroup_peak_mb": round(int((group / "memory.max_usage_in_bytes").read_text()) / 2**20, 1),
            "oom_kills": int((group / "memory.failcnt").read_text()),
            "fan_out_s": round(fan[0], 2),
        }
    finally:
        process.stop()
        time.sleep(0.2)
        group.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf")
    parser.add_argument("--colds", type=int, default=7)
    parser.add_argument("--warms", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="3 cold starts, 100 warm calls")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.colds, args.warms = 3, 100

    candidates = {
        "minimal fdk": fdk_command(REFERENCE / "minimal_func.py"),
        "SDK floor": fdk_command(REFERENCE / "sdk_floor_func.py"),
        "sample style": fdk_command(REFERENCE / "sample_style_func.py"),
        "backup-handler": fdk_command(ROOT / "func.py"),
        "backup-handler (prewarm)": [sys.executable, "-m", "backup_handler.prewarm", str(ROOT / "func.py"), "handler"],
    }
    rows = {name: Row(name) for name in candidates}
    with tempfile.TemporaryDirectory(prefix="backup-bench-") as tmp, LocalStack(workdir=Path(tmp)) as stack:
        stack.emulator.in_progress_seconds = 0
        # Interleave the candidates run by run, so machine noise falls on all of them alike.
        for run in range(args.colds):
            for index, (name, command) in enumerate(candidates.items()):
                measure_cold(stack, rows[name], command, Path(tmp) / f"cold-{run}-{index}")
        measure_warm(stack, rows, candidates, Path(tmp), args.warms)
        assert stack.function is not None
        fan = fan_out(stack, stack.function)
        capped = capped_run(stack, Path(tmp) / "capped", 128, args.warms)

    figures = {name: row.summary() for name, row in rows.items()}
    floor = figures["SDK floor"]
    print(
        f"{'function':<26}{'cold s':>9}{'1st call ms':>13}{'warm ms':>10}{'p99 ms':>9}{'peak RSS MB':>13}"
        f"{'cold ×':>9}{'warm ×':>9}{'RSS ×':>8}"
    )
    for name, figure in figures.items():
        print(
            f"{name:<26}{figure['cold_s']:>9.3f}{figure['first_ms']:>13.1f}{figure['warm_ms']:>10.2f}"
            f"{figure['warm_p99_ms']:>9.2f}{figure['rss_mb']:>13.1f}"
            f"{figure['cold_s'] / floor['cold_s']:>9.2f}{figure['warm_ms'] / floor['warm_ms']:>9.2f}"
            f"{figure['rss_mb'] / floor['rss_mb']:>8.2f}"
        )
    ours = figures["backup-handler"]
    print()
    print(
        f"fan-out: {FAN_OUT_VOLUMES} volumes at {FAN_OUT_LATENCY * 1000:.0f} ms API latency: "
        f"median {statistics.median(fan):.2f} s of {len(fan)} runs ({', '.join(f'{t:.2f}' for t in fan)})"
    )
    print(f"128 MB cgroup: {json.dumps(capped)}")
    print()
    checks = {
        "cold ≤ 1.20× floor": ours["cold_s"] / floor["cold_s"] <= 1.20,
        "warm ≤ 1.25× floor": ours["warm_ms"] / floor["warm_ms"] <= 1.25,
        "RSS ≤ 1.15× floor": ours["rss_mb"] / floor["rss_mb"] <= 1.15,
        "RSS ≤ 100 MB": ours["rss_mb"] <= 100,
        "fan-out ≤ 2 s": statistics.median(fan) <= 2.0,
    }
    for label, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {label}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "fan_out_s": fan, "capped": capped}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

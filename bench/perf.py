"""Cold start, warm latency, peak memory and fan-out, against reference functions in the same run.

    python -m bench.perf                # full run (about 5 minutes)
    python -m bench.perf --quick        # fewer samples (no gates worth trusting)

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

Robust on a loaded machine: every candidate is measured in the same run, interleaved, so
load falls on the baseline and on this function alike, and the ratios (the gates) are
medians of paired comparisons rather than ratios of figures taken at different moments:

- cold: each round starts one fresh process of every candidate, in an order rotated round
  by round; a round's ratio compares this function's process with the floor's of the same
  round, and the cold ratio is the median of the rounds' ratios;
- warm: every candidate keeps three live processes and every round calls one of them (in turn),
  the candidates in a rotated order; rounds are grouped in blocks, a block's ratio is the ratio
  of the two medians within it, and the warm ratio is the median of the blocks' ratios.

Every candidate runs from a fresh copy of its code, as OCI Functions' default build lays it
out in ``/function``: its own modules without bytecode (``PYTHONDONTWRITEBYTECODE``, so each
cold start compiles them, as a read-only ``/function`` does) and its packages compiled, as
``pip install`` leaves them. Whatever bytecode the working tree holds does not change the figures.
``--compiled`` compiles every candidate's copy first instead, as an image built with
``python -m compileall /function`` would ship it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import py_compile
import shutil
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
# Warm rounds per block: a block's ratio compares medians taken over the same stretch of time.
WARM_BLOCK = 50
# Live processes per candidate for the warm calls (taken in turn, round by round).
WARM_PROCESSES = 3
# The function's code as the default build copies it into /function (the package and its entry point).
FUNCTION_FILES = ("func.py", "backup_handler")
# The reference candidates and the file each runs.
REFERENCES = {"minimal fdk": "minimal_func", "SDK floor": "sdk_floor_func", "sample style": "sample_style_func"}


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


def ratio(ours: list[float], floor: list[float]) -> float:
    """The median of paired ratios: ``ours[i] / floor[i]`` for measurements taken side by side."""
    return statistics.median(o / f for o, f in zip(ours, floor, strict=True))


def block_ratio(ours: list[float], floor: list[float], block: int = WARM_BLOCK) -> float:
    """The median, over blocks of ``block`` rounds, of the ratio of the two medians within a block."""
    ratios = [
        statistics.median(ours[start : start + block]) / statistics.median(floor[start : start + block])
        for start in range(0, len(ours) - block + 1, block)
    ] or [statistics.median(ours) / statistics.median(floor)]
    return statistics.median(ratios)


def rotated(items: list[str], turn: int) -> list[str]:
    """``items`` starting at ``turn`` (mod its length): no candidate always goes first or last."""
    shift = turn % len(items)
    return items[shift:] + items[:shift]


def deployed_copy(files: list[Path], into: Path) -> Path:
    """A copy of a function's files (without bytecode) in ``into``, as the default build's /function."""
    into.mkdir(parents=True)
    for source in files:
        target = into / source.name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    return into


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _manual(volume: str) -> bytes:
    return json.dumps({"volumeId": volume}).encode()


def measure_cold(stack: LocalStack, row: Row, command: list[str], workdir: Path, env: dict[str, str]) -> None:
    """One fresh process: process start → first answer, and socket ready → first answer."""
    process = FunctionProcess(workdir, stack.function_env(**env), command=command)
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
    stack: LocalStack,
    rows: dict[str, Row],
    commands: dict[str, list[str]],
    workdir: Path,
    warms: int,
    envs: dict[str, dict[str, str]],
    per_candidate: int = WARM_PROCESSES,
) -> None:
    """Warm calls, interleaved across live processes (in a rotated order) so noise falls on all alike.

    Each candidate runs ``per_candidate`` processes and round ``n`` calls its process ``n mod per_candidate``:
    what one process happens to be (its hash seed, its memory layout, the core it lands on) does not
    decide a candidate's figure.
    """
    processes = {
        name: [
            FunctionProcess(workdir / f"warm-{index}-{copy}", stack.function_env(**envs[name]), command=command).start()
            for copy in range(per_candidate)
        ]
        for index, (name, command) in enumerate(commands.items())
    }
    names = list(processes)
    try:
        for _ in range(20):
            for copies in processes.values():
                for process in copies:
                    process.call(_manual(VOLUMES[1]))
        for turn in range(warms):
            for name in rotated(names, turn):
                process = processes[name][turn % per_candidate]
                sent = time.perf_counter()
                process.call(_manual(VOLUMES[1]))
                rows[name].warm.append(time.perf_counter() - sent)
        for name, copies in processes.items():
            rows[name].rss_kb.extend(_peak_rss_kb(process.pid) for process in copies)
    finally:
        for copies in processes.values():
            for process in copies:
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
    command = ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh", *fdk_command(ROOT / "func.py")]
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
    parser.add_argument("--colds", type=int, default=15)
    parser.add_argument("--warms", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="3 cold starts, 100 warm calls")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--compiled", action="store_true", help="run every candidate with its code compiled to bytecode beforehand"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.colds, args.warms = 3, 100

    with tempfile.TemporaryDirectory(prefix="backup-bench-") as tmp, LocalStack(workdir=Path(tmp)) as stack:
        stack.emulator.in_progress_seconds = 0
        deployed = Path(tmp) / "function"
        ours = deployed_copy([ROOT / name for name in FUNCTION_FILES], deployed / "backup-handler")
        homes = {name: deployed_copy([REFERENCE / f"{file}.py"], deployed / file) for name, file in REFERENCES.items()}
        candidates = {name: fdk_command(homes[name] / f"{file}.py") for name, file in REFERENCES.items()}
        candidates["backup-handler"] = fdk_command(ours / "func.py")
        # -P: the package from its copy (PYTHONPATH), not from the working directory.
        prewarm = [sys.executable, "-P", "-m", "backup_handler.prewarm", str(ours / "func.py"), "handler"]
        candidates["backup-handler (prewarm)"] = prewarm
        homes["backup-handler"] = homes["backup-handler (prewarm)"] = ours
        if args.compiled:
            # As `make compile` ships it: hash-checked bytecode, valid whatever file times the image keeps.
            assert compileall.compile_dir(
                deployed, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
            ), "the candidates' code does not compile"
        # Each candidate imports its own code from its copy, and compiles it afresh at every start.
        envs = {name: {"PYTHONPATH": str(homes[name]), "PYTHONDONTWRITEBYTECODE": "1"} for name in candidates}
        rows = {name: Row(name) for name in candidates}
        # Interleave the candidates run by run (in a rotated order), so machine noise falls on all of them alike.
        for run in range(args.colds):
            for name in rotated(list(candidates), run):
                index = list(candidates).index(name)
                measure_cold(stack, rows[name], candidates[name], Path(tmp) / f"cold-{run}-{index}", envs[name])
        measure_warm(stack, rows, candidates, Path(tmp), args.warms, envs)
        assert stack.function is not None
        fan = fan_out(stack, stack.function)
        capped = capped_run(stack, Path(tmp) / "capped", 128, args.warms)

    figures = {name: row.summary() for name, row in rows.items()}
    floor_row = rows["SDK floor"]
    for name, row in rows.items():
        figures[name]["cold_x"] = ratio(row.cold, floor_row.cold)
        figures[name]["first_x"] = ratio(row.first_after_ready, floor_row.first_after_ready)
        figures[name]["warm_x"] = block_ratio(row.warm, floor_row.warm)
    floor = figures["SDK floor"]
    print(
        f"{'function':<26}{'cold s':>9}{'1st call ms':>13}{'warm ms':>10}{'p99 ms':>9}{'peak RSS MB':>13}"
        f"{'cold ×':>9}{'1st ×':>8}{'warm ×':>9}{'RSS ×':>8}"
    )
    for name, figure in figures.items():
        print(
            f"{name:<26}{figure['cold_s']:>9.3f}{figure['first_ms']:>13.1f}{figure['warm_ms']:>10.2f}"
            f"{figure['warm_p99_ms']:>9.2f}{figure['rss_mb']:>13.1f}"
            f"{figure['cold_x']:>9.3f}{figure['first_x']:>8.3f}{figure['warm_x']:>9.3f}"
            f"{figure['rss_mb'] / floor['rss_mb']:>8.2f}"
        )
    ours_figures = figures["backup-handler"]
    print()
    print(
        f"× columns: medians of paired ratios to the SDK floor ({args.colds} cold rounds; "
        f"{args.warms} warm rounds over {WARM_PROCESSES} processes each, in blocks of {WARM_BLOCK}); "
        "each function's own code "
        + ("compiled beforehand" if args.compiled else "compiled at every start, as the default build ships it")
    )
    print(
        f"fan-out: {FAN_OUT_VOLUMES} volumes at {FAN_OUT_LATENCY * 1000:.0f} ms API latency: "
        f"median {statistics.median(fan):.2f} s of {len(fan)} runs ({', '.join(f'{t:.2f}' for t in fan)})"
    )
    print(f"128 MB cgroup: {json.dumps(capped)}")
    print()
    checks = {
        "cold ≤ 1.00× floor": ours_figures["cold_x"] <= 1.00,
        "1st call ≤ 1.00× floor": ours_figures["first_x"] <= 1.00,
        "warm ≤ 1.10× floor": ours_figures["warm_x"] <= 1.10,
        "RSS ≤ 1.15× floor": ours_figures["rss_mb"] / floor["rss_mb"] <= 1.15,
        "RSS ≤ 100 MB": ours_figures["rss_mb"] <= 100,
        "fan-out ≤ 2 s": statistics.median(fan) <= 2.0,
    }
    for label, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {label}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "fan_out_s": fan, "capped": capped}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

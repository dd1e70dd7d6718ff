"""Peak memory for the largest bodies the function accepts, and for hostile ones, each in a fresh process.

    python -m bench.memory

Each case runs in a new ``fdk func.py handler`` process against the emulator; the figure
is that process's peak RSS (VmHWM) after answering, beside the peak of a process that
answered one small manual request (the baseline, measured in the same run). The function
runs in 256 MB (func.yaml).

- ``largest accepted alarm``: a 1 MiB alarm message (the body limit) with 100
  ``alarmMetaData`` entries, 1,000 distinct volumes (the per-invocation cap, all backed up)
  and the rest of the megabyte in dimensions that are not volumes;
- ``largest schedule``: 1,000 volumes in ``volumeIds``, all backed up;
- ``hostile alarm``: 1 MiB whose dimensions list holds 520,000 non-objects (refused);
- ``hostile manual``: a manual body with 90,000 unknown keys in 1 MiB (refused).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from localdev.fnprocess import ROOT, FunctionProcess
from localdev.platform import FnPlatform
from localdev.samples import VOLUMES
from localdev.stack import LocalStack

MAX_BODY = 1_048_576
CAP = 1000


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrmemvolume{n:049d}"


def largest_alarm() -> bytes:
    alarm: dict[str, Any] = json.loads((ROOT / "events" / "alarm.json").read_text())
    entry = alarm["alarmMetaData"][0]
    volumes = [{"resourceId": _volume(n), "resourceDisplayName": f"vol-{n}"} for n in range(CAP)]
    others_per_entry = 0
    previous = b""
    while True:  # grow the non-volume dimensions until the next step would pass the body limit
        entries = []
        for m in range(100):
            dims = volumes[m * 10 : m * 10 + 10] + [
                {"resourceId": f"ocid1.instance.oc1.iad.i{m:03d}{k:05d}", "resourceDisplayName": "db"}
                for k in range(others_per_entry)
            ]
            entries.append({**entry, "dimensions": dims})
        body = json.dumps({**alarm, "alarmMetaData": entries}, separators=(",", ":")).encode()
        if len(body) > MAX_BODY:
            return previous
        previous = body
        others_per_entry += 5


def hostile_alarm() -> bytes:
    alarm = json.loads((ROOT / "events" / "alarm.json").read_text())
    alarm["alarmMetaData"][0]["dimensions"] = [1] * 520_000
    return json.dumps(alarm, separators=(",", ":")).encode()


def hostile_manual() -> bytes:
    body = {"volumeId": VOLUMES[0], **{str(n): 0 for n in range(90_000)}}
    return json.dumps(body, separators=(",", ":")).encode()


def largest_schedule() -> bytes:
    return json.dumps({"source": "schedule", "volumeIds": [_volume(n) for n in range(CAP)]}).encode()


def measure(stack: LocalStack, workdir: Path, name: str, body: bytes) -> tuple[int, int, int]:
    """(peak RSS in KB, answer bytes, container status) of a fresh process answering ``body``."""
    stack.emulator.reset()
    for n in range(CAP):
        stack.emulator.add_volume(_volume(n))
    stack.emulator.add_volume(VOLUMES[0])
    with FunctionProcess(workdir / name, stack.function_env()) as process:
        invocation = FnPlatform(process).invoke(body, deadline_seconds=120)
        container = invocation.wait(130)
        return _peak_rss_kb(process.pid), len(container.body), container.status


def main() -> int:
    cases = {
        "baseline: one manual backup": json.dumps({"volumeId": VOLUMES[0]}).encode(),
        "largest accepted alarm": largest_alarm(),
        "largest schedule": largest_schedule(),
        "hostile alarm": hostile_alarm(),
        "hostile manual": hostile_manual(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, LocalStack(Path(tmp) / "stack") as stack:
        print(f"{'case':<30}{'body KB':>9}{'status':>8}{'answer KB':>11}{'peak RSS MB':>13}")
        for name, body in cases.items():
            rss_kb, answer_bytes, status = measure(stack, Path(tmp), name.split(":")[0].replace(" ", "-"), body)
            print(f"{name:<30}{len(body) / 1024:>9.0f}{status:>8}{answer_bytes / 1024:>11.1f}{rss_kb / 1024:>13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

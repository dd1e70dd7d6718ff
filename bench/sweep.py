"""Peak memory of the orphan sweep over one busy compartment, before and after, each in a fresh process.

    python -m bench.sweep [--sizes 20000 100000] [--own-every 50]

A compartment holds ``size`` volume backups, mostly not this deployment's (people's, backup policies',
another deployment's) and one in ``--own-every`` its own, ten per volume, of volumes since deleted (the
sweep's orphans under keep-last 7). Pages of 1,000 arrive as JSON and are parsed as the SDK parses them.
Each case runs in a new process: the figure is the peak RSS (VmHWM) of the sweep, beside the process's RSS
just before it (imports, settings and the fake service), for the function (``compact``: only own backups
held, compact) and for ``bench/reference/sweep_full_list.py`` (``full list``: whole pages of dicts held).
The function runs in 256 MB (func.yaml, deploy/terraform ``memory_in_mbs``).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backup_handler.oci.api import Answer, OciApi
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.runs.lifecycle import Lifecycle, Sweep
from backup_handler.settings import Settings

IDENTITY = "bench/sweep"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaabenchsweepcompartment000000000000000000000000000000"
PAGE = 1000
PER_VOLUME = 10


def _ocid(kind: str, n: int) -> str:
    return f"ocid1.{kind}.oc1.iad.abuwcljr{kind[:6]}{n:060d}"


def _backup(n: int, own_every: int) -> dict[str, Any]:
    """A listed volume backup with every field the service returns."""
    own = n % own_every == 0
    volume = _ocid("volume", (n // own_every) // PER_VOLUME) if own else _ocid("volume", 10_000_000 + n % 5000)
    if own:
        tags = {
            "backup-trigger": "schedule",
            "backup-source": "nightly",
            "backup-deployment": IDENTITY,
            "backup-kind": "volume",
        }
    elif n % 7 == 0:
        tags = {
            "backup-trigger": "schedule",
            "backup-source": "x",
            "backup-deployment": "other/fn",
            "backup-kind": "volume",
        }
    else:
        tags = {"owner": "dba-team", "cost-centre": f"cc-{n % 97}", "environment": "production"}
    return {
        "id": _ocid("volumebackup", n),
        "compartmentId": COMPARTMENT,
        "displayName": f"backup of data volume {n} taken nightly by the schedule",
        "lifecycleState": "AVAILABLE",
        "timeCreated": f"2026-{1 + n % 11:02d}-{1 + n % 27:02d}T{n % 24:02d}:00:00.{n % 1000:03d}+00:00",
        "timeRequestReceived": f"2026-{1 + n % 11:02d}-{1 + n % 27:02d}T{n % 24:02d}:00:00.000+00:00",
        "type": "INCREMENTAL",
        "sourceType": "MANUAL" if own or n % 3 else "SCHEDULED",
        "volumeId": volume,
        "sizeInGBs": 1024,
        "sizeInMBs": 1048576,
        "uniqueSizeInGBs": 12,
        "uniqueSizeInMbs": 12288,
        "expirationTime": None,
        "kmsKeyId": None,
        "sourceVolumeBackupId": None,
        "volumeGroupBackupId": None,
        "isPreventDeletionEnabled": False,
        "isRetentionLockEnabled": False,
        "isIndefiniteRetentionEnabled": False,
        "timeRetentionExpiresAt": None,
        "freeformTags": tags,
        "definedTags": {
            "Oracle-Tags": {
                "CreatedBy": "ocid1.resourceprincipal.oc1.iad.amaaaaaabenchsweepfunction0000000000000000000000000",
                "CreatedOn": "2026-01-01T00:00:00.000Z",
            }
        },
        "systemTags": {"orcl-cloud": {"free-tier-retained": "false"}},
    }


class PagedCompartment(OciApi):
    """One compartment's backups served page by page as JSON text (nothing of it held between pages)."""

    def __init__(self, settings: Settings, size: int, own_every: int) -> None:
        super().__init__(settings, signer=object())
        self.size, self.own_every = size, own_every

    def call(self, name: str, *, budget_seconds: float, query: Mapping[str, Any] | None = None, **_: Any) -> Answer:
        query = query or {}
        if name == "ListVolumeBackups" and "volumeId" not in query:
            start = int(query.get("page") or 0)
            stop = min(start + int(query.get("limit") or PAGE), self.size)
            text = json.dumps([_backup(n, self.own_every) for n in range(start, stop)])
            return Answer(json.loads(text), None, str(stop) if stop < self.size else None)
        if name == "ListVolumes":
            volumes = (self.size // self.own_every) // PER_VOLUME + 1
            start = int(query.get("page") or 0)
            stop = min(start + PAGE, volumes)
            items = [{"id": _ocid("volume", v), "lifecycleState": "TERMINATED"} for v in range(start, stop)]
            return Answer(items, None, str(stop) if stop < volumes else None)
        if name.startswith("List"):
            return Answer([], None, None)
        return Answer({}, None, None)


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def child(variant: str, size: int, own_every: int) -> dict[str, Any]:
    logging.getLogger("backup_handler").setLevel(logging.ERROR)
    settings = Settings(deployment_id=IDENTITY, retention_keep_last=7)
    api = PagedCompartment(settings, size, own_every)
    if variant == "full list":
        from bench.reference.sweep_full_list import FullListLifecycle

        lifecycle: Lifecycle = FullListLifecycle(settings, api, AdaptiveLimiter(16))
    else:
        lifecycle = Lifecycle(settings, api, AdaptiveLimiter(16))
    gc.collect()
    before = _rss_kb("VmRSS")
    started = time.perf_counter()
    result = lifecycle.catch_up([], time.monotonic() + 3600, dry_run=False, sweep=Sweep((COMPARTMENT,), rotation="x"))
    seconds = time.perf_counter() - started
    orphans = result.orphans or {}
    return {
        "variant": variant,
        "backups": size,
        "own": orphans.get("backups"),
        "deleted": orphans.get("deleted"),
        "complete": orphans.get("complete"),
        "baseMB": round(before / 1024, 1),
        "peakMB": round(_rss_kb("VmHWM") / 1024, 1),
        "sweepMB": round((_rss_kb("VmHWM") - before) / 1024, 1),
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--own-every", type=int, default=50)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.own_every)))
        return 0
    rows = []
    for size in args.sizes:
        for variant in ("full list", "compact"):
            command = [sys.executable, "-m", "bench.sweep", "--own-every", str(args.own_every), "--child", variant]
            out = subprocess.run([*command, str(size)], check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print("| backups listed | own | variant | RSS before | peak RSS | sweep's share | complete |")
    print("|---:|---:|---|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['backups']:,} | {row['own']} | {row['variant']} | {row['baseMB']} MB | {row['peakMB']} MB "
            f"| {row['sweepMB']} MB | {row['complete']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the function locally on a payload, against the Block Storage emulator.

    python -m localdev events/manual.json
    python -m localdev events/alarm.json --header x-oci-ns-messageid=msg-1 --env BACKUP_TYPE=FULL
    python -m localdev events/schedule-empty.json --env BACKUP_TARGETS=ocid1.volume.oc1.iad.abuwcljr...

It mints resource-principal credentials, starts the emulator (seeded with the
volumes the samples name), starts ``fdk func.py handler`` on a Unix socket as
the Fn platform does, sends the file as ``POST /call`` and prints the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from localdev.stack import LocalStack


def _pairs(values: list[str], separator: str = "=") -> dict[str, str]:
    pairs = {}
    for value in values:
        name, _, setting = value.partition(separator)
        pairs[name] = setting
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev", description=__doc__.split("\n\n")[0])
    parser.add_argument("payload", type=Path, help="file whose bytes are the invocation body (e.g. events/alarm.json)")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE", help="extra request header")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="function configuration")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds until Fn-Deadline (default 30)")
    parser.add_argument(
        "--gateway", action="store_true", help="invoke as the API gateway does (Fn-Intent: httprequest)"
    )
    parser.add_argument("--times", type=int, default=1, help="deliver the payload this many times (redeliveries)")
    parser.add_argument("--log", action="store_true", help="print the function's log afterwards")
    args = parser.parse_args(argv)

    body = args.payload.read_bytes()
    headers = _pairs(args.header)
    if args.gateway:
        headers |= {"Fn-Intent": "httprequest", "Fn-Http-Method": "POST", "Fn-Http-Request-Url": "/backup"}
    with LocalStack(env=_pairs(args.env)) as stack:
        assert stack.function is not None
        for delivery in range(1, args.times + 1):
            answer = stack.function.call(body, headers=headers, deadline_seconds=args.deadline)
            shown = {k: v for k, v in answer.headers.items() if k.startswith(("content-type", "fn-http", "backup-"))}
            label = f"delivery {delivery}: " if args.times > 1 else ""
            print(f"{label}HTTP {answer.status} {json.dumps(shown)}")
            try:
                print(json.dumps(answer.json(), indent=2))
            except ValueError:
                print(answer.body.decode(errors="replace"))
        print(
            f"emulator: {len(stack.emulator.backups())} backup(s), {len(stack.emulator.creates())} create call(s)",
            file=sys.stderr,
        )
        if args.log:
            print(stack.function.log(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

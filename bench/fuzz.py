"""Fuzz: the property suite's strategies with many more cases than CI runs.

    python -m bench.fuzz                  # 5,000 cases per property
    python -m bench.fuzz --cases 20000

Runs in-process against the real SDK and the emulator: arbitrary bytes, arbitrary
JSON, and mutations of every sample in events/. Each answer must be a JSON object
with a known status, errors must carry code and message, and invalid input must
not reach the API. Prints the number of cases run and any failure hypothesis found.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup_handler.app import App
from backup_handler.oci.blockstorage import OciBlockStorage
from backup_handler.settings import Settings
from localdev.credentials import function_environment
from localdev.stack import LocalStack
from tests.triggers.test_properties import REQUEST_CODES, STATUSES, json_values, mutated_events


def _named(label: str, check: Callable[[str, bytes], None]) -> Callable[[bytes], None]:
    def property_(body: bytes) -> None:
        check(label, body)

    return property_


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz")
    parser.add_argument("--cases", type=int, default=5000, help="cases per property")
    args = parser.parse_args(argv)

    logging.getLogger("backup_handler").setLevel(logging.WARNING)  # fdk sets the root logger to DEBUG
    codes: Counter[str] = Counter()
    counted = Counter[str]()
    failures: list[str] = []
    with LocalStack() as stack:
        os.environ.update(function_environment(stack.credentials))
        stack.emulator.in_progress_seconds = 0
        settings_ = Settings(blockstorage_endpoint=stack.emulator.endpoint)
        app = App(settings=settings_, blockstorage=OciBlockStorage(settings_))

        def check(label: str, body: bytes) -> None:
            counted[label] += 1
            before = len(stack.emulator.calls)
            reply = app.handle(body, {}, time.monotonic() + 15)
            document = json.loads(reply.body())
            assert isinstance(document, dict) and reply.status in STATUSES
            code = document.get("code", "ok")
            codes[code] += 1
            if code != "ok":
                assert isinstance(document["message"], str) and document["message"]
            if code in REQUEST_CODES:
                assert len(stack.emulator.calls) == before, document

        strategies: dict[str, st.SearchStrategy[Any]] = {
            "bytes": st.binary(max_size=4000),
            "json": json_values.map(lambda v: json.dumps(v).encode()),
            "mutated events": mutated_events().map(lambda d: json.dumps(d).encode()),
        }
        started = time.monotonic()
        for label, strategy in strategies.items():
            run: Callable[[], None] = settings(
                max_examples=args.cases, deadline=None, database=None, suppress_health_check=list(HealthCheck)
            )(given(body=strategy)(_named(label, check)))
            try:
                run()
            except Exception as exc:  # report and continue with the next property
                failures.append(f"{label}: {type(exc).__name__}: {exc}")
        elapsed = time.monotonic() - started

    total = sum(counted.values())
    print(f"cases run: {total} ({', '.join(f'{k} {v}' for k, v in counted.items())}) in {elapsed:.0f} s")
    print(f"answers by code: {dict(codes.most_common())}")
    print(f"failures: {len(failures)}")
    for failure in failures:
        print("  " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

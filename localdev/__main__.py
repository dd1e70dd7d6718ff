"""Run the function locally on a payload, against the Block Storage emulator.

    python -m localdev events/manual.json
    python -m localdev events/alarm.json --notifications --header x-oci-ns-messageid=msg-1
    python -m localdev events/schedule-empty.json --detached --env BACKUP_TARGETS=ocid1.volume.oc1.iad.abuwcljr...
    python -m localdev events/manual.json --gateway --raw
    python -m localdev events/audit.json --audit-world
    python -m localdev events/schedule.json --restore-tests

It mints resource-principal credentials, starts the emulator (seeded with the
volumes the samples name), starts ``fdk func.py handler`` on a Unix socket as
the Fn platform does, invokes it through the platform model and prints what
``fn invoke`` would print: the invoker's status line, then the body (or the
platform's error line). ``--raw`` also shows what the container itself answered.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from localdev.audit_world import configuration, seed_audit_world
from localdev.emulator import BlockStorageEmulator
from localdev.fnprocess import FnResponse, FunctionProcess
from localdev.platform import FnPlatform, Invocation, fn_invoke_output
from localdev.redelivery import MESSAGE_ID_HEADER, DeliverySource
from localdev.samples import DAILY, SANDBOX
from localdev.stack import LocalStack

AUDIT_COPY_REGION = "us-phoenix-1"
_UNSHOWN_HEADERS = ("content-length", "date", "server", "fn-fdk-", "fn-call-id")


def _pairs(values: list[str], separator: str = "=") -> dict[str, str]:
    pairs = {}
    for value in values:
        name, _, setting = value.partition(separator)
        pairs[name] = setting
    return pairs


def _status_line(status: int, headers: dict[str, str]) -> str:
    shown = {name: value for name, value in sorted(headers.items()) if not name.startswith(_UNSHOWN_HEADERS)}
    return f"HTTP {status} {json.dumps(shown)}"


def _show_container(answer: FnResponse | None, label: str = "container") -> None:
    if answer is None:
        print(f"  {label}: no answer")
        return
    print(f"  {label}: {_status_line(answer.status, answer.headers)}")
    print(f"  {answer.body.decode(errors='replace')}")


def _show(label: str, invocation: Invocation, *, raw: bool, deadline: float) -> None:
    print(f"{label}{_status_line(invocation.status, invocation.headers)}")
    output = fn_invoke_output(invocation)
    if output or invocation.status != 202:
        print(output)
    if invocation.invoke_type == "detached":
        try:
            _show_container(invocation.wait(deadline + 30), "container answered (after the invoker's 202)")
        except (TimeoutError, ConnectionError) as error:
            print(f"  container answered (after the invoker's 202): nothing ({error})")
    elif raw:
        if invocation.container is None and invocation.container_error is None:
            print("  container: no answer by the deadline; waiting for it")
            with contextlib.suppress(TimeoutError, ConnectionError):
                invocation.wait(30)
        _show_container(invocation.container)


@contextlib.contextmanager
def _audit_world(stack: LocalStack, wanted: bool) -> Iterator[None]:
    """With ``wanted``: a copy region, the audit world seeded, and the function restarted with its configuration."""
    if not wanted:
        yield
        return
    with BlockStorageEmulator(stack.identity, region=AUDIT_COPY_REGION) as peer:
        stack.emulator.add_region(peer)
        seed_audit_world(stack.emulator, peer, tags=DAILY)
        assert stack.function is not None
        stack.function.stop()
        stack.function = FunctionProcess(stack.workdir / "fn-audit", stack.function_env(**configuration(peer)))
        stack.function.start()
        yield


def _restore_test_loop(
    platform: FnPlatform, stack: LocalStack, body: bytes, headers: dict[str, str], *, raw: bool, deadline: float
) -> None:
    emulator = stack.emulator
    time.sleep(emulator.in_progress_seconds)  # the tick's backups become AVAILABLE: there is something to restore
    print("the tick again (same slot, same backups): restore tests start")
    _show("  ", platform.invoke(body, headers=headers, deadline_seconds=deadline), raw=raw, deadline=deadline)
    emulator.advance(seconds=emulator.restore_seconds)  # the restores finish on the emulator's clock
    for event in emulator.volume_events():
        print(f"{event['eventType']} event for {event['data']['resourceId']}:")
        _show("  ", platform.invoke(event, deadline_seconds=deadline), raw=raw, deadline=deadline)
    print("the next tick: what no event settled (boot volumes have no createbootvolume.end) is verified and deleted")
    _show("  ", platform.invoke(body, headers=headers, deadline_seconds=deadline), raw=raw, deadline=deadline)
    tests = [v for v in emulator.volumes() if v["compartmentId"] == SANDBOX]
    print(f"sandbox: {[(v['id'][-12:], v['lifecycleState']) for v in tests]}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev", description=__doc__.split("\n\n")[0])
    parser.add_argument("payload", type=Path, help="file whose bytes are the invocation body (e.g. events/alarm.json)")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE", help="extra request header")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="function configuration")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds until Fn-Deadline (default 30)")
    parser.add_argument("--times", type=int, default=1, help="deliver the payload this many times (redeliveries)")
    parser.add_argument("--log", action="store_true", help="print the function's log afterwards")
    parser.add_argument(
        "--backup-end",
        action="store_true",
        help="then deliver each new backup's createvolumebackup.end event as an Events rule would "
        "(the lifecycle loop: retention and copies; try --env BACKUP_RETENTION_KEEP_LAST=1)",
    )
    parser.add_argument(
        "--audit-world",
        action="store_true",
        help="also seed volumes that break each audit rule (tagged backup=daily), a copy region, and the "
        "configuration they are audited under (try events/audit.json)",
    )
    parser.add_argument(
        "--restore-tests",
        action="store_true",
        help="then the restore-test loop for a schedule payload: the tick again once its backups are AVAILABLE "
        "(restores start in the sandbox), each volume event delivered as an Events rule would (createvolume.end "
        f"verifies and deletes), and one more tick (boot volumes); sandbox {SANDBOX[:40]}... unless --env sets one",
    )
    parser.add_argument(
        "--raw", "--container", action="store_true", help="also print what the container answered the platform"
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--gateway", action="store_true", help="invoke as API Gateway does (Fn-Intent: httprequest)")
    how.add_argument(
        "--detached", action="store_true", help="invoke detached, as Resource Scheduler does: 202, then the call runs"
    )
    how.add_argument(
        "--notifications",
        action="store_true",
        help="deliver as a Notifications subscription: redelivered on failure, one x-oci-ns-messageid",
    )
    how.add_argument("--events", action="store_true", help="deliver as an Events rule: redelivered on failure")
    args = parser.parse_args(argv)

    body = args.payload.read_bytes()
    headers = _pairs(args.header)
    if args.notifications and not any(name.lower() == MESSAGE_ID_HEADER for name in headers):
        headers[MESSAGE_ID_HEADER] = f"localdev-msg-{uuid.uuid4().hex[:12]}"  # one message, however often sent
    env = _pairs(args.env)
    if args.restore_tests:
        env.setdefault("BACKUP_RESTORE_TEST_COMPARTMENT_ID", SANDBOX)
        env.setdefault("BACKUP_RESTORE_TEST_MAX", "2")
    with LocalStack(env=env) as stack, _audit_world(stack, args.audit_world):
        assert stack.function is not None
        platform = FnPlatform(stack.function)
        source = DeliverySource(platform, "events" if args.events else "notifications")
        for delivery in range(1, args.times + 1):
            label = f"delivery {delivery}: " if args.times > 1 else ""
            if args.notifications or args.events:
                sent = source.deliver(body, headers=headers, deadline_seconds=args.deadline)
                for attempt, invocation in enumerate(sent.attempts, start=1):
                    after = f", {sent.delays[attempt - 2]:.2f} s later" if attempt > 1 else ""
                    message = f", {MESSAGE_ID_HEADER}={sent.message_id}" if sent.message_id else ""
                    _show(
                        f"{label}attempt {attempt}{message}{after}: ", invocation, raw=args.raw, deadline=args.deadline
                    )
                outcome = "delivered" if sent.delivered else "not delivered, the source gives up"
                print(f"{label}{outcome} after {len(sent.attempts)} attempt(s)")
            else:
                invocation = platform.invoke(
                    body,
                    headers=headers,
                    deadline_seconds=args.deadline,
                    invoke_type="detached" if args.detached else "sync",
                    gateway=args.gateway,
                )
                _show(label, invocation, raw=args.raw, deadline=args.deadline)
        if args.backup_end:
            time.sleep(stack.emulator.in_progress_seconds)  # backups become AVAILABLE, then their events fire
            for event in stack.emulator.backup_end_events():
                print(f"backup-end event for {event['data']['resourceId']}:")
                answer = platform.invoke(event, deadline_seconds=args.deadline)
                _show("  ", answer, raw=args.raw, deadline=args.deadline)
        if args.restore_tests:
            _restore_test_loop(platform, stack, body, headers, raw=args.raw, deadline=args.deadline)
        print(
            f"emulator: {len(stack.emulator.backups())} backup(s), {len(stack.emulator.creates())} create call(s)",
            file=sys.stderr,
        )
        if args.log:
            print(stack.function.log(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

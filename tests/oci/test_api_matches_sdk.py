"""The operation table makes the calls the SDK's own generated clients make, and reads what they would.

The function's own code paths (creating backups, resolving a selector, the lifecycle of a backup, handing
on batches, reporting) run against the emulator through :class:`~backup_handler.oci.api.OciApi`, which
is recorded. Each call is then issued again through the SDK's generated client for that operation
(``BlockstorageClient.create_volume_backup``, ``IdentityClient.list_compartments``,
``FunctionsInvokeClient.invoke_function``, ``MonitoringClient.post_metric_data``,
``NotificationDataPlaneClient.publish_message``), with the same arguments, and the two requests the
emulator recorded are compared: method, path, query parameters, the headers that matter and the body's
keys. Every body field must be one the SDK's request model knows, and every response the function reads
must deserialize into the SDK's model for the operation with no field the model does not know.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backup_handler.oci.api import OPERATIONS, SERVICES, OciApi, Operation, Service
from backup_handler.oci.blockstorage import OciBlockStorage
from backup_handler.oci.throttling import AdaptiveLimiter
from backup_handler.reporting import metrics, notify
from backup_handler.reporting.tally import Tally
from backup_handler.runs.audit import Auditor, AuditResult
from backup_handler.runs.batching import Plan, Planner
from backup_handler.runs.lifecycle import Lifecycle, LifecycleResult, Sweep
from backup_handler.runs.restore_tests import RestoreTests
from backup_handler.runs.selection import Resolution
from backup_handler.settings import Settings
from backup_handler.triggers.audit import build_audit
from backup_handler.triggers.request import Target, build_request
from backup_handler.vocabulary.fields import Selector
from backup_handler.vocabulary.ocids import TargetKind
from localdev.credentials import COMPARTMENT, TENANCY, Identity, function_environment
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.api import Call
from localdev.fnprocess import FunctionProcess, fdk_command
from localdev.functions import FunctionInvocation, FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.samples import BOOT_VOLUMES, SANDBOX, VOLUME_GROUP, VOLUMES, seed
from tests.conftest import COPY_SUFFIX, DEPLOYMENT, OWN, OWN_BOOT, OWN_GROUP

STANDIN = Path(__file__).resolve().parent.parent / "fixtures" / "standin_func.py"
FUNCTION_ID = "ocid1.fnfunc.oc1.iad.aaaaaaaaapimatchessdk00000000000000000000000000000000000000"
TOPIC = "ocid1.onstopic.oc1.iad.aaaaaaaaapimatchessdk0000000000000000000000000000000000000"
KEY = "ocid1.key.oc1.iad.aaaaaaaavault.aaaaaaaakey0000000000000000000000000000000000000000000"
CHILD = "ocid1.compartment.oc1..aaaaaaaaapimatchessdkchild000000000000000000000000000000000"
COPY_REGION = "us-phoenix-1"
SDK_CLIENTS = {
    "blockstorage": "oci.core.BlockstorageClient",
    "copies": "oci.core.BlockstorageClient",
    "identity": "oci.identity.IdentityClient",
    "functions": "oci.functions.FunctionsInvokeClient",
    "monitoring": "oci.monitoring.MonitoringClient",
    "notifications": "oci.ons.NotificationDataPlaneClient",
}
# Headers whose values must agree; the others must at least both be there or both be missing, except those
# that differ on every request (signing, length, the client's identity).
SAME_VALUE = ("content-type", "accept", "fn-invoke-type", "fn-intent", "is-dry-run")
EVERY_REQUEST_DIFFERS = frozenset(
    {"date", "x-content-sha256", "content-length", "user-agent", "opc-client-info", "host", "accept-encoding"}
)
INVOKE_VERSIONS = {"table": "/20181201", "sdk": "/20260325"}


@dataclass
class Sent:
    """One call the function's code made through the table, what the emulator recorded, and the answer."""

    name: str
    arguments: dict[str, Any]
    record: Call | FunctionInvocation
    data: Any


@dataclass
class World:
    emulator: BlockStorageEmulator
    peer: BlockStorageEmulator
    functions: FunctionsEmulator
    settings: Settings
    signer: Any
    sent: list[Sent] = field(default_factory=list)

    def records(self, service: Service) -> list[Any]:
        if service == "functions":
            return self.functions.invocations
        return (self.peer if service == "copies" else self.emulator).calls


class RecordingApi(OciApi):
    """The table, with each call's arguments and emulator record kept (one request per call: no retries)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.settings, world.signer)
        self.world = world

    def call(self, name: str, **arguments: Any) -> Any:
        records = self.world.records(OPERATIONS[name].service)
        before = len(records)
        answer = super().call(name, **arguments)
        if OPERATIONS[name].service == "functions":
            self.world.functions.wait_for(before + 1)
        assert len(records) == before + 1, f"{name} made {len(records) - before} requests"
        self.world.sent.append(Sent(name, arguments, records[-1], answer.data))
        return answer


# --------------------------------------------------------------------------------------------- setup


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from oci.auth.signers import get_resource_principals_signer

    identity = Identity()
    workdir = tmp_path_factory.mktemp("api-sdk")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in function_environment(identity.mint(workdir / "rp")).items():
            patch.setenv(name, value)
        signer = get_resource_principals_signer()
    standin = FunctionProcess(workdir / "standin", {}, command=fdk_command(STANDIN, "handler")).start()
    with (
        BlockStorageEmulator(identity) as emulator,
        BlockStorageEmulator(identity, region=COPY_REGION) as peer,
        FunctionsEmulator(identity, {FUNCTION_ID: FnPlatform(standin)}) as functions,
    ):
        settings = Settings(
            blockstorage_endpoint=emulator.endpoint,
            identity_endpoint=emulator.endpoint,
            metrics_endpoint=emulator.endpoint,
            notify_endpoint=emulator.endpoint,
            copy_endpoint=peer.endpoint,
            invoke_endpoint=functions.endpoint,
            copy_region=COPY_REGION,
            deployment_id=DEPLOYMENT,
            retention_keep_last=1,
            retention_period_days=7,
            retention_lock=True,
            prevent_deletion=True,
            allowed_kms_key_ids=(KEY,),
            copy_kms_key_id=KEY,
            defined_tag_namespaces=("Operations",),
            metrics_namespace="backups",
            metrics_compartment_id=COMPARTMENT,
            notify_topic_id=TOPIC,
            batch_size=1,
            max_attempts=1,
        )
        yield World(emulator, peer, functions, settings, signer)
    standin.stop()


def _seed(world: World) -> list[str]:
    """The sample volumes, a sub-compartment, a topic; per (boot) volume two of the function's own backups and,
    in the copy region, two copies of the older one. The newer backups' ids."""
    emulator, peer = world.emulator, world.peer
    emulator.in_progress_seconds = 0  # each backup AVAILABLE at once: the table's and the SDK's creates both pass
    peer.in_progress_seconds = 0
    emulator.copy_seconds = 0  # each copy done at once: the SDK's copy of the same boot volume is not refused
    emulator.add_region(peer)
    seed(emulator)
    emulator.add_compartment(COMPARTMENT, TENANCY, "backups")
    emulator.add_compartment(CHILD, COMPARTMENT, "child")
    emulator.add_topic(TOPIC)
    now = datetime.now(UTC)
    newer = []
    for volume, boot in ((VOLUMES[0], False), (BOOT_VOLUMES[0], True)):
        older = emulator.add_backup(
            volume, time_created=now - timedelta(days=2), freeform_tags=OWN_BOOT if boot else OWN, boot=boot
        )
        newer.append(
            emulator.add_backup(
                volume, time_created=now - timedelta(days=1), freeform_tags=OWN_BOOT if boot else OWN, boot=boot
            )
        )
        for days in (2, 1.5):
            peer.add_backup(
                volume,
                time_created=now - timedelta(days=days),
                display_name=f"backup-{days}{COPY_SUFFIX}",
                freeform_tags=OWN_BOOT if boot else OWN,
                source_backup_id=older,
                boot=boot,
            )
    # Three of the function's group backups: retention deletes the oldest as a unit; with a grace period, it marks
    # the next one due.
    for days in (5, 4, 3):
        emulator.add_group_backup(VOLUME_GROUP, time_created=now - timedelta(days=days), freeform_tags=OWN_GROUP)
    return newer


@pytest.fixture(scope="module")
def sent(world: World) -> list[Sent]:
    """Every call the function's code paths make, once each at least, through the recorded table."""
    newer = _seed(world)
    api = RecordingApi(world)
    settings = world.settings
    body = {
        "volumeId": VOLUMES[0],
        "type": "FULL",
        "displayName": "before-upgrade",
        "freeformTags": {"ticket": "T-1"},
        "definedTags": {"Operations": {"tier": "gold"}},
        "kmsKeyId": KEY,
        "idempotencyKey": "change-1234",
    }
    request = build_request(body, headers={}, settings=settings, now=datetime.now(UTC))
    storage = OciBlockStorage(settings, api=api)
    kinds: tuple[tuple[TargetKind, str], ...] = (
        ("volume", VOLUMES[1]),
        ("bootVolume", BOOT_VOLUMES[0]),
        ("volumeGroup", VOLUME_GROUP),
    )
    created = []
    for kind, target in kinds:
        create_body = request.api_body(Target(kind=kind, resource_id=target), settings.display_name_template)
        created.append(storage.create_backup(kind, create_body, retry_token=f"table-{kind}", budget_seconds=10).backup)

    selector = Selector.model_validate(
        {"compartmentId": COMPARTMENT, "kinds": ["volume", "bootVolume", "volumeGroup"], "includeSubcompartments": True}
    )
    assert list(Resolution(selector, api, lambda: 10.0))

    lifecycle = Lifecycle(settings, api, AdaptiveLimiter(4))
    for backup_id in newer:  # retention deletes the older backup and a copy; the newer one is copied
        result = lifecycle.after_backup(backup_id, time.monotonic() + 30, dry_run=False)
        assert not result.errors, result.errors

    # A schedule tick's catch-up with a grace period: it sweeps the compartment (its volumes and backups, listed
    # once), and marks the group's older backup due (UpdateVolumeGroupBackup) rather than deleting it.
    # A schedule dry run previews a group's catch-up (reading the group for its compartment); the group backup's
    # own end event deletes the oldest group backup (keep-last 2).
    preview = lifecycle.preview([("volumeGroup", VOLUME_GROUP)], time.monotonic() + 30, result=LifecycleResult())
    assert not preview.errors and preview.deleted_count >= 1, preview.errors
    keep_two = Lifecycle(settings.model_copy(update={"retention_keep_last": 2}), api, AdaptiveLimiter(4))
    grouped = keep_two.after_backup(str(created[2]["id"]), time.monotonic() + 30, dry_run=False)
    assert not grouped.errors and grouped.deleted_count == 1, (grouped.errors, grouped.kept)
    # A schedule tick's catch-up with a grace period sweeps the compartment (its volumes and backups, listed once)
    # and marks the group's older backup due (UpdateVolumeGroupBackup) rather than deleting it.
    graced = settings.model_copy(update={"retention_grace": "1h", "copy_region": None})
    swept = Lifecycle(graced, api, AdaptiveLimiter(4)).catch_up(
        [], time.monotonic() + 30, dry_run=False, sweep=Sweep(compartments=(COMPARTMENT,), rotation="tick")
    )
    assert not swept.errors and swept.marked_count >= 1, (swept.errors, swept.marked)

    targets = [Target(kind="volume", resource_id=volume) for volume in VOLUMES[:2]]
    plan = Planner(settings, api, FUNCTION_ID).plan(request, targets, time.monotonic() + 30, Plan(request))
    assert plan.batched == 2, plan.failures

    # Restore tests: one tick restores the new (boot) volume backups into the sandbox, the next verifies the
    # volumes, records the results on the backups and deletes the volumes.
    sandboxed = settings.model_copy(update={"restore_test_compartment_id": SANDBOX, "restore_test_max": 2})
    tests = RestoreTests(sandboxed, api, AdaptiveLimiter(4), "backup-app/backup-handler")
    started = tests.catch_up(created[:2], "tick-1", time.monotonic() + 30, dry_run=False)
    assert len(started.started) == 2 and not started.errors, started.errors
    world.emulator.advance(seconds=world.emulator.restore_seconds + 1)
    settled = tests.catch_up([], "tick-2", time.monotonic() + 30, dry_run=False)
    assert len(settled.cleaned) == 2 and not settled.errors, settled.errors

    audit = build_audit({"source": "audit", "selector": selector.model_dump(by_alias=True)}, settings)
    Auditor(settings, api).run(audit, time.monotonic() + 30, AuditResult())

    tally = Tally("schedule", 200, 3, 1, 0, 2.5, errors=({"resourceId": VOLUMES[2], "code": "Conflict"},))
    metrics.post(settings, api, tally, "backup-handler", 5)
    notify.publish(settings, api, tally, "backup-handler", "call-1", 5)
    return list(world.sent)


def test_the_function_calls_every_operation_of_the_table(sent: list[Sent]) -> None:
    assert {item.name for item in sent} == set(OPERATIONS)


# ------------------------------------------------------------------------------------- the SDK call


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _client(world: World, service: Service) -> Any:
    import oci

    module, _, name = SDK_CLIENTS[service].rpartition(".")
    endpoint = {"copies": world.peer.endpoint, "functions": world.functions.endpoint}.get(
        service, world.emulator.endpoint
    )
    return getattr(importlib.import_module(module), name)(
        {},
        signer=world.signer,
        service_endpoint=endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
    )


def _details_parameter(method: Callable[..., Any]) -> tuple[str, str] | None:
    """The request model a generated method takes as its body, and its parameter name (from its docstring)."""
    found = re.search(r":param (oci\.[\w.]+\.models\.\w+) (\w+): \(required\)", inspect.getdoc(method) or "")
    return (found.group(1), found.group(2)) if found else None


def _model(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def unknown_fields(data: Any, type_name: str, mappings: Mapping[str, Any], where: str = "") -> list[str]:
    """Every key of ``data`` (recursively) that the SDK model ``type_name`` does not know."""
    if data is None:
        return []
    if type_name.startswith("list["):
        inner = type_name[5:-1]
        return [p for i, item in enumerate(data) for p in unknown_fields(item, inner, mappings, f"{where}[{i}]")]
    if type_name.startswith("dict("):
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        return [p for key, item in data.items() for p in unknown_fields(item, inner, mappings, f"{where}.{key}")]
    cls = mappings.get(type_name)
    if not (isinstance(cls, type) and ".models." in cls.__module__):  # str, int, float, bool, datetime, object
        return []
    if hasattr(cls, "get_subtype"):
        cls = mappings.get(cls.get_subtype(data), cls)
    model = cls()
    by_json = {json_name: attribute for attribute, json_name in model.attribute_map.items()}
    problems = [f"{where}.{key}" for key in data if key not in by_json]
    for key, value in data.items():
        if key in by_json:
            problems += unknown_fields(value, model.swagger_types[by_json[key]], mappings, f"{where}.{key}")
    return problems


def _sdk_arguments(
    op: Operation, method: Callable[..., Any], arguments: Mapping[str, Any], path: Mapping[str, str]
) -> dict[str, Any]:
    """The generated method's arguments for the call the table made (``path``: its path parameters)."""
    kwargs: dict[str, Any] = {}
    for name, value in path.items():
        kwargs[_snake(name)] = value
    for name, value in (arguments.get("query") or {}).items():
        if value is not None:
            kwargs[_snake(name)] = value
    body = arguments.get("body")
    if body is not None:
        details = _details_parameter(method)
        if details is None:  # a stream body (InvokeFunction)
            kwargs[f"{op.sdk_name}_body"] = body
        else:
            model_path, parameter = details
            cls = _model(model_path)
            by_json = {json_name: attribute for attribute, json_name in cls().attribute_map.items()}
            kwargs[parameter] = cls(**{by_json[key]: value for key, value in body.items() if key in by_json})
    if arguments.get("retry_token") is not None:
        kwargs["opc_retry_token"] = arguments["retry_token"][::-1]  # another token of the same length
    for name, value in (arguments.get("headers") or {}).items():
        if name not in ("content-type", "accept"):  # the generated method sets these itself
            kwargs[name.replace("-", "_")] = value
    return kwargs


@dataclass(frozen=True)
class Seen:
    """A request as the emulator saw it, in the terms the comparison uses."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body_keys: frozenset[str] | None


def _seen(record: Call | FunctionInvocation, path: Mapping[str, str]) -> Seen:
    """The request, its path parameters' values (``path``) put back as ``{name}``."""
    if isinstance(record, FunctionInvocation):
        body = json.loads(record.body) if record.body else None
        keys = frozenset(body) if isinstance(body, dict) else None
        method, raw, query, headers = "POST", record.path, {}, dict(record.headers)
    else:
        keys = frozenset(record.body_keys) if record.body_keys is not None else None
        method, raw, query, headers = record.method, record.path, dict(record.query), dict(record.headers)
    for name, value in path.items():
        raw = raw.replace(f"/{value}", f"/{{{name}}}")
    return Seen(method, raw, query, headers, keys)


def _fresh_path(world: World, op: Operation, path: Mapping[str, str]) -> dict[str, str]:
    """Path parameters for the SDK's call: for a delete or copy, another backup of the same kind (the table's
    call used up its own); otherwise the table's."""
    if not (op.method == "DELETE" or op.path.endswith("/actions/copy")):
        return dict(path)
    boot = "Boot" in op.name
    emulator = world.peer if op.service == "copies" else world.emulator
    if op.path.startswith("/volumeGroupBackups/"):
        fresh_group = emulator.add_group_backup(VOLUME_GROUP, freeform_tags=OWN_GROUP)
        return {name: fresh_group for name in path}
    if op.path.startswith(("/volumes/", "/bootVolumes/")):  # a restore test's volume
        volume_id = f"ocid1.{'bootvolume' if boot else 'volume'}.oc1.iad.sdkcall{len(emulator.calls):08d}"
        emulator.add_volume(volume_id, boot=boot, compartment_id=SANDBOX)
        return {name: volume_id for name in path}
    fresh = emulator.add_backup(
        BOOT_VOLUMES[0] if boot else VOLUMES[1], boot=boot, freeform_tags=OWN_BOOT if boot else OWN
    )
    return {name: fresh for name in path}


def _first_of_each(sent: list[Sent]) -> list[Sent]:
    """One recorded call per (operation, query names), so each distinct call shape is compared once."""
    seen: dict[tuple[str, frozenset[str]], Sent] = {}
    for item in sent:
        shape = (item.name, frozenset(k for k, v in (item.arguments.get("query") or {}).items() if v is not None))
        seen.setdefault(shape, item)
    return list(seen.values())


def test_each_call_is_the_call_the_sdk_makes(world: World, sent: list[Sent]) -> None:
    problems = []
    for item in _first_of_each(sent):
        op = OPERATIONS[item.name]
        client = _client(world, op.service)
        method = getattr(client, op.sdk_name)
        records = world.records(op.service)
        path = _fresh_path(world, op, item.arguments.get("path") or {})
        before = len(records)
        method(**_sdk_arguments(op, method, item.arguments, path))
        if op.service == "functions":
            world.functions.wait_for(before + 1)
        assert len(records) == before + 1, item.name
        table, sdk = _seen(item.record, item.arguments.get("path") or {}), _seen(records[-1], path)

        if op.service == "functions":  # the one deliberate difference: the API version (see SERVICES)
            assert (
                table.path.startswith(INVOKE_VERSIONS["table"] + "/")
                and SERVICES["functions"].base_path == (INVOKE_VERSIONS["table"])
            )
            assert sdk.path.startswith(INVOKE_VERSIONS["sdk"] + "/"), sdk.path
            table = Seen(table.method, table.path[len("/20181201") :], table.query, table.headers, table.body_keys)
            sdk = Seen(sdk.method, sdk.path[len("/20260325") :], sdk.query, sdk.headers, sdk.body_keys)
        for aspect in ("method", "path", "query", "body_keys"):
            if getattr(table, aspect) != getattr(sdk, aspect):
                problems.append(f"{item.name} {aspect}: table {getattr(table, aspect)} != sdk {getattr(sdk, aspect)}")
        for name in SAME_VALUE:
            if table.headers.get(name) != sdk.headers.get(name):
                problems.append(
                    f"{item.name} header {name}: table {table.headers.get(name)!r} != sdk {sdk.headers.get(name)!r}"
                )
        names = {n for n in table.headers if n not in EVERY_REQUEST_DIFFERS} ^ {
            n for n in sdk.headers if n not in EVERY_REQUEST_DIFFERS
        }
        if names:
            problems.append(f"{item.name} headers sent by only one of them: {sorted(names)}")
    assert not problems, "\n".join(problems)


def test_every_body_field_is_one_the_sdk_request_model_knows(world: World, sent: list[Sent]) -> None:
    problems = []
    for item in sent:
        op = OPERATIONS[item.name]
        body = item.arguments.get("body")
        if body is None or isinstance(body, bytes):
            continue
        client = _client(world, op.service)
        details = _details_parameter(getattr(client, op.sdk_name))
        assert details is not None, item.name
        model = details[0].rpartition(".")[2]
        problems += [f"{item.name} body{p}" for p in unknown_fields(body, model, client.base_client.type_mappings)]
    assert not problems, problems


def test_every_response_the_function_reads_is_the_sdk_model_with_no_unknown_field(
    world: World, sent: list[Sent]
) -> None:
    problems = []
    read = [item for item in sent if OPERATIONS[item.name].response_type is not None]
    assert {item.name for item in read} == {name for name, op in OPERATIONS.items() if op.response_type}
    for item in read:
        op = OPERATIONS[item.name]
        assert op.response_type is not None
        client = _client(world, op.service)
        problems += [
            f"{item.name}{p}" for p in unknown_fields(item.data, op.response_type, client.base_client.type_mappings)
        ]
        model = client.base_client.deserialize_response_data(json.dumps(item.data).encode(), op.response_type)
        problems += [f"{item.name}{p}" for p in _unknown_enum_values(model)]
    listed_nothing = {
        name
        for name, op in OPERATIONS.items()
        if (op.response_type or "").startswith("list[") and not any(i.data for i in read if i.name == name)
    }
    assert not listed_nothing, f"these lists were always empty, so the check proves nothing: {listed_nothing}"
    assert not problems, "\n".join(problems)


def _unknown_enum_values(model: Any, where: str = "") -> list[str]:
    """Where the SDK deserialized a value its model's enum does not list (it substitutes UNKNOWN_ENUM_VALUE)."""
    if isinstance(model, list):
        return [p for i, item in enumerate(model) for p in _unknown_enum_values(item, f"{where}[{i}]")]
    if not hasattr(model, "swagger_types"):
        return []
    problems = []
    for attribute in model.swagger_types:
        value = getattr(model, attribute)
        if isinstance(value, str) and value == "UNKNOWN_ENUM_VALUE":
            problems.append(f"{where}.{model.attribute_map[attribute]}")
        else:
            problems += _unknown_enum_values(value, f"{where}.{model.attribute_map[attribute]}")
    return problems


def test_the_sdk_names_each_operation_as_the_table_does() -> None:
    import oci  # noqa: F401  (the clients below import their services lazily)

    for op in OPERATIONS.values():
        module, _, name = SDK_CLIENTS[op.service].rpartition(".")
        client_class = getattr(importlib.import_module(module), name)
        method = getattr(client_class, op.sdk_name, None)
        assert method is not None, f"{op.name}: the SDK has no {name}.{op.sdk_name}"
        source = inspect.getsource(method)
        assert f'resource_path = "{op.path}"' in source, op.name
        assert f'method = "{op.method}"' in source, op.name
        response = re.search(r'response_type="([^"]+)"', source)
        expected = "stream" if op.response_type is None and op.name == "InvokeFunction" else op.response_type
        assert (response.group(1) if response else None) == expected, op.name

"""The emulator's inventory APIs, driven through the real SDK's generated clients and pagination:
volumes and boot volumes, volume groups and their backups, Identity's compartments, the Functions
invoke endpoint, and the simulated tenancy."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localdev.credentials import COMPARTMENT, TENANCY, function_environment
from localdev.emulator import BlockStorageEmulator
from localdev.emulator.volumes import PLATFORM_IMAGE
from localdev.fnprocess import FunctionProcess, fdk_command
from localdev.functions import FunctionsEmulator
from localdev.platform import FnPlatform
from localdev.samples import VOLUME_GROUP, VOLUMES
from localdev.stack import LocalStack
from localdev.tenancy import TAG_NAMESPACE, Tenancy, seed_tenancy

STANDIN = Path(__file__).resolve().parent.parent / "fixtures" / "standin_func.py"
FUNCTION_ID = "ocid1.fnfunc.oc1.iad.aaaaaaaastandin000000000000000000000000000000000000000000"
AD1, AD2 = "Uocm:US-ASHBURN-AD-1", "Uocm:US-ASHBURN-AD-2"
OTHER = "ocid1.compartment.oc1..aaaaaaaaothercompartment0000000000000000000000000000000000"
GROUP = "ocid1.volumegroup.oc1.iad.aaaaaaaagroup0000000000000000000000000000000000000000001"


def _volume(n: int) -> str:
    return f"ocid1.volume.oc1.iad.abuwcljrinventory{n:040d}"


@pytest.fixture
def signer(stack: LocalStack, emulator: BlockStorageEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SDK's resource-principal signer for a session of its own (other tests revoke the stack's)."""
    from oci.auth.signers import get_resource_principals_signer

    for name, value in function_environment(stack.identity.mint(tmp_path / "rp")).items():
        monkeypatch.setenv(name, value)
    return get_resource_principals_signer()


def _client(cls: Any, signer: Any, endpoint: str) -> Any:
    import oci

    return cls(
        {},
        signer=signer,
        service_endpoint=endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
    )


@pytest.fixture
def blockstorage(emulator: BlockStorageEmulator, signer: Any) -> Any:
    from oci.core import BlockstorageClient

    return _client(BlockstorageClient, signer, emulator.endpoint)


@pytest.fixture
def identity(emulator: BlockStorageEmulator, signer: Any) -> Any:
    from oci.identity import IdentityClient

    return _client(IdentityClient, signer, emulator.endpoint)


@pytest.fixture
def grouped(emulator: BlockStorageEmulator) -> list[str]:
    """Three volumes in a group (in COMPARTMENT, AD1), beside a few others; the members' ids."""
    emulator.add_volume(_volume(1), freeform_tags={"backup": "daily"})
    emulator.add_volume(_volume(2), availability_domain=AD2, freeform_tags={"backup": "weekly"})
    emulator.add_volume(_volume(3), lifecycle_state="TERMINATED")
    emulator.add_volume(_volume(4), compartment_id=OTHER)
    members = [_volume(10), _volume(11), _volume(12)]
    for member in members:
        emulator.add_volume(member)
    emulator.add_volume_group(GROUP, COMPARTMENT, AD1, members, freeform_tags={"tier": "db"}, display_name="db")
    return members


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    from oci.exceptions import ServiceError

    with pytest.raises(ServiceError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.code


def _has(model: Any, **expected: Any) -> bool:
    """Whether an SDK model carries these attribute values (others may differ)."""
    import oci

    actual: dict[str, Any] = oci.util.to_dict(model)
    return expected.items() <= actual.items()


def _get(emulator: BlockStorageEmulator, signer: Any, path: str) -> Any:
    from oci._vendor import requests

    return requests.get(emulator.endpoint + path, auth=signer, timeout=10)


# ----------------------------------------------------------------- volumes


def test_list_volumes_filters_by_compartment_ad_state_and_group(grouped: list[str], blockstorage: Any) -> None:
    def ids(**filters: str) -> set[str]:
        return {volume.id for volume in blockstorage.list_volumes(**filters).data}

    in_compartment = set(VOLUMES) | {_volume(1), _volume(2), _volume(3), *grouped}
    assert ids(compartment_id=COMPARTMENT) == in_compartment
    assert ids(compartment_id=OTHER) == {_volume(4)}
    assert ids(compartment_id=COMPARTMENT, availability_domain=AD2) == {_volume(2)}
    assert ids(compartment_id=COMPARTMENT, lifecycle_state="TERMINATED") == {_volume(3)}
    assert ids(compartment_id=COMPARTMENT, lifecycle_state="AVAILABLE") == in_compartment - {_volume(3)}
    assert ids(volume_group_id=GROUP) == set(grouped)
    (daily,) = [v for v in blockstorage.list_volumes(compartment_id=COMPARTMENT).data if v.id == _volume(1)]
    assert _has(daily, freeform_tags={"backup": "daily"}, defined_tags={}, availability_domain=AD1, size_in_gbs=100)
    assert _has(daily, lifecycle_state="AVAILABLE", volume_group_id=None)


def test_list_requires_a_scope_and_valid_parameters(
    grouped: list[str], emulator: BlockStorageEmulator, blockstorage: Any, signer: Any
) -> None:
    assert _error(blockstorage.list_volumes) == (400, "MissingParameter")
    assert _error(blockstorage.list_boot_volumes, availability_domain=AD1) == (400, "MissingParameter")
    assert _error(blockstorage.list_volumes, compartment_id=COMPARTMENT, limit=0) == (400, "InvalidParameter")
    for path in ("/20160918/volumeGroups", "/20160918/volumeGroupBackups", "/20160918/compartments"):
        answer = _get(emulator, signer, path)
        assert (answer.status_code, answer.json()["code"]) == (400, "MissingParameter"), path
    assert _get(emulator, signer, "/20160918/volumes?compartmentId=").json()["code"] == "MissingParameter"
    for query in (f"compartmentId={COMPARTMENT}&lifecycleState=GONE", "volumeGroupId=g&page=x"):
        answer = _get(emulator, signer, f"/20160918/volumes?{query}")
        assert (answer.status_code, answer.json()["code"]) == (400, "InvalidParameter"), query
    lower_case = _get(emulator, signer, f"/20160918/volumes?compartmentId={COMPARTMENT}&lifecycleState=terminated")
    assert [volume["id"] for volume in lower_case.json()] == [_volume(3)]  # the state is case-insensitive


def test_boot_volumes_list_by_compartment_and_ad_and_get_by_id(
    emulator: BlockStorageEmulator, blockstorage: Any
) -> None:
    boot = "ocid1.bootvolume.oc1.iad.abuwcljrinventoryboot000000000000000000000000000000000002"
    emulator.add_volume(boot, boot=True, availability_domain=AD2, freeform_tags={"backup": "weekly"})

    in_ad2 = blockstorage.list_boot_volumes(availability_domain=AD2, compartment_id=COMPARTMENT).data
    fetched = blockstorage.get_boot_volume(boot).data

    assert [volume.id for volume in in_ad2] == [boot]
    assert _has(fetched, id=boot, freeform_tags={"backup": "weekly"}, size_in_gbs=50, image_id=PLATFORM_IMAGE)
    assert blockstorage.get_volume(VOLUMES[0]).data.id == VOLUMES[0]
    assert _error(blockstorage.get_volume, boot) == (404, "NotAuthorizedOrNotFound")
    assert _error(blockstorage.get_boot_volume, VOLUMES[0]) == (404, "NotAuthorizedOrNotFound")


def test_pagination_across_pages_as_the_sdk_follows_it(emulator: BlockStorageEmulator, blockstorage: Any) -> None:
    import oci

    tenancy = seed_tenancy(emulator, volumes=2_500, seed=7)
    compartment, ad = tenancy.compartment_ids[0], tenancy.availability_domains[1]
    emulator.calls.clear()

    listed = oci.pagination.list_call_get_all_results(
        blockstorage.list_volumes, compartment_id=compartment, availability_domain=ad
    ).data
    default_pages = len(emulator.calls)
    emulator.calls.clear()
    big_pages = oci.pagination.list_call_get_all_results(
        blockstorage.list_volumes, compartment_id=compartment, limit=5000
    ).data

    expected = tenancy.by_placement[(compartment, ad)]
    assert len(listed) == len({volume.id for volume in listed}) == expected
    assert default_pages == -(-expected // emulator.page_size)  # 100 a page without a limit
    in_compartment = sum(n for (c, _), n in tenancy.by_placement.items() if c == compartment)
    assert len(big_pages) == in_compartment
    assert len(emulator.calls) == -(-in_compartment // 1000)  # a limit above 1000 is 1000


# ------------------------------------------------------------ volume groups


def test_volume_groups_list_and_get(grouped: list[str], blockstorage: Any) -> None:
    listed = blockstorage.list_volume_groups(COMPARTMENT).data
    in_ad2 = blockstorage.list_volume_groups(COMPARTMENT, availability_domain=AD2).data
    group = blockstorage.get_volume_group(GROUP).data

    assert [g.id for g in listed if g.id != VOLUME_GROUP] == [GROUP] and in_ad2 == []  # VOLUME_GROUP: the samples' own
    assert (group.volume_ids, group.display_name, group.freeform_tags) == (grouped, "db", {"tier": "db"})
    assert (group.lifecycle_state, group.size_in_gbs) == ("AVAILABLE", 300)
    assert {blockstorage.get_volume(member).data.volume_group_id for member in grouped} == {GROUP}
    assert _error(blockstorage.get_volume_group, GROUP + "x") == (404, "NotAuthorizedOrNotFound")


def _group_details(**fields: Any) -> Any:
    from oci.core.models import CreateVolumeGroupBackupDetails

    return CreateVolumeGroupBackupDetails(volume_group_id=GROUP, **fields)


def test_a_group_backup_makes_one_member_backup_each_and_replays_its_retry_token(
    grouped: list[str], emulator: BlockStorageEmulator, blockstorage: Any
) -> None:
    details = _group_details(type="FULL", display_name="nightly", freeform_tags={"backup": "daily"})

    created = blockstorage.create_volume_group_backup(details, opc_retry_token="tok-1").data
    replayed = blockstorage.create_volume_group_backup(details, opc_retry_token="tok-1").data
    other_body = _error(
        blockstorage.create_volume_group_backup, _group_details(type="INCREMENTAL"), opc_retry_token="tok-1"
    )

    assert replayed.id == created.id and replayed.volume_backup_ids == created.volume_backup_ids
    assert other_body == (409, "Conflict")
    assert _has(created, volume_group_id=GROUP, type="FULL", display_name="nightly", lifecycle_state="CREATING")
    assert _has(created, source_type="MANUAL", source_volume_group_backup_id=None, compartment_id=COMPARTMENT)
    members = [blockstorage.get_volume_backup(backup_id).data for backup_id in created.volume_backup_ids]
    assert sorted(backup.volume_id for backup in members) == sorted(grouped)
    assert {(backup.volume_group_backup_id, backup.type) for backup in members} == {(created.id, "FULL")}
    assert len(emulator.backups()) == 3 and len(emulator.volume_group_backups()) == 1
    listed = blockstorage.list_volume_group_backups(COMPARTMENT, volume_group_id=GROUP).data
    assert [backup.id for backup in listed] == [created.id]
    assert blockstorage.list_volume_group_backups(OTHER).data == []
    emulator.in_progress_seconds = 0
    assert blockstorage.get_volume_group_backup(created.id).data.lifecycle_state == "AVAILABLE"


def test_a_member_volume_refuses_its_own_backup_while_its_group_backup_is_in_progress(
    grouped: list[str], emulator: BlockStorageEmulator, blockstorage: Any
) -> None:
    from oci.core.models import CreateVolumeBackupDetails

    emulator.in_progress_seconds = 60
    blockstorage.create_volume_group_backup(_group_details())

    member = _error(blockstorage.create_volume_backup, CreateVolumeBackupDetails(volume_id=grouped[0]))
    again = _error(blockstorage.create_volume_group_backup, _group_details())
    outsider = blockstorage.create_volume_backup(CreateVolumeBackupDetails(volume_id=_volume(1)))
    emulator.in_progress_seconds = 0
    after = blockstorage.create_volume_backup(CreateVolumeBackupDetails(volume_id=grouped[0]))

    assert member == again == (409, "Conflict")
    assert outsider.status == after.status == 200
    emulator.in_progress_seconds = 60  # the member's own backup now holds the group's back
    assert _error(blockstorage.create_volume_group_backup, _group_details()) == (409, "Conflict")


def test_a_group_backup_the_api_refuses(grouped: list[str], emulator: BlockStorageEmulator, signer: Any) -> None:
    from oci._vendor import requests

    refused = {
        "unknown group": ({"volumeGroupId": GROUP + "x"}, 404, "NotAuthorizedOrNotFound"),
        "no group": ({}, 400, "InvalidParameter"),
        "bad type": ({"volumeGroupId": GROUP, "type": "DAILY"}, 400, "InvalidParameter"),
        "unknown field": ({"volumeGroupId": GROUP, "volumeId": VOLUMES[0]}, 400, "InvalidParameter"),
    }
    for case, (fields, status, code) in refused.items():
        answer = requests.post(
            emulator.endpoint + "/20160918/volumeGroupBackups",
            data=json.dumps(fields),
            headers={"content-type": "application/json"},
            auth=signer,
            timeout=10,
        )
        assert (answer.status_code, answer.json()["code"]) == (status, code), case
    assert emulator.backups() == [] and emulator.volume_group_backups() == []


def test_group_backup_creates_count_against_the_create_throttle(
    grouped: list[str], emulator: BlockStorageEmulator, blockstorage: Any
) -> None:
    emulator.max_concurrent_creates = 0

    refused = _error(blockstorage.create_volume_group_backup, _group_details())

    assert refused == (429, "TooManyRequests")
    assert [(c.operation, c.resource_id, c.fault) for c in emulator.creates()] == [
        ("createVolumeGroupBackup", GROUP, "throttled")
    ]
    assert emulator.volume_group_backups() == [] and emulator.backups() == []


# ------------------------------------------------------------- compartments


def test_list_compartments_children_subtree_pages_and_signatures(emulator: BlockStorageEmulator, identity: Any) -> None:
    import oci
    from oci._vendor import requests

    tenancy = seed_tenancy(emulator, volumes=0, compartments=4, seed=3)
    c0, c1, c2, c3 = tenancy.compartment_ids
    emulator.add_compartment(OTHER, c1, "deep", lifecycle_state="DELETED")

    def names(**kwargs: Any) -> list[str]:
        return [c.id for c in oci.pagination.list_call_get_all_results(identity.list_compartments, **kwargs).data]

    assert names(compartment_id=TENANCY) == [c0, c2]
    subtree = names(compartment_id=TENANCY, compartment_id_in_subtree=True, access_level="ANY", limit=1)
    assert subtree == [c0, c1, c2, c3, OTHER]
    assert names(compartment_id=TENANCY, compartment_id_in_subtree=True, lifecycle_state="DELETED") == [OTHER]
    assert names(compartment_id=c0) == [c1]
    assert names(compartment_id=c1, access_level="ACCESSIBLE") == [OTHER]
    (listed,) = identity.list_compartments(TENANCY, name="lt000003-compartment-2").data
    assert _has(listed, id=c2, compartment_id=TENANCY, lifecycle_state="ACTIVE", is_accessible=True)
    assert identity.get_compartment(c1).data.compartment_id == c0
    assert _error(identity.list_compartments, c0, compartment_id_in_subtree=True) == (400, "InvalidParameter")
    assert _error(identity.list_compartments, c0 + "x") == (404, "NotAuthorizedOrNotFound")
    bad_flag = _error(identity.list_compartments, TENANCY, compartment_id_in_subtree="sometimes")
    assert bad_flag == (400, "InvalidParameter")
    unsigned = requests.get(f"{emulator.endpoint}/20160918/compartments?compartmentId={TENANCY}", timeout=10)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "NotAuthenticated")


# ---------------------------------------------------------------- functions


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FnPlatform]:
    process = FunctionProcess(tmp_path_factory.mktemp("standin"), {}, command=fdk_command(STANDIN, "handler"))
    process.start()
    yield FnPlatform(process)
    process.stop()


@pytest.fixture
def functions(stack: LocalStack, standin: FnPlatform) -> Iterator[FunctionsEmulator]:
    with FunctionsEmulator(stack.identity, {FUNCTION_ID: standin}) as served:
        yield served


@pytest.fixture
def invoker(functions: FunctionsEmulator, signer: Any) -> Any:
    from oci.functions import FunctionsInvokeClient

    return _client(FunctionsInvokeClient, signer, functions.endpoint)


def test_a_detached_invoke_answers_202_at_once_and_the_function_runs(
    functions: FunctionsEmulator, invoker: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    body = json.dumps({"gate": str(gate), "body": "ran"}).encode()

    answer = invoker.invoke_function(FUNCTION_ID, invoke_function_body=body, fn_invoke_type="detached")
    (recorded,) = functions.invocations
    still_running = recorded.invocation.container is None
    gate.touch()
    container = recorded.wait(timeout=15)

    assert (answer.status, answer.data.content) == (202, b"")
    assert still_running  # answered while the function waited for the gate
    assert (recorded.function_id, recorded.invoke_type, recorded.body) == (FUNCTION_ID, "detached", body)
    assert recorded.opc_request_id == answer.headers["opc-request-id"]
    assert (container.status, container.body) == (200, b"ran")


def test_a_sync_invoke_answers_what_the_platform_answers(functions: FunctionsEmulator, invoker: Any) -> None:
    ok = invoker.invoke_function(FUNCTION_ID, invoke_function_body=b'{"body": "{\\"ok\\": true}"}')
    failed = _error(invoker.invoke_function, FUNCTION_ID, invoke_function_body=b'{"status": 502}')

    assert (ok.status, json.loads(ok.data.content)) == (200, {"ok": True})
    assert ok.headers["opc-request-id"] == functions.invocations[0].opc_request_id
    assert failed == (502, "FunctionInvokeExecutionFailed")
    assert [(i.invoke_type, i.status) for i in functions.wait_for(2)] == [("sync", 200), ("sync", 502)]


def test_the_invoke_endpoint_refuses_unknown_functions_bad_headers_and_unsigned_requests(
    functions: FunctionsEmulator, invoker: Any
) -> None:
    from oci._vendor import requests

    unknown = _error(invoker.invoke_function, FUNCTION_ID + "x", invoke_function_body=b"{}")
    bad_type = _error(invoker.invoke_function, FUNCTION_ID, invoke_function_body=b"{}", fn_invoke_type="later")
    unsigned = requests.post(f"{functions.endpoint}/20181201/functions/{FUNCTION_ID}/actions/invoke", timeout=10)

    assert unknown == (404, "NotAuthorizedOrNotFound")
    assert bad_type == (400, "InvalidParameter")
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "NotAuthenticated")
    assert functions.invocations == [] and functions.rejected_signatures == 1


# ------------------------------------------------------------------ tenancy


def _shape(tenancy: Tenancy) -> Any:
    return (tenancy.compartment_ids, tenancy.volumes, tenancy.volume_group_ids, tenancy.by_tag, tenancy.by_state)


def test_the_tenancy_seed_is_deterministic_and_its_counts_match_the_api(
    emulator: BlockStorageEmulator, blockstorage: Any
) -> None:
    import oci

    tenancy = seed_tenancy(emulator)  # 10,000 volumes
    emulator.reset()
    again = seed_tenancy(emulator)
    with BlockStorageEmulator(emulator.identity) as spare:
        other = seed_tenancy(spare, seed=1)

    assert _shape(again) == _shape(tenancy) != _shape(other)
    assert len(tenancy.volume_ids) == 10_000 and len(tenancy.boot_volume_ids) == 500
    assert sum(tenancy.by_state.values()) == 10_000 and 0 < tenancy.by_state["AVAILABLE"] < 10_000
    assert set(tenancy.by_tag["backup"]) == {"daily", "weekly", "none"}
    assert set(tenancy.by_tag["env"]) == {"prod", "dev"}
    assert any(TAG_NAMESPACE in volume.defined_tags for volume in tenancy.volumes)
    listed = [
        volume
        for compartment in tenancy.compartment_ids
        for volume in oci.pagination.list_call_get_all_results(
            blockstorage.list_volumes, compartment_id=compartment, limit=1000
        ).data
    ]
    assert len(listed) == 10_000
    assert Counter(v.freeform_tags.get("backup") for v in listed) == Counter(
        v.freeform_tags.get("backup") for v in tenancy.volumes if not v.boot
    )
    assert len(tenancy.select(backup="daily", env="prod")) == sum(
        1 for v in listed if v.freeform_tags.get("backup") == "daily" and v.freeform_tags.get("env") == "prod"
    )
    assert len(tenancy.volume_group_ids) == 5
    for group_id in tenancy.volume_group_ids:
        group = blockstorage.get_volume_group(group_id).data
        members = [blockstorage.get_volume(member).data for member in group.volume_ids]
        assert 2 <= len(members) <= 4
        placements = {(m.compartment_id, m.availability_domain, m.volume_group_id) for m in members}
        assert placements == {(group.compartment_id, group.availability_domain, group_id)}
    boot_listed = blockstorage.list_boot_volumes(
        availability_domain=tenancy.availability_domains[0], compartment_id=tenancy.compartment_ids[0], limit=1000
    ).data
    assert 0 < len(boot_listed) < 500


def test_a_function_served_by_several_processes_gets_each_invocation_on_the_least_busy(
    stack: LocalStack, standin: FnPlatform, invoker: Any, functions: FunctionsEmulator, tmp_path: Path
) -> None:
    other = FunctionProcess(tmp_path / "other", {}, command=fdk_command(STANDIN, "handler")).start()
    try:
        functions.register(FUNCTION_ID, standin, FnPlatform(other))
        gates = [tmp_path / f"gate{n}" for n in range(3)]
        for gate in gates:
            body = json.dumps({"gate": str(gate), "body": "ran"}).encode()
            invoker.invoke_function(FUNCTION_ID, invoke_function_body=body, fn_invoke_type="detached")
        first_three = [invocation.process for invocation in functions.invocations]
        for gate in gates:
            gate.touch()
        answers = [invocation.wait(timeout=15) for invocation in functions.invocations]
        invoker.invoke_function(FUNCTION_ID, invoke_function_body=b'{"body": "again"}', fn_invoke_type="detached")
        functions.invocations[-1].wait(timeout=15)

        assert first_three == [0, 1, 0]  # the two idle processes, then the earliest of two equally busy
        assert all(answer.status == 200 for answer in answers)
        assert functions.invocations[-1].process == 0  # both idle again: the earliest registered
    finally:
        other.stop()

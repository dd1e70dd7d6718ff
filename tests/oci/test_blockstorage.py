"""The SDK client, in-process, against the emulator: signing, retries, errors, reuse."""

from __future__ import annotations

import pytest

from backup_handler.errors import ApiError, NetworkError
from backup_handler.oci.blockstorage import OciBlockStorage
from backup_handler.runs.idempotency import retry_token
from backup_handler.settings import Settings
from localdev.emulator import BlockStorageEmulator, Fault
from localdev.samples import BOOT_VOLUMES, VOLUMES

BODY = {"volumeId": VOLUMES[0], "type": "INCREMENTAL", "displayName": "t", "freeformTags": {}}
TOKEN = retry_token("test", VOLUMES[0])


def test_endpoint_for_a_region_matches_the_generated_blockstorage_client(
    blockstorage: OciBlockStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oci.auth.signers import get_resource_principals_signer
    from oci.core import BlockstorageClient

    signer = get_resource_principals_signer()
    ours = OciBlockStorage(Settings(), signer=signer).client()
    generated = BlockstorageClient({}, signer=signer)

    assert ours.endpoint == generated.base_client.endpoint
    assert ours.get_endpoint() == generated.base_client.get_endpoint() == "https://iaas.us-ashburn-1.oraclecloud.com"


def test_create_returns_the_api_json_with_fields_newer_than_the_sdk(
    blockstorage: OciBlockStorage, emulator: BlockStorageEmulator
) -> None:
    emulator.extra_backup_fields = {"someNewField": {"nested": True}}

    created = blockstorage.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=10)

    assert created.backup["someNewField"] == {"nested": True}
    assert created.backup["id"] == emulator.backups()[0]["id"]
    assert created.opc_request_id == emulator.creates()[0].opc_request_id


def test_client_and_signer_are_built_once_and_reused(
    blockstorage: OciBlockStorage, emulator: BlockStorageEmulator
) -> None:
    first = blockstorage.client()
    blockstorage.create_backup("bootVolume", {"bootVolumeId": BOOT_VOLUMES[0]}, retry_token="a", budget_seconds=5)
    assert blockstorage.client() is first


@pytest.mark.parametrize(
    "fault",
    [
        Fault("create", status=429),
        Fault("create", status=500),
        Fault("create", status=503),
        Fault("create", drop="before"),
        Fault("create", drop="after"),
    ],
)
def test_transient_failures_are_retried_with_the_same_token(
    blockstorage: OciBlockStorage, emulator: BlockStorageEmulator, fault: Fault
) -> None:
    emulator.inject(fault, fault)

    created = blockstorage.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=20)

    assert len(emulator.backups()) == 1
    assert created.backup["id"] == emulator.backups()[0]["id"]
    assert {call.retry_token for call in emulator.creates()} == {TOKEN}
    assert len(emulator.creates()) == 3


def test_501_and_4xx_are_not_retried(blockstorage: OciBlockStorage, emulator: BlockStorageEmulator) -> None:
    emulator.inject(Fault("create", status=501, code="NotImplemented"))

    with pytest.raises(ApiError) as caught:
        blockstorage.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=20)

    assert caught.value.status == 501
    assert len(emulator.creates()) == 1


def test_conflict_is_an_answer_not_retried(blockstorage: OciBlockStorage, emulator: BlockStorageEmulator) -> None:
    emulator.in_progress_seconds = 60
    blockstorage.create_backup("volume", BODY, retry_token="first", budget_seconds=5)

    with pytest.raises(ApiError) as caught:
        blockstorage.create_backup("volume", BODY, retry_token="second", budget_seconds=5)

    assert (caught.value.status, caught.value.code) == (409, "Conflict")
    assert len(emulator.creates()) == 2


def test_retries_stop_within_the_budget(blockstorage: OciBlockStorage, emulator: BlockStorageEmulator) -> None:
    import time

    emulator.inject(*[Fault("create", status=503)] * 50)
    started = time.monotonic()

    with pytest.raises(ApiError) as caught:
        blockstorage.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=1.5)

    assert time.monotonic() - started < 1.5 + 0.5
    assert caught.value.code == "ServiceUnavailable"


def test_no_shared_circuit_breaker_opens_after_many_failures(
    blockstorage: OciBlockStorage, emulator: BlockStorageEmulator, settings: Settings
) -> None:
    single_attempt = OciBlockStorage(settings.model_copy(update={"max_attempts": 1}))
    emulator.inject(*[Fault("create", status=500)] * 15)
    for _ in range(15):
        with pytest.raises(ApiError):
            single_attempt.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=5)

    created = single_attempt.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=5)

    assert created.backup["volumeId"] == VOLUMES[0]


def test_unreachable_endpoint_is_a_network_error_without_sdk_details(
    blockstorage: OciBlockStorage, settings: Settings
) -> None:
    unreachable = OciBlockStorage(
        settings.model_copy(update={"blockstorage_endpoint": "http://127.0.0.1:9", "max_attempts": 2})
    )

    with pytest.raises(NetworkError) as caught:
        unreachable.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=2)

    rendered = str(caught.value.to_json())
    assert "127.0.0.1" not in rendered and "oci" not in rendered.lower()


def test_unsigned_or_wrongly_signed_requests_are_refused_by_the_emulator(emulator: BlockStorageEmulator) -> None:
    import http.client
    import json
    from urllib.parse import urlsplit

    url = urlsplit(emulator.endpoint)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
    connection.request(
        "POST",
        "/20160918/volumeBackups",
        body=json.dumps(BODY),
        headers={"Authorization": 'Signature keyId="ST$forged",algorithm="rsa-sha256",signature="AA=="'},
    )
    answer = connection.getresponse()

    assert answer.status == 401
    assert json.loads(answer.read())["code"] == "NotAuthenticated"
    assert emulator.backups() == []


def test_emulator_paginates_lists_as_the_sdk_paginator_expects(
    blockstorage: OciBlockStorage, emulator: BlockStorageEmulator
) -> None:
    import oci
    from oci.auth.signers import get_resource_principals_signer
    from oci.core import BlockstorageClient

    from localdev.credentials import COMPARTMENT

    for n in range(250):
        emulator.add_volume(f"ocid1.volume.oc1.iad.abuwcljrpaged{n:050d}")
    emulator.page_size = 100
    client = BlockstorageClient({}, signer=get_resource_principals_signer(), service_endpoint=emulator.endpoint)

    listed = oci.pagination.list_call_get_all_results(client.list_volumes, compartment_id=COMPARTMENT).data

    assert len(listed) == 250 + len(VOLUMES)
    assert len({volume.id for volume in listed}) == len(listed)
    assert [call.operation for call in emulator.calls] == ["listVolumes"] * 3


def test_same_retry_token_with_a_different_body_is_a_conflict(
    blockstorage: OciBlockStorage, emulator: BlockStorageEmulator
) -> None:
    first = blockstorage.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=5)
    again = blockstorage.create_backup("volume", BODY, retry_token=TOKEN, budget_seconds=5)

    with pytest.raises(ApiError) as caught:
        blockstorage.create_backup("volume", {**BODY, "type": "FULL"}, retry_token=TOKEN, budget_seconds=5)

    assert again.backup["id"] == first.backup["id"]
    assert (caught.value.status, caught.value.code) == (409, "Conflict")
    assert len(emulator.backups()) == 1

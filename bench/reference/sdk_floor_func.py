"""Reference: the SDK floor — resource-principal signer and BlockstorageClient built once, reused.

The least any function that creates a backup through the SDK can do per call.
"""

import io
import json
import os

import oci
from fdk import response
from oci.core import BlockstorageClient
from oci.core.models import CreateVolumeBackupDetails

_client = None


def _blockstorage() -> BlockstorageClient:
    global _client
    if _client is None:
        signer = oci.auth.signers.get_resource_principals_signer()
        _client = BlockstorageClient({}, signer=signer, service_endpoint=os.environ["BACKUP_BLOCKSTORAGE_ENDPOINT"])
    return _client


def handler(ctx, data: io.BytesIO | None = None):
    body = json.loads(data.getvalue())  # type: ignore[union-attr]
    client = _blockstorage()
    created = client.create_volume_backup(CreateVolumeBackupDetails(volume_id=body["volumeId"]))
    document = client.base_client.sanitize_for_serialization(created.data)
    return response.Response(ctx, response_data=json.dumps(document), headers={"Content-Type": "application/json"})

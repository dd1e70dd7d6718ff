"""Reference: in the style of Oracle's published samples — signer and client built on every call."""

import io
import json
import os

import oci
from fdk import response
from oci.core import BlockstorageClient
from oci.core.models import CreateVolumeBackupDetails


def handler(ctx, data: io.BytesIO | None = None):
    body = json.loads(data.getvalue())  # type: ignore[union-attr]
    signer = oci.auth.signers.get_resource_principals_signer()
    client = BlockstorageClient({}, signer=signer, service_endpoint=os.environ["BACKUP_BLOCKSTORAGE_ENDPOINT"])
    created = client.create_volume_backup(CreateVolumeBackupDetails(volume_id=body["volumeId"]))
    document = client.base_client.sanitize_for_serialization(created.data)
    return response.Response(ctx, response_data=json.dumps(document), headers={"Content-Type": "application/json"})

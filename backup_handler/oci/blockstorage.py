"""Block Storage as the backup step needs it: create a backup of a target, and check what came back.

:class:`OciBlockStorage` drives the operations of :mod:`backup_handler.oci.api`
(``CreateVolumeBackup``, ``CreateBootVolumeBackup``, ``CreateVolumeGroupBackup``)
through one :class:`~backup_handler.oci.api.OciApi`, whose clients are built once,
on first use, and reused for every later invocation.

What comes back is checked before it is passed on: a success whose body is not a
backup of the target (a backup OCID of the right kind naming that volume, plain
JSON of a backup's size) is :class:`InvalidResponse` for that target.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Protocol

from backup_handler.errors import InvalidResponse
from backup_handler.oci.api import OciApi
from backup_handler.settings import Settings
from backup_handler.vocabulary.ocids import TargetKind

if TYPE_CHECKING:
    from oci.base_client import BaseClient

# Per kind: the create operation, the body's id field, and what the created backup's id looks like.
_CREATE: dict[TargetKind, tuple[str, str, re.Pattern[str]]] = {
    "volume": ("CreateVolumeBackup", "volumeId", re.compile(r"ocid1\.volumebackup\.[a-z0-9.-]{1,240}")),
    "bootVolume": ("CreateBootVolumeBackup", "bootVolumeId", re.compile(r"ocid1\.bootvolumebackup\.[a-z0-9.-]{1,236}")),
    "volumeGroup": (
        "CreateVolumeGroupBackup",
        "volumeGroupId",
        re.compile(r"ocid1\.volumegroupbackup\.[a-z0-9.-]{1,235}"),
    ),
}
# The most JSON a created backup may hold (a VolumeBackup is about 1 KB; a group backup lists its members).
MAX_BACKUP_JSON_CHARS = 256 * 1024


class Created:
    """A backup the API accepted: its JSON as sent, and the request id."""

    __slots__ = ("backup", "opc_request_id")

    def __init__(self, backup: dict[str, Any], opc_request_id: str | None) -> None:
        self.backup = backup
        self.opc_request_id = opc_request_id


class BlockStorage(Protocol):
    """What the backup step needs from Block Storage."""

    def prepare(self) -> None:
        """Get ready to call the API (credentials, client); raise :class:`CredentialsError` if it cannot."""
        ...

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        """Create a (boot) volume or volume group backup; raise :class:`ApiError` or :class:`NetworkError`."""
        ...


class OciBlockStorage:
    """The real API, through a resource-principal signer built on first use."""

    def __init__(
        self, settings: Settings, signer: Any = None, api: OciApi | None = None, *, retry_throttling: bool = True
    ) -> None:
        self.api = api or OciApi(settings, signer)
        # False when the caller paces the run itself on 429 (backup_handler.oci.throttling): the SDK then
        # answers a 429 at once instead of sleeping on it inside the call, holding its slot.
        self._retry_throttling = retry_throttling

    def prepare(self) -> None:
        self.api.prepare()

    def client(self) -> BaseClient:
        """The shared Block Storage client."""
        return self.api.client("blockstorage")

    def create_backup(
        self, kind: TargetKind, body: dict[str, Any], *, retry_token: str, budget_seconds: float
    ) -> Created:
        operation, id_field, _ = _CREATE[kind]
        answer = self.api.call(
            operation,
            body=body,
            retry_token=retry_token,
            budget_seconds=budget_seconds,
            retry_throttling=self._retry_throttling,
        )
        if not _is_backup_of(answer.data, kind, body[id_field]):
            raise InvalidResponse(
                "Block Storage answered success without a backup of the target in its body",
                opcRequestId=answer.opc_request_id,
            )
        return Created(answer.data, answer.opc_request_id)


def _is_backup_of(backup: Any, kind: TargetKind, target_id: str) -> bool:
    """Whether an API answer is a backup of ``target_id``, small and plain enough to pass on."""
    if not isinstance(backup, dict):
        return False
    _, id_field, pattern = _CREATE[kind]
    backup_id = backup.get("id")
    if not (isinstance(backup_id, str) and pattern.fullmatch(backup_id)) or backup.get(id_field) != target_id:
        return False
    try:  # RFC 8259 JSON only (no NaN or Infinity), and a backup's size, not megabytes
        return len(json.dumps(backup, allow_nan=False)) <= MAX_BACKUP_JSON_CHARS
    except (ValueError, TypeError):
        return False

"""The function's configuration: one typed class read from ``BACKUP_*`` variables.

OCI Functions passes application and function configuration as environment
variables. Each field below is read from ``BACKUP_<FIELD NAME IN UPPER CASE>``;
the README's configuration table lists them with their defaults.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backup_handler.errors import ConfigurationError
from backup_handler.events import FreeformTags, KmsKeyId
from backup_handler.ocids import TargetOcid
from backup_handler.validation import describe

ENV_PREFIX = "BACKUP_"

# Fields a display-name template may use; BackupRequest.api_body in request.py fills them.
DISPLAY_NAME_FIELDS = frozenset({"trigger", "resource_id", "resource_suffix", "time"})


class Settings(BaseModel):
    """Everything the function can be configured with (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["FULL", "INCREMENTAL"] = "INCREMENTAL"
    """Backup type when the request does not say."""

    display_name_template: str = Field("{trigger}-{resource_suffix}-{time}", min_length=1, max_length=255)
    """Display name of each backup; fields: {trigger} {resource_id} {resource_suffix} {time}."""

    freeform_tags: FreeformTags = {}
    """Freeform tags (a JSON object) stamped on every backup, besides backup-trigger/backup-source."""

    targets: tuple[TargetOcid, ...] = ()
    """Volumes and boot volumes a schedule tick with an empty body backs up (comma- or space-separated)."""

    schedule_slot_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
    """Ticks delivered within one slot of this many seconds make one backup per target."""

    blockstorage_endpoint: str | None = Field(None, pattern=r"^https?://[^\s/]+(?:/[^\s]*)?$")
    """Block Storage endpoint override (private endpoints, the local emulator); default: the region's."""

    max_concurrency: int = Field(16, ge=1, le=64)
    """Backups created at once for a multi-target trigger."""

    max_attempts: int = Field(5, ge=1, le=10)
    """Attempts per backup for throttling (429), server errors and dropped connections."""

    deadline_margin_seconds: float = Field(1.0, ge=0.1, le=30)
    """The function answers this long before the invocation's deadline."""

    max_body_bytes: int = Field(1_048_576, ge=1024, le=6 * 1024 * 1024)
    """Largest request body accepted (OCI Functions' own limit is 6 MB)."""

    max_json_depth: int = Field(32, ge=4, le=256)
    """Deepest JSON nesting accepted."""

    kms_key_id: KmsKeyId | None = None
    """Vault key every backup is encrypted with (default: the volume's own key)."""

    allowed_kms_key_ids: tuple[KmsKeyId, ...] = ()
    """Keys a manual request's kmsKeyId may name; any other key is refused."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the function's own log lines."""

    @field_validator("display_name_template")
    @classmethod
    def _known_template_fields(cls, template: str) -> str:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        except ValueError as exc:
            raise ValueError("is not a valid template (unbalanced braces)") from exc
        unknown = fields - DISPLAY_NAME_FIELDS
        if unknown:
            raise ValueError(f"uses unknown field(s) {sorted(unknown)}; known fields are {sorted(DISPLAY_NAME_FIELDS)}")
        return template

    @field_validator("targets", "allowed_kms_key_ids", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item for item in value.replace(",", " ").split() if item)
        return value

    @field_validator("freeform_tags", mode="before")
    @classmethod
    def _parse_json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError as exc:
                raise ValueError('must be a JSON object such as {"team": "storage"}') from exc
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read ``BACKUP_*`` variables; unknown ``BACKUP_*`` names are refused (they are typos)."""
        values = {
            name[len(ENV_PREFIX) :].lower(): value
            for name, value in environ.items()
            if name.startswith(ENV_PREFIX) and value != ""
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for item in describe(exc):
                name = re.split(r"[.\[]", item["field"], maxsplit=1)[0]
                within = item["field"][len(name) :].lstrip(".")
                problem = f"{within}: {item['problem']}" if within else item["problem"]
                problems.append({"field": ENV_PREFIX + name.upper(), "problem": problem})
            raise ConfigurationError(
                "the function's configuration is invalid: "
                + "; ".join(f"{p['field']} {p['problem']}" for p in problems),
                errors=problems,
            ) from None

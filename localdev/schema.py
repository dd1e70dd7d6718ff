"""JSON Schemas of the bodies the function accepts, generated from its pydantic models.

``python -m localdev.schema`` writes one file per body under ``schemas/``; ``--check`` only
reports (exit 1) which committed files differ from what the models produce now.
``tests/triggers/test_schema.py`` fails until the files are regenerated after a model changes.

The schemas describe each body's fields, types, bounds and patterns as pydantic validates them
(``model_json_schema(by_alias=True)``, validation mode, JSON Schema 2020-12). Checks written as
code are not in them: a manual request names exactly one of ``volumeId``, ``bootVolumeId``,
``volumeGroupId`` and ``selector``; OCIDs are checked for their kind; tags against configuration;
an audit body is validated strictly (``"true"`` is not ``true``), which JSON Schema does by itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from backup_handler.triggers.audit import AuditBody
from backup_handler.triggers.events import AlarmMessage, CloudEvent, ManualRequest, ScheduleTick
from backup_handler.vocabulary.fields import Selector

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:backup-handler:schema:"


@dataclass(frozen=True)
class Body:
    """One body the function accepts: its file name, model, title and description, and its samples."""

    name: str
    model: type[BaseModel]
    title: str
    description: str
    samples: str  # glob of events/ samples that are this body

    @property
    def filename(self) -> str:
        return f"{self.name}.schema.json"


BODIES: tuple[Body, ...] = (
    Body(
        "manual-request",
        ManualRequest,
        "Manual backup request",
        "What `fn invoke` sends: the CreateVolumeBackup body (or a boot volume's, a volume group's, or a "
        "selector) with an optional idempotencyKey. Exactly one of volumeId, bootVolumeId, volumeGroupId "
        "and selector; unknown fields are refused.",
        "manual*.json",
    ),
    Body(
        "schedule",
        ScheduleTick,
        "Schedule body",
        "What a Resource Scheduler schedule sends as BODY: volumes, boot volumes, volume groups and/or a "
        'selector, with "source": "schedule". An empty body backs up BACKUP_TARGETS / BACKUP_SELECTOR.',
        "schedule*.json",
    ),
    Body(
        "selector",
        Selector,
        "Selector",
        "Every AVAILABLE volume, boot volume and/or volume group in a compartment whose tags match all the "
        'pairs given: a manual or schedule body\'s "selector", and BACKUP_SELECTOR.',
        "",
    ),
    Body(
        "audit",
        AuditBody,
        "Coverage audit",
        'What asks for a coverage audit, from `fn invoke` or a schedule\'s BODY: {"source": "audit"} and an '
        "optional selector (default: BACKUP_SELECTOR). It only reads; the rules come from configuration. "
        "Unknown fields are refused and JSON types are taken as sent (a string is never a boolean).",
        "audit*.json",
    ),
    Body(
        "event",
        CloudEvent,
        "OCI event",
        "An OCI Events rule's event (CloudEvents 0.1), delivered directly or through a Notifications topic.",
        "event-*.json",
    ),
    Body(
        "alarm",
        AlarmMessage,
        "Monitoring alarm message",
        "A Monitoring alarm message (format 1.0 and later) delivered through a Notifications topic.",
        "alarm*.json",
    ),
)


def schema(body: Body) -> dict[str, Any]:
    """The body's JSON Schema, with its dialect, id, title and description first."""
    generated = body.model.model_json_schema(by_alias=True)
    generated.pop("title", None)
    generated.pop("description", None)
    return {
        "$schema": DIALECT,
        "$id": f"{ID_PREFIX}{body.name}",
        "title": body.title,
        "description": body.description,
        **generated,
    }


def render(body: Body) -> str:
    """The file's text: stable, two-space indented, one trailing newline."""
    return json.dumps(schema(body), indent=2, ensure_ascii=False) + "\n"


def stale(directory: Path = SCHEMAS) -> list[str]:
    """The files under ``directory`` that differ from (or are missing beside) what the models produce."""
    found = []
    for body in BODIES:
        path = directory / body.filename
        if not path.exists() or path.read_text(encoding="utf-8") != render(body):
            found.append(body.filename)
    return found


def write(directory: Path = SCHEMAS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for body in BODIES:
        path = directory / body.filename
        path.write_text(render(body), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--check"]:
        out_of_date = stale()
        for name in out_of_date:
            sys.stderr.write(f"schemas/{name} is out of date: run python -m localdev.schema\n")
        return 1 if out_of_date else 0
    if args:
        sys.stderr.write("usage: python -m localdev.schema [--check]\n")
        return 2
    for path in write():
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

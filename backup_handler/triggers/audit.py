"""The audit body: ``{"source": "audit", "selector": {...}}``, manual or from a schedule's BODY.

An audit is its own request kind, never a backup request: it reads, and answers what the
selected volumes' protection looks like. :func:`build_audit` validates the body strictly
(unknown fields are refused, ``"true"`` is not ``true``, a selector is bounded like any
other) and takes the selector from the body or, when the body has none, from
``BACKUP_SELECTOR``. The rules the audit checks come from configuration only: nothing in
the body can relax or widen them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from backup_handler.errors import InvalidRequest, NoTargets
from backup_handler.settings import Settings
from backup_handler.vocabulary.fields import Selector, narrowed
from backup_handler.vocabulary.validation import describe

AUDIT_SOURCE = "audit"
# An audit body has two fields; beyond this many it is refused whole rather than one problem per key.
MAX_AUDIT_FIELDS = 8


class AuditBody(BaseModel):
    """What an invoker or a schedule sends to ask for a coverage audit."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    source: Literal["audit"]
    selector: Selector | None = None


AUDIT_FIELDS: tuple[str, ...] = tuple(field.alias or name for name, field in AuditBody.model_fields.items())


@dataclass(frozen=True)
class AuditRequest:
    """An audit to run: what it selects. The rules are configuration's."""

    selector: Selector
    from_configuration: bool
    """Whether the selector is BACKUP_SELECTOR (the body named none)."""

    trigger: Literal["audit"] = "audit"


def build_audit(value: dict[str, Any], settings: Settings) -> AuditRequest:
    """Validate an audit body (strictly: JSON types as sent, no coercion) into the audit to run."""
    if len(value) > MAX_AUDIT_FIELDS:  # refused whole, rather than one "unknown field" problem per key
        raise InvalidRequest(
            f"the audit body is invalid: it has {len(value)} fields; an audit body has at most {len(AUDIT_FIELDS)}",
            errors=[{"field": "(body)", "problem": f"has {len(value)} fields"}],
        )
    try:
        # Strict validation of the JSON as sent: a string is never taken for a boolean or a number.
        # (JSON mode: in strict Python mode a JSON array would not do for a tuple.)
        body = AuditBody.model_validate_json(json.dumps(value), strict=True)
    except ValidationError as exc:
        problems = describe(exc, AUDIT_FIELDS)
        raise InvalidRequest(
            f"the audit body is invalid: {problems.summary()}",
            errors=problems.items,
            moreErrors=problems.more or None,
        ) from None
    if body.selector is not None:
        # Configuration's exclusions hold for every selector a body sends.
        return AuditRequest(narrowed(body.selector, settings.selector), from_configuration=False)
    if settings.selector is not None:
        return AuditRequest(settings.selector, from_configuration=True)
    raise NoTargets(
        'the audit names no selector: its body has no "selector" and BACKUP_SELECTOR is not configured',
        errors=[{"field": "selector", "problem": "is required when BACKUP_SELECTOR is not configured"}],
    )

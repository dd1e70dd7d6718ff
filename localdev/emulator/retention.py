"""Backup retention as the newer API versions have it: the fields, their checks, and what they forbid.

A backup (volume, boot volume or volume group backup) may carry ``retentionPeriod``
``{retentionTimeUnit: DAYS|YEARS, retentionTimeAmount}``, ``isRetentionLockEnabled``,
``isPreventDeletionEnabled`` and ``isIndefiniteRetentionEnabled``; with a period, the backup
reports ``timeRetentionExpiresAt`` = ``timeCreated`` + the period. A retention period is a floor
on deletion, never an automatic expiry. What the emulator refuses (:func:`deletion_refused`,
:func:`update_refused`):

- deleting a backup under indefinite retention (a legal hold), under a retention lock whose
  period has not run out, or with prevent-deletion on while its period has not run out (or
  without a period at all);
- unlocking a lock whose period has not run out, or shortening its period;
- a lock without a period (400 ``InvalidParameter``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from localdev.emulator.api import ErrorResponse
from localdev.emulator.clock import parse, stamp

UNITS = frozenset({"DAYS", "YEARS"})
FLAGS = ("isPreventDeletionEnabled", "isRetentionLockEnabled", "isIndefiniteRetentionEnabled")
FIELDS = frozenset({"retentionPeriod", *FLAGS})
_PERIOD_FIELDS = "retentionTimeUnit, retentionTimeAmount"


def validate(body: Mapping[str, Any]) -> None:
    """400 ``InvalidParameter`` for retention fields the API would refuse."""
    period = body.get("retentionPeriod")
    if period is not None:
        if not isinstance(period, dict) or set(period) - {"retentionTimeUnit", "retentionTimeAmount"}:
            raise ErrorResponse(400, "InvalidParameter", f"retentionPeriod must be an object of {_PERIOD_FIELDS}")
        amount = period.get("retentionTimeAmount")
        if period.get("retentionTimeUnit") not in UNITS:
            raise ErrorResponse(400, "InvalidParameter", "retentionPeriod.retentionTimeUnit must be DAYS or YEARS")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            raise ErrorResponse(400, "InvalidParameter", "retentionTimeAmount must be a positive integer")
    for flag in FLAGS:
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise ErrorResponse(400, "InvalidParameter", f"{flag} must be a boolean")


def fields(body: Mapping[str, Any], time_created: str) -> dict[str, Any]:
    """The retention fields of a new backup made as ``body`` asks (a lock needs a period: 400)."""
    validate(body)
    period = body.get("retentionPeriod")
    if body.get("isRetentionLockEnabled") and period is None:
        raise ErrorResponse(400, "InvalidParameter", "isRetentionLockEnabled needs a retentionPeriod")
    return {
        "retentionPeriod": dict(period) if period is not None else None,
        "isPreventDeletionEnabled": bool(body.get("isPreventDeletionEnabled")),
        "isRetentionLockEnabled": bool(body.get("isRetentionLockEnabled")),
        "isIndefiniteRetentionEnabled": bool(body.get("isIndefiniteRetentionEnabled")),
        "timeRetentionExpiresAt": expiry(time_created, period),
    }


def expiry(time_created: str, period: Mapping[str, Any] | None) -> str | None:
    """When a retention period that started at ``time_created`` runs out (None without a period)."""
    if period is None:
        return None
    start = parse(time_created)
    amount = int(period["retentionTimeAmount"])
    if period["retentionTimeUnit"] == "DAYS":
        return stamp(start + timedelta(days=amount))
    try:
        return stamp(start.replace(year=start.year + amount))
    except ValueError:  # 29 February into a year without one
        return stamp(start.replace(year=start.year + amount, day=28))


def _running(backup: Mapping[str, Any], now: datetime) -> bool:
    expires = backup.get("timeRetentionExpiresAt")
    return expires is not None and parse(expires) > now


def locked(backup: Mapping[str, Any], now: datetime) -> bool:
    """Whether a retention lock holds the backup now."""
    return bool(backup.get("isRetentionLockEnabled")) and _running(backup, now)


def deletion_refused(backup: Mapping[str, Any], now: datetime) -> str | None:
    """Why the backup cannot be deleted now (None: it can)."""
    if backup.get("isIndefiniteRetentionEnabled"):
        return "the backup is under indefinite retention"
    if locked(backup, now):
        return f"the backup's retention is locked until {backup['timeRetentionExpiresAt']}"
    if backup.get("isPreventDeletionEnabled") and (
        backup.get("timeRetentionExpiresAt") is None or _running(backup, now)
    ):
        return "deletion of the backup is prevented (isPreventDeletionEnabled)"
    return None


def update_refused(backup: Mapping[str, Any], changes: Mapping[str, Any], now: datetime) -> str | None:
    """Why ``changes`` cannot be made to the backup's retention now (None: they can)."""
    if not locked(backup, now):
        return None
    if changes.get("isRetentionLockEnabled") is False:
        return "a retention lock cannot be removed before its period runs out"
    period = changes.get("retentionPeriod")
    if period is not None:
        new = expiry(backup["timeCreated"], period)
        assert new is not None
        if parse(new) < parse(backup["timeRetentionExpiresAt"]):
            return "a locked retention period cannot be shortened"
    return None


def apply_update(
    backup: dict[str, Any], body: Mapping[str, Any], allowed: frozenset[str], now: datetime, what: str
) -> None:
    """An UpdateVolumeBackup / UpdateBootVolumeBackup / UpdateVolumeGroupBackup body applied to ``backup``, as
    the service checks it: only the fields the SDK's update model has, a display name of 1 to 255 characters,
    a retention change the lock allows, a lock never without a period. ``what`` names the backup in a 409."""
    unknown = set(body) - allowed
    if unknown:
        raise ErrorResponse(400, "InvalidParameter", f"Unknown field(s): {', '.join(sorted(unknown))}")
    name = body.get("displayName")
    if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 255):
        raise ErrorResponse(400, "InvalidParameter", "displayName must be 1 to 255 characters")
    validate(body)
    why = update_refused(backup, body, now)
    if why is not None:
        raise ErrorResponse(409, "Conflict", f"{what} cannot be changed so: {why}")
    changes = {key: value for key, value in body.items() if value is not None}
    period = changes.get("retentionPeriod", backup.get("retentionPeriod"))
    if changes.get("isRetentionLockEnabled", backup.get("isRetentionLockEnabled")) and period is None:
        raise ErrorResponse(400, "InvalidParameter", "isRetentionLockEnabled needs a retentionPeriod")
    backup.update(changes)
    if "retentionPeriod" in changes:
        backup["timeRetentionExpiresAt"] = expiry(backup["timeCreated"], period)

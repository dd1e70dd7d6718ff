"""Deletion after a grace period (``BACKUP_RETENTION_GRACE``): the mark a due backup carries, and when to trust it.

A backup the rules would delete is first marked with the free-form tag ``backup-retention-due`` =
``<since>|<why>|<seal>``: when this deployment first found it due, why (``rules``: no rule keeps it;
``max-age``: it is older than the max age), and a seal over the deployment's identity, the rule in
force, the backup's OCID, the time and the why. It is deleted only by a later run that finds it due
still, under the same rule, at least the grace period after ``since``; a run whose rules keep it again
removes the mark.

A mark is only a delay, never a reason to delete: the rules are applied afresh on every run, and only to
this deployment's own backups. A mark is trusted only when its seal matches (a mark a person typed, copied
from another backup, or made under another rule — keep-last lowered since, say — is not: the backup is
marked afresh and waits the whole grace period), when its time is not in the future, and not earlier
than the backup could have been due (its own creation, and the creation of the oldest of its volume's
backups that is newer than it: the newest backup is never due). The seal uses no secret: whoever may
change a backup's tags and knows the deployment's identity and configuration can forge one, as they can
forge the tags that make a backup this deployment's own; IAM (``use volume-backups``) is the boundary.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from backup_handler.runs.ownership import parse_time, tags_of
from backup_handler.vocabulary.fields import RETENTION_DUE_TAG

Why = Literal["rules", "max-age"]
SEPARATOR = "|"
SEAL_CHARS = 20
# A mark written by a clock this far ahead of the function's is still taken as written.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def stamp(moment: datetime) -> str:
    """A time as the mark writes it (UTC, whole seconds, ``Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Grace:
    """The grace period of one deployment under one rule (``rule_text``: the rule's canonical description)."""

    identity: str
    rule_text: str
    period: timedelta

    def seal(self, backup_id: str, since: str, why: str) -> str:
        material = "\n".join(("backup-retention-due", self.identity, self.rule_text, backup_id, since, why))
        return hashlib.sha256(material.encode()).hexdigest()[:SEAL_CHARS]

    def mark(self, backup_id: str, now: datetime, why: Why) -> str:
        """The tag value that marks ``backup_id`` due from ``now``."""
        since = stamp(now)
        return SEPARATOR.join((since, why, self.seal(backup_id, since, why)))

    def since(self, backup: dict[str, Any], floor: datetime, now: datetime) -> datetime | None:
        """When this deployment marked ``backup`` due under this rule, if its mark says so truly; else None.

        ``floor``: the earliest the backup can have been due (see the module's notes).
        """
        value = tags_of(backup).get(RETENTION_DUE_TAG)
        if not isinstance(value, str) or value.count(SEPARATOR) != 2:
            return None
        since_text, why, seal = value.split(SEPARATOR)
        expected = self.seal(str(backup.get("id")), since_text, why)
        if why not in ("rules", "max-age") or not hmac.compare_digest(seal, expected):
            return None
        since = parse_time(since_text)
        if since is None or stamp(since) != since_text or since > now + MAX_CLOCK_SKEW or since < floor:
            return None
        return since

    def deletable(self, since: datetime, now: datetime) -> bool:
        return now - since >= self.period


def floors(ranked: list[tuple[str, datetime]]) -> dict[str, datetime]:
    """For each backup of one scope (``(id, time)`` newest first), the earliest it can have been due: the time of
    the oldest backup newer than it, or its own when none is newer (it is the newest: never due yet)."""
    result: dict[str, datetime] = {}
    newer: datetime | None = None
    for backup_id, moment in ranked:
        result[backup_id] = max(moment, newer) if newer is not None else datetime.max.replace(tzinfo=UTC)
        newer = moment
    return result

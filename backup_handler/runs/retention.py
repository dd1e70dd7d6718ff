"""The retention decision: which of a volume's backups to keep and which to delete, and why.

:func:`decide` is pure: it sees only the backups it is given (one volume's, or one volume group's,
AVAILABLE and this deployment's own, newest first, each with the time it ranks by) and the rule,
and says keep or delete for each, with the reason. It never deletes the newest one. What a lock
protects, and whether the API is called at all, is the caller's business: a backup the rule would
delete but a lock protects is still "delete" here, so a caller copies only what the rule keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Rule:
    """Keep the newest ``keep_last``; delete what is older than ``max_age_days`` (None: no such limit)."""

    keep_last: int | None = None
    max_age_days: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.keep_last or self.max_age_days)


@dataclass(frozen=True)
class Candidate:
    """One backup the rule is applied to, and the time it ranks by (a copy ranks by its source's)."""

    backup: dict[str, Any]
    time: datetime


@dataclass(frozen=True)
class Decision:
    backup: dict[str, Any]
    keep: bool
    reason: str


def decide(candidates: Sequence[Candidate], rule: Rule, now: datetime) -> list[Decision]:
    """Keep or delete each candidate (given newest first), with the reason; the first is always kept."""
    decisions = []
    for position, candidate in enumerate(candidates):
        if position == 0:
            decisions.append(Decision(candidate.backup, True, "the newest AVAILABLE backup"))
        elif rule.keep_last and position >= rule.keep_last:
            reason = f"beyond the newest {rule.keep_last} AVAILABLE backups"
            decisions.append(Decision(candidate.backup, False, reason))
        elif rule.max_age_days and now - candidate.time > timedelta(days=rule.max_age_days):
            decisions.append(Decision(candidate.backup, False, f"older than {rule.max_age_days} days"))
        else:
            decisions.append(Decision(candidate.backup, True, "within the retention rule"))
    return decisions


def newest_first(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates ordered newest first (ties by OCID, so the order is the same on every run)."""
    return sorted(candidates, key=lambda c: (c.time, str(c.backup.get("id"))), reverse=True)

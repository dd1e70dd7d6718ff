"""The retention decision: which of a volume's backups to keep and which to delete, and why.

:func:`decide` is pure: it sees only the backups it is given (one volume's, or one volume group's,
AVAILABLE and this deployment's own, each with the time it ranks by) and the rule, and says keep or
delete for each, with the rules that keep it. The rule is restic's ``forget`` policy
(:mod:`.tiers`) beside the function's own limits:

- **keep rules** — keep-last N and the hourly/daily/weekly/monthly/yearly tiers and keep-within, counted
  in the rule's time zone exactly as ``restic forget`` counts them: a backup kept by any of them is kept,
  and its reasons are restic's words (``last snapshot``, ``daily snapshot``, ``within 2d``...);
- **max age** — a ceiling over every keep rule: a backup older than it goes even if a tier would keep it
  (with max age alone, everything younger than it is kept);
- **min keep** — the newest N backups are never deleted, whatever the other rules say (N is at least 1:
  the newest AVAILABLE backup is never deleted).

What a lock protects, whether deletion waits out a grace period, and whether the API is called at all,
is the caller's business: a backup the rule would delete but a lock protects is still "delete" here, so a
caller copies only what the rule keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any

from backup_handler.runs import tiers
from backup_handler.runs.tiers import Point, Policy, RelativeDuration

NEWEST_REASON = "newest AVAILABLE backup"
NO_RULE_REASON = "kept by no rule"


@dataclass(frozen=True)
class Rule:
    """What to keep: restic's keep rules, a max age (None: no such limit) and a minimum to keep.

    A tier count is 0 (off), a number of periods, or ``tiers.UNLIMITED``; ``tz`` is where periods are counted.
    """

    keep_last: int | None = None
    max_age_days: int | None = None
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: RelativeDuration | None = None
    tz: tzinfo = UTC
    min_keep: int = 1

    def __post_init__(self) -> None:
        if type(self.min_keep) is not int or self.min_keep < 1:
            raise ValueError(f"min_keep must be at least 1, got {self.min_keep!r}")

    @cached_property
    def policy(self) -> Policy:
        """The keep rules as restic's policy (empty when only max age is set)."""
        return Policy(
            last=self.keep_last or 0,
            hourly=self.hourly,
            daily=self.daily,
            weekly=self.weekly,
            monthly=self.monthly,
            yearly=self.yearly,
            within=self.within,
            tz=self.tz,
        )

    @property
    def active(self) -> bool:
        return bool(self.max_age_days) or not self.policy.is_empty

    def describe(self) -> str:
        """The rule in one canonical line (the same rule always gives the same text)."""
        parts = [
            f"last={self.keep_last or 0}",
            *(f"{name}={getattr(self, name)}" for name in ("hourly", "daily", "weekly", "monthly", "yearly")),
            f"within={self.within or ''}",
            f"maxAgeDays={self.max_age_days or ''}",
            f"minKeep={self.min_keep}",
            f"tz={self.tz}",
        ]
        return ";".join(parts)


@dataclass(frozen=True)
class Candidate:
    """One backup the rule is applied to, and the time it ranks by (a copy ranks by its source's)."""

    backup: dict[str, Any]
    time: datetime


@dataclass(frozen=True)
class Decision:
    """Keep or delete one backup: ``reasons`` are the rules that keep it (restic's words, then the function's);
    ``reason`` says it in one line (for a deletion: why it goes)."""

    backup: dict[str, Any]
    keep: bool
    reason: str
    reasons: tuple[str, ...] = ()
    min_keep: bool = False
    """Kept only because it is among the newest ``min_keep`` backups."""


def decide(candidates: Sequence[Candidate], rule: Rule, now: datetime) -> list[Decision]:
    """Keep or delete each candidate, with the rules that keep it; one decision per candidate, in their order.

    Candidates are ranked newest first by time, ties by OCID (as restic orders snapshots), whatever their
    order here. The newest ``rule.min_keep`` are always kept.
    """
    if not candidates:
        return []
    ids = [_id(candidate) for candidate in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError("a backup appears more than once among the candidates")
    policy = rule.policy
    if policy.is_empty:
        ranked = sorted(sorted(ids), key=lambda i: when[i], reverse=True) if (when := _times(candidates)) else []
        kept_by: dict[str, tuple[str, ...]] = {}
    else:
        verdicts = tiers.decide([Point(i, c.time) for i, c in zip(ids, candidates, strict=True)], policy, now)
        ranked = [verdict.id for verdict in verdicts]  # newest first, ties by OCID, as restic ranks them
        kept_by = {verdict.id: verdict.reasons for verdict in verdicts if verdict.keep}
    position = {backup_id: index for index, backup_id in enumerate(ranked)}
    policy_empty = policy.is_empty
    too_old = timedelta(days=rule.max_age_days) if rule.max_age_days else None
    minimum = f"among the newest {rule.min_keep} (min keep)"
    decisions = []
    for backup_id, candidate in zip(ids, candidates, strict=True):
        reasons = kept_by.get(backup_id, ())
        old = too_old is not None and now - candidate.time > too_old
        if policy_empty and not old:
            reasons = (f"younger than {rule.max_age_days} days",) if rule.max_age_days else ("no retention rule",)
        keep = bool(reasons) and not old
        floor = position[backup_id] < rule.min_keep
        if floor and position[backup_id] == 0:
            reasons = (NEWEST_REASON, *reasons)
            decisions.append(Decision(candidate.backup, True, ", ".join(reasons), reasons))
        elif floor and not keep:
            decisions.append(Decision(candidate.backup, True, minimum, (minimum,), min_keep=True))
        elif keep:
            decisions.append(Decision(candidate.backup, True, ", ".join(reasons), reasons))
        else:
            decisions.append(Decision(candidate.backup, False, _why_not(reasons, old, rule, policy_empty)))
    return decisions


def _times(candidates: Sequence[Candidate]) -> dict[str, datetime]:
    return {_id(candidate): candidate.time.astimezone(UTC) for candidate in candidates}


def _why_not(reasons: tuple[str, ...], old: bool, rule: Rule, policy_empty: bool) -> str:
    if not old:
        return NO_RULE_REASON
    limit = f"older than {rule.max_age_days} days (max age)"
    return f"{limit}, though {', '.join(reasons)}" if reasons and not policy_empty else limit


def _id(candidate: Candidate) -> str:
    return str(candidate.backup.get("id"))


def newest_first(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates ordered newest first (ties by OCID, so the order is the same on every run)."""
    return sorted(candidates, key=lambda c: (c.time, str(c.backup.get("id"))), reverse=True)

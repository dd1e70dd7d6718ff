"""The pure retention decision: keep or delete, with the reason, over one scope's backups newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backup_handler.runs.retention import Candidate, Decision, Rule, decide, newest_first

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def candidates(*days: float) -> list[Candidate]:
    return [Candidate({"id": f"b{n}"}, NOW - timedelta(days=d)) for n, d in enumerate(days)]


def kept(decisions: list[Decision]) -> list[str]:
    return [d.backup["id"] for d in decisions if d.keep]


def test_keep_last_keeps_the_newest_n_and_says_why_the_rest_go() -> None:
    decisions = decide(candidates(1, 2, 3, 4), Rule(keep_last=2), NOW)
    assert kept(decisions) == ["b0", "b1"]
    assert [d.reason for d in decisions if not d.keep] == ["beyond the newest 2 AVAILABLE backups"] * 2


def test_max_age_deletes_older_ones_but_never_the_newest() -> None:
    assert kept(decide(candidates(1, 5, 9), Rule(max_age_days=3), NOW)) == ["b0"]
    assert kept(decide(candidates(50, 60), Rule(max_age_days=3), NOW)) == ["b0"]  # the newest stays, however old


def test_both_rules_delete_what_either_would() -> None:
    assert kept(decide(candidates(1, 2, 10, 11), Rule(keep_last=3, max_age_days=5), NOW)) == ["b0", "b1"]


def test_no_rule_keeps_everything_and_nothing_is_an_empty_answer() -> None:
    assert kept(decide(candidates(1, 100), Rule(), NOW)) == ["b0", "b1"]
    assert decide([], Rule(keep_last=1), NOW) == []
    assert not Rule().active and Rule(keep_last=1).active


def test_newest_first_orders_by_time_then_ocid_the_same_on_every_run() -> None:
    same = NOW - timedelta(days=1)
    items = [Candidate({"id": "a"}, same), Candidate({"id": "c"}, NOW), Candidate({"id": "b"}, same)]
    assert [c.backup["id"] for c in newest_first(items)] == ["c", "b", "a"]
    assert [c.backup["id"] for c in newest_first(list(reversed(items)))] == ["c", "b", "a"]

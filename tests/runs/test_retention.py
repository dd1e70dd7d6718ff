"""The pure retention decision: keep or delete, with the reason, over one scope's backups newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from backup_handler.runs.retention import Candidate, Decision, Rule, decide, newest_first

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def candidates(*days: float) -> list[Candidate]:
    return [Candidate({"id": f"b{n}"}, NOW - timedelta(days=d)) for n, d in enumerate(days)]


def kept(decisions: list[Decision]) -> list[str]:
    return [d.backup["id"] for d in decisions if d.keep]


def test_keep_last_keeps_the_newest_n_and_says_why_the_rest_go() -> None:
    decisions = decide(candidates(1, 2, 3, 4), Rule(keep_last=2), NOW)
    assert kept(decisions) == ["b0", "b1"]
    assert [d.reasons for d in decisions if d.keep] == [
        ("newest AVAILABLE backup", "last snapshot"),
        ("last snapshot",),
    ]
    assert [d.reason for d in decisions if not d.keep] == ["kept by no rule"] * 2


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


def hourly(hours: int, start: datetime = NOW) -> list[Candidate]:
    """One backup an hour for ``hours`` hours up to ``start``, newest first."""
    return [Candidate({"id": f"h{n:05d}"}, start - timedelta(hours=n)) for n in range(hours)]


def test_tiers_keep_the_newest_backup_of_each_period_with_restics_reasons() -> None:
    decisions = decide(hourly(24 * 30), Rule(hourly=24, daily=7, weekly=4), NOW)
    kept_ones = [d for d in decisions if d.keep]
    # Friday 27 November, 12:00: 24 hourly (back to 13:00 on the 26th, the 26th's daily among them), the newest of
    # the 25th to the 21st (5 more dailies), and of the weeks of the 15th and the 8th (the 22nd's is a daily).
    assert len(kept_ones) == 24 + 5 + 2
    assert kept_ones[0].reasons == ("newest AVAILABLE backup", "hourly snapshot", "daily snapshot", "weekly snapshot")
    assert {r for d in kept_ones for r in d.reasons} >= {"hourly snapshot", "daily snapshot", "weekly snapshot"}


def test_a_backup_kept_by_any_rule_is_kept() -> None:
    decisions = decide(hourly(72), Rule(keep_last=2, daily=3), NOW)
    assert len(kept(decisions)) == 2 + 2  # the newest two, and the newest of the two days before
    assert all(d.keep == bool(d.reasons) for d in decisions)


def test_max_age_is_a_ceiling_over_every_tier_but_never_over_min_keep() -> None:
    rule = Rule(daily=30, max_age_days=10, min_keep=3)
    decisions = decide(candidates(*range(20)), rule, NOW)
    assert kept(decisions) == [f"b{n}" for n in range(11)]
    cut = next(d for d in decisions if d.backup["id"] == "b11")
    assert cut.reason == "older than 10 days (max age), though daily snapshot"
    only_old = decide(candidates(40, 50, 60, 70), rule, NOW)
    assert kept(only_old) == ["b0", "b1", "b2"] and [d.min_keep for d in only_old] == [False, True, True, False]


def test_min_keep_keeps_the_newest_n_whatever_the_rules_say() -> None:
    decisions = decide(hourly(6), Rule(daily=1, min_keep=4), NOW)
    assert kept(decisions) == ["h00000", "h00001", "h00002", "h00003"]
    assert decisions[2].reasons == ("among the newest 4 (min keep)",) and decisions[2].min_keep


def test_the_order_of_the_candidates_does_not_change_the_decision() -> None:
    items = hourly(24 * 10)
    rule = Rule(hourly=5, daily=3, keep_last=2)
    forward = {d.backup["id"]: d.keep for d in decide(items, rule, NOW)}
    backward = {d.backup["id"]: d.keep for d in decide(list(reversed(items)), rule, NOW)}
    assert forward == backward


def test_periods_are_counted_in_the_rules_time_zone() -> None:
    # 23:30 and 00:30 UTC are the same day in New York (18:30 and 19:30 on the 26th).
    items = [
        Candidate({"id": "late"}, datetime(2026, 11, 27, 0, 30, tzinfo=UTC)),
        Candidate({"id": "early"}, datetime(2026, 11, 26, 23, 30, tzinfo=UTC)),
    ]
    utc = decide(items, Rule(daily=2), NOW)
    new_york = decide(items, Rule(daily=2, tz=ZoneInfo("America/New_York")), NOW)
    assert kept(utc) == ["late", "early"]
    assert kept(new_york) == ["late", "early"]  # the oldest backup is kept while the tier has room
    assert [d.reasons for d in new_york] == [("newest AVAILABLE backup", "daily snapshot"), ("oldest daily snapshot",)]
    assert kept(
        decide(
            [*items, Candidate({"id": "x"}, datetime(2026, 11, 25, 12, tzinfo=UTC))],
            Rule(daily=2, tz=ZoneInfo("America/New_York")),
            NOW,
        )
    ) == ["late", "x"]

"""Retention tiers (restic forget semantics) and the full-backup cadence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backup_handler.runs.cadence import Cadence, full_due, parse_cadence
from backup_handler.runs.tiers import (
    UNLIMITED,
    Decision,
    Point,
    Policy,
    RelativeDuration,
    decide,
    parse_within,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def points(*times: datetime) -> list[Point]:
    """Snapshots named s0, s1, ... in the order given."""
    return [Point(f"s{number}", moment) for number, moment in enumerate(times)]


def kept(decisions: list[Decision]) -> list[str]:
    return [decision.id for decision in decisions if decision.keep]


def reasons(decisions: list[Decision]) -> dict[str, tuple[str, ...]]:
    return {decision.id: decision.reasons for decision in decisions}


# --- keep-within durations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", RelativeDuration(days=2)),
        ("36h", RelativeDuration(hours=36)),
        ("1y2m3d4h", RelativeDuration(1, 2, 3, 4)),
        ("4h3d", RelativeDuration(days=3, hours=4)),
        ("  7d\n", RelativeDuration(days=7)),
        ("0d", RelativeDuration()),
    ],
)
def test_parse_within_reads_restic_durations(text: str, expected: RelativeDuration) -> None:
    assert parse_within(text) == expected


def test_parse_within_m_means_months_not_minutes() -> None:
    assert parse_within("6m") == RelativeDuration(months=6)


def test_parse_within_takes_the_last_value_of_a_repeated_unit_like_restic() -> None:
    assert parse_within("1d2d") == RelativeDuration(days=2)


def test_parse_within_of_empty_text_is_the_zero_duration() -> None:
    assert parse_within("").is_zero


@pytest.mark.parametrize("text", ["d", "2", "2x", "2 d", "-1d", "+1d", "1.5d", "2D", "2dd", "2w", "٣d", "1y 2m"])
def test_parse_within_refuses_what_restic_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_within(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (RelativeDuration(days=2), "2d"),
        (RelativeDuration(1, 2, 3, 4), "1y2m3d4h"),
        (RelativeDuration(years=1, hours=5), "1y5h"),
        (RelativeDuration(), ""),
    ],
)
def test_relative_duration_prints_as_restic_does(duration: RelativeDuration, text: str) -> None:
    assert str(duration) == text


def test_relative_duration_refuses_negative_parts() -> None:
    with pytest.raises(ValueError, match="negative"):
        RelativeDuration(days=-1)


def test_before_rolls_an_overflowing_day_into_the_next_month_like_go() -> None:
    assert parse_within("1m").before(utc(2023, 3, 31, 12), UTC) == utc(2023, 3, 3, 12)
    assert parse_within("1m").before(utc(2024, 3, 31, 12), UTC) == utc(2024, 3, 2, 12)
    assert parse_within("1y").before(utc(2024, 2, 29), UTC) == utc(2023, 3, 1)


def test_before_takes_days_off_the_local_wall_clock_across_a_dst_change() -> None:
    noon_cest = datetime(2021, 3, 28, 12, tzinfo=BERLIN)
    assert parse_within("1d").before(noon_cest, BERLIN) == utc(2021, 3, 27, 11)  # noon CET, 23 hours earlier


def test_before_takes_hours_off_as_elapsed_time_across_a_dst_change() -> None:
    four_cest = datetime(2021, 3, 28, 4, tzinfo=BERLIN)
    assert parse_within("3h").before(four_cest, BERLIN) == utc(2021, 3, 27, 23)  # midnight CET, not 01:00


def test_before_places_a_repeated_wall_time_as_go_does() -> None:
    # East of UTC Go picks the second 02:30, west of it the first 01:30.
    assert parse_within("1d").before(datetime(2021, 11, 1, 2, 30, tzinfo=BERLIN), BERLIN) == utc(2021, 10, 31, 1, 30)
    assert parse_within("1d").before(datetime(2020, 11, 2, 1, 30, tzinfo=NEW_YORK), NEW_YORK) == utc(2020, 11, 1, 5, 30)


def test_before_moves_a_skipped_wall_time_by_the_size_of_the_jump_as_go_does() -> None:
    assert parse_within("1d").before(datetime(2021, 3, 29, 2, 30, tzinfo=BERLIN), BERLIN) == utc(2021, 3, 28, 1, 30)
    assert parse_within("1d").before(datetime(2021, 3, 15, 2, 30, tzinfo=NEW_YORK), NEW_YORK) == utc(2021, 3, 14, 6, 30)


def test_before_raises_overflow_error_outside_the_datetime_range() -> None:
    with pytest.raises(OverflowError):
        parse_within("5000y").before(utc(2024, 1, 1), UTC)


# --- policy --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["last", "hourly", "daily", "weekly", "monthly", "yearly"])
def test_policy_refuses_counts_below_unlimited(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Policy(**{field: -2})  # type: ignore[arg-type]


def test_policy_refuses_a_count_that_is_not_an_int() -> None:
    with pytest.raises(TypeError, match="daily"):
        Policy(daily=True)


def test_policy_with_no_rule_or_a_zero_within_is_empty() -> None:
    assert Policy().is_empty
    assert Policy(within=parse_within("0d")).is_empty
    assert not Policy(within=parse_within("1h")).is_empty
    assert not Policy(yearly=UNLIMITED).is_empty


def test_empty_policy_keeps_everything_with_restics_reason() -> None:
    decisions = decide(points(utc(2024, 1, 1), utc(2024, 1, 2)), Policy(), NOW)
    assert reasons(decisions) == {"s1": ("policy is empty",), "s0": ("policy is empty",)}
    assert all(decision.keep for decision in decisions)


# --- decide: order, validation -------------------------------------------------------


def test_decisions_come_newest_first_whatever_the_input_order() -> None:
    decisions = decide(points(utc(2024, 1, 2), utc(2024, 1, 3), utc(2024, 1, 1)), Policy(last=1), NOW)
    assert [decision.id for decision in decisions] == ["s1", "s0", "s2"]
    assert [decision.time for decision in decisions] == [utc(2024, 1, 3), utc(2024, 1, 2), utc(2024, 1, 1)]


def test_times_in_a_repeated_hour_are_ordered_by_instant_not_by_wall_clock() -> None:
    second_0215 = datetime(2021, 10, 31, 2, 15, fold=1, tzinfo=BERLIN)  # 01:15 UTC
    first_0245 = datetime(2021, 10, 31, 2, 45, tzinfo=BERLIN)  # 00:45 UTC, earlier
    decisions = decide([Point("a", second_0215), Point("b", first_0245)], Policy(last=1), NOW)
    assert [(d.id, d.keep) for d in decisions] == [("a", True), ("b", False)]


def test_a_future_time_in_a_repeated_hour_is_not_taken_for_the_newest_past_one() -> None:
    now = datetime(2021, 10, 31, 2, 30, tzinfo=BERLIN)  # 00:30 UTC
    future = datetime(2021, 10, 31, 2, 20, fold=1, tzinfo=BERLIN)  # 01:20 UTC, an earlier wall clock
    past = datetime(2021, 10, 31, 1, tzinfo=BERLIN)  # 23:00 UTC the day before
    decisions = decide([Point("future", future), Point("past", past)], Policy(within=parse_within("1h")), now)
    assert kept(decisions) == ["future", "past"]


def test_decide_on_no_snapshots_decides_nothing() -> None:
    assert decide([], Policy(daily=7), NOW) == []


def test_point_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Point("s0", datetime(2024, 1, 1))


def test_decide_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="now"):
        decide(points(utc(2024, 1, 1)), Policy(last=1), datetime(2024, 1, 1))


def test_decide_refuses_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="more than once"):
        decide([Point("a", utc(2024, 1, 1)), Point("a", utc(2024, 1, 2))], Policy(last=1), NOW)


# --- decide: each tier ---------------------------------------------------------------


def test_keep_last_keeps_the_n_newest() -> None:
    decisions = decide(points(*(utc(2024, 1, 1, hour) for hour in range(6))), Policy(last=3), NOW)
    assert kept(decisions) == ["s5", "s4", "s3"]
    assert reasons(decisions)["s3"] == ("last snapshot",)
    assert reasons(decisions)["s2"] == ()


def test_hourly_keeps_the_newest_snapshot_of_each_of_the_n_latest_hours() -> None:
    snapshots = points(utc(2024, 1, 1, 9, 5), utc(2024, 1, 1, 9, 55), utc(2024, 1, 1, 10, 1), utc(2024, 1, 1, 12, 0))
    assert kept(decide(snapshots, Policy(hourly=2), NOW)) == ["s3", "s2"]


def test_daily_counts_days_that_have_snapshots_not_calendar_days() -> None:
    days = [1, 1, 2, 4, 4, 7]
    snapshots = points(*(utc(2024, 1, day, 6 + number) for number, day in enumerate(days)))
    # Newest of January 7, 4 and 2; January 3, 5 and 6 have nothing to keep.
    assert kept(decide(snapshots, Policy(daily=3), NOW)) == ["s5", "s4", "s2"]


def test_weekly_keeps_one_per_iso_week_starting_monday() -> None:
    sunday, monday, next_sunday = utc(2024, 1, 7, 20), utc(2024, 1, 8, 1), utc(2024, 1, 14, 23)
    assert kept(decide(points(sunday, monday, next_sunday), Policy(weekly=5), NOW)) == ["s2", "s0"]


def test_monthly_keeps_the_newest_of_each_calendar_month() -> None:
    snapshots = points(utc(2024, 1, 31, 23), utc(2024, 2, 1), utc(2024, 2, 29, 12), utc(2024, 3, 1))
    decisions = decide(snapshots, Policy(monthly=2), NOW)
    assert kept(decisions) == ["s3", "s2"]


def test_yearly_keeps_the_newest_of_each_calendar_year() -> None:
    snapshots = points(utc(2021, 6, 1), utc(2022, 1, 1), utc(2022, 12, 31, 23, 59, 59), utc(2023, 1, 1))
    assert kept(decide(snapshots, Policy(yearly=2), NOW)) == ["s3", "s2"]


def test_tier_with_budget_left_also_keeps_the_oldest_snapshot() -> None:
    snapshots = points(utc(2024, 1, 1, 8), utc(2024, 1, 1, 20), utc(2024, 1, 2, 8))
    decisions = decide(snapshots, Policy(daily=7), NOW)
    assert reasons(decisions) == {
        "s2": ("daily snapshot",),
        "s1": ("daily snapshot",),
        "s0": ("oldest daily snapshot",),
    }


def test_tier_without_budget_left_does_not_keep_the_oldest_snapshot() -> None:
    snapshots = points(utc(2024, 1, 1, 8), utc(2024, 1, 1, 20), utc(2024, 1, 2, 8))
    assert kept(decide(snapshots, Policy(daily=2), NOW)) == ["s2", "s1"]


def test_oldest_snapshot_in_a_period_of_its_own_gets_the_plain_reason() -> None:
    decisions = decide(points(utc(2024, 1, 1), utc(2024, 1, 2)), Policy(daily=7), NOW)
    assert reasons(decisions)["s0"] == ("daily snapshot",)


def test_unlimited_tier_keeps_one_per_period_forever() -> None:
    snapshots = points(*(utc(2000 + offset // 2, 1 + offset % 2 * 6, 1) for offset in range(40)))
    decisions = decide(snapshots, Policy(yearly=UNLIMITED), NOW)
    assert all(reasons(decisions)[f"s{number}"] == ("yearly snapshot",) for number in range(1, 40, 2))
    assert reasons(decisions)["s0"] == ("oldest yearly snapshot",)  # an unlimited budget is never spent
    assert len(kept(decisions)) == 21


def test_unlimited_keep_last_keeps_everything() -> None:
    decisions = decide(points(*(utc(2024, 1, 1, hour) for hour in range(5))), Policy(last=UNLIMITED), NOW)
    assert len(kept(decisions)) == 5


# --- decide: keep-within -------------------------------------------------------------


def test_within_measures_from_the_newest_snapshot_not_from_now() -> None:
    snapshots = points(utc(2024, 1, 1), utc(2024, 1, 2, 12), utc(2024, 1, 3))
    decisions = decide(snapshots, Policy(within=parse_within("2d")), now=utc(2029, 1, 1))
    assert kept(decisions) == ["s2", "s1"]
    assert reasons(decisions)["s2"] == ("within 2d",)


def test_within_leaves_out_a_snapshot_exactly_at_the_cutoff() -> None:
    snapshots = points(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 1), utc(2024, 1, 2))
    assert kept(decide(snapshots, Policy(within=parse_within("1d")), NOW)) == ["s2", "s1"]


def test_within_measures_from_the_newest_snapshot_before_now() -> None:
    snapshots = points(utc(2024, 1, 1), utc(2024, 1, 2, 12), utc(2024, 1, 3), utc(2024, 6, 1))
    decisions = decide(snapshots, Policy(within=parse_within("2d")), now=utc(2024, 2, 1))
    # The June snapshot is in the future: kept (it is after the cutoff), not measured from.
    assert kept(decisions) == ["s3", "s2", "s1"]


def test_within_keeps_everything_when_every_snapshot_is_in_the_future() -> None:
    snapshots = points(utc(2024, 1, 1), utc(2024, 6, 1))
    assert kept(decide(snapshots, Policy(within=parse_within("1h")), now=utc(2023, 1, 1))) == ["s1", "s0"]


def test_within_keeps_everything_when_the_cutoff_is_before_year_one() -> None:
    snapshots = points(utc(1, 1, 1), utc(2024, 1, 1))
    assert kept(decide(snapshots, Policy(within=parse_within("5000y")), NOW)) == ["s1", "s0"]


def test_within_counts_months_on_the_calendar() -> None:
    # One month before March 31 is "February 31", that is March 3.
    snapshots = points(utc(2023, 3, 2, 23), utc(2023, 3, 3, 12, 0, 1), utc(2023, 3, 31, 12))
    assert kept(decide(snapshots, Policy(within=parse_within("1m")), NOW)) == ["s2", "s1"]


def test_within_cutoff_on_a_skipped_local_time_follows_go() -> None:
    # 1d before 02:30 EDT on March 15 is the skipped 02:30 of March 14: Go makes it 01:30 EST.
    snapshots = points(utc(2021, 3, 14, 6, 20), utc(2021, 3, 14, 6, 40), utc(2021, 3, 15, 6, 30))
    decisions = decide(snapshots, Policy(within=parse_within("1d"), tz=NEW_YORK), NOW)
    assert kept(decisions) == ["s2", "s1"]


# --- decide: several rules -----------------------------------------------------------


def test_a_snapshot_kept_by_any_rule_is_kept() -> None:
    snapshots = points(utc(2023, 6, 1), utc(2024, 1, 1, 9), utc(2024, 1, 1, 10), utc(2024, 1, 2, 10))
    decisions = decide(snapshots, Policy(last=1, daily=2, yearly=2), NOW)
    assert reasons(decisions) == {
        "s3": ("last snapshot", "daily snapshot", "yearly snapshot"),
        "s2": ("daily snapshot",),
        "s1": (),
        "s0": ("yearly snapshot",),
    }


def test_reasons_follow_restics_order_within_then_tiers_from_last_to_yearly() -> None:
    policy = Policy(last=1, hourly=1, daily=1, weekly=1, monthly=1, yearly=1, within=parse_within("1y2m3d4h"))
    (decision,) = decide(points(utc(2024, 1, 1)), policy, NOW)
    assert decision.reasons == (
        "within 1y2m3d4h",
        "last snapshot",
        "hourly snapshot",
        "daily snapshot",
        "weekly snapshot",
        "monthly snapshot",
        "yearly snapshot",
    )


def test_gold_policy_keeps_recent_hours_days_weeks_months_and_years() -> None:
    every_six_hours = [utc(2022, 1, 1) + timedelta(hours=6 * step) for step in range(4 * 365 * 2)]
    policy = Policy(hourly=24, daily=7, weekly=4, monthly=12, yearly=2)
    decisions = decide(points(*every_six_hours), policy, NOW)
    tally: dict[str, int] = {}
    for decision in decisions:
        for reason in decision.reasons:
            tally[reason] = tally.get(reason, 0) + 1
    assert tally == {
        "hourly snapshot": 24,
        "daily snapshot": 7,
        "weekly snapshot": 4,
        "monthly snapshot": 12,
        "yearly snapshot": 2,
    }
    assert kept(decisions)[:2] == [f"s{len(every_six_hours) - 1}", f"s{len(every_six_hours) - 2}"]


# --- decide: periods in a time zone --------------------------------------------------


def test_an_hour_that_occurs_twice_is_one_hourly_period() -> None:
    first_0215, second_0215 = utc(2021, 10, 31, 0, 15), utc(2021, 10, 31, 1, 15)  # 02:15 CEST, 02:15 CET
    snapshots = points(utc(2021, 10, 30, 23, 50), first_0215, second_0215)
    assert kept(decide(snapshots, Policy(hourly=2, tz=BERLIN), NOW)) == ["s2", "s0"]
    assert kept(decide(snapshots, Policy(hourly=2), NOW)) == ["s2", "s1"]


def test_days_begin_at_local_midnight() -> None:
    # 22:30 and 23:30 UTC on December 31 are two days in Berlin, one in UTC.
    snapshots = points(utc(2020, 12, 31, 12), utc(2020, 12, 31, 22, 30), utc(2020, 12, 31, 23, 30))
    assert kept(decide(snapshots, Policy(daily=2, tz=BERLIN), NOW)) == ["s2", "s1"]
    assert kept(decide(snapshots, Policy(daily=2), NOW)) == ["s2", "s0"]


def test_a_twenty_five_hour_local_day_is_one_daily_period() -> None:
    start, end = utc(2021, 10, 30, 22, 30), utc(2021, 10, 31, 22, 30)  # 00:30 and 23:30 on October 31 in Berlin
    assert end - start == timedelta(hours=24)
    snapshots = points(utc(2021, 10, 30, 12), start, end)
    assert kept(decide(snapshots, Policy(daily=2, tz=BERLIN), NOW)) == ["s2", "s0"]


def test_years_begin_at_local_new_year() -> None:
    # 04:30 UTC on New Year's Day is still 2020 in New York.
    snapshots = points(utc(2019, 6, 1), utc(2020, 6, 1), utc(2021, 1, 1, 4, 30))
    assert kept(decide(snapshots, Policy(yearly=2), NOW)) == ["s2", "s1"]
    assert kept(decide(snapshots, Policy(yearly=2, tz=NEW_YORK), NOW)) == ["s2", "s0"]


def test_weeks_begin_on_local_monday() -> None:
    # Sunday 23:30 UTC is Monday 00:30 in Berlin: a new week there, the same week in UTC.
    snapshots = points(utc(2024, 1, 7, 12), utc(2024, 1, 7, 23, 30))
    assert kept(decide(snapshots, Policy(weekly=1, tz=BERLIN), NOW)) == ["s1"]
    assert kept(decide(snapshots, Policy(weekly=2, tz=BERLIN), NOW)) == ["s1", "s0"]
    assert reasons(decide(snapshots, Policy(weekly=2), NOW))["s0"] == ("oldest weekly snapshot",)


def test_iso_weeks_run_across_the_year_end() -> None:
    # 2020-12-31 to 2021-01-03 is ISO week 2020-W53; 2024-12-30 to 2025-01-05 is 2025-W01.
    snapshots = points(utc(2020, 12, 27), utc(2020, 12, 31), utc(2021, 1, 3), utc(2021, 1, 4))
    assert kept(decide(snapshots, Policy(weekly=3), NOW)) == ["s3", "s2", "s0"]
    snapshots = points(utc(2024, 12, 29), utc(2024, 12, 30), utc(2025, 1, 5), utc(2025, 1, 6))
    assert kept(decide(snapshots, Policy(weekly=3), NOW)) == ["s3", "s2", "s0"]


def test_yearly_tier_counts_calendar_years_not_iso_week_years() -> None:
    # January 1, 2021 is in ISO week-year 2020, but in calendar year 2021.
    snapshots = points(utc(2020, 12, 31), utc(2021, 1, 1))
    assert kept(decide(snapshots, Policy(yearly=2), NOW)) == ["s1", "s0"]


def test_hours_in_a_half_hour_offset_zone_begin_at_half_past_utc() -> None:
    snapshots = points(utc(2022, 5, 5, 10, 10), utc(2022, 5, 5, 10, 40))  # 15:40 and 16:10 in Kolkata
    assert kept(decide(snapshots, Policy(hourly=2, tz=KOLKATA), NOW)) == ["s1", "s0"]
    assert reasons(decide(snapshots, Policy(hourly=2), NOW))["s0"] == ("oldest hourly snapshot",)


def test_periods_do_not_depend_on_the_zone_the_times_were_given_in() -> None:
    in_utc = points(utc(2020, 12, 31, 22, 30), utc(2020, 12, 31, 23, 30))
    in_tokyo = [Point(point.id, point.time.astimezone(ZoneInfo("Asia/Tokyo"))) for point in in_utc]
    policy = Policy(daily=1, tz=BERLIN)
    assert [(d.id, d.reasons) for d in decide(in_utc, policy, NOW)] == [
        (d.id, d.reasons) for d in decide(in_tokyo, policy, NOW)
    ]


# --- decide: ties ----------------------------------------------------------------------


def test_equal_times_are_ordered_by_id_so_input_order_does_not_matter() -> None:
    moment = utc(2024, 1, 1, 12)
    forward = [Point("a", moment), Point("b", moment), Point("c", utc(2024, 1, 1))]
    backward = list(reversed(forward))
    policy = Policy(daily=1)
    assert decide(forward, policy, NOW) == decide(backward, policy, NOW)
    assert [(d.id, d.reasons) for d in decide(forward, policy, NOW)] == [
        ("a", ("daily snapshot",)),
        ("b", ()),
        ("c", ()),
    ]


def test_equal_times_count_once_per_period_but_each_for_keep_last_and_within() -> None:
    moment = utc(2024, 1, 1, 12)
    snapshots = [Point("a", moment), Point("b", moment), Point("c", utc(2023, 1, 1))]
    assert kept(decide(snapshots, Policy(last=2), NOW)) == ["a", "b"]
    assert kept(decide(snapshots, Policy(within=parse_within("1h")), NOW)) == ["a", "b"]
    assert kept(decide(snapshots, Policy(daily=5), NOW)) == ["a", "c"]


# --- full backups on a cadence -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cadence"),
    [
        ("12h", Cadence(12, "h")),
        ("7d", Cadence(7, "d")),
        ("2w", Cadence(2, "w")),
        ("1mo", Cadence(1, "mo")),
        ("1y", Cadence(1, "y")),
        ("9999d", Cadence(9999, "d")),
    ],
)
def test_parse_cadence_reads_each_unit_and_prints_it_back(text: str, cadence: Cadence) -> None:
    assert parse_cadence(text) == cadence
    assert str(cadence) == text


NOT_CADENCES = ["", "7", "d", "0d", "07d", "7D", " 7d", "7d ", "7 d", "1w2d", "1m", "1month", "10000d", "-1d", "1.5d"]


@pytest.mark.parametrize("text", [*NOT_CADENCES, "+1d", "7dd", "٧d"])
def test_parse_cadence_refuses_anything_but_one_term(text: str) -> None:
    with pytest.raises(ValueError, match="invalid full-backup cadence"):
        parse_cadence(text)


def test_cadence_refuses_a_count_out_of_range() -> None:
    with pytest.raises(ValueError, match="count"):
        Cadence(0, "d")


def test_full_is_due_when_there_is_none() -> None:
    assert full_due(None, utc(2024, 1, 1), parse_cadence("7d"))


def test_full_is_due_by_calendar_day_so_a_run_seconds_earlier_does_not_delay_it() -> None:
    newest = utc(2024, 5, 1, 2, 0, 5)
    every = parse_cadence("7d")
    assert full_due(newest, utc(2024, 5, 8, 2, 0, 3), every)
    assert full_due(newest, utc(2024, 5, 8), every)
    assert not full_due(newest, utc(2024, 5, 7, 23, 59, 59), every)


def test_full_every_week_is_due_from_the_next_monday() -> None:
    every = parse_cadence("1w")
    assert full_due(utc(2024, 1, 7, 23), utc(2024, 1, 8), every)  # Sunday, then Monday
    assert not full_due(utc(2024, 1, 8), utc(2024, 1, 14, 23, 59), every)


def test_full_every_month_or_year_follows_the_calendar() -> None:
    assert full_due(utc(2024, 1, 31), utc(2024, 2, 1), parse_cadence("1mo"))
    assert not full_due(utc(2024, 1, 1), utc(2024, 1, 31, 23), parse_cadence("1mo"))
    assert full_due(utc(2023, 12, 31), utc(2024, 1, 1), parse_cadence("1y"))
    assert not full_due(utc(2023, 12, 31), utc(2024, 12, 31), parse_cadence("2y"))


def test_full_days_begin_at_local_midnight() -> None:
    newest, now = utc(2024, 5, 1, 21, 30), utc(2024, 5, 1, 22, 30)  # 23:30 and 00:30 in Berlin
    assert full_due(newest, now, parse_cadence("1d"), BERLIN)
    assert not full_due(newest, now, parse_cadence("1d"))


def test_full_hours_are_elapsed_hours_even_when_the_clock_goes_back() -> None:
    newest, now = utc(2021, 10, 31, 0, 10), utc(2021, 10, 31, 1, 10)  # 02:10 CEST, then 02:10 CET
    assert full_due(newest, now, parse_cadence("1h"), BERLIN)
    assert not full_due(newest, now, parse_cadence("2h"), BERLIN)


def test_full_is_not_due_when_the_newest_full_is_in_the_future() -> None:
    assert not full_due(utc(2024, 1, 10), utc(2024, 1, 1), parse_cadence("1d"))


def test_full_due_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        full_due(datetime(2024, 1, 1), utc(2024, 1, 2), parse_cadence("1d"))
    with pytest.raises(ValueError, match="timezone-aware"):
        full_due(None, datetime(2024, 1, 2), parse_cadence("1d"))

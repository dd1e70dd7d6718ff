"""The grace mark: what it says, and when it is trusted (only as this deployment wrote it, under this rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backup_handler.runs.grace import Grace, floors, stamp

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
GRACE = Grace("backup-app/backup-handler", "last=1;daily=7", timedelta(days=2))


def backup(backup_id: str, mark: str | None) -> dict[str, object]:
    tags = {"backup-retention-due": mark} if mark is not None else {}
    return {"id": backup_id, "freeformTags": tags}


def test_a_mark_says_when_and_why_and_is_trusted_as_written() -> None:
    mark = GRACE.mark("b1", NOW, "rules")
    since = GRACE.since(backup("b1", mark), NOW - timedelta(days=1), NOW + timedelta(days=3))

    assert mark.startswith("2026-11-27T12:00:00Z|rules|") and len(mark) < 256
    assert since == NOW and GRACE.deletable(since, NOW + timedelta(days=2))
    assert not GRACE.deletable(since, NOW + timedelta(days=1, hours=23))


def test_a_mark_is_not_trusted_on_another_backup_under_another_rule_or_identity_or_retyped() -> None:
    mark = GRACE.mark("b1", NOW, "rules")
    floor, later = NOW - timedelta(days=1), NOW + timedelta(days=3)
    other_rule = Grace(GRACE.identity, "last=30;daily=7", GRACE.period)
    other_deployment = Grace("other/backup-handler", GRACE.rule_text, GRACE.period)
    since_text, why, seal = mark.split("|")

    assert GRACE.since(backup("b2", mark), floor, later) is None  # copied from another backup
    assert other_rule.since(backup("b1", mark), floor, later) is None  # keep-last lowered since
    assert other_deployment.since(backup("b1", mark), floor, later) is None
    assert GRACE.since(backup("b1", f"2020-01-01T00:00:00Z|{why}|{seal}"), floor, later) is None  # time moved back
    assert GRACE.since(backup("b1", f"{since_text}|max-age|{seal}"), floor, later) is None
    assert GRACE.since(backup("b1", "2020-01-01T00:00:00Z|rules|0"), floor, later) is None
    assert GRACE.since(backup("b1", None), floor, later) is None
    assert GRACE.since(backup("b1", mark + "|x"), floor, later) is None


def test_a_mark_from_the_future_or_from_before_the_backup_could_be_due_is_not_trusted() -> None:
    mark = GRACE.mark("b1", NOW, "rules")

    assert GRACE.since(backup("b1", mark), NOW - timedelta(days=1), NOW - timedelta(hours=1)) is None
    assert GRACE.since(backup("b1", mark), NOW + timedelta(minutes=1), NOW + timedelta(days=3)) is None


def test_the_floor_is_the_next_newer_backups_time_and_the_newest_is_never_due() -> None:
    times = [("new", NOW), ("mid", NOW - timedelta(days=1)), ("old", NOW - timedelta(days=5))]
    result = floors(times)

    assert result["old"] == NOW - timedelta(days=1) and result["mid"] == NOW
    assert result["new"] > NOW + timedelta(days=365 * 1000)
    assert stamp(NOW) == "2026-11-27T12:00:00Z"

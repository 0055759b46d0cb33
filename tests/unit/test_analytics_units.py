"""Analytics units: local calendar buckets (a zone's offsets over a range, found to the second)
and the CSV's cells."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from server.analytics_time import bucket_start, buckets, window


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_paris_springs_forward_at_one_utc() -> None:
    win = window(date(2026, 3, 28), date(2026, 3, 30), ZoneInfo("Europe/Paris"))
    assert win.pieces == (
        (utc("2026-03-27T23:00:00"), 3600),
        (utc("2026-03-29T01:00:00"), 7200),
    )
    assert win.end == utc("2026-03-30T22:00:00")


def test_new_york_falls_back_to_a_25_hour_day() -> None:
    win = window(date(2026, 11, 1), date(2026, 11, 1), ZoneInfo("America/New_York"))
    assert win.end - win.start == 25 * 3600
    assert [offset for _, offset in win.pieces] == [-4 * 3600, -5 * 3600]


def test_half_hour_changes_and_quarter_hour_offsets() -> None:
    # Lord Howe Island moves by 30 minutes, at 02:00 local on the first Sunday of October.
    lord_howe = window(date(2026, 10, 3), date(2026, 10, 5), ZoneInfo("Australia/Lord_Howe"))
    assert [offset for _, offset in lord_howe.pieces] == [37800, 39600]
    assert lord_howe.pieces[1][0] == utc("2026-10-03T15:30:00")
    kathmandu = window(date(2026, 1, 1), date(2026, 12, 31), ZoneInfo("Asia/Kathmandu"))
    assert kathmandu.pieces == ((utc("2025-12-31T18:15:00"), 20700),)


def test_weeks_start_on_mondays() -> None:
    win = window(date(2026, 3, 28), date(2026, 4, 6), ZoneInfo("UTC"))
    assert [bucket_start(b, "week") for b in buckets(win, "week")] == [
        date(2026, 3, 23),
        date(2026, 3, 30),
        date(2026, 4, 6),
    ]
    assert [bucket_start(b, "day") for b in buckets(win, "day")][:2] == [
        date(2026, 3, 28),
        date(2026, 3, 29),
    ]


def test_csv_names_never_become_formulas() -> None:
    from server.analytics_report import _cell

    assert _cell('=HYPERLINK("http://evil.test")') == '\'=HYPERLINK("http://evil.test")'
    assert [_cell(n) for n in ("+1", "-1", "@a", "Ann")] == ["'+1", "'-1", "'@a", "Ann"]

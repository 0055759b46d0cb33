"""Business hours across daylight-saving changes, closures and partial days."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from signaling.hours import Hours, HoursError

WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def hours(zone: str, week: dict[str, Any] | None = None, **extra: Any) -> Hours:
    return Hours.from_wire(
        {"timezone": zone, "week": WEEKDAYS_9_TO_5 if week is None else week, **extra}
    )


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_open_and_closed_within_a_week() -> None:
    h = hours("Europe/London")
    # Wednesday 14 January 2026, 10:00 GMT.
    assert h.status(utc(2026, 1, 14, 10)).open
    assert h.status(utc(2026, 1, 14, 10)).closes_at == utc(2026, 1, 14, 17)
    evening = h.status(utc(2026, 1, 14, 18))
    assert not evening.open and evening.next_open == utc(2026, 1, 15, 9)
    # Friday evening: back on Monday.
    assert h.status(utc(2026, 1, 16, 17)).next_open == utc(2026, 1, 19, 9)


def test_spring_forward_keeps_local_opening_time() -> None:
    h = hours("Europe/London")
    # Clocks go forward on Sunday 29 March 2026; Monday opens at 09:00 BST = 08:00 UTC.
    status = h.status(utc(2026, 3, 28, 12))
    assert status.next_open == utc(2026, 3, 30, 8)
    # Friday before was GMT: 09:00 = 09:00 UTC.
    assert h.status(utc(2026, 3, 27, 8, 59)).next_open == utc(2026, 3, 27, 9)


def test_fall_back_monday_and_friday() -> None:
    h = hours("America/New_York")
    friday = h.status(utc(2026, 10, 30, 12))  # 08:00 EDT
    assert not friday.open and friday.next_open == utc(2026, 10, 30, 13)
    weekend = h.status(utc(2026, 10, 31, 12))
    assert weekend.next_open == utc(2026, 11, 2, 14)


def test_a_whole_day_across_the_change_is_23_or_25_hours() -> None:
    every_day = {day: [["00:00", "24:00"]] for day in ("sat", "sun")}
    spring = hours("Europe/Berlin", every_day)
    # Saturday 28 and Sunday 29 March 2026, merged through midnight: 24 h + 23 h.
    status = spring.status(utc(2026, 3, 28, 12))
    assert status.open and status.closes_at is not None
    opened = spring.instant(datetime(2026, 3, 28).date(), 0)
    assert (status.closes_at - opened).total_seconds() == 47 * 3600
    autumn = hours("Europe/Berlin", every_day)
    status = autumn.status(utc(2026, 10, 24, 12))
    opened = autumn.instant(datetime(2026, 10, 24).date(), 0)
    assert status.closes_at is not None
    assert (status.closes_at - opened).total_seconds() == 49 * 3600


def test_a_time_skipped_by_spring_forward_opens_when_the_gap_ends() -> None:
    h = hours("America/New_York", {"sun": [["02:30", "04:00"]]})
    # 8 March 2026: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    assert h.status(utc(2026, 3, 8, 6)).next_open == utc(2026, 3, 8, 7)
    assert h.status(utc(2026, 3, 8, 7, 30)).closes_at == utc(2026, 3, 8, 8)


def test_a_time_repeated_by_fall_back_is_its_first_occurrence() -> None:
    h = hours("America/New_York", {"sun": [["01:30", "03:00"]]})
    # 1 November 2026: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    assert h.status(utc(2026, 11, 1, 5)).next_open == utc(2026, 11, 1, 5, 30)


def test_a_holiday_closes_the_day_and_a_partial_day_shortens_it() -> None:
    h = hours(
        "Atlantic/Reykjavik",
        closures=[
            {"start": "2026-12-24", "hours": [["09:00", "12:00"]], "note": "Christmas Eve"},
            {"start": "2026-12-25", "end": "2026-12-28", "note": "Christmas"},
        ],
    )
    eve = h.status(utc(2026, 12, 24, 10))
    assert eve.open and eve.closes_at == utc(2026, 12, 24, 12)
    afternoon = h.status(utc(2026, 12, 24, 13))
    # 25th (Fri) to 28th (Mon) closed: back on Tuesday the 29th.
    assert not afternoon.open and afternoon.next_open == utc(2026, 12, 29, 9)


def test_a_closure_can_open_a_day_the_week_keeps_closed() -> None:
    h = hours("Europe/London", closures=[{"start": "2026-01-17", "hours": [["10:00", "14:00"]]}])
    assert h.status(utc(2026, 1, 16, 18)).next_open == utc(2026, 1, 17, 10)


def test_never_open_has_no_next_opening() -> None:
    status = hours("UTC", {}).status(utc(2026, 1, 1))
    assert not status.open and status.next_open is None


def test_wire_round_trip() -> None:
    h = hours("Asia/Tokyo", closures=[{"start": "2026-01-01", "end": "2026-01-03"}])
    assert Hours.from_wire(h.to_wire()) == h


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"timezone": "Mars/Olympus", "week": {}}, "timezone"),
        ({"timezone": "../etc/passwd", "week": {}}, "timezone"),
        ({"timezone": "UTC", "week": {"mon": [["09:00", "08:00"]]}}, "week.mon[0]"),
        ({"timezone": "UTC", "week": {"mon": [["9:00", "17:00"]]}}, "week.mon[0]"),
        ({"timezone": "UTC", "week": {"mon": [["09:00", "24:30"]]}}, "week.mon[0]"),
        (
            {"timezone": "UTC", "week": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}},
            "week.mon",
        ),
        ({"timezone": "UTC", "week": {"funday": []}}, "week"),
        (
            {"timezone": "UTC", "week": {}, "closures": [{"start": "2026-02-30"}]},
            "closures[0].start",
        ),
        (
            {
                "timezone": "UTC",
                "week": {},
                "closures": [{"start": "2026-02-03", "end": "2026-02-01"}],
            },
            "closures[0].end",
        ),
    ],
)
def test_invalid_hours_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(HoursError) as caught:
        Hours.from_wire(raw)
    assert caught.value.field == field

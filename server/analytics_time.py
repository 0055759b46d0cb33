"""Local calendar buckets in SQL, for a viewer's IANA time zone, on both databases.

Times are stored as epoch seconds (UTC). Over a date range a zone's UTC offset is piecewise
constant, changing only at its transitions (daylight saving time, or a change of law), so a
stored time's local time is ``t + offset(t)`` with ``offset`` a ``CASE`` over the few
transitions inside the range. From that, a local day, Monday-based week or hour of the day is
integer arithmetic, the same on SQLite and PostgreSQL, and correct on the 23- and 25-hour
days around a change (and in zones offset by 30 or 45 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

Group = Literal["day", "week"]

DAY = 86_400
WEEK = 7 * DAY
EPOCH = date(1970, 1, 1)
# 1970-01-01 was a Thursday: shifting by three days makes weeks start on Mondays.
MONDAY_SHIFT = 3 * DAY
_STEP = 3600  # transitions happen at least hours apart; each is then found to the second


@dataclass(frozen=True, slots=True)
class Window:
    """The local dates ``first``..``last`` (inclusive) in ``zone``, as the epoch seconds
    ``start`` (inclusive) to ``end`` (exclusive), with the zone's offsets in between:
    ``pieces`` lists ``(from_t, offset_s)``, the first from ``start``."""

    first: date
    last: date
    zone: ZoneInfo
    start: float
    end: float
    pieces: tuple[tuple[float, int], ...]


def _offset(zone: ZoneInfo, t: float) -> int:
    utcoffset = datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset()
    return int(utcoffset.total_seconds()) if utcoffset is not None else 0


def local_midnight(day: date, zone: ZoneInfo) -> float:
    """The epoch seconds of ``day``'s first local moment (where a change skips midnight,
    the moment the day starts)."""
    return datetime.combine(day, time(0), zone).timestamp()


def window(first: date, last: date, zone: ZoneInfo) -> Window:
    """The window of local dates ``first``..``last`` in ``zone``."""
    start = local_midnight(first, zone)
    end = local_midnight(last + timedelta(days=1), zone)
    pieces = [(start, _offset(zone, start))]
    t = start
    while t < end:
        step = min(t + _STEP, end)
        if _offset(zone, step) != pieces[-1][1]:
            # The change lies in (t, step]: find its first second.
            low, high = t, step
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, middle) == pieces[-1][1]:
                    low = middle
                else:
                    high = middle
            pieces.append((high, _offset(zone, high)))
        t = step
    return Window(first, last, zone, start, end, tuple(pieces))


def local_seconds(column: ColumnElement[float], win: Window) -> ColumnElement[float]:
    """``column`` (epoch seconds) as seconds since the epoch on the zone's wall clock."""
    if len(win.pieces) == 1:
        return column + win.pieces[0][1]
    offset = sa.case(
        *((column < until, sa.literal(off)) for (_, off), (until, _) in _pairs(win)),
        else_=sa.literal(win.pieces[-1][1]),
    )
    return column + offset


def _pairs(win: Window) -> list[tuple[tuple[float, int], tuple[float, int]]]:
    return list(zip(win.pieces, win.pieces[1:], strict=False))


def floor_int(expr: ColumnElement[float], dialect: str) -> ColumnElement[int]:
    """``floor(expr)`` as an integer. Stored times are after 1970, so every value here is
    positive, where SQLite's truncating cast is the floor; PostgreSQL's cast rounds."""
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(expr), sa.BigInteger)
    return sa.cast(expr, sa.Integer)


def bucket(
    column: ColumnElement[float], win: Window, group: Group, dialect: str
) -> ColumnElement[int]:
    """The local day (days since 1970-01-01) or week (Monday-based) of ``column``."""
    local = local_seconds(column, win)
    if group == "week":
        return floor_int((local + MONDAY_SHIFT) / WEEK, dialect)
    return floor_int(local / DAY, dialect)


def hour_of_day(column: ColumnElement[float], win: Window, dialect: str) -> ColumnElement[int]:
    """The local hour (0..23) of ``column``."""
    return floor_int(local_seconds(column, win) / 3600, dialect) % 24


def bucket_start(index: int, group: Group) -> date:
    """The first local date of bucket ``index``."""
    if group == "week":
        return EPOCH + timedelta(days=index * 7 - 3)
    return EPOCH + timedelta(days=index)


def buckets(win: Window, group: Group) -> list[int]:
    """Every bucket index the window touches, in order."""
    first = (win.first - EPOCH).days
    last = (win.last - EPOCH).days
    if group == "week":
        return list(range((first + 3) // 7, (last + 3) // 7 + 1))
    return list(range(first, last + 1))

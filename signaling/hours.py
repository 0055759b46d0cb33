"""Business hours: when a site's team is open, in the site's IANA time zone.

A week of opening ranges per weekday (local wall-clock times), plus closures: date ranges
whose hours replace the week's (no ranges: closed all day; some: a partial day). Everything
is computed on local dates with ``zoneinfo``, so 09:00 stays 09:00 on both sides of a
daylight-saving change, and a day that loses or gains an hour is shorter or longer.

A wall-clock time that does not exist (skipped by spring-forward) opens at the first instant
after the gap; one that happens twice (fall-back) means its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead the next opening is looked for (a long closure, a team open once a year).
HORIZON_DAYS = 400
MAX_RANGES = 6
MAX_CLOSURES = 200
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class HoursError(ValueError):
    """Hours that cannot be used; ``field`` says where."""

    def __init__(self, field: str, message: str, *, zone: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.zone = zone


def minutes(clock: str, where: str) -> int:
    """``"09:30"`` → 570; ``"24:00"`` (end of day) → 1440."""
    if not _CLOCK.match(clock):
        raise HoursError(where, "expected a time HH:MM (00:00 to 24:00).")
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def clock_text(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


Range = tuple[int, int]  # minutes from local midnight, start < end <= 1440


def _ranges(raw: Any, where: str) -> tuple[Range, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) > MAX_RANGES:
        raise HoursError(where, f"expected up to {MAX_RANGES} [start, end] ranges.")
    ranges: list[Range] = []
    for n, pair in enumerate(raw):
        here = f"{where}[{n}]"
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise HoursError(here, "expected [start, end].")
        if not all(isinstance(part, str) for part in pair):
            raise HoursError(here, "expected times as text, HH:MM.")
        start, end = minutes(pair[0], here), minutes(pair[1], here)
        if start >= end:
            raise HoursError(here, "the end must come after the start.")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in pairwise(ranges):
        if start < end:
            raise HoursError(where, "ranges overlap.")
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class Closure:
    """``first``..``last`` (inclusive local dates) open only during ``ranges`` (none: closed
    all day); ``note`` says why ("Christmas")."""

    first: date
    last: date
    ranges: tuple[Range, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Hours:
    """A site's hours: ``week`` holds each weekday's ranges, Monday first."""

    zone: str
    week: tuple[tuple[Range, ...], ...]
    closures: tuple[Closure, ...] = ()
    tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tz", zone_info(self.zone))

    # -- reading ------------------------------------------------------------------------

    def ranges_on(self, day: date) -> tuple[Range, ...]:
        """The opening ranges of one local date: a closure's if one covers it, else the
        week's."""
        for closure in self.closures:
            if closure.first <= day <= closure.last:
                return closure.ranges
        return self.week[day.weekday()]

    def instant(self, day: date, at: int) -> datetime:
        """The UTC instant of local ``day`` at ``at`` minutes past midnight (24:00 is the
        next day's midnight)."""
        if at >= 1440:
            day, at = day + timedelta(days=1), at - 1440
        local = datetime.combine(day, time(at // 60, at % 60), tzinfo=self.tz)
        utc = local.astimezone(UTC)
        if utc.astimezone(self.tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            # Skipped by spring-forward: fold=0 read it with the offset from before the
            # gap, which lands after the gap; the first instant after it is the jump.
            utc = _gap_end(utc, self.tz)
        return utc

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals as UTC instants, from the local day before ``start`` onwards,
        adjacent ones merged (a team open until 24:00 and from 00:00 is open through
        midnight)."""
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        pending: tuple[datetime, datetime] | None = None
        for _ in range(HORIZON_DAYS + 2):
            for first, last in self.ranges_on(day):
                opens, closes = self.instant(day, first), self.instant(day, last)
                if pending is not None and opens <= pending[1]:
                    pending = (pending[0], max(pending[1], closes))
                    continue
                if pending is not None:
                    yield pending
                pending = (opens, closes)
            day += timedelta(days=1)
        if pending is not None:
            yield pending

    def status(self, now: datetime) -> Status:
        """Whether the team is open at ``now`` (aware), and when that changes."""
        for opens, closes in self.intervals(now):
            if closes <= now:
                continue
            if opens <= now:
                return Status(True, None, closes)
            return Status(False, opens, None)
        return Status(False, None, None)

    # -- the wire ------------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        return {
            "timezone": self.zone,
            "week": {
                name: [[clock_text(a), clock_text(b)] for a, b in self.week[n]]
                for n, name in enumerate(DAYS)
            },
            "closures": [
                {
                    "start": c.first.isoformat(),
                    "end": c.last.isoformat(),
                    "hours": [[clock_text(a), clock_text(b)] for a, b in c.ranges],
                    "note": c.note,
                }
                for c in self.closures
            ],
        }

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Hours:
        """Validate and read hours as the REST API and the store carry them; raises
        ``HoursError`` naming the first field that is wrong."""
        zone = raw.get("timezone")
        if not isinstance(zone, str):
            raise HoursError("timezone", "expected an IANA time zone name.", zone=True)
        zone_info(zone)
        week_raw = raw.get("week")
        if not isinstance(week_raw, Mapping) or set(week_raw) - set(DAYS):
            raise HoursError("week", f"expected an object with keys {', '.join(DAYS)}.")
        week = tuple(_ranges(week_raw.get(name, []), f"week.{name}") for name in DAYS)
        closures_raw = raw.get("closures", [])
        if not isinstance(closures_raw, list) or len(closures_raw) > MAX_CLOSURES:
            raise HoursError("closures", f"expected up to {MAX_CLOSURES} closures.")
        return cls(zone, week, tuple(_closure(c, n) for n, c in enumerate(closures_raw)))


@dataclass(frozen=True, slots=True)
class Status:
    """Open now or not; ``next_open`` (closed) or ``closes_at`` (open) as UTC instants,
    None when there is none within the horizon."""

    open: bool
    next_open: datetime | None
    closes_at: datetime | None


def _closure(raw: Any, n: int) -> Closure:
    where = f"closures[{n}]"
    if not isinstance(raw, Mapping):
        raise HoursError(where, "expected an object with start, end, hours and note.")
    first = _date(raw.get("start"), f"{where}.start")
    last = _date(raw.get("end", raw.get("start")), f"{where}.end")
    if last < first:
        raise HoursError(f"{where}.end", "the end date comes before the start.")
    if (last - first).days > 366:
        raise HoursError(f"{where}.end", "a closure lasts at most a year.")
    note = raw.get("note", "")
    if not isinstance(note, str) or len(note) > 120:
        raise HoursError(f"{where}.note", "expected text of up to 120 characters.")
    return Closure(first, last, _ranges(raw.get("hours", []), f"{where}.hours"), note.strip())


def _date(raw: Any, where: str) -> date:
    if not isinstance(raw, str):
        raise HoursError(where, "expected a date YYYY-MM-DD.")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise HoursError(where, "expected a date YYYY-MM-DD.") from None


def zone_info(name: str) -> ZoneInfo:
    """The zone, or ``HoursError`` for a name that is not an IANA zone (a path, a typo)."""
    if name not in _zones():
        raise HoursError("timezone", f"{name[:60]!r} is not an IANA time zone.", zone=True)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(
            "timezone", f"{name[:60]!r} is not an IANA time zone.", zone=True
        ) from None


_ZONES: frozenset[str] = frozenset()


def _zones() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def _gap_end(guess: datetime, tz: ZoneInfo) -> datetime:
    """The instant a spring-forward gap ends, at or before ``guess``: walk back by minutes
    while the local time still jumps (gaps are at most a few hours)."""
    at = guess
    for _ in range(24 * 60):
        before = at - timedelta(minutes=1)
        if (at.astimezone(tz) - before.astimezone(tz)).total_seconds() != 60:
            return at
        at = before
    return guess

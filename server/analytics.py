"""The team's figures for a date range, computed in SQL from ``conversation_stats`` (one row
per conversation, kept in step with the event log by ``server.analytics_facts``) and, for
missed rings, from the log itself.

Definitions (what a supervisor reads on the page):

- a conversation counts in the local day or week it was queued in;
- *offered*: answered plus abandoned (conversations still waiting are in neither);
- *service level*: answered in under ``sla_s`` seconds from queueing, as a share of offered;
- *abandonment*: abandoned as a share of offered;
- *wait* p50 / p90: nearest-rank percentiles of the wait for the first accept;
- *handling*: from the first accept to the end, averaged over answered conversations that
  ended; a conversation's figures go to the staff member who answered it first;
- *missed rings*: rings that timed out (or whose staff member went away), counted when and
  for whom they rang;
- *CSAT*: ratings of 4 or 5 out of 5, as a share of ratings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.analytics_time import Group, Window, bucket, hour_of_day
from server.tables import conversation_stats as stats
from server.tables import conversation_tags, missed_rings

CHANNELS = ("chat", "voice", "video", "oneway")
# Dimensions a figure may be split by; None stands for "all".
Key = tuple[int | None, int | None, int | None]  # (bucket, site_id, agent_id)


@dataclass(frozen=True, slots=True)
class Query:
    """What the page asks for: a window of local dates, grouped by day or week, optionally
    one site, and the service-level threshold in seconds."""

    window: Window
    group: Group = "day"
    sla_s: float = 30.0
    site_id: int | None = None


@dataclass(slots=True)
class Tally:
    """Sums that fold across dimensions (percentiles are computed separately)."""

    conversations: int = 0
    answered: int = 0
    within_sla: int = 0
    abandoned: int = 0
    transfers: int = 0
    handle_sum: float = 0.0
    handled: int = 0
    wait_sum: float = 0.0
    ratings: int = 0
    satisfied: int = 0
    missed_rings: int = 0

    def add(self, other: Tally) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class Figures:
    """One row of the report: a tally and its wait percentiles."""

    tally: Tally = field(default_factory=Tally)
    wait_p50_s: float | None = None
    wait_p90_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        t = self.tally
        offered = t.answered + t.abandoned
        return {
            "conversations": t.conversations,
            "answered": t.answered,
            "abandoned": t.abandoned,
            "abandonment_pct": _pct(t.abandoned, offered),
            "service_level_pct": _pct(t.within_sla, offered),
            "wait_p50_s": _round(self.wait_p50_s),
            "wait_p90_s": _round(self.wait_p90_s),
            "wait_avg_s": _round(t.wait_sum / t.answered if t.answered else None),
            "missed_rings": t.missed_rings,
            "handle_avg_s": _round(t.handle_sum / t.handled if t.handled else None),
            "transfers": t.transfers,
            "ratings": t.ratings,
            "csat_pct": _pct(t.satisfied, t.ratings),
        }


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _in_window(query: Query, column: sa.ColumnElement[float]) -> list[sa.ColumnElement[bool]]:
    where = [column >= query.window.start, column < query.window.end]
    if query.site_id is not None:
        where.append(stats.c.site_id == query.site_id)
    return where


def _count(flag: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count(sa.case((flag, 1)))


def tallies(conn: Connection, query: Query) -> dict[Key, Tally]:
    """Tallies by (bucket, site, agent): one GROUP BY over the window's conversations and
    one over its missed rings."""
    dialect = conn.dialect.name
    key = bucket(stats.c.queued_at, query.window, query.group, dialect).label("b")
    rows = conn.execute(
        sa.select(
            key,
            stats.c.site_id,
            stats.c.agent_id,
            sa.func.count(),
            sa.func.count(stats.c.answered_at),
            _count(stats.c.wait_s < query.sla_s),
            _count(stats.c.abandoned),
            sa.func.coalesce(sa.func.sum(stats.c.transfers), 0),
            sa.func.coalesce(sa.func.sum(stats.c.handle_s), 0.0),
            sa.func.count(stats.c.handle_s),
            sa.func.coalesce(sa.func.sum(stats.c.wait_s), 0.0),
            sa.func.count(stats.c.rating),
            _count(stats.c.rating >= 4),
        )
        .where(*_in_window(query, stats.c.queued_at))
        .group_by(key, stats.c.site_id, stats.c.agent_id)
    ).all()
    found: dict[Key, Tally] = {}
    for b, site, agent, *sums in rows:
        found[(b, site, agent)] = Tally(*(v or 0 for v in sums))
    # Missed rings count for the staff member rung, in the bucket they rang in.
    m = missed_rings
    ring_key = bucket(m.c.rang_at, query.window, query.group, dialect).label("b")
    where = [m.c.rang_at >= query.window.start, m.c.rang_at < query.window.end]
    if query.site_id is not None:
        where.append(m.c.site_id == query.site_id)
    missed = (
        sa.select(ring_key, m.c.site_id, m.c.staff_id, sa.func.count())
        .where(*where)
        .group_by(ring_key, m.c.site_id, m.c.staff_id)
    )
    for b, site, agent, count in conn.execute(missed):
        found.setdefault((b, site, agent), Tally()).missed_rings += count
    return found


Waits = dict[tuple[int | None, ...], tuple[float, float]]
_POSITION = {"bucket": 0, "site": 1, "agent": 2}


def percentiles(conn: Connection, query: Query, *sets: Sequence[str]) -> list[Waits]:
    """Nearest-rank p50 and p90 of the wait (the value at rank ``ceil(p * n)``), for each of
    ``sets``: a combination of ``"bucket"``, ``"site"`` and ``"agent"`` (none for the whole
    window). PostgreSQL computes them in one scan (``percentile_disc`` is this very rank) over
    ``GROUPING SETS``; on SQLite, which has no percentile function and whose window functions
    cost several times this, one narrow read of the window's waits serves every set and the
    ranks are taken here."""
    if conn.dialect.name == "postgresql":
        return _percentiles_in_sql(conn, query, sets)
    key = bucket(stats.c.queued_at, query.window, query.group, conn.dialect.name)
    rows = conn.execute(
        sa.select(key, stats.c.site_id, stats.c.agent_id, stats.c.wait_s).where(
            stats.c.wait_s.is_not(None), *_in_window(query, stats.c.queued_at)
        )
    ).all()
    found: list[Waits] = []
    for names in sets:
        groups: dict[Any, list[float]] = defaultdict(list)
        if not names:
            if rows:  # no waits, no percentiles
                groups[()] = [row[3] for row in rows]
        else:
            of = itemgetter(*(_POSITION[name] for name in names))
            for row in rows:
                groups[of(row)].append(row[3])
        found.append(
            {
                (k if isinstance(k, tuple) else (k,)): (_rank(v, 50), _rank(v, 90))
                for k, v in groups.items()
            }
        )
    return found


def _percentiles_in_sql(
    conn: Connection, query: Query, sets: Sequence[Sequence[str]]
) -> list[Waits]:
    inner = sa.select(
        bucket(stats.c.queued_at, query.window, query.group, "postgresql").label("bucket"),
        stats.c.site_id.label("site"),
        stats.c.agent_id.label("agent"),
        stats.c.wait_s,
    ).where(stats.c.wait_s.is_not(None), *_in_window(query, stats.c.queued_at))
    sub = inner.subquery()
    dims = [sub.c.bucket, sub.c.site, sub.c.agent]
    grouping_sets = sa.func.grouping_sets(
        *(sa.tuple_(*(sub.c[name] for name in names)) if names else sa.text("()") for names in sets)
    )
    rows = conn.execute(
        sa.select(
            *dims,
            # Which dimensions a row is grouped by: bit 2 bucket, 1 site, 0 agent, set = rolled up.
            sa.func.grouping(*dims),
            sa.func.percentile_disc(0.5).within_group(sub.c.wait_s),
            sa.func.percentile_disc(0.9).within_group(sub.c.wait_s),
        ).group_by(grouping_sets)
    ).all()
    found: list[Waits] = []
    for names in sets:
        mask = sum(1 << (2 - _POSITION[n]) for n in ("bucket", "site", "agent") if n not in names)
        positions = [_POSITION[name] for name in names]
        found.append(
            {tuple(row[i] for i in positions): (row[4], row[5]) for row in rows if row[3] == mask}
        )
    return found


def _rank(values: list[float], percent: int) -> float:
    """The value at rank ``ceil(percent / 100 * n)`` (sorting ``values`` in place: a sort of
    plain floats here costs less than an ORDER BY of the rows)."""
    values.sort()
    return values[-(-percent * len(values) // 100) - 1]


def fold(found: dict[Key, Tally], pick: Iterable[int]) -> dict[tuple[int | None, ...], Tally]:
    """Sum tallies over the dimensions not in ``pick`` (indexes into the key)."""
    chosen = tuple(pick)
    folded: dict[tuple[int | None, ...], Tally] = defaultdict(Tally)
    for key, tally in found.items():
        folded[tuple(key[i] for i in chosen)].add(tally)
    return folded


def by_hour(conn: Connection, query: Query) -> dict[str, list[int]]:
    """Conversations per channel per local hour of the day (0..23) over the window."""
    hour = hour_of_day(stats.c.queued_at, query.window, conn.dialect.name).label("h")
    found = {channel: [0] * 24 for channel in CHANNELS}
    rows = conn.execute(
        sa.select(stats.c.channel, hour, sa.func.count())
        .where(*_in_window(query, stats.c.queued_at))
        .group_by(stats.c.channel, hour)
    )
    for channel, h, count in rows:
        found.setdefault(channel, [0] * 24)[int(h)] += count
    return found


def tags(conn: Connection, query: Query) -> list[tuple[str, int]]:
    """Outcome tags over the window's conversations, most used first."""
    t = conversation_tags
    where = [t.c.queued_at >= query.window.start, t.c.queued_at < query.window.end]
    if query.site_id is not None:
        where.append(t.c.site_id == query.site_id)
    count = sa.func.count().label("n")
    rows = conn.execute(
        sa.select(t.c.tag, count).where(*where).group_by(t.c.tag).order_by(count.desc(), t.c.tag)
    )
    return [(tag, n) for tag, n in rows]

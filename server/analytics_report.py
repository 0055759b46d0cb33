"""The analytics page's report and its CSV, assembled from ``server.analytics``'s queries,
and the reader that runs them away from the real-time path."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from server.analytics import Figures, Query, Tally, by_hour, fold, percentiles, tags, tallies
from server.analytics_time import bucket_start, buckets
from server.database import PostgresDatabase, _sqlite_pragmas
from server.store import SqlStore

T = TypeVar("T")

CSV_COLUMNS = (
    "period",
    "scope",
    "scope_id",
    "scope_name",
    "conversations",
    "answered",
    "abandoned",
    "abandonment_pct",
    "service_level_pct",
    "wait_p50_s",
    "wait_p90_s",
    "wait_avg_s",
    "missed_rings",
    "handle_avg_s",
    "transfers",
    "ratings",
    "csat_pct",
)


class AnalyticsReader:
    """Runs the report's statements in one read transaction. On SQLite on a connection and
    thread of its own (the store's one connection serves the real-time path on the event
    loop, and WAL lets a reader run beside the writer); on PostgreSQL on the store's pool."""

    def __init__(self, store: SqlStore, database_url: str) -> None:
        self.store = store
        self.engine: Engine | None = None
        url = sa.make_url(database_url)
        if url.get_backend_name() == "sqlite":
            self.engine = sa.create_engine(
                url.set(drivername="sqlite+pysqlite"), poolclass=sa.pool.NullPool
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    async def run(self, work: Callable[[Connection], T]) -> T:
        engine = self.engine
        if engine is None:
            database = self.store._database
            assert isinstance(database, PostgresDatabase)
            return await database.run(work)

        def read() -> T:
            with engine.connect() as conn, conn.begin():
                return work(conn)

        return await asyncio.to_thread(read)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


def _figures(
    tallied: Mapping[tuple[int | None, ...], Tally],
    waits: Mapping[tuple[int | None, ...], tuple[float, float]],
    key: tuple[int | None, ...],
) -> dict[str, Any]:
    p50, p90 = waits.get(key, (None, None))
    return Figures(tallied.get(key, Tally()), p50, p90).as_dict()


def report(conn: Connection, query: Query) -> dict[str, Any]:
    """The page's figures: the whole window, each period, each site and each staff member
    who answered or was rung (``agent_id`` None: conversations nobody answered), conversations
    by channel and local hour, and outcome tags. Ids only: the caller adds names."""
    found = tallies(conn, query)
    total = fold(found, ())
    periods = fold(found, (0,))
    sites = fold(found, (1,))
    agents = fold(found, (2,))
    waits_total, waits_period, waits_site, waits_agent = percentiles(
        conn, query, (), ("bucket",), ("site",), ("agent",)
    )
    return {
        "summary": _figures(total, waits_total, ()),
        "series": [
            {
                "period": bucket_start(b, query.group).isoformat(),
                **_figures(periods, waits_period, (b,)),
            }
            for b in buckets(query.window, query.group)
        ],
        "sites": [
            {"id": site, **_figures(sites, waits_site, (site,))}
            for site in sorted(s for (s,) in sites if s is not None)
        ],
        "agents": [
            {"id": agent, **_figures(agents, waits_agent, (agent,))}
            for agent in _ids(k[0] for k in agents)
        ],
        "by_hour": by_hour(conn, query),
        "tags": [{"tag": tag, "conversations": n} for tag, n in tags(conn, query)],
    }


def csv_rows(
    conn: Connection,
    query: Query,
    site_names: Mapping[int, str],
    agent_names: Mapping[int, str],
) -> str:
    """The figures per period for the whole team, each site and each staff member, as CSV
    (one header row, then a row per period and scope; ``all`` periods last)."""
    found = tallies(conn, query)
    scopes: list[tuple[str, int, Mapping[int, str]]] = [
        ("site", 1, site_names),
        ("agent", 2, agent_names),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    periods = buckets(query.window, query.group)

    def emit(period: str, scope: str, scope_id: int | None, name: str, fig: dict[str, Any]) -> None:
        values = ["" if fig[c] is None else fig[c] for c in CSV_COLUMNS[4:]]
        writer.writerow([period, scope, "" if scope_id is None else scope_id, _cell(name), *values])

    by_period = fold(found, (0,))
    waits_by = dict(
        zip(
            ("team", "site", "agent"),
            percentiles(conn, query, ("bucket",), ("bucket", "site"), ("bucket", "agent")),
            strict=True,
        )
    )
    waits = waits_by["team"]
    for b in periods:
        emit(
            bucket_start(b, query.group).isoformat(),
            "team",
            None,
            "",
            _figures(by_period, waits, (b,)),
        )
    for scope, index, names in scopes:
        tallied = fold(found, (0, index))
        waits = waits_by[scope]
        for scope_id in _ids(k[1] for k in tallied):
            label = names.get(scope_id, "") if scope_id is not None else "(unanswered)"
            for b in periods:
                if (b, scope_id) in tallied:
                    period = bucket_start(b, query.group).isoformat()
                    emit(period, scope, scope_id, label, _figures(tallied, waits, (b, scope_id)))
    return out.getvalue()


def _cell(text: str) -> str:
    """A name as a spreadsheet shows it, never as a formula (OWASP's CSV injection advice)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _ids(ids: Iterable[int | None]) -> list[int | None]:
    """Ids in order, with None (nobody) last."""
    return sorted(set(ids), key=lambda i: (i is None, i or 0))

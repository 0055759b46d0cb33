"""The analytics pages' queries over 1,000,000 conversations, on PostgreSQL and on SQLite.

Seeds a fresh database (migrated as the server would) by bulk insert: ``--conversations``
conversations over ``--days`` days on 5 sites with 40 staff members, each with its
``conversation_stats`` row, a missed ring in the event log for about one in eight, ratings
for a third and outcome tags for a quarter. Then times each page's work, run by the server's
own code (``server.analytics_report`` through ``AnalyticsReader``), ``--runs`` times each:

- ``30 days by day``: the page as it opens (the last 30 days, every site);
- ``30 days, one site``: the site picker;
- ``90 days by week`` and ``365 days by week``: the longest ranges the page allows;
- ``CSV 30 days by day``: the download (per period for the team, each site, each agent).

Prints a table and JSON with p50 / p95 / max per page (goal: p95 ≤ 500 ms).

    .venv/bin/python bench/analytics.py [--conversations 1000000] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from server.analytics import Query
from server.analytics_report import AnalyticsReader, csv_rows, report
from server.analytics_time import window
from server.migrate import migrate
from server.store import SqlStore

PG_SERVER = "postgres@127.0.0.1:5432"
SITES = 5
AGENTS = 40
ZONE = ZoneInfo("Europe/Paris")
CHANNELS = ("chat",) * 6 + ("voice",) * 2 + ("video",) + ("oneway",)
BATCH = 50_000


def _rows(count: int, days: int, end: float, rng: random.Random) -> Any:
    """(conversation, stats, missed-ring event or None, tags) per conversation."""
    span = days * 86_400
    for n in range(count):
        cid = f"{n:032x}"
        site = 1 + n % SITES
        # In time order, as conversations arrive.
        queued = end - span + span * (n + rng.random()) / count
        channel = rng.choice(CHANNELS)
        abandoned = rng.random() < 0.08
        agent = None if abandoned else 1 + rng.randrange(AGENTS)
        wait = rng.expovariate(1 / 25)
        answered = None if abandoned else queued + wait
        handle = None if abandoned else rng.expovariate(1 / 300)
        ended = queued + wait + (handle or 0)
        missed = 1 if rng.random() < 0.125 else 0
        rating = rng.randint(1, 5) if not abandoned and rng.random() < 0.33 else None
        conversation = (
            cid,
            site,
            f"v{n}",
            "ended",
            channel,
            agent,
            queued,
            queued,
            answered,
            ended,
        )
        stats = (
            cid, site, channel, queued, answered, agent, None if abandoned else wait, ended,
            handle, abandoned, missed, 0, 0, int(rng.random() < 0.05), rating,
        )  # fmt: skip
        event = (
            ("conversation.missed", cid, "system", 1 + rng.randrange(AGENTS), queued + 20)
            if missed
            else None
        )
        ring = (cid, event[3], site, event[4]) if event else None
        tags = [(cid, rng.choice(("sale", "refund", "support", "bug")), site, queued)] if (
            rng.random() < 0.25
        ) else []  # fmt: skip
        yield conversation, stats, event, ring, tags


CONVERSATION_COLUMNS = (
    "id", "site_id", "visitor_id", "status", "channel", "assignee_id", "created_at",
    "queued_at", "accepted_at", "ended_at",
)  # fmt: skip
STATS_COLUMNS = (
    "conversation_id", "site_id", "channel", "queued_at", "answered_at", "agent_id", "wait_s",
    "ended_at", "handle_s", "abandoned", "missed", "declined", "requeued", "transfers", "rating",
)  # fmt: skip
EVENT_COLUMNS = ("kind", "conversation_id", "actor", "staff_id", "created_at")
TAG_COLUMNS = ("conversation_id", "tag", "site_id", "queued_at")
RING_COLUMNS = ("conversation_id", "staff_id", "site_id", "rang_at")
TABLES = ("conversations", "conversation_stats", "events", "missed_rings", "conversation_tags")
COLUMNS = (CONVERSATION_COLUMNS, STATS_COLUMNS, EVENT_COLUMNS, RING_COLUMNS, TAG_COLUMNS)


def _batches(count: int, days: int, end: float) -> Any:
    rng = random.Random(7)
    chunk: tuple[list[Any], ...] = ([], [], [], [], [])
    for conversation, stats, event, ring, tags in _rows(count, days, end, rng):
        chunk[0].append(conversation)
        chunk[1].append(stats)
        if event and ring:
            chunk[2].append(event)
            chunk[3].append(ring)
        chunk[4].extend(tags)
        if len(chunk[0]) == BATCH:
            yield chunk
            chunk = ([], [], [], [], [])
    if chunk[0]:
        yield chunk


async def _people(store: SqlStore) -> None:
    for n in range(SITES):
        await store.create_site(f"site-{n}", f"Site {n + 1}", ("http://shop.test",), "Hi", "s" * 32)
    for n in range(AGENTS):
        await store.create_staff(f"agent{n}@bench.test", f"Agent {n + 1}", "agent", "x")


async def seed_postgres(dsn: str, count: int, days: int, end: float) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for chunk in _batches(count, days, end):
            for table, names, records in zip(TABLES, COLUMNS, chunk, strict=True):
                await conn.copy_records_to_table(table, records=records, columns=list(names))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def seed_sqlite(path: str, count: int, days: int, end: float) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        for chunk in _batches(count, days, end):
            with db:
                for table, names, records in zip(TABLES, COLUMNS, chunk, strict=True):
                    marks = ",".join("?" * len(names))
                    db.executemany(
                        f"INSERT INTO {table} ({','.join(names)}) VALUES ({marks})",  # noqa: S608
                        records,
                    )
        db.execute("ANALYZE")
    finally:
        db.close()


def pages(last: date) -> dict[str, tuple[Query, bool]]:
    """Each page's query (and whether it is the CSV download)."""

    def days(n: int, group: Any = "day", site: int | None = None) -> Query:
        return Query(window(last - timedelta(days=n - 1), last, ZONE), group, 30, site)

    return {
        "30 days by day": (days(30), False),
        "30 days, one site": (days(30, site=2), False),
        "90 days by week": (days(90, "week"), False),
        "365 days by week": (days(365, "week"), False),
        "CSV 30 days by day": (days(30), True),
    }


async def time_pages(url: str, last: date, runs: int) -> dict[str, dict[str, float]]:
    store = await SqlStore.open(url)
    reader = AnalyticsReader(store, url)
    names = {n: f"Agent {n}" for n in range(1, AGENTS + 1)}
    found: dict[str, dict[str, float]] = {}
    try:
        for name, (query, is_csv) in pages(last).items():
            times = []
            cpu = 0.0
            for n in range(runs + 1):  # the first run warms the cache and is not counted
                began = time.perf_counter()
                used = time.process_time()
                if is_csv:
                    await reader.run(lambda conn, q=query: csv_rows(conn, q, {}, names))
                else:
                    await reader.run(lambda conn, q=query: report(conn, q))
                times.append((time.perf_counter() - began) * 1000)
                if n:
                    cpu += time.process_time() - used
            times = sorted(times[1:])
            found[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
                "max_ms": round(times[-1], 1),
                # This process's CPU per run: all of the work on SQLite (the queries run in
                # this process), only the client's share on PostgreSQL.
                "cpu_ms": round(cpu / runs * 1000, 1),
            }
    finally:
        reader.close()
        await store.close()
    return found


async def one(backend: str, count: int, days: int, runs: int, workdir: str) -> dict[str, Any]:
    end = time.time()
    last = date.today()
    if backend == "sqlite":
        path = str(Path(workdir) / "analytics.db")
        url = f"sqlite+aiosqlite:///{path}"
    else:
        name = f"porchlight_bench_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://{PG_SERVER}/{name}"
    try:
        await migrate(url)
        store = await SqlStore.open(url)
        await _people(store)
        await store.close()
        began = time.perf_counter()
        if backend == "sqlite":
            await asyncio.to_thread(seed_sqlite, path, count, days, end)
        else:
            await seed_postgres(f"postgresql://{PG_SERVER}/{name}", count, days, end)
        seeded = time.perf_counter() - began
        timings = await time_pages(url, last, runs)
        return {
            "backend": backend,
            "seed_s": round(seeded, 1),
            # The machine is shared: its load while the pages were timed.
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "pages": timings,
        }
    finally:
        if backend == "postgres":
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--conversations", type=int, default=1_000_000)
    cli.add_argument("--days", type=int, default=365)
    cli.add_argument("--runs", type=int, default=20)
    cli.add_argument("--only", choices=("sqlite", "postgres"))
    cli.add_argument("--workdir", help="where the SQLite database goes (default: a temp dir)")
    args = cli.parse_args()
    backends = [args.only] if args.only else ["postgres", "sqlite"]
    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        for backend in backends:
            results.append(
                asyncio.run(one(backend, args.conversations, args.days, args.runs, workdir))
            )
    head = f"{'backend':<9} {'page':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu ms':>8}"
    print(head + "  goal p95 <= 500")
    for result in results:
        for page, t in result["pages"].items():
            verdict = "ok" if t["p95_ms"] <= 500 else "OVER"
            print(
                f"{result['backend']:<9} {page:<20} {t['p50_ms']:>8} {t['p95_ms']:>8} "
                f"{t['max_ms']:>8} {t['cpu_ms']:>8}  {verdict}"
            )
        print(
            f"{result['backend']:<9} seeded {args.conversations:,} in {result['seed_s']} s;"
            f" load average {result['load_average']} on {result['cpus']} CPUs"
        )
    print(
        json.dumps(
            {"conversations": args.conversations, "days": args.days, "results": results}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Analytics figures against a scenario of known waits, misses, transfers, ratings and tags
(tests/analytics_scenario.py), on SQLite and PostgreSQL, in the viewer's time zone across a
change to daylight saving time."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import sqlalchemy as sa

from server.analytics import Query
from server.analytics_report import AnalyticsReader, report
from server.analytics_time import window
from server.auth import SESSION_COOKIE
from server.keys import STORE
from server.store import SqlStore
from signaling.domain_events import DomainEvent, EventKind
from signaling.ports import NewConversation
from tests.analytics_scenario import PARIS, PASSWORD, Scenario, at, build
from tests.support import Server, login

FIRST, LAST = date(2026, 3, 28), date(2026, 3, 30)


def paris(group: Any = "day", sla: float = 30, site: int | None = None) -> Query:
    return Query(window(FIRST, LAST, PARIS), group, sla, site)


async def figures(store: SqlStore, url: str, query: Query) -> dict[str, Any]:
    reader = AnalyticsReader(store, url)
    try:
        return await reader.run(lambda conn: report(conn, query))
    finally:
        reader.close()


def pick(row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(row[name] for name in names)


async def test_the_scenarios_figures(store: SqlStore, database_url: str) -> None:
    s = await build(store)
    got = await figures(store, database_url, paris())
    assert got["summary"] == {
        "conversations": 5,
        "answered": 4,
        "abandoned": 1,
        "abandonment_pct": 20.0,
        "service_level_pct": 40.0,  # waits 10 and 25 of 10, 25, 40, 90 and one abandoned
        "wait_p50_s": 25.0,
        "wait_p90_s": 90.0,
        "wait_avg_s": 41.2,
        "missed_rings": 2,
        "handle_avg_s": 300.0,
        "transfers": 1,
        "ratings": 3,
        "csat_pct": 66.7,
    }
    # Local days: c3 (00:30 CET on the 29th) and c4 (00:30 CEST on the 30th) are on the
    # previous day in UTC.
    columns = ("period", "conversations", "answered", "abandoned", "missed_rings", "wait_p90_s")
    assert [pick(row, *columns) for row in got["series"]] == [
        ("2026-03-28", 2, 2, 0, 1, 40.0),
        ("2026-03-29", 2, 1, 1, 1, 90.0),
        ("2026-03-30", 1, 1, 0, 0, 25.0),
    ]
    columns = ("id", "conversations", "answered", "wait_p50_s", "wait_p90_s", "missed_rings")
    more = ("handle_avg_s", "transfers", "ratings", "csat_pct")
    assert [pick(row, *columns, *more) for row in got["agents"]] == [
        (s.ann.id, 2, 2, 10.0, 25.0, 1, 200.0, 0, 2, 100.0),
        (s.bob.id, 2, 2, 40.0, 90.0, 1, 400.0, 1, 1, 0.0),
        (None, 1, 0, None, None, 0, None, 0, 0, None),
    ]
    columns = ("id", "conversations", "answered", "abandoned", "missed_rings", "csat_pct")
    assert [pick(row, *columns) for row in got["sites"]] == [
        (s.site_a.id, 3, 3, 0, 2, 50.0),
        (s.site_b.id, 2, 1, 1, 0, 100.0),
    ]
    hours = got["by_hour"]
    assert {(ch, h) for ch, counts in hours.items() for h, n in enumerate(counts) if n} == {
        ("chat", 10),
        ("chat", 0),
        ("chat", 12),
        ("video", 23),
        ("voice", 0),
    }
    assert hours["chat"][0] == 1 and sum(sum(c) for c in hours.values()) == 5
    empty = date(2026, 1, 1)
    nothing = await figures(store, database_url, Query(window(empty, empty, ZoneInfo("UTC"))))
    assert pick(nothing["summary"], "conversations", "wait_p50_s", "service_level_pct") == (
        0,
        None,
        None,
    )
    assert got["tags"] == [
        {"tag": "sale", "conversations": 2},
        {"tag": "refund", "conversations": 1},
        {"tag": "support", "conversations": 1},
    ]


async def test_weeks_thresholds_and_one_site(store: SqlStore, database_url: str) -> None:
    s = await build(store)
    weeks = await figures(store, database_url, paris("week"))
    # Saturday 28 and Sunday 29 are in the week of Monday 23; Monday 30 starts the next.
    assert [pick(row, "period", "conversations", "wait_p50_s") for row in weeks["series"]] == [
        ("2026-03-23", 4, 40.0),
        ("2026-03-30", 1, 25.0),
    ]
    slower = await figures(store, database_url, paris(sla=60))
    assert slower["summary"]["service_level_pct"] == 60.0
    only_b = await figures(store, database_url, paris(site=s.site_b.id))
    assert pick(only_b["summary"], "conversations", "abandoned", "missed_rings") == (2, 1, 0)
    assert [row["id"] for row in only_b["sites"]] == [s.site_b.id]
    assert only_b["tags"] == [{"tag": "support", "conversations": 1}]
    # New York (on daylight time since 8 March) is four hours behind UTC: c3 (23:30 UTC on
    # the 28th) is the 28th's evening there, c4 (22:30 UTC on the 29th) the 29th's.
    york = Query(window(FIRST, LAST, ZoneInfo("America/New_York")))
    series = (await figures(store, database_url, york))["series"]
    assert [pick(row, "period", "conversations") for row in series] == [
        ("2026-03-28", 3),
        ("2026-03-29", 2),
        ("2026-03-30", 0),
    ]


async def test_a_rebuild_from_the_log_gives_the_same_figures(
    store: SqlStore, database_url: str
) -> None:
    await build(store)
    before = await figures(store, database_url, paris())

    assert await store.rebuild_analytics() == 26  # the folded kinds; rings are not
    assert await figures(store, database_url, paris()) == before
    count = await store._run(
        lambda conn: conn.execute(sa.text("SELECT count(*) FROM conversation_stats")).scalar()
    )
    assert count == 5


async def _get(http: aiohttp.ClientSession, url: str, cookie: str | None) -> Any:
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {}
    return await http.get(url, headers=headers)


async def test_rest_for_overseers_only_with_csv(server: Server) -> None:
    s: Scenario = await build(server.app[STORE], prefix="x")
    sue, _ = await login(server, s.supervisor.email, PASSWORD)
    al, _ = await login(server, s.agent.email, PASSWORD)
    base = f"{server.url}/api/v1/analytics"
    query = "?from=2026-03-28&to=2026-03-30&tz=Europe/Paris&group=day&sla=30"
    async with aiohttp.ClientSession() as http:
        response = await _get(http, base + query, sue)
        assert response.status == 200
        body = await response.json()
        assert body["range"] == {
            "from": "2026-03-28",
            "to": "2026-03-30",
            "tz": "Europe/Paris",
            "group": "day",
            "sla_s": 30,
            "site": None,
        }
        assert body["summary"]["conversations"] == 5
        assert [(a["name"], a["answered"]) for a in body["agents"]] == [
            ("Ann", 2),
            ("Bob", 2),
            ("(unanswered)", 0),
        ]
        assert [site["name"] for site in body["sites"]] == ["Shop A", "Shop B"]
        refused = await _get(http, base + query, al)
        assert refused.status == 403
        assert (await refused.json())["error"]["code"] == "auth.forbidden"
        assert (await _get(http, base + query, None)).status == 401
        for bad in (
            "?tz=Mars/Olympus",
            "?from=2026-03-30&to=2026-03-01",
            "?group=month",
            "?sla=0",
            "?from=2025-01-01&to=2026-03-01",
            "?colour=red",
        ):
            response = await _get(http, base + bad, sue)
            assert response.status == 400, bad
            assert (await response.json())["error"]["code"] == "payload.invalid"
        download = await _get(http, base + ".csv" + query.replace("day", "week"), sue)
        assert download.status == 200
        assert download.content_type == "text/csv"
        assert "attachment" in download.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await download.text())))
        assert (await _get(http, base + ".csv" + query, al)).status == 403
    team = [r for r in rows if r["scope"] == "team"]
    assert [(r["period"], r["conversations"], r["wait_p50_s"]) for r in team] == [
        ("2026-03-23", "4", "40.0"),
        ("2026-03-30", "1", "25.0"),
    ]
    ann = [r for r in rows if r["scope"] == "agent" and r["scope_name"] == "Ann"]
    assert [(r["period"], r["answered"], r["missed_rings"]) for r in ann] == [
        ("2026-03-23", "1", "1"),
        ("2026-03-30", "1", "0"),
    ]
    shop_b = [r for r in rows if r["scope"] == "site" and r["scope_name"] == "Shop B"]
    assert [(r["period"], r["abandoned"], r["abandonment_pct"]) for r in shop_b] == [
        ("2026-03-23", "1", "100.0"),
        ("2026-03-30", "0", "0.0"),
    ]


async def test_leaving_after_a_requeue_is_not_abandoning(
    store: SqlStore, database_url: str
) -> None:
    """Answered, then requeued (the staff member's grace ran out), then the customer left while
    waiting again: answered once, handled until the end, not abandoned."""
    s = await build(store)
    c6 = await store.create_conversation(
        NewConversation(site=s.site_a, visitor_id="visitor-c6"), at("2026-03-30T09:00:00")
    )
    t = at("2026-03-30T09:00:00")
    for kind, when, staff in (
        (EventKind.CONVERSATION_QUEUED, t, None),
        (EventKind.CONVERSATION_ACCEPTED, t + 5, s.ann.id),
        (EventKind.CONVERSATION_REQUEUED, t + 65, s.ann.id),
        (EventKind.CONVERSATION_ABANDONED, t + 105, None),
    ):
        await store.append_event(DomainEvent(kind, when, "system", c6.id, staff))
    got = await figures(store, database_url, paris())
    assert pick(got["summary"], "conversations", "answered", "abandoned", "handle_avg_s") == (
        6,
        5,
        1,
        (1200 + 100) / 5,
    )

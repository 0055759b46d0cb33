"""Webhook outbox throughput: ``--events`` stored events fanned out to ``--endpoints``
endpoints of one site, each a real aiohttp receiver on 127.0.0.2, delivered by one
``server.webhooks.Outbox`` running its real loop (real clock) on SQLite and on PostgreSQL.

Reported per database: the time from the first event stored until every delivery arrived,
deliveries per second, the latency of each delivery (event stored → received) at p50, p95
and max, and how many arrived twice (must be 0).

    .venv/bin/python bench/webhooks.py [--events 2000] [--endpoints 2] [--workdir DIR]
        [--postgres postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.migrate import migrate  # noqa: E402
from server.safe_fetch import FetchPolicy  # noqa: E402
from server.store import SqlStore  # noqa: E402
from server.store_webhooks import WebhookStore  # noqa: E402
from server.tables import events as event_log  # noqa: E402
from server.webhook_signing import new_secret  # noqa: E402
from server.webhooks import Outbox  # noqa: E402
from signaling.clock import LoopClock  # noqa: E402
from signaling.domain_events import DomainEvent, EventKind  # noqa: E402
from signaling.ports import NewConversation  # noqa: E402

HOST = "127.0.0.2"


async def receiver(arrived: dict[str, float], seen: list[str]) -> tuple[web.AppRunner, str]:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        webhook_id = request.headers["webhook-id"]
        seen.append(webhook_id)
        arrived.setdefault(webhook_id, time.time())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{HOST}:{port}/hooks"


async def run(database_url: str, events: int, endpoints: int) -> dict[str, Any]:
    await migrate(database_url)
    store = await SqlStore.open(database_url)
    hooks = WebhookStore(store._run, store.dialect)
    site = await store.create_site(
        key="bench", name="Bench", allowed_origins=(), greeting="Hi", secret="s" * 32
    )
    arrived: dict[str, float] = {}
    seen: list[str] = []
    runners = []
    for _ in range(endpoints):
        runner, url = await receiver(arrived, seen)
        runners.append(runner)
        await hooks.create_endpoint(
            site.id, url, "", ["conversation.queued"], new_secret(), time.time() - 1
        )
    policy = FetchPolicy(allow_http=True, allowed_networks=(ipaddress.ip_network(f"{HOST}/32"),))
    outbox = Outbox(hooks, LoopClock(), policy)
    outbox.start()
    try:
        conversation = await store.create_conversation(
            NewConversation(site, "visitor"), time.time()
        )
        started = time.time()
        for _ in range(events):
            await store.append_event(
                DomainEvent(
                    EventKind.CONVERSATION_QUEUED,
                    time.time(),
                    "customer",
                    conversation.id,
                    detail={"channel": "chat"},
                )
            )
            await outbox.on_event(DomainEvent(EventKind.CONVERSATION_QUEUED, 0, "customer"))
        expected = events * endpoints
        deadline = time.monotonic() + 600
        # A benchmark's progress poll (the receivers count; nothing to signal on).
        while len(arrived) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        finished = max(arrived.values()) if arrived else time.time()
    finally:
        await outbox.stop()
    rows = []
    for endpoint in await hooks.endpoints(site.id):
        before = None
        while True:
            page = await hooks.deliveries(endpoint.id, before, 500)
            rows += page
            if len(page) < 500:
                break
            before = page[-1].id
    created = {r.message_id: r.event_id for r in rows}
    stored = await _event_times(store)
    latencies = sorted((arrived[m] - stored[e]) * 1000 for m, e in created.items() if m in arrived)
    for runner in runners:
        await runner.cleanup()
    await store.close()
    span = finished - started
    return {
        "database": database_url.split(":")[0],
        "events": events,
        "endpoints": endpoints,
        "deliveries": len(arrived),
        "duplicates": len(seen) - len(set(seen)),
        "seconds": round(span, 2),
        "per_second": round(len(arrived) / span, 1) if span > 0 else None,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
    }


async def _event_times(store: SqlStore) -> dict[int, float]:
    rows = await store._run(
        lambda conn: conn.execute(sa.select(event_log.c.id, event_log.c.created_at)).all()
    )
    return {row.id: row.created_at for row in rows}


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        url = f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}"
        results.append(await run(url, args.events, args.endpoints))
    name = f"porchlight_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"postgresql://{args.postgres}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://{args.postgres}/{name}"
            results.append(await run(url, args.events, args.endpoints))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    return results


def describe(results: list[dict[str, Any]]) -> str:
    columns = [
        "database",
        "deliveries",
        "duplicates",
        "seconds",
        "per_second",
        "p50_ms",
        "p95_ms",
        "max_ms",
    ]
    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    lines += [" | ".join(str(r[c]) for c in columns) for r in results]
    return "\n".join(lines)


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--events", type=int, default=2000)
    cli.add_argument("--endpoints", type=int, default=2)
    cli.add_argument("--workdir", default=None)
    cli.add_argument("--postgres", default="postgres@127.0.0.1:5432")
    args = cli.parse_args()
    results = asyncio.run(main_async(args))
    print(describe(results))
    print(json.dumps(results, indent=2))
    return 0 if all(r["duplicates"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

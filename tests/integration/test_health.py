"""Liveness and readiness: /healthz answers without the database, so a server that only waits
on its database is not restarted for it; /readyz answers 503, coded, within its bound while
the database cannot take a message, on a connection of its own."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import sqlalchemy as sa

from server.health import READY_TIMEOUT
from tests.support import Server

SLACK = 1.0  # scheduling on a busy machine
READY = {"status": "ready", "database": "ok", "redis": "unused"}


@asynccontextmanager
async def message_tables_locked(database_url: str) -> AsyncIterator[None]:
    """Another client holds the lock a message append needs, until the block ends: on
    PostgreSQL ``LOCK TABLE ... ACCESS EXCLUSIVE``, on SQLite the write lock."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(url.database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    holder_pg = await asyncpg.connect(dsn)
    try:
        transaction = holder_pg.transaction()
        await transaction.start()
        await holder_pg.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await holder_pg.close()


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    async with http.get(url) as response:
        return response.status, await response.json(), time.monotonic() - started


async def test_health_separates_liveness_from_readiness(server: Server) -> None:
    bound = aiohttp.ClientTimeout(total=READY_TIMEOUT + SLACK)
    async with aiohttp.ClientSession(timeout=bound) as http:
        assert (await get(http, f"{server.url}/healthz"))[:2] == (200, {"status": "ok"})
        assert (await get(http, f"{server.url}/readyz"))[:2] == (200, READY)

        async with message_tables_locked(server.settings.database_url):
            status, body, _ = await get(http, f"{server.url}/healthz")
            assert (status, body) == (200, {"status": "ok"})
            # The client timeout is the bound: an answer that hangs fails the test.
            status, body, took = await get(http, f"{server.url}/readyz")
            assert status == 503
            assert body["status"] == "unavailable"
            assert body["error"] == {
                "code": "database.unavailable",
                "message": "The database does not answer.",
            }
            assert took < READY_TIMEOUT + SLACK

        assert (await get(http, f"{server.url}/readyz"))[:2] == (200, READY)

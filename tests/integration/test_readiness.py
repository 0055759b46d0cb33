"""``/readyz`` on a fleet node reports the database and Redis: it turns false (503, coded)
when its PostgreSQL or its Redis is stopped, and true again when each returns. Both servers
are the test's own processes, really stopped and started."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.cluster import private_redis
from tests.private_pg import private_postgres
from tests.support import Server, settings_for

TIMEOUT = 15.0


async def readiness(server: Server) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(f"{server.url}/readyz") as response,
    ):
        return response.status, await response.json()


async def until_ready(server: Server, status: int, code: str | None = None) -> dict[str, Any]:
    """Poll until /readyz answers ``status``: 200 and "ready" (not "degraded", which a node
    reports until its fan-out listener is back), or 503 with ``code``."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        seen, body = await readiness(server)
        wanted = body.get("error", {}).get("code") == code if code else body["status"] == "ready"
        if seen == status and wanted:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"still {seen} {body}"
        await asyncio.sleep(0.1)


async def test_readiness_follows_postgresql_and_redis(tmp_path: Path) -> None:
    with private_postgres() as postgres, private_redis(tmp_path) as redis:
        server = Server(settings_for(postgres.url, redis_url=redis.url))
        await server.start()
        try:
            body = await until_ready(server, 200)
            assert body == {"status": "ready", "database": "ok", "redis": "ok"}

            postgres.stop()
            body = await until_ready(server, 503, "database.unavailable")
            assert body["status"] == "unavailable" and body["redis"] == "ok"
            postgres.start()
            await until_ready(server, 200)

            redis.kill()
            body = await until_ready(server, 503, "redis.unavailable")
            assert body["database"] == "ok" and body["redis"] != "ok"
            redis.start()
            body = await until_ready(server, 200)
            assert body == {"status": "ready", "database": "ok", "redis": "ok"}
        finally:
            await server.stop()

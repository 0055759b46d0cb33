"""Liveness and readiness, for load balancers and orchestrators.

``GET /healthz`` (liveness) answers 200 while the process serves HTTP and never touches the
database, so a server that is only waiting on its database is not restarted for it.
``GET /readyz`` (readiness) answers 200 when a message could be stored now and, on a node
of a fleet, Redis answers; else 503 with a coded body (``database.unavailable`` or
``redis.unavailable``) within ``READY_TIMEOUT``: traffic should go elsewhere until it does.
Without Redis a fleet node has no shared sign-in counts or rate limits and no cross-node
emits. The checks have their own connections, outside the store's pool and the app's Redis
clients, so they neither wait behind message sends nor take a connection from them. The body
reports each check: ``{"status", "database", "redis"}`` (``ok``, ``unused`` or a reason).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from urllib.request import pathname2url

import sqlalchemy as sa
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from server.fanout import cross_node_ready
from server.keys import SETTINGS, SIO
from signaling.errors import ErrorCode

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0
"""Seconds within which ``/readyz`` answers, whatever the database does."""
LOCK_WAIT = 1.0
"""Seconds the check waits for a table lock (a migration, a ``LOCK TABLE``) before it fails."""
UNAVAILABLE = str(ErrorCode.DATABASE_UNAVAILABLE)
"""The code of a 503 from ``/readyz``: the database did not answer in time, or failed."""
REDIS_UNAVAILABLE = str(ErrorCode.REDIS_UNAVAILABLE)
"""The code of a 503 from ``/readyz`` when the database answers but Redis does not."""

# The locks a message append takes (UPDATE conversations, INSERT messages), taken and released
# in a transaction that writes nothing: the check fails exactly when appends would wait.
_PG_CHECK = "LOCK TABLE conversations, messages IN ROW EXCLUSIVE MODE"
# On SQLite an append needs the database's one write lock: take it and let it go at once.
_SQLITE_CHECK = (
    "BEGIN IMMEDIATE",
    "SELECT 1 FROM conversations LIMIT 1",
    "SELECT 1 FROM messages LIMIT 1",
    "ROLLBACK",
)

routes = web.RouteTableDef()


class Readiness:
    """Whether the database answers, on a connection of its own, within ``timeout`` seconds.

    Concurrent probes share one check in flight, so a burst of probes costs the database
    one query. ``check`` returns None when ready, else a short reason for the log.
    """

    def __init__(self, database_url: str, timeout: float = READY_TIMEOUT) -> None:
        self.timeout = timeout
        url = sa.make_url(database_url)
        self._sqlite_uri: str | None = None
        self._engine: AsyncEngine | None = None
        if url.get_backend_name() == "sqlite":
            path = url.database or ""
            if path not in ("", ":memory:") and not path.startswith("file:"):
                # mode=rw: never create a database that is not there.
                self._sqlite_uri = f"file:{pathname2url(os.path.abspath(path))}?mode=rw"
            # else an in-memory database, which only the store's own connection can see.
        else:
            lock_ms = str(int(LOCK_WAIT * 1000))
            self._engine = create_async_engine(
                url.set(drivername="postgresql+asyncpg"),
                pool_size=1,
                max_overflow=0,
                pool_timeout=timeout,
                connect_args={
                    "timeout": timeout,
                    "server_settings": {
                        "application_name": "porchlight-readiness",
                        "lock_timeout": lock_ms,
                        "statement_timeout": lock_ms,
                    },
                },
            )
        self._running: asyncio.Task[str | None] | None = None

    async def check(self) -> str | None:
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._bounded())
        # shield: one probe giving up must not cancel the check the others wait for.
        return await asyncio.shield(self._running)

    async def _bounded(self) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                if self._engine is not None:
                    await self._check_postgresql(self._engine)
                elif self._sqlite_uri is not None:
                    await asyncio.to_thread(self._check_sqlite, self._sqlite_uri)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as error:  # any failure at all means "not ready"
            return type(error).__name__
        return None

    @staticmethod
    async def _check_postgresql(engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            # The statement and lock timeouts end a blocked check on the server side, so
            # the connection stays usable; the outer timeout is the last resort.
            await conn.execute(sa.text(_PG_CHECK))
            await conn.rollback()

    @staticmethod
    def _check_sqlite(uri: str) -> None:
        """Take the write lock and read the message path's tables, writing nothing, on a
        connection of its own (the store's runs on the event loop), waiting at most
        ``LOCK_WAIT`` for the lock; runs on a worker thread. The lock is held for
        microseconds, so an append that meets it waits about as long."""
        db = sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT, isolation_level=None)
        try:
            for statement in _SQLITE_CHECK:
                db.execute(statement).fetchall()
        finally:
            db.close()

    async def close(self) -> None:
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        if self._engine is not None:
            await self._engine.dispose()


class RedisReadiness:
    """Whether Redis answers a PING within ``timeout`` seconds, on a client of its own.
    ``check`` returns None when it does (or when there is no Redis), else a reason."""

    def __init__(self, redis_url: str | None, timeout: float = READY_TIMEOUT) -> None:
        self.timeout = timeout
        self._redis = (
            None
            if redis_url is None
            else Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        )

    @property
    def used(self) -> bool:
        return self._redis is not None

    async def check(self) -> str | None:
        if self._redis is None:
            return None
        try:
            async with asyncio.timeout(self.timeout):
                await self._redis.ping()
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as error:
            return type(error).__name__
        return None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


READINESS = web.AppKey("readiness", Readiness)
REDIS_READINESS = web.AppKey("redis_readiness", RedisReadiness)


async def readiness_runtime(app: web.Application) -> AsyncIterator[None]:
    """The readiness checks' own connections, opened with the app and closed with it."""
    readiness = Readiness(app[SETTINGS].database_url)
    redis = RedisReadiness(app[SETTINGS].redis_url)
    app[READINESS] = readiness
    app[REDIS_READINESS] = redis
    yield
    await readiness.close()
    await redis.close()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers. No database, so it cannot hang on one."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when the database (and Redis, for a fleet) answer within
    ``READY_TIMEOUT``, else 503 with ``database.unavailable`` or ``redis.unavailable``. A
    fleet node whose Redis answers but whose listener has not resubscribed yet is
    ``degraded`` (still 200: it stores and serves everything, and its clients catch up by
    seq what other nodes' emits did not bring them)."""
    redis = request.app[REDIS_READINESS]
    database_problem, redis_problem = await asyncio.gather(
        request.app[READINESS].check(), redis.check()
    )
    checks = {
        "database": database_problem or "ok",
        "redis": redis_problem or ("ok" if redis.used else "unused"),
    }
    if database_problem is None and redis_problem is None:
        if not cross_node_ready(request.app[SIO].manager):
            return web.json_response(
                {
                    "status": "degraded",
                    **checks,
                    "reason": "not yet resubscribed to Redis: no cross-node emits",
                }
            )
        return web.json_response({"status": "ready", **checks})
    if database_problem is not None:
        log.warning("not ready: database check failed (%s)", database_problem)
        failed = {"code": UNAVAILABLE, "message": "The database does not answer."}
    else:
        log.warning("not ready: Redis check failed (%s)", redis_problem)
        failed = {"code": REDIS_UNAVAILABLE, "message": "Redis does not answer."}
    return web.json_response(
        {"status": "unavailable", **checks, "error": failed},
        status=503,
        headers={"Retry-After": "5"},
    )

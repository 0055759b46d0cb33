"""The database object under ``SqlStore``: how transactions reach SQLite or PostgreSQL.

``SqliteDatabase`` runs each transaction inline on the event loop over one kept connection,
with the WAL checkpoint and the durability fsync on threads of their own;
``PostgresDatabase`` runs them on a pooled async connection. Both take ``work``, a plain
function of a SQLAlchemy ``Connection`` that commits what it writes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.request import pathname2url

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from server.wal_sync import WalSync

log = logging.getLogger(__name__)

T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer. NORMAL: a commit writes its WAL frames and
        # returns without an fsync, which would hold the event loop (FULL did, for a whole
        # sync per commit). SqliteDatabase then waits for WalSync's fsync of the WAL on another
        # thread, which makes it as durable as FULL (see server.wal_sync).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        # Checkpoints (which sync the database file) run on _Checkpointer's thread.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


class _Checkpointer:
    """Copies the WAL back into the database file every ``every`` seconds, on its own thread
    and connection, so that the event loop never waits for the checkpoint's fsync. A passive
    checkpoint never blocks the writer."""

    def __init__(self, path: str, every: float = 1.0) -> None:
        self.path = path
        self.every = every
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name="porchlight-sqlite-checkpoint", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        # mode=rw: never create the file (the schema's migration does that).
        uri = f"file:{pathname2url(os.path.abspath(self.path))}?mode=rw"
        db: sqlite3.Connection | None = None
        try:
            while not self.stopping.wait(self.every):
                try:
                    if db is None:
                        db = sqlite3.connect(uri, uri=True, timeout=5.0)
                        # The checkpoint syncs the database file before the WAL is reused
                        # (which any mode but OFF does: WalSync relies on it). FULL costs
                        # nothing more here: this connection never commits, and not on the loop.
                        db.execute("PRAGMA synchronous=FULL")
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; retrying", exc_info=True)
        finally:
            if db is not None:
                db.close()

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.to_thread(self.thread.join)


class SqliteDatabase:
    """SQLite through the standard ``sqlite3`` driver on the event loop's own thread, with
    one connection kept open. A transaction here is tens to hundreds of microseconds, less
    than a hop to a worker thread and back (which, with the GIL and two busy cores, cost a
    message about half a millisecond); and as nothing awaits inside a transaction, the
    process's transactions simply take turns.

    Nothing waits for the disk on the loop: a commit only writes the WAL (``synchronous=
    NORMAL``), and ``run`` then awaits ``WalSync``'s fsync of the WAL on its own thread (group
    commit: one sync for every commit made while the previous one ran); the WAL checkpoint,
    which syncs the database file, runs on ``_Checkpointer``'s thread. So whatever ``run``
    returns, written or read, is on disk: a read waits too if it might have seen a commit
    not yet synced (another caller's message, whose seq must never be seen and then lost)."""

    def __init__(self, url: sa.URL) -> None:
        self.engine: Engine = sa.create_engine(
            url.set(drivername="sqlite+pysqlite"), pool_size=1, max_overflow=0
        )
        event.listen(self.engine, "connect", _sqlite_pragmas)
        self.conn: Connection | None = None
        path = url.database or ""
        in_memory = path in ("", ":memory:") or path.startswith("file::memory:")
        self.checkpointer = None if in_memory else _Checkpointer(path)
        # Nothing to sync in memory (nor durability to promise).
        self.syncer = None if in_memory else WalSync(path)
        self.closed = False

    async def run(self, work: Callable[[Connection], T]) -> T:
        if self.closed:
            raise RuntimeError("the store is closed")
        if self.conn is None:
            self.conn = self.engine.connect()
        driver = self.conn.connection.dbapi_connection
        assert isinstance(driver, sqlite3.Connection)
        changes = driver.total_changes
        try:
            return work(self.conn)
        finally:
            # ``work`` commits what it writes; this ends a read's snapshot (or a failed write).
            if self.conn.in_transaction():
                self.conn.rollback()
            if self.syncer is not None:
                # Rows changed: a commit (or, harmlessly, a rollback that costs one more sync).
                if driver.total_changes != changes:
                    self.syncer.committed()
                # After a failure too: its error may tell of a row not yet on disk.
                await self.syncer.durable()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.syncer is not None:
                await self.syncer.close()
            if self.checkpointer is not None:
                await self.checkpointer.stop()
            if self.conn is not None:
                self.conn.close()
            self.engine.dispose()


class PostgresDatabase:
    """PostgreSQL (asyncpg) through a normal async pool; ``work`` runs on the connection's
    sync facade, each statement one round trip."""

    def __init__(self, url: sa.URL) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True
        )

    async def run(self, work: Callable[[Connection], T]) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        await self.engine.dispose()

"""Database fixtures: every test that asks for ``database_url`` or ``store`` runs once on
SQLite (a file in ``tmp_path``) and once on a fresh PostgreSQL database.

PostgreSQL is found at ``PORCHLIGHT_TEST_PG`` (default ``postgres@127.0.0.1:5432``). When it
cannot be reached the PostgreSQL run is skipped, except on CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from server.migrate import migrate
from server.store import SqlStore
from tests.coturn import Coturn, running_coturn
from tests.support import Peer

PG_SERVER = os.environ.get("PORCHLIGHT_TEST_PG", "postgres@127.0.0.1:5432")
PG_CONNECT_TIMEOUT = 5.0


async def _admin_connection() -> asyncpg.Connection:
    """A connection to the ``postgres`` database, or a failed/skipped test saying why."""
    try:
        return await asyncpg.connect(
            f"postgresql://{PG_SERVER}/postgres", timeout=PG_CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        reason = f"PostgreSQL at {PG_SERVER} is unreachable: {error!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database (no schema yet), as a SQLAlchemy async URL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'porchlight.db'}"
        return
    name = f"porchlight_test_{secrets.token_hex(6)}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://{PG_SERVER}/{name}"
        finally:
            # FORCE: a connection leaked by a failing test must not keep the database alive.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    """A migrated ``SqlStore`` on ``database_url``, closed afterwards."""
    await migrate(database_url)
    opened = await SqlStore.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    """A real coturn running the shipped deploy/coturn/turnserver.conf on 127.0.0.1 with a
    random port, relay range and secret, relaying to peers on 127.0.0.1 (tests/coturn.py);
    skipped without ``turnserver``, except on CI."""
    with running_coturn(tmp_path) as turn:
        yield turn


@pytest.fixture
async def clients() -> AsyncIterator[list[Peer]]:
    """Socket peers to close after the test, connected or not."""
    made: list[Peer] = []
    yield made
    for peer in made:
        await peer.close()

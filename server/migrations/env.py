"""Alembic environment: runs migrations on an async engine (aiosqlite or asyncpg).

The database URL comes from ``config.attributes["database_url"]`` (set by
``server.migrate.migrate``), so no ini file is needed or edited.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from server.tables import metadata

config = context.config

# pg_advisory_xact_lock key for "migrating": any fixed number no other lock of ours uses.
MIGRATION_LOCK = 0x706F7263  # "porc"


def database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass it in config.attributes['database_url']")
    return str(url)


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # The nodes of a fleet start together and each one migrates: one at a time, so
            # the others wait, then find the schema current (otherwise two CREATE TABLEs
            # race and a node dies on a duplicate key). Released at commit.
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_async_migrations())

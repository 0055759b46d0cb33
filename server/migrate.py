"""Bring a database to the newest schema (``alembic upgrade head``), from code.

No ``alembic.ini``: the configuration is built here and the URL is handed to
``migrations/env.py`` through ``Config.attributes``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for this database, for ``alembic.command`` functions."""
    config = Config()
    # configparser would read a "%" in the path as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["database_url"] = database_url
    return config


async def migrate(database_url: str) -> None:
    """Run ``alembic upgrade head`` on ``database_url``.

    Alembic's commands are synchronous and ``env.py`` runs its own event loop, so the upgrade
    runs in a worker thread; awaiting it from a running loop is safe.
    """
    log.info("migrating the database to the newest schema")
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")

"""A site's webhook endpoints in SQL: the half of ``WebhookStore`` (``server.store_webhooks``)
that admins change. Every method is one transaction."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from server.accounts import commit
from server.tables import webhook_deliveries, webhook_endpoints

T = TypeVar("T")


class Run(Protocol):
    """The store's transaction runner: ``work`` on a connection of its own, committing
    what it writes."""

    def __call__(self, work: Callable[[Connection], T], /) -> Awaitable[T]: ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A site's receiver. ``secret`` (and ``previous_secret`` until ``previous_until``)
    signs its deliveries; they never leave the server except when made or rotated."""

    id: int
    site_id: int
    url: str
    description: str
    kinds: tuple[str, ...]
    enabled: bool
    created_at: float
    secret: str
    previous_secret: str | None
    previous_until: float | None


def secrets_at(row: RowMapping, now: float) -> tuple[str, ...]:
    """The secrets that sign a delivery made at ``now``: the current one, and the previous
    one while it is still honoured after a rotation."""
    until = row["previous_until"]
    if row["previous_secret"] and until is not None and now < until:
        return (row["secret"], row["previous_secret"])
    return (row["secret"],)


def _endpoint(row: RowMapping) -> Endpoint:
    return Endpoint(
        id=row["id"],
        site_id=row["site_id"],
        url=row["url"],
        description=row["description"],
        kinds=tuple(json.loads(row["kinds"])),
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        secret=row["secret"],
        previous_secret=row["previous_secret"],
        previous_until=row["previous_until"],
    )


class EndpointStore:
    """Endpoints. ``run`` is the store's transaction runner (``SqlStore._run``), ``dialect``
    its database's name."""

    def __init__(self, run: Run, dialect: str) -> None:
        self._run = run
        self.dialect = dialect

    # -- endpoints -----------------------------------------------------------------------

    async def create_endpoint(
        self,
        site_id: int,
        url: str,
        description: str,
        kinds: Sequence[str],
        secret: str,
        now: float,
    ) -> Endpoint:
        values = {
            "site_id": site_id,
            "url": url,
            "description": description,
            "kinds": json.dumps(list(kinds)),
            "secret": secret,
            "enabled": True,
            "created_at": now,
        }
        statement = sa.insert(webhook_endpoints).values(values).returning(webhook_endpoints)
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).mappings().one()))
        return _endpoint(row)

    async def endpoints(self, site_id: int | None = None) -> list[Endpoint]:
        statement = sa.select(webhook_endpoints).order_by(webhook_endpoints.c.id)
        if site_id is not None:
            statement = statement.where(webhook_endpoints.c.site_id == site_id)
        rows = await self._run(lambda conn: conn.execute(statement).mappings().all())
        return [_endpoint(row) for row in rows]

    async def endpoint(self, endpoint_id: int) -> Endpoint | None:
        statement = sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        row = await self._run(lambda conn: conn.execute(statement).mappings().first())
        return None if row is None else _endpoint(row)

    async def update_endpoint(self, endpoint_id: int, **changes: Any) -> Endpoint | None:
        """Change ``url``, ``description``, ``kinds`` or ``enabled``; None if no such row."""
        if "kinds" in changes:
            changes["kinds"] = json.dumps(list(changes["kinds"]))
        statement = (
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(changes)
            .returning(webhook_endpoints)
        )
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).mappings().first()))
        return None if row is None else _endpoint(row)

    async def rotate_secret(
        self, endpoint_id: int, secret: str, previous_until: float
    ) -> Endpoint | None:
        """Sign with ``secret`` from now on, and with the current one too until
        ``previous_until``."""
        statement = (
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(
                secret=secret,
                previous_secret=webhook_endpoints.c.secret,
                previous_until=previous_until,
            )
            .returning(webhook_endpoints)
        )
        row = await self._run(lambda conn: commit(conn, conn.execute(statement).mappings().first()))
        return None if row is None else _endpoint(row)

    async def delete_endpoint(self, endpoint_id: int) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(
                sa.delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
            )
            gone = conn.execute(
                sa.delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
            ).rowcount
            conn.commit()
            return bool(gone)

        return await self._run(work)

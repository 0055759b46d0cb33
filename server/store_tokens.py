"""API tokens in SQL: the token half of ``SqlStore`` (a base class, like ``Accounts``).
Only a token's SHA-256 is stored; the token itself is shown once, when it is made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from server.accounts import _STAFF, commit, staff_from_row
from server.tables import api_tokens, staff
from signaling.ports import StaffMember

T = TypeVar("T")
Scope = Literal["read", "admin"]


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as people see it: never its secret. ``prefix`` is the secret's first
    characters; ``last_used_at`` is to the minute (see ``TokenStore.touch_token``)."""

    id: int
    name: str
    scope: Scope
    prefix: str
    created_by: int
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


_TOKEN = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.scope,
    api_tokens.c.prefix,
    api_tokens.c.created_by,
    api_tokens.c.created_at,
    api_tokens.c.last_used_at,
    api_tokens.c.revoked_at,
)
_BY_HASH = (
    sa.select(*_TOKEN, *(column.label(f"staff_{column.key}") for column in _STAFF))
    .join_from(api_tokens, staff, staff.c.id == api_tokens.c.created_by)
    .where(
        api_tokens.c.token_hash == sa.bindparam("token_hash"),
        api_tokens.c.revoked_at.is_(None),
        staff.c.active.is_(True),
    )
)


def token_from_row(row: RowMapping) -> ApiToken:
    return ApiToken(**{column.key: row[column.key] for column in _TOKEN})


class TokenStore:
    """API tokens. Each method is one transaction."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def create_token(
        self, name: str, scope: Scope, token_hash: str, prefix: str, created_by: int, now: float
    ) -> ApiToken:
        values = {
            "name": name,
            "scope": scope,
            "token_hash": token_hash,
            "prefix": prefix,
            "created_by": created_by,
            "created_at": now,
        }
        statement = sa.insert(api_tokens).values(values).returning(*_TOKEN)

        def insert(conn: Connection) -> ApiToken:
            return commit(conn, token_from_row(conn.execute(statement).one()._mapping))

        return await self._run(insert)

    async def list_tokens(self, after: int = 0, limit: int | None = None) -> list[ApiToken]:
        """Tokens with ``id > after``, oldest first, revoked ones too."""
        statement = (
            sa.select(*_TOKEN).where(api_tokens.c.id > after).order_by(api_tokens.c.id)
        ).limit(limit)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [token_from_row(row._mapping) for row in rows]

    async def revoke_token(self, token_id: int, now: float) -> ApiToken | None:
        """Revoke a token (a revoked one stays revoked at its first time); None if unknown."""
        update = (
            sa.update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        select = sa.select(*_TOKEN).where(api_tokens.c.id == token_id)

        def revoke(conn: Connection) -> ApiToken | None:
            conn.execute(update)
            row = conn.execute(select).first()
            return commit(conn, token_from_row(row._mapping) if row else None)

        return await self._run(revoke)

    async def token_by_hash(self, token_hash: str) -> tuple[ApiToken, StaffMember] | None:
        """A live token and its creator, if the creator is still an active staff member."""
        row = await self._run(
            lambda conn: conn.execute(_BY_HASH, {"token_hash": token_hash}).first()
        )
        if row is None:
            return None
        fields = row._mapping
        owner = staff_from_row({c.key: fields[f"staff_{c.key}"] for c in _STAFF})  # type: ignore[arg-type]
        return token_from_row(fields), owner

    async def touch_token(self, token_id: int, now: float) -> None:
        """Record a use."""
        statement = (
            sa.update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
        )
        await self._run(lambda conn: commit(conn, conn.execute(statement)))

"""The audit log's rows (``audit_log``): appended, read newest first with filters and a
cursor, never changed (the table's triggers refuse UPDATE and DELETE)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.accounts import commit
from server.tables import audit_log

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    at: float
    actor_id: int | None
    actor: str
    action: str
    target: str | None
    details: Mapping[str, Any]
    address: str | None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters, each optional: ``action`` ends with "." for a family ("auth.")."""

    actor_id: int | None = None
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: float | None = None
    until: float | None = None
    before_id: int | None = None


class AuditStore:
    """Mixed into ``SqlStore``."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def append_audit(
        self,
        at: float,
        actor_id: int | None,
        actor: str,
        action: str,
        target: str | None,
        details: Mapping[str, Any],
        address: str | None,
    ) -> int:
        statement = (
            sa.insert(audit_log)
            .values(
                at=at,
                actor_id=actor_id,
                actor=actor[:320],
                action=action,
                target=target[:200] if target else None,
                details=json.dumps(dict(details), separators=(",", ":")) if details else None,
                address=address[:64] if address else None,
            )
            .returning(audit_log.c.id)
        )
        return await self._run(lambda conn: commit(conn, int(conn.execute(statement).scalar_one())))

    async def list_audit(self, query: AuditQuery, limit: int) -> list[AuditEntry]:
        """Entries matching ``query``, newest first (by id, which only grows), at most
        ``limit``; ``before_id`` continues a page."""
        where = []
        if query.actor_id is not None:
            where.append(audit_log.c.actor_id == query.actor_id)
        if query.actor is not None:
            where.append(audit_log.c.actor == query.actor)
        if query.action is not None:
            if query.action.endswith("."):
                where.append(audit_log.c.action.startswith(query.action, autoescape=True))
            else:
                where.append(audit_log.c.action == query.action)
        if query.target is not None:
            where.append(audit_log.c.target == query.target)
        if query.since is not None:
            where.append(audit_log.c.at >= query.since)
        if query.until is not None:
            where.append(audit_log.c.at < query.until)
        if query.before_id is not None:
            where.append(audit_log.c.id < query.before_id)
        statement = sa.select(audit_log).where(*where).order_by(audit_log.c.id.desc()).limit(limit)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [
            AuditEntry(
                id=row.id,
                at=row.at,
                actor_id=row.actor_id,
                actor=row.actor,
                action=row.action,
                target=row.target,
                details=json.loads(row.details) if row.details else {},
                address=row.address,
            )
            for row in rows
        ]

"""Personal data in the store: a visitor's conversations read out whole (export), emptied of
what identifies them (erasure), and old ended conversations deleted (retention), plus the
claims that keep a scheduled job on one node of a fleet. Each method is one transaction, so
a crash leaves a batch either done or untouched, and running it again finishes the work."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.accounts import commit
from server.tables import (
    call_proposals,
    calls,
    conversations,
    events,
    job_claims,
    messages,
    sites,
)

T = TypeVar("T")

# What an export shows of a conversation: everything but routing's own bookkeeping.
_EXPORTED = (
    "id",
    "visitor_id",
    "status",
    "channel",
    "language",
    "visitor_name",
    "page_url",
    "page_title",
    "created_at",
    "queued_at",
    "accepted_at",
    "ended_at",
    "ended_by",
    "assignee_id",
    "rating",
    "rating_comment",
)


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erasure or purge removed."""

    conversations: int
    messages: int


def _detail(text: str | None) -> Any:
    return json.loads(text) if text else None


class PrivacyStore:
    """Mixed into ``SqlStore``."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def visitor_conversations(self, site_id: int, visitor_id: str) -> list[tuple[str, str]]:
        """``(id, status)`` of every conversation of this visitor on this site, oldest
        first."""
        statement = (
            sa.select(conversations.c.id, conversations.c.status)
            .where(conversations.c.site_id == site_id, conversations.c.visitor_id == visitor_id)
            .order_by(conversations.c.created_at)
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [(row.id, row.status) for row in rows]

    async def export_conversations(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Each conversation with its messages, events, calls and call proposals, as JSON
        values (times in epoch seconds)."""
        if not ids:
            return []

        def read(conn: Connection) -> list[dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            rows = conn.execute(
                sa.select(conversations, sites.c.key.label("site"))
                .join(sites, sites.c.id == conversations.c.site_id)
                .where(conversations.c.id.in_(ids))
                .order_by(conversations.c.created_at)
            ).all()
            for row in rows:
                item = {name: row._mapping[name] for name in _EXPORTED}
                item["site"] = row.site
                item.update(messages=[], events=[], calls=[], call_proposals=[])
                found[row.id] = item
            for m in conn.execute(
                sa.select(messages)
                .where(messages.c.conversation_id.in_(ids))
                .order_by(messages.c.conversation_id, messages.c.seq)
            ).all():
                found[m.conversation_id]["messages"].append(
                    {
                        "seq": m.seq,
                        "sender": m.sender,
                        "author_name": m.author_name,
                        "kind": m.kind,
                        "body": m.body,
                        "created_at": m.created_at,
                        "detail": _detail(m.detail),
                    }
                )
            for e in conn.execute(
                sa.select(events).where(events.c.conversation_id.in_(ids)).order_by(events.c.id)
            ).all():
                found[e.conversation_id]["events"].append(
                    {
                        "kind": e.kind,
                        "actor": e.actor,
                        "at": e.created_at,
                        "detail": _detail(e.detail),
                    }
                )
            for c in conn.execute(
                sa.select(calls)
                .where(calls.c.conversation_id.in_(ids))
                .order_by(calls.c.started_at)
            ).all():
                found[c.conversation_id]["calls"].append(
                    {
                        "id": c.id,
                        "channel": c.channel,
                        "started_by": c.started_by,
                        "started_at": c.started_at,
                        "ended_at": c.ended_at,
                        "ended_by": c.ended_by,
                        "end_reason": c.end_reason,
                    }
                )
            for p in conn.execute(
                sa.select(call_proposals)
                .where(call_proposals.c.conversation_id.in_(ids))
                .order_by(call_proposals.c.proposed_at)
            ).all():
                found[p.conversation_id]["call_proposals"].append(
                    {
                        "channel": p.channel,
                        "proposed_at": p.proposed_at,
                        "answered_at": p.answered_at,
                        "answer": p.answer,
                    }
                )
            return list(found.values())

        return await self._run(read)

    async def erase_conversations(self, ids: Sequence[str], placeholder: str) -> Erased:
        """Remove what identifies a person from these ended conversations: their messages
        are deleted, and the visitor id (replaced by ``placeholder``), name and pages
        cleared. The rows stay, without personal data, so figures over them still add up."""
        if not ids:
            return Erased(0, 0)

        def erase(conn: Connection) -> Erased:
            ended = [conversations.c.id.in_(ids), conversations.c.status == "ended"]
            targets = sa.select(conversations.c.id).where(*ended).scalar_subquery()
            removed = conn.execute(
                sa.delete(messages).where(messages.c.conversation_id.in_(targets))
            ).rowcount
            cleared = conn.execute(
                sa.update(conversations)
                .where(*ended)
                .values(
                    visitor_id=placeholder,
                    visitor_name=None,
                    page_url=None,
                    page_title=None,
                    # The score stays for the figures; the words were the person's.
                    rating_comment=None,
                )
            ).rowcount
            conn.commit()
            return Erased(cleared, removed)

        return await self._run(erase)

    async def expired_conversations(self, site_id: int, cutoff: float, limit: int) -> list[str]:
        """Up to ``limit`` ids of this site's conversations that ended before ``cutoff``."""
        statement = (
            sa.select(conversations.c.id)
            .where(
                conversations.c.site_id == site_id,
                conversations.c.status == "ended",
                conversations.c.ended_at < cutoff,
            )
            .order_by(conversations.c.ended_at)
            .limit(limit)
        )
        return list(await self._run(lambda conn: conn.scalars(statement).all()))

    async def delete_conversations(self, ids: Sequence[str], cutoff: float) -> Erased:
        """Delete these conversations and everything under them, in one transaction; only
        those still ended before ``cutoff`` (checked again here)."""
        if not ids:
            return Erased(0, 0)

        def delete(conn: Connection) -> Erased:
            doomed = (
                sa.select(conversations.c.id)
                .where(
                    conversations.c.id.in_(ids),
                    conversations.c.status == "ended",
                    conversations.c.ended_at < cutoff,
                )
                .scalar_subquery()
            )
            removed = conn.execute(
                sa.delete(messages).where(messages.c.conversation_id.in_(doomed))
            ).rowcount
            for table in (events, call_proposals, calls):
                conn.execute(sa.delete(table).where(table.c.conversation_id.in_(doomed)))
            gone = conn.execute(sa.delete(conversations).where(conversations.c.id.in_(doomed)))
            conn.commit()
            return Erased(gone.rowcount, removed)

        return await self._run(delete)

    async def sites_with_retention(self) -> list[tuple[int, str, int]]:
        """``(id, key, retention_days)`` of the sites that have a retention period."""
        statement = sa.select(sites.c.id, sites.c.key, sites.c.retention_days).where(
            sites.c.retention_days.is_not(None)
        )
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return [(row.id, row.key, int(row.retention_days)) for row in rows]

    # -- scheduled jobs ------------------------------------------------------------------

    async def claim_job(
        self, name: str, node_id: str, now: float, every: float, lease: float
    ) -> bool:
        """Take the job ``name`` for ``lease`` seconds if it is due (not run for ``every``
        seconds) and no other node holds it: one compare-and-set, so two nodes asking at
        once cannot both win. A claim of a node that crashed lapses after ``lease``."""

        def claim(conn: Connection) -> bool:
            due = sa.or_(
                job_claims.c.last_run_at.is_(None), job_claims.c.last_run_at <= now - every
            )
            taken = conn.execute(
                sa.update(job_claims)
                .where(job_claims.c.name == name, job_claims.c.claimed_until < now, due)
                .values(node_id=node_id, claimed_until=now + lease)
            ).rowcount
            if taken == 0:
                exists = conn.scalar(sa.select(sa.func.count()).where(job_claims.c.name == name))
                if exists:
                    conn.rollback()
                    return False
                conn.execute(
                    sa.insert(job_claims).values(
                        name=name, node_id=node_id, claimed_until=now + lease
                    )
                )
            conn.commit()
            return True

        try:
            return await self._run(claim)
        except sa.exc.IntegrityError:  # another node inserted the first claim meanwhile
            return False

    async def finish_job(self, name: str, node_id: str, now: float) -> None:
        """Record a run that completed and let the claim go."""
        statement = (
            sa.update(job_claims)
            .where(job_claims.c.name == name, job_claims.c.node_id == node_id)
            .values(last_run_at=now, claimed_until=0)
        )
        await self._run(lambda conn: commit(conn, conn.execute(statement)))

"""Keeps ``conversation_stats``, ``conversation_tags`` and ``missed_rings``
(``server.tables``) in step with the event log: ``apply`` runs in the very transaction that
appends each event, so the figures can never disagree with the log; ``rebuild`` derives them
all again from the log, for a database that had events before these tables existed or
figures that must be recomputed.

What each kind does to its conversation's row:

- ``conversation.queued``: creates it (site, channel, ``queued_at``);
- ``conversation.accepted``: the first accept sets who answered and the wait;
- ``conversation.ended``: the end, and the handling time from the first accept;
- ``conversation.abandoned``: the customer left unanswered (or, answered before and
  requeued, the end);
- ``conversation.missed`` / ``declined`` / ``requeued`` / ``transferred``: one more of each
  (and a ``missed_rings`` row for each miss, with who was rung and when);
- ``conversation.rated``: the rating (``score``, 1 to 5; the last one counts);
- ``conversation.tagged``: the outcome tags (``tags``, the whole set).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from server.tables import conversation_stats as stats
from server.tables import conversation_tags as tags_table
from server.tables import conversations, events, missed_rings
from signaling.domain_events import EventKind

MAX_TAGS = 20
MAX_TAG_LENGTH = 64

_COUNTERS = {
    EventKind.CONVERSATION_MISSED: stats.c.missed,
    EventKind.CONVERSATION_DECLINED: stats.c.declined,
    EventKind.CONVERSATION_REQUEUED: stats.c.requeued,
    EventKind.CONVERSATION_TRANSFERRED: stats.c.transfers,
}


def _insert(conn: Connection, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, in the connection's own dialect."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def apply(
    conn: Connection,
    kind: str,
    conversation_id: str | None,
    staff_id: int | None,
    detail: Mapping[str, Any],
    at: float,
) -> None:
    """Fold one event into its conversation's figures (nothing for other kinds). Runs inside
    the caller's transaction and does not commit."""
    if conversation_id is None:
        return
    row = stats.c.conversation_id == conversation_id
    if kind == EventKind.CONVERSATION_QUEUED:
        channel = detail.get("channel")
        source = sa.select(
            conversations.c.id,
            conversations.c.site_id,
            sa.literal(channel, sa.String) if isinstance(channel, str) else conversations.c.channel,
            sa.literal(at, sa.Double),
        ).where(conversations.c.id == conversation_id)
        conn.execute(
            _insert(conn, stats)
            .from_select(["conversation_id", "site_id", "channel", "queued_at"], source)
            .on_conflict_do_nothing()
        )
    elif kind == EventKind.CONVERSATION_ACCEPTED:
        conn.execute(
            sa.update(stats)
            .where(row)
            .values(
                answered_at=sa.func.coalesce(stats.c.answered_at, at),
                agent_id=sa.func.coalesce(stats.c.agent_id, staff_id),
                wait_s=sa.func.coalesce(stats.c.wait_s, sa.literal(at) - stats.c.queued_at),
            )
        )
    elif kind == EventKind.CONVERSATION_ENDED:
        conn.execute(
            sa.update(stats)
            .where(row)
            .values(
                ended_at=at,
                handle_s=sa.case(
                    (stats.c.answered_at.is_not(None), sa.literal(at) - stats.c.answered_at)
                ),
            )
        )
    elif kind == EventKind.CONVERSATION_ABANDONED:
        # Left while waiting again after an answer (the staff member's grace ran out): it
        # was answered, so it is not abandoned, and it was handled until now.
        answered = stats.c.answered_at.is_not(None)
        conn.execute(
            sa.update(stats)
            .where(row)
            .values(
                abandoned=sa.case((answered, stats.c.abandoned), else_=sa.true()),
                ended_at=at,
                handle_s=sa.case((answered, sa.literal(at) - stats.c.answered_at)),
            )
        )
    elif kind in _COUNTERS:
        if kind == EventKind.CONVERSATION_MISSED:
            source = sa.select(
                stats.c.conversation_id,
                sa.literal(staff_id, sa.Integer),
                stats.c.site_id,
                sa.literal(at, sa.Double),
            ).where(row)
            conn.execute(
                sa.insert(missed_rings).from_select(
                    ["conversation_id", "staff_id", "site_id", "rang_at"], source
                )
            )
        column = _COUNTERS[EventKind(kind)]
        conn.execute(sa.update(stats).where(row).values({column: column + 1}))
    elif kind == EventKind.CONVERSATION_RATED:
        score = detail.get("score")
        if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5:
            conn.execute(sa.update(stats).where(row).values(rating=score))
    elif kind == EventKind.CONVERSATION_TAGGED:
        # The outcome its staff member picked (wrap-up): one tag, the last one counts.
        tag = detail.get("tag")
        _tag(conn, conversation_id, [tag] if tag else [])


def _tag(conn: Connection, conversation_id: str, tags: object) -> None:
    if not isinstance(tags, list):
        return
    chosen = sorted({t.strip() for t in tags if isinstance(t, str) and t.strip()})
    conn.execute(sa.delete(tags_table).where(tags_table.c.conversation_id == conversation_id))
    for tag in chosen[:MAX_TAGS]:
        source = sa.select(
            stats.c.conversation_id,
            sa.literal(tag[:MAX_TAG_LENGTH], sa.String),
            stats.c.site_id,
            stats.c.queued_at,
        ).where(stats.c.conversation_id == conversation_id)
        conn.execute(
            _insert(conn, tags_table)
            .from_select(["conversation_id", "tag", "site_id", "queued_at"], source)
            .on_conflict_do_nothing()
        )


FOLDED = frozenset(
    {
        EventKind.CONVERSATION_QUEUED,
        EventKind.CONVERSATION_ACCEPTED,
        EventKind.CONVERSATION_ENDED,
        EventKind.CONVERSATION_ABANDONED,
        EventKind.CONVERSATION_RATED,
        EventKind.CONVERSATION_TAGGED,
        *_COUNTERS,
    }
)


def rebuild(conn: Connection, batch: int = 5000) -> int:
    """Derive every conversation's figures again from the log, in the caller's transaction
    (so a crash half-way leaves the old figures): empty both tables, then replay the events
    in log order through ``apply``. Returns the number of events replayed. Does not commit."""
    if conn.dialect.name == "postgresql":
        # Appends wait until this commits: an event folded into a row this transaction has
        # deleted would otherwise be lost. (SQLite has one writer at a time already.)
        conn.execute(sa.text("LOCK TABLE events IN SHARE MODE"))
    conn.execute(sa.delete(tags_table))
    conn.execute(sa.delete(missed_rings))
    conn.execute(sa.delete(stats))
    replayed = 0
    after = 0
    statement = (
        sa.select(
            events.c.id,
            events.c.kind,
            events.c.conversation_id,
            events.c.staff_id,
            events.c.detail,
            events.c.created_at,
        )
        .where(events.c.kind.in_(sorted(FOLDED)), events.c.id > sa.bindparam("after"))
        .order_by(events.c.id)
        .limit(batch)
    )
    while rows := conn.execute(statement, {"after": after}).all():
        for row in rows:
            detail = json.loads(row.detail) if row.detail else {}
            apply(conn, row.kind, row.conversation_id, row.staff_id, detail, row.created_at)
        replayed += len(rows)
        after = rows[-1].id
    return replayed

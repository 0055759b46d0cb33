"""Business hours, what happens when nobody can answer, and the messages left for later.

Mixed into ``server.store.SqlStore``, which provides ``_run`` and the conversation helpers.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from server.accounts import SITE_CACHE_SIZE, SITE_TTL, commit
from server.tables import conversations, messages, site_hours, sites
from signaling.hours import Hours
from signaling.offline import OfflineMode, SiteHours
from signaling.ports import Conversation, NewConversation
from signaling.views import millis

T = TypeVar("T")
AnyRow = Row[Any]

_SELECT = sa.select(site_hours).where(site_hours.c.site_id == sa.bindparam("of_site"))
_OFFLINE = (
    sa.select(conversations, sites.c.name.label("site_name"))
    .join(sites, sites.c.id == conversations.c.site_id)
    .where(conversations.c.offline_at.is_not(None))
    .order_by(conversations.c.offline_at.desc(), conversations.c.id)
)
# What the customer wrote in those conversations (the message left, and any lines typed
# while they waited before), in order.
_WRITTEN = (
    sa.select(messages.c.conversation_id, messages.c.body)
    .where(
        messages.c.conversation_id.in_(sa.bindparam("ids", expanding=True)),
        messages.c.sender == "customer",
    )
    .order_by(messages.c.conversation_id, messages.c.seq)
)


def site_hours_from(row: Any) -> SiteHours:
    hours = Hours.from_wire(json.loads(row.hours)) if row is not None and row.hours else None
    mode: OfflineMode = "hide" if row is not None and row.offline == "hide" else "message"
    return SiteHours(hours, mode, row.queue_timeout if row is not None else None)


class HoursStore:
    """A site's hours row (none: always open, leave a message) and offline conversations.

    Hours are read on every availability check (each page view of every host page), so they
    are cached like sites (``SITE_TTL``): a change on this node applies at once, on other
    nodes within the TTL."""

    _hours_cache: dict[int, tuple[float, SiteHours]]

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def _conversation(self, row: AnyRow | None) -> Conversation | None:
        raise NotImplementedError

    async def site_hours(self, site_id: int) -> SiteHours:
        now = time.monotonic()
        cache = self._hours_cache
        cached = cache.get(site_id)
        if cached is not None and now - cached[0] < SITE_TTL:
            return cached[1]
        row = await self._run(lambda conn: conn.execute(_SELECT, {"of_site": site_id}).first())
        value = site_hours_from(row)
        if len(cache) >= SITE_CACHE_SIZE:
            cache.clear()
        cache[site_id] = (now, value)
        return value

    async def set_site_hours(self, site_id: int, value: SiteHours, now: float) -> SiteHours:
        """Replace the site's hours and offline choice in one write."""
        values = {
            "site_id": site_id,
            "hours": json.dumps(value.hours.to_wire()) if value.hours else None,
            "offline": value.offline,
            "queue_timeout": value.queue_timeout,
            "updated_at": now,
        }

        def work(conn: Connection) -> None:
            changed = conn.execute(
                sa.update(site_hours).where(site_hours.c.site_id == site_id).values(values)
            ).rowcount
            if not changed:
                conn.execute(sa.insert(site_hours).values(values))
            conn.commit()

        await self._run(work)
        self._hours_cache.pop(site_id, None)
        return value

    async def store_offline(
        self, new: NewConversation, email: str, body: str, client_msg_id: str, now: float
    ) -> Conversation:
        """A new conversation that is a message left for later: inserted ended and marked
        offline, with its first message (seq 1), in one transaction, so routing never sees
        it waiting."""
        conversation_id = uuid.uuid4().hex
        row = {
            "id": conversation_id,
            "site_id": new.site.id,
            "visitor_id": new.visitor_id,
            "status": "ended",
            "channel": "chat",
            "language": new.language,
            "last_seq": 1,
            "visitor_name": new.visitor_name,
            "page_url": new.page_url,
            "page_title": new.page_title,
            "created_at": now,
            "queued_at": now,
            "ended_at": now,
            "ended_by": "customer",
            "offline_at": now,
            "customer_email": email,
            "tried": "[]",
        }
        message = {
            "conversation_id": conversation_id,
            "seq": 1,
            "client_msg_id": client_msg_id,
            "sender": "customer",
            "kind": "text",
            "body": body,
            "created_at": now,
        }

        def work(conn: Connection) -> AnyRow | None:
            conn.execute(sa.insert(conversations).values(row))
            conn.execute(sa.insert(messages).values(message))
            return commit(
                conn, conn.execute(sa.select(conversations).where(conversations.c.id == row["id"]))
            ).first()

        stored = await self._conversation(await self._run(work))
        if stored is None:
            raise RuntimeError("offline conversation not stored")
        return stored

    async def offline_conversations(self, limit: int = 200) -> list[dict[str, Any]]:
        """Messages left for later, newest first, with their site's name and first line."""

        def work(conn: Connection) -> tuple[list[AnyRow], dict[str, list[str]]]:
            rows = conn.execute(_OFFLINE.limit(limit)).all()
            written: dict[str, list[str]] = {}
            if rows:
                for line in conn.execute(_WRITTEN, {"ids": [r.id for r in rows]}):
                    written.setdefault(line.conversation_id, []).append(line.body)
            return list(rows), written

        rows, written = await self._run(work)
        return [
            {
                "conversation_id": row.id,
                "site_id": row.site_id,
                "site_name": row.site_name,
                "email": row.customer_email,
                "message": "\n\n".join(written.get(row.id, [])),
                "page_url": row.page_url,
                "left_at": millis(row.offline_at),
            }
            for row in rows
        ]

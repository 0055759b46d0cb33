"""The retention purge per site, on both databases: it deletes ended conversations older
than the site's period and everything under them, leaves recent and open ones, survives a
crash in the middle (the rerun finishes the work), and a second run changes nothing. The
schedule's claim lets one node of a fleet run it at a time."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from server.audit import Audit, AuditAction
from server.privacy import DAY, Privacy, RetentionSchedule
from server.store import SqlStore
from server.tables import calls, conversations, events, messages
from signaling.domain_events import DomainEvent, EventKind
from signaling.ports import Changes, NewConversation, NewMessage, Site

NOW = time.time()


class Crashing:
    """An attachment store that fails once, as a process dying mid-purge would."""

    name = "attachments"

    def __init__(self) -> None:
        self.failures = 1
        self.erased: list[str] = []

    async def export(self, conversation_ids: Sequence[str]) -> list[dict[str, Any]]:
        return []

    async def erase(self, conversation_ids: Sequence[str]) -> int:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the attachment store went away")
        self.erased += conversation_ids
        return len(conversation_ids)


async def conversation(store: SqlStore, site: Site, ended_days_ago: float | None) -> str:
    created = NOW - (ended_days_ago or 0) * DAY - 600
    made = await store.create_conversation(NewConversation(site, "visitor-1", "chat"), created)
    await store.append_message(NewMessage(made.id, "customer", "text", "hi", "m-1"), created)
    await store.append_event(
        DomainEvent(EventKind.CONVERSATION_QUEUED, created, "customer", made.id)
    )
    if ended_days_ago is not None:
        await store.update_conversation(
            made.id, Changes(status="ended", ended_at=NOW - ended_days_ago * DAY, ended_by="staff")
        )
    return made.id


async def counts(store: SqlStore) -> dict[str, int]:
    def read(conn: Any) -> dict[str, int]:
        return {
            table.name: int(conn.scalar(sa.select(sa.func.count()).select_from(table)))
            for table in (conversations, messages, events, calls)
        }

    return await store._run(read)


async def test_purge_deletes_old_conversations_once(store: SqlStore) -> None:
    site = await store.create_site("shop", "Shop", ("https://shop.test",), "Hi", "s" * 32)
    keeper = await store.create_site("keep", "Keep", ("https://keep.test",), "Hi", "s" * 32)
    await store.set_retention("shop", 30)
    old = [await conversation(store, site, 40) for _ in range(3)]
    sam = await store.create_staff("sam@staff.test", "Sam", "agent", "x")
    call = {
        "id": "c" * 32,
        "conversation_id": old[0],
        "staff_id": sam.id,
        "channel": "voice",
        "started_by": "customer",
        "started_at": NOW - 40.5 * DAY,
        "ended_at": NOW - 40.4 * DAY,
    }
    await store._run(lambda conn: (conn.execute(sa.insert(calls).values(call)), conn.commit()))
    assert (await counts(store))["calls"] == 1
    recent = await conversation(store, site, 5)
    running = await conversation(store, site, None)
    kept = await conversation(store, keeper, 400)

    source = Crashing()
    privacy = Privacy(store, Audit(store, "k" * 40), [source])
    with pytest.raises(ConnectionError):
        await privacy.purge(NOW)
    assert (await counts(store))["conversations"] == 6  # the crashed batch changed nothing

    assert await privacy.purge(NOW) == {"shop": 3}
    assert sorted(source.erased) == sorted(old)
    left = {row.id for row in await store.list_conversations(("queued", "ended"))}
    assert left == {recent, running, kept}
    after = await counts(store)
    assert after == {"conversations": 3, "messages": 3, "events": 3, "calls": 0}

    assert await privacy.purge(NOW) == {}
    assert await counts(store) == after
    purges = await privacy.audit.entries_for("site:shop", AuditAction.RETENTION_PURGED)
    assert [e.details for e in purges] == [{"conversations": 3, "older_than_days": 30}]


async def test_the_claim_keeps_the_job_on_one_node(store: SqlStore) -> None:
    now = time.time()
    assert await store.claim_job("retention", "node-a", now, 3600, 900)
    # Held: the other node cannot take it, nor can it take it again itself.
    assert not await store.claim_job("retention", "node-b", now, 3600, 900)
    # A crash: node-a never finishes; after the lease, node-b takes it.
    assert await store.claim_job("retention", "node-b", now + 901, 3600, 900)
    await store.finish_job("retention", "node-b", now + 902)
    # Done: not due again for an hour, on any node.
    assert not await store.claim_job("retention", "node-a", now + 1000, 3600, 900)
    assert await store.claim_job("retention", "node-a", now + 902 + 3600, 3600, 900)


async def test_the_schedule_purges_once_across_nodes(store: SqlStore) -> None:
    site = await store.create_site("shop", "Shop", ("https://shop.test",), "Hi", "s" * 32)
    await store.set_retention("shop", 1)
    await conversation(store, site, 3)
    privacy = Privacy(store, Audit(store, "k" * 40))
    nodes = [RetentionSchedule(privacy, name, every=3600) for name in ("node-a", "node-b")]
    for node in nodes * 2:
        await node.tick()
    purges = await privacy.audit.entries_for("site:shop", AuditAction.RETENTION_PURGED)
    assert len(purges) == 1
    assert (await counts(store))["conversations"] == 0

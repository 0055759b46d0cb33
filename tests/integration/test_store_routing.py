"""Routing state in the SQL store, on SQLite and PostgreSQL: the rows every node shares and
the compare-and-set rules that let two nodes act at once without both winning."""

from __future__ import annotations

import asyncio

from server.auth import hash_password
from server.store import SqlStore
from server.store_routing import QUEUE_PAGE
from signaling.ports import Changes, Conversation, NewConversation, StaffMember
from signaling.staffing import choose
from tests.integration.test_store import NOW, make_site


async def make_staff(store: SqlStore, name: str, max_chats: int = 3) -> StaffMember:
    return await store.create_staff(
        email=f"{name.lower()}@staff.test",
        name=name,
        role="agent",
        password_hash=hash_password("pw"),
        languages=(),
        max_chats=max_chats,
    )


async def on_duty(
    store: SqlStore, member: StaffMember, node: str = "node-a", sid: str = ""
) -> None:
    await store.heartbeat(node, NOW)
    await store.attach_socket(node, sid or f"sid-{member.id}", member, NOW)
    await store.set_presence(member, "available", None, NOW)


async def waiting(store: SqlStore, visitors: int) -> list[Conversation]:
    site = await make_site(store)
    made = []
    for n in range(visitors):
        new = NewConversation(site=site, visitor_id=f"visitor-{n}")
        made.append(await store.create_conversation(new, NOW + n))
    return made


async def test_dispatch_rings_each_conversation_and_each_person_once(store: SqlStore) -> None:
    ana, ben = await make_staff(store, "Ana"), await make_staff(store, "Ben")
    await on_duty(store, ana)
    await on_duty(store, ben)
    first, second, third = await waiting(store, 3)

    rings = await store.dispatch(NOW, 20.0, choose)
    assert {(r.conversation.id, r.staff_id) for r in rings} == {
        (first.id, ana.id),
        (second.id, ben.id),
    }
    assert all(r.conversation.ring_deadline == NOW + 20.0 for r in rings)
    # Everyone free is being rung: a second dispatch (another node, say) rings nobody.
    assert await store.dispatch(NOW, 20.0, choose) == []
    assert [c.id for c in await store.waiting()] == [first.id, second.id, third.id]
    assert await store.queue_position(third) == 3


async def test_concurrent_dispatches_never_ring_twice(store: SqlStore) -> None:
    members = [await make_staff(store, f"S{n}") for n in range(4)]
    for member in members:
        await on_duty(store, member)
    await waiting(store, 10)
    batches = await asyncio.gather(*(store.dispatch(NOW, 20.0, choose) for _ in range(6)))
    rings = [ring for batch in batches for ring in batch]
    assert len(rings) == 4
    assert len({r.conversation.id for r in rings}) == 4
    assert len({r.staff_id for r in rings}) == 4


async def test_dispatch_with_nobody_waiting_rings_nobody(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    assert await store.dispatch(NOW, 20.0, choose) == []
    (first,) = await waiting(store, 1)
    (ring,) = await store.dispatch(NOW, 20.0, choose)
    assert (ring.conversation.id, ring.staff_id) == (first.id, ana.id)
    active = await store.accept_ring(first.id, ana, NOW)
    assert active is not None and active.status == "active"
    assert await store.dispatch(NOW, 20.0, choose) == []


async def test_dispatch_reads_past_the_first_page_of_the_queue(store: SqlStore) -> None:
    """The queue is read a page at a time: conversations nobody free can take (video, for
    someone without a camera) do not hide the one behind them, across a page boundary that
    falls inside a run of equal ``queued_at``."""
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    site = await make_site(store)
    made = [
        await store.create_conversation(
            NewConversation(site=site, visitor_id=f"visitor-{n}", channel="video"), NOW
        )
        for n in range(QUEUE_PAGE + 10)
    ]
    in_order = sorted(made, key=lambda c: c.id)  # one queued_at: the queue is in id order
    late = in_order[QUEUE_PAGE + 5]
    await store.update_conversation(late.id, Changes(extra={"channel": "chat"}))
    (ring,) = await store.dispatch(NOW, 20.0, choose)
    assert (ring.conversation.id, ring.staff_id) == (late.id, ana.id)
    assert await store.dispatch(NOW, 20.0, choose) == []


async def test_only_the_rung_person_with_capacity_accepts(store: SqlStore) -> None:
    ana, ben = await make_staff(store, "Ana", max_chats=1), await make_staff(store, "Ben")
    await on_duty(store, ana)
    first, second = await waiting(store, 2)
    (ring,) = await store.dispatch(NOW, 20.0, choose)
    assert ring.staff_id == ana.id
    assert await store.accept_ring(first.id, ben, NOW) is None
    active = await store.accept_ring(first.id, ana, NOW + 1)
    assert active is not None and active.status == "active" and active.assignee_id == ana.id
    assert active.ring_deadline is None and active.tried == ()
    # A second accept of the same ring loses.
    assert await store.accept_ring(first.id, ana, NOW + 1) is None
    # Ana is full: dispatch does not ring her for the second conversation.
    assert await store.dispatch(NOW + 2, 20.0, choose) == []
    assert [c.id for c in await store.assigned_to(ana.id)] == [first.id]
    assert (await store.get_conversation(second.id)).status == "queued"  # type: ignore[union-attr]


async def test_rings_expire_once(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    (conversation,) = await waiting(store, 1)
    await store.dispatch(NOW, 5.0, choose)
    assert await store.expire_rings(NOW + 4.9) == []
    expired = await asyncio.gather(store.expire_rings(NOW + 5.0), store.expire_rings(NOW + 5.0))
    ended = [e for batch in expired for e in batch]
    assert len(ended) == 1 and ended[0].staff_id == ana.id
    assert ended[0].conversation is not None and ended[0].conversation.status == "queued"
    # The round remembers Ana, so with someone else free the next ring goes to them.
    assert ended[0].conversation.tried == (ana.id,)
    assert await store.end_ring(conversation.id, ana.id) is None


async def test_two_tabs_on_two_nodes_are_one_person(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana, node="node-a", sid="tab-1")
    await on_duty(store, ana, node="node-b", sid="tab-2")
    assert (await store.staffing(NOW)).serving == 1
    await waiting(store, 2)
    assert len(await store.dispatch(NOW, 20.0, choose)) == 1
    after_one = await store.detach_socket("node-a", "tab-1", NOW, 30.0)
    assert after_one is not None and after_one.connected


async def test_the_last_socket_starts_grace_and_grace_requeues(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    (conversation,) = await waiting(store, 1)
    await store.dispatch(NOW, 20.0, choose)
    assert await store.accept_ring(conversation.id, ana, NOW) is not None

    gone = await store.detach_socket("node-a", f"sid-{ana.id}", NOW + 10, 30.0)
    assert gone is not None and not gone.connected and gone.grace_until == NOW + 40
    assert await store.expire_grace(NOW + 39) == []
    ((staff_id, requeued),) = await store.expire_grace(NOW + 40)
    assert staff_id == ana.id
    back = [closed.conversation for closed in requeued]
    assert [(c.id, c.status, c.assignee_id) for c in back] == [(conversation.id, "queued", None)]
    assert back[0].queued_at == conversation.queued_at  # keeps its place
    assert requeued[0].call is None


async def test_coming_back_within_grace_keeps_the_conversations(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    (conversation,) = await waiting(store, 1)
    await store.dispatch(NOW, 20.0, choose)
    await store.accept_ring(conversation.id, ana, NOW)
    await store.detach_socket("node-a", f"sid-{ana.id}", NOW, 30.0)
    back = await store.attach_socket("node-b", "new-tab", ana, NOW + 5)
    assert back.connected and back.grace_until is None
    assert await store.expire_grace(NOW + 100) == []
    assert [c.id for c in await store.assigned_to(ana.id)] == [conversation.id]


async def test_a_dead_node_loses_its_consoles(store: SqlStore) -> None:
    ana, ben = await make_staff(store, "Ana"), await make_staff(store, "Ben")
    await on_duty(store, ana, node="node-a")
    await on_duty(store, ben, node="node-b")
    (conversation,) = await waiting(store, 1)
    await store.dispatch(NOW, 20.0, choose)
    await store.accept_ring(conversation.id, ana, NOW)
    await store.heartbeat("node-b", NOW + 20)  # node-a stopped beating at NOW

    assert await store.forget_nodes(NOW + 20, 30.0, before=NOW + 5) == [ana.id]
    presence = await store.get_presence(ana, NOW + 20)
    assert not presence.connected and presence.grace_until == NOW + 50
    assert (await store.get_presence(ben, NOW + 20)).connected
    assert await store.forget_nodes(NOW + 20, 30.0, before=NOW + 5) == []


async def test_staff_who_take_no_calls_are_rung_for_chats_only(store: SqlStore) -> None:
    ana, ben = await make_staff(store, "Ana"), await make_staff(store, "Ben")
    await store.update_staff(ana.id, max_calls=0)
    for member in (ana, ben):
        await on_duty(store, member)
        await store.set_presence(member, "available", frozenset({"camera", "microphone"}), NOW)
    site = await make_site(store)
    video = await store.create_conversation(
        NewConversation(site=site, visitor_id="v1", channel="video"), NOW
    )
    chat = await store.create_conversation(NewConversation(site=site, visitor_id="v2"), NOW + 1)
    rings = await store.dispatch(NOW + 2, 20.0, choose)
    # Ana is first in line (idle as long, lower id) but takes no calls: the video call
    # rings Ben, the chat Ana.
    assert {(r.conversation.id, r.staff_id) for r in rings} == {
        (video.id, ben.id),
        (chat.id, ana.id),
    }

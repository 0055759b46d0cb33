"""The shift in the SQL store, on SQLite and PostgreSQL: a wrap-up begins in the transaction
that ends the conversation, dispatch skips it, one sweeper ends it, and it can be ended early
or extended; outcome tags; the count of calls in a row; away reasons; the site's rules."""

from __future__ import annotations

import asyncio

from server.store import SqlStore
from signaling.event_log import EventLog
from signaling.events import ServerEvent
from signaling.ports import (
    Changes,
    Conversation,
    NewCall,
    NewConversation,
    ShiftPolicy,
    StaffMember,
)
from signaling.routing import Router, RoutingPolicy
from signaling.staffing import choose
from signaling.views import StaffHandles
from tests.fakes import FakeClock, RecordingDelivery
from tests.integration.test_store import NOW, make_site
from tests.integration.test_store_routing import make_staff, on_duty, waiting

RULES = ShiftPolicy(wrapup_call_s=30.0, outcome_tags=("resolved",), call_cap=2, pause_s=60.0)


async def handled(
    store: SqlStore, member: StaffMember, conversation: Conversation, at: float, *, call: bool
) -> Conversation:
    """Ring ``member`` for ``conversation``, accept, maybe call, and end it at ``at``."""
    (ring,) = await store.dispatch(at, 20.0, choose)
    assert ring.staff_id == member.id
    assert await store.accept_ring(conversation.id, member, at) is not None
    if call:
        await store.start_call(NewCall(conversation.id, member.id, "voice", "customer"), at)
    closed = await store.close_conversation(
        conversation.id,
        Changes(status="ended", ended_at=at, ended_by="staff"),
        "conversation_ended",
        at,
        expect_status=("active",),
        wrapup=RULES,
    )
    assert closed is not None
    return closed.conversation


async def test_no_ring_during_the_wrapup_and_one_sweeper_ends_it(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    first, second = await waiting(store, 2)
    await handled(store, ana, first, NOW + 10, call=True)
    wrapup = await store.wrapup_of(ana.id, NOW + 10)
    assert wrapup is not None
    assert (wrapup.conversation_id, wrapup.began, wrapup.until) == (first.id, NOW + 10, NOW + 40)
    assert await store.dispatch(NOW + 39, 20.0, choose) == []
    assert await store.expire_wrapups(NOW + 39) == []

    swept = await asyncio.gather(*(store.expire_wrapups(NOW + 40) for _ in range(4)))
    assert [w.staff_id for batch in swept for w in batch] == [ana.id]
    (ring,) = await store.dispatch(NOW + 40, 20.0, choose)
    assert (ring.conversation.id, ring.staff_id) == (second.id, ana.id)
    presence = await store.get_presence(ana, NOW + 40)
    assert presence.idle_since == NOW + 40  # idle from the wrap-up's end


async def test_a_chat_has_no_wrapup_and_counts_as_idle_from_its_end(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    (first,) = await waiting(store, 1)
    await handled(store, ana, first, NOW + 10, call=False)
    assert await store.wrapup_of(ana.id, NOW + 10) is None
    assert (await store.get_presence(ana, NOW + 10)).idle_since == NOW + 10


async def test_ready_now_more_time_and_the_pause_after_calls_in_a_row(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    first, second, third = await waiting(store, 3)
    await handled(store, ana, first, NOW + 10, call=True)
    extended = await store.extend_wrapup(ana.id, NOW + 11, 30, 45)
    assert extended is not None and extended.until == NOW + 11 + 45  # capped
    ended = await store.end_wrapup(ana.id, NOW + 12)
    assert ended is not None and ended.conversation_id == first.id
    assert await store.end_wrapup(ana.id, NOW + 12) is None
    assert await store.extend_wrapup(ana.id, NOW + 12, 30, 600) is None
    assert (await store.get_presence(ana, NOW + 12)).idle_since == NOW + 12

    await handled(store, ana, second, NOW + 20, call=True)
    paused = await store.wrapup_of(ana.id, NOW + 20)
    assert paused is not None and paused.pause and paused.until == NOW + 20 + 30 + 60
    await store.end_wrapup(ana.id, NOW + 21)
    await handled(store, ana, third, NOW + 30, call=True)
    again = await store.wrapup_of(ana.id, NOW + 30)
    assert again is not None and not again.pause and again.until == NOW + 60


async def test_outcome_tags_and_the_sites_rules(store: SqlStore) -> None:
    ana, ben = await make_staff(store, "Ana"), await make_staff(store, "Ben")
    await on_duty(store, ana)
    (first,) = await waiting(store, 1)
    await handled(store, ana, first, NOW + 10, call=False)
    assert await store.tag_conversation(first.id, ben.id, "resolved") is None
    tagged = await store.tag_conversation(first.id, ana.id, "resolved")
    assert tagged is not None and tagged.outcome == "resolved"
    stored = await store.get_conversation(first.id)
    assert stored is not None and stored.outcome == "resolved"

    site = await store.set_shift(first.site_key, RULES)
    assert site is not None and site.shift == RULES
    assert (await store.list_sites())[0].shift == RULES
    assert await store.set_shift("no-such-site", RULES) is None


async def test_away_reasons_and_their_spells(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    before, after = await store.set_presence(ana, "away", None, NOW + 5, "lunch")
    assert before.status == "available" and before.reason is None
    assert (after.status, after.reason, after.away_since) == ("away", "lunch", NOW + 5)
    _, same = await store.set_presence(ana, "away", None, NOW + 6, "lunch")
    assert same.away_since == NOW + 5  # the same spell
    before, after = await store.set_presence(ana, "available", None, NOW + 1805, None)
    assert (before.reason, before.away_since) == ("lunch", NOW + 5)
    assert (after.reason, after.away_since, after.idle_since) == (None, None, NOW + 1805)


async def test_nobody_in_a_call_is_rung_for_another_call(store: SqlStore) -> None:
    ana = await make_staff(store, "Ana")
    await on_duty(store, ana)
    await store.set_presence(ana, "available", frozenset({"microphone"}), NOW)
    site = await make_site(store)
    first, second = [
        await store.create_conversation(
            NewConversation(site=site, visitor_id=f"v{n}", channel="voice"), NOW + n
        )
        for n in range(2)
    ]
    (ring,) = await store.dispatch(NOW, 20.0, choose)
    assert ring.conversation.id == first.id
    await store.accept_ring(first.id, ana, NOW)
    await store.start_call(NewCall(first.id, ana.id, "voice", "customer"), NOW)
    assert await store.dispatch(NOW + 2, 20.0, choose) == []
    chat = await store.create_conversation(NewConversation(site=site, visitor_id="v9"), NOW + 3)
    (ring,) = await store.dispatch(NOW + 3, 20.0, choose)
    assert ring.conversation.id == chat.id
    assert second.status == "queued"


async def test_another_node_ends_a_wrapup_and_rings(store: SqlStore) -> None:
    """Two routers (two nodes) on one database: node A ends a call's conversation and dies
    with its timers; node B's sweep ends the wrap-up on time and rings the staff member."""
    clock = FakeClock(time=NOW)
    delivery = RecordingDelivery()
    policy = RoutingPolicy(node_timeout=3600.0)

    def node(name: str) -> Router:
        return Router(
            store, store, clock, delivery, policy, StaffHandles("t" * 40), name, EventLog(store)
        )

    node_a, node_b = node("a"), node("b")
    await node_a.start(alone=False)
    await node_b.start(alone=False)
    site = await make_site(store)
    await store.set_shift(site.key, RULES)
    ana = await make_staff(store, "Ana")
    await node_a.staff_connected(ana, "sid-a")
    await node_a.set_presence(ana, "available", frozenset({"microphone"}))
    first = await store.create_conversation(
        NewConversation(site=site, visitor_id="v1", channel="voice"), clock.now()
    )
    await node_a.enqueue(first)
    await node_a.accept(ana, first.id)
    await store.start_call(NewCall(first.id, ana.id, "voice", "customer"), clock.now())
    current = await store.get_conversation(first.id)
    assert current is not None
    await node_a.end(current, "staff")
    clock.drop_timers()  # node A is gone

    second = await store.create_conversation(
        NewConversation(site=site, visitor_id="v2"), clock.now()
    )
    await node_b.enqueue(second)

    def rings() -> list[str]:
        return [d["conversation"]["id"] for d in delivery.to(f"staff:{ana.id}", ServerEvent.RING)]

    assert rings() == [first.id]
    clock.time += 29
    await node_b.sweep()
    assert rings() == [first.id]
    clock.time += 1
    await node_b.sweep()
    assert rings() == [first.id, second.id]
    assert delivery.to(f"staff:{ana.id}", ServerEvent.WRAPUP)[-1] == {"wrapup": None}

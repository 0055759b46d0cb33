"""Routing on a fake clock with in-memory fakes: no sockets, no database, no real timers."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.event_log import EventLog
from signaling.events import ServerEvent
from signaling.ports import Conversation, NewConversation, StaffMember
from signaling.routing import Router, RoutingPolicy
from signaling.views import StaffHandles
from tests.fakes import FakeClock, MemoryStore, RecordingDelivery

POLICY = RoutingPolicy(ring_timeout=20.0, grace_period=30.0, node_timeout=10.0)


class World:
    """One node's router over fakes, and helpers to act as people."""

    def __init__(self, node_id: str = "node-a", store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()
        self.clock = FakeClock()
        self.delivery = RecordingDelivery()
        self.router = self.node(node_id)
        self.site = self.store.add_site()

    def node(self, node_id: str) -> Router:
        return Router(
            self.store,
            self.store,
            self.clock,
            self.delivery,
            POLICY,
            StaffHandles("t" * 40),
            node_id,
            EventLog(self.store),
        )

    async def on_duty(
        self, name: str, router: Router | None = None, **kwargs: object
    ) -> StaffMember:
        member = self.store.add_staff(name, **kwargs)  # type: ignore[arg-type]
        await (router or self.router).staff_connected(member, f"sid-{member.id}")
        await (router or self.router).set_presence(member, "available")
        return member

    async def ask(self, visitor: str = "v1", **kwargs: object) -> Conversation:
        new = NewConversation(site=self.site, visitor_id=visitor, **kwargs)  # type: ignore[arg-type]
        conversation = await self.store.create_conversation(new, self.clock.now())
        await self.router.enqueue(conversation)
        return conversation

    def rings(self, member: StaffMember) -> list[str]:
        return [
            d["conversation"]["id"]
            for d in self.delivery.to(f"staff:{member.id}", ServerEvent.RING)
        ]

    def status(self, conversation: Conversation) -> str:
        return self.store.conversations[conversation.id].status


async def test_the_longest_idle_is_rung_and_a_timeout_rings_the_next() -> None:
    world = World()
    ana = await world.on_duty("Ana")
    world.clock.time += 5
    ben = await world.on_duty("Ben")
    conversation = await world.ask()
    assert world.rings(ana) == [conversation.id] and world.rings(ben) == []

    await world.clock.advance(19.9)
    assert world.rings(ben) == []
    await world.clock.advance(0.2)
    assert world.rings(ben) == [conversation.id]
    cancelled = world.delivery.to(f"staff:{ana.id}", ServerEvent.RING_CANCELLED)
    assert cancelled == [{"conversation_id": conversation.id, "reason": "timeout"}]


async def test_without_the_timer_the_sweeper_fires_the_deadline() -> None:
    world = World()
    ana, ben = await world.on_duty("Ana"), await world.on_duty("Ben")
    conversation = await world.ask()
    world.clock.drop_timers()  # the node that rang is gone, with its timers
    world.clock.time += 21
    await world.node("node-b").sweep()
    assert world.rings(ben) == [conversation.id]
    assert world.rings(ana) == [conversation.id]


async def test_everyone_once_then_round_again() -> None:
    world = World()
    ana = await world.on_duty("Ana")
    conversation = await world.ask()
    await world.router.decline(ana, conversation.id)
    assert world.rings(ana) == [conversation.id, conversation.id]


async def test_capacity_language_and_devices_decide_who_is_rung() -> None:
    world = World()
    ana = await world.on_duty("Ana", max_chats=1, languages=("de",))
    ben = await world.on_duty("Ben", languages=("pt",))
    first = await world.ask("v1", language="de")
    await world.router.accept(ana, first.id)
    second = await world.ask("v2", language="de")
    assert world.rings(ana) == [first.id]  # full
    assert world.rings(ben) == []  # does not speak German
    video = await world.ask("v3", language="pt", channel="video")
    assert world.rings(ben) == []  # no camera ready
    await world.router.set_presence(ben, "available", frozenset({"camera", "microphone"}))
    assert world.rings(ben) == [video.id]
    assert world.status(second) == "queued"


async def test_accepting_a_ring_that_is_not_yours_is_refused() -> None:
    world = World()
    ana, ben = await world.on_duty("Ana"), await world.on_duty("Ben")
    conversation = await world.ask()
    with pytest.raises(Exception, match="no longer yours"):
        await world.router.accept(ben, conversation.id)
    active = await world.router.accept(ana, conversation.id)
    assert active.status == "active" and active.assignee_id == ana.id
    with pytest.raises(Exception, match="no longer yours"):
        await world.router.accept(ana, conversation.id)


async def test_two_tabs_on_two_nodes_are_one_person_rung_once() -> None:
    world = World()
    node_b = world.node("node-b")
    ana = await world.on_duty("Ana")
    await node_b.staff_connected(ana, "tab-on-b")
    await world.ask("v1")
    await world.ask("v2")
    assert len(world.rings(ana)) == 1
    await world.router.staff_disconnected(f"sid-{ana.id}")
    assert world.delivery.to(f"staff:{ana.id}", ServerEvent.RING_CANCELLED) == []


async def test_grace_then_requeue_in_front() -> None:
    world = World()
    ana = await world.on_duty("Ana")
    first = await world.ask("v1")
    await world.router.accept(ana, first.id)
    world.clock.time += 1
    second = await world.ask("v2")
    await world.router.staff_disconnected(f"sid-{ana.id}")
    await world.clock.advance(29)
    await world.router.sweep()
    assert world.status(first) == "active"
    await world.clock.advance(1)
    await world.router.sweep()
    assert world.status(first) == "queued"
    waiting = await world.store.waiting()
    assert [c.id for c in waiting] == [first.id, second.id]
    bodies = [m.body for m in world.store.messages[first.id]]
    assert bodies == ["joined", "requeued"]


async def test_a_node_that_stops_beating_loses_its_consoles() -> None:
    world = World()
    node_b = world.node("node-b")
    ana = await world.on_duty("Ana", router=node_b)
    conversation = await world.ask()
    await node_b.accept(ana, conversation.id)
    await node_b.sweep()  # node-b beats once, then dies (no stop, no disconnect)
    world.clock.time += 11
    await world.router.sweep()
    presence = world.store.presence[ana.id]
    assert presence.grace_until == world.clock.now() + 30
    world.clock.time += 30
    await world.router.sweep()
    assert world.status(conversation) == "queued"


async def test_a_node_taken_for_dead_brings_its_consoles_back_when_it_beats_again() -> None:
    """A node stopped (SIGSTOP) past the node timeout is forgotten by the others, which start
    its staff's grace; when it runs again its consoles are still connected to it, so they
    count again and nothing is requeued."""
    world = World()
    node_b = world.node("node-b")
    ana = await world.on_duty("Ana", router=node_b)
    conversation = await world.ask()
    await node_b.accept(ana, conversation.id)
    await node_b.sweep()
    world.clock.time += 11  # node-b is frozen: no beat, no disconnect
    await world.router.sweep()
    assert world.store.presence[ana.id].grace_until is not None
    assert not (await world.store.get_presence(ana, world.clock.now())).connected

    await node_b.sweep()  # thawed: it beats again
    presence = await world.store.get_presence(ana, world.clock.now())
    assert presence.connected and presence.grace_until is None
    world.clock.time += 31
    await world.router.sweep()
    assert world.status(conversation) == "active"
    await node_b.sweep()  # and once back, nothing is attached twice
    assert await world.store.sockets_of(ana.id) == [f"sid-{ana.id}"]


async def test_a_surge_costs_one_small_staff_event_per_change() -> None:
    world = World()
    member = world.store.add_staff("Away")
    await world.router.staff_connected(member, "console")
    for n in range(200):
        await world.ask(f"visitor-{n}")
    queue_events = world.delivery.to("all-staff", ServerEvent.QUEUE_CHANGED)
    assert len(queue_events) == 200
    assert all(e["op"] == "upsert" and "conversation" in e for e in queue_events)
    # Positions went to nobody yet: one refresh sends each waiting customer theirs, once.
    assert world.delivery.to("customer:c0001", ServerEvent.CONVERSATION_STATE) == []
    await world.clock.advance(1.0)
    states = [s for s in world.delivery.sent if s.event == ServerEvent.CONVERSATION_STATE]
    assert len(states) == 200
    assert states[-1].data["conversation"]["queue_position"] == 200
    await world.clock.advance(5.0)
    assert len([s for s in world.delivery.sent if s.event == ServerEvent.CONVERSATION_STATE]) == 200


async def test_every_change_is_an_event_in_the_log() -> None:
    world = World()
    ana = await world.on_duty("Ana")
    conversation = await world.ask()
    await world.router.accept(ana, conversation.id)
    await world.router.end(conversation=world.store.conversations[conversation.id], by="staff")
    kinds = [e.kind.value for e in world.store.events if e.conversation_id == conversation.id]
    assert kinds == ["conversation.rung", "conversation.accepted", "conversation.ended"]
    presence = [e.detail["status"] for e in world.store.events if e.kind == "presence.changed"]
    assert presence == ["away", "available"]


async def test_a_refresh_never_sends_a_conversation_taken_during_its_walk() -> None:
    world = World()
    ana = world.store.add_staff("Ana")
    await world.router.staff_connected(ana, "console")
    first = await world.ask("v1")
    world.clock.time += 1
    await world.ask("v2")
    await world.router.set_presence(ana, "available")  # rings the first
    assert world.status(first) == "ringing"
    original = world.store.staffing

    async def accepted_meanwhile(now: float) -> Any:
        # The refresh has read the queue; the first is accepted before it sends anything.
        world.store.staffing = original  # type: ignore[method-assign]
        await world.router.accept(ana, first.id)
        return await original(now)

    world.store.staffing = accepted_meanwhile  # type: ignore[method-assign]
    sent_before = len(world.delivery.sent)
    await world.router.queue.refresh()
    states = [
        s.data["conversation"]["status"]
        for s in world.delivery.sent[sent_before:]
        if s.audience == f"customer:{first.id}" and s.event == ServerEvent.CONVERSATION_STATE
    ]
    assert states == ["active"]

"""The calls domain on in-memory fakes and a fake clock: no sockets, no database, no real
timers. Two "nodes" (each its own Router, Calls and socket server) share one store, as
server processes share one database."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import pytest

from signaling.calls import Calls
from signaling.errors import ProtocolError
from signaling.event_log import EventLog
from signaling.outbound import Outbound, conversation_room, staff_room
from signaling.ports import Conversation, NewConversation, StaffMember
from signaling.routing import Router, RoutingPolicy
from signaling.views import StaffHandles
from tests.fakes import FakeClock, FakeIce, MemoryStore, RecordingSio
from tests.integration.test_store_calls import Setup


@dataclass
class Node:
    sio: RecordingSio
    router: Router
    calls: Calls

    def call_states(self, room: str) -> list[tuple[str, str, bool]]:
        """(call id, channel, running) of each ``call.state`` sent to ``room``."""
        return [
            (d["call"]["id"], d["call"]["channel"], d["call"]["ended_at"] is None)
            for d in self.sio.to(room, "call.state")
        ]


def node(store: MemoryStore, clock: FakeClock, ice: Any = None) -> Node:
    sio = RecordingSio()
    outbound = Outbound(sio)
    router = Router(
        store,
        store,
        clock,
        outbound,
        RoutingPolicy(grace_period=30.0),
        StaffHandles("t" * 40),
        secrets.token_hex(4),
        EventLog(store),
    )
    return Node(sio, router, Calls(store, clock, router, outbound, ice or FakeIce()))


async def bodies(store: MemoryStore, conversation: Conversation) -> list[str]:
    return [m.body for m in await store.messages_after(conversation.id, 0)]


async def test_a_call_started_on_one_node_is_relayed_and_ended_on_another() -> None:
    store, clock = MemoryStore(), FakeClock()
    first, second = node(store, clock), node(store, clock)
    conversation, staff_id = await Setup(store).conversation()
    call = await first.calls.start(conversation, "customer", "video")

    assert await second.calls.running(conversation.id) == call
    offer = {"conversation_id": conversation.id, "call_id": call.id, "sdp": "v=0"}
    await second.calls.relay(conversation, "customer", "call.offer", offer)  # type: ignore[arg-type]
    assert second.sio.to(staff_room(staff_id), "call.offer") == [offer]
    clock.time += 42
    ended = await second.calls.end(conversation, call.id, "staff", "hangup")
    assert (ended.ended_by, ended.end_reason) == ("staff", "hangup")
    with pytest.raises(ProtocolError) as gone:
        await first.calls.relay(conversation, "staff", "call.answer", offer)  # type: ignore[arg-type]
    assert gone.value.code == "call.not_found"
    ended_note = (await store.messages_after(conversation.id, 0))[-1]
    assert ended_note.detail is not None and ended_note.detail["duration_s"] == 42
    assert await bodies(store, conversation) == ["call_started", "call_ended"]


async def test_a_proposal_made_on_one_node_is_answered_on_another() -> None:
    store, clock = MemoryStore(), FakeClock()
    first, second = node(store, clock), node(store, clock)
    conversation, staff_id = await Setup(store).conversation()
    proposal_id = await first.calls.propose(conversation, "voice", "Sam")
    await second.calls.respond(conversation, proposal_id, True)

    running = await first.calls.running(conversation.id)
    assert running is not None
    assert (running.channel, running.started_by) == ("voice", "staff")
    assert second.sio.to(staff_room(staff_id), "call.response") == [
        {"conversation_id": conversation.id, "proposal_id": proposal_id, "accepted": True}
    ]
    with pytest.raises(ProtocolError) as twice:
        await first.calls.respond(conversation, proposal_id, True)
    assert twice.value.code == "call.not_found"
    back = await first.calls.propose(conversation, "chat", "Sam")
    await second.calls.respond(conversation, back, True)
    assert await first.calls.running(conversation.id) is None
    assert (await store.get_conversation(conversation.id)).channel == "chat"  # type: ignore[union-attr]


async def accepted(
    store: MemoryStore, here: Node, name: str = "Sam"
) -> tuple[StaffMember, Conversation]:
    """A staff member connected to ``here`` who accepted a new conversation."""
    setup = Setup(store)
    member = await store.get_staff(await setup.staff())
    assert member is not None
    await here.router.staff_connected(member, "sid-1")
    await here.router.set_presence(member, "available")
    site = await store.get_site("site-key")
    assert site is not None
    waiting = await store.create_conversation(NewConversation(site=site, visitor_id="v"), 0.0)
    await here.router.enqueue(waiting)
    return member, await here.router.accept(member, waiting.id)


async def test_ending_the_conversation_ends_its_call_in_the_same_step() -> None:
    store, clock = MemoryStore(), FakeClock()
    here = node(store, clock)
    await Setup(store).conversation()  # the site
    member, conversation = await accepted(store, here)
    call = await here.calls.start(conversation, "customer", "voice")

    ended = await here.router.end(conversation, "customer")
    assert (ended.status, ended.channel) == ("ended", "chat")
    assert await store.running_call(conversation.id) is None
    assert store.calls[call.id].end_reason == "conversation_ended"
    # The transcript reads as it always did: the call's end before the conversation's.
    assert await bodies(store, conversation) == ["joined", "call_started", "call_ended", "ended"]
    for room in (conversation_room(conversation.id), staff_room(member.id)):
        assert here.call_states(room) == [(call.id, "voice", True), (call.id, "voice", False)]


async def test_a_call_ends_when_its_staff_member_does_not_come_back() -> None:
    store, clock = MemoryStore(), FakeClock()
    here = node(store, clock)
    await Setup(store).conversation()
    member, conversation = await accepted(store, here)
    call = await here.calls.start(conversation, "customer", "video")
    await here.router.staff_disconnected("sid-1")
    await clock.advance(29.0)
    await here.router.sweep()
    assert await store.running_call(conversation.id) == call  # still within the grace

    await clock.advance(1.0)
    await here.router.sweep()
    assert await store.running_call(conversation.id) is None
    ended = store.calls[call.id]
    assert (ended.ended_by, ended.end_reason, ended.ended_at) == ("system", "requeued", clock.now())
    requeued = await store.get_conversation(conversation.id)
    assert requeued is not None
    assert (requeued.status, requeued.assignee_id, requeued.channel) == ("queued", None, "chat")
    assert (await bodies(store, conversation))[-2:] == ["call_ended", "requeued"]
    assert here.call_states(staff_room(member.id))[-1] == (call.id, "video", False)


class HeldIce(FakeIce):
    """Holds the first ICE request until released: the first start announces late."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.held = asyncio.Event()

    async def config_for(self, site_key: str, participant_id: str) -> dict[str, Any]:
        if not self.held.is_set():
            self.held.set()
            await self.release.wait()
        return await super().config_for(site_key, participant_id)


async def test_a_switched_call_is_never_announced_as_running_after_its_end() -> None:
    """Two starts commit in turn but may announce in any order (no process-wide lock): the
    late one must not tell the clients that its call, switched meanwhile, is running."""
    store, clock = MemoryStore(), FakeClock()
    ice = HeldIce()
    here = node(store, clock, ice)
    conversation, staff_id = await Setup(store).conversation()
    first = asyncio.ensure_future(here.calls.start(conversation, "customer", "voice"))
    await ice.held.wait()
    video = await here.calls.start(conversation, "customer", "video")
    ice.release.set()
    voice = await first

    room = conversation_room(conversation.id)
    assert here.call_states(room) == [(voice.id, "voice", False), (video.id, "video", True)]
    assert here.call_states(staff_room(staff_id)) == here.call_states(room)
    assert await store.running_call(conversation.id) == video

"""The shift on a fake clock: wrap-up keeps a staff member from being rung, ends on time (by
timer or any node's sweeper), early or later on request; outcome tags; the pause after
calls in a row; away reasons with their durations; the least busy, longest idle is rung."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.domain_events import EventKind
from signaling.errors import ErrorCode, ProtocolError
from signaling.events import ServerEvent
from signaling.ports import NewCall, ShiftPolicy, StaffMember
from tests.unit.test_routing import World

RULES = ShiftPolicy(
    wrapup_chat_s=0.0,
    wrapup_call_s=30.0,
    outcome_tags=("resolved", "follow-up"),
    call_cap=2,
    pause_s=60.0,
)


def shift_world(rules: ShiftPolicy = RULES) -> World:
    world = World()
    world.site = world.store.add_site("shift", shift=rules)
    return world


async def on_call_duty(world: World, name: str) -> StaffMember:
    """On duty with a working microphone (rung for voice calls too)."""
    member = await world.on_duty(name)
    await world.router.set_presence(member, "available", frozenset({"microphone"}))
    return member


async def handled(world: World, member: StaffMember, *, call: bool, visitor: str = "v") -> str:
    """``member`` is rung for a new conversation, takes it (with a call, if asked) and ends
    it; returns its id."""
    conversation = await world.ask(visitor, channel="voice" if call else "chat")
    assert world.rings(member)[-1] == conversation.id
    await world.router.accept(member, conversation.id)
    if call:
        await world.store.start_call(
            NewCall(conversation.id, member.id, "voice", "customer"), world.clock.now()
        )
    current = world.store.conversations[conversation.id]
    await world.router.end(current, "staff")
    return conversation.id


def wrapups(world: World, member: StaffMember) -> list[dict[str, Any] | None]:
    return [d["wrapup"] for d in world.delivery.to(f"staff:{member.id}", ServerEvent.WRAPUP)]


def events(world: World, kind: EventKind) -> list[dict[str, Any]]:
    return [dict(e.detail) for e in world.store.events if e.kind == kind]


async def test_no_ring_during_a_call_wrapup_then_a_ring_when_it_ends() -> None:
    world = shift_world()
    ana = await on_call_duty(world, "Ana")
    ended = await handled(world, ana, call=True)
    view = wrapups(world, ana)[-1]
    assert view is not None
    assert view["conversation_id"] == ended and view["remaining_ms"] == 30_000
    assert view["tags"] == ["resolved", "follow-up"] and view["outcome"] is None

    waiting = await world.ask("v2")
    await world.clock.advance(29.9)
    assert world.rings(ana)[-1] != waiting.id
    await world.clock.advance(0.2)
    assert world.rings(ana)[-1] == waiting.id
    assert wrapups(world, ana)[-1] is None
    assert events(world, EventKind.WRAPUP_ENDED) == [
        {"how": "timeout", "pause": False, "duration_s": 30.0}
    ]


async def test_a_colleague_is_rung_during_the_wrapup_and_chats_have_none_by_default() -> None:
    world = shift_world()
    ana = await on_call_duty(world, "Ana")
    ben = await world.on_duty("Ben")
    await handled(world, ana, call=True)
    during = await world.ask("v2")
    assert world.rings(ben) == [during.id]
    await world.router.accept(ben, during.id)
    await world.router.end(world.store.conversations[during.id], "staff")
    assert wrapups(world, ben) == []  # no wrap-up after a chat
    world.clock.time += 1
    # Ana is still wrapping up: Ben, though he has just finished, is rung again.
    after = await world.ask("v3")
    assert world.rings(ben)[-1] == after.id


async def test_without_this_node_the_sweeper_ends_the_wrapup() -> None:
    world = shift_world()
    ana = await on_call_duty(world, "Ana")
    await handled(world, ana, call=True)
    waiting = await world.ask("v2")
    world.clock.drop_timers()
    world.clock.time += 31
    await world.node("node-b").sweep()
    assert world.rings(ana)[-1] == waiting.id


async def test_ready_now_and_more_time() -> None:
    world = shift_world()
    ana = await on_call_duty(world, "Ana")
    await handled(world, ana, call=True)
    extended = await world.router.shift.extend(ana, 30)
    assert extended is not None and extended.until == world.clock.now() + 60
    for _ in range(30):
        await world.router.shift.extend(ana, 30)
    view = await world.router.shift.view(ana.id)
    assert view is not None and view["remaining_ms"] == 600_000  # at most ten minutes

    waiting = await world.ask("v2")
    assert world.rings(ana)[-1] != waiting.id
    world.clock.time += 5
    await world.router.shift.ready(ana)
    assert world.rings(ana)[-1] == waiting.id
    assert await world.router.shift.view(ana.id) is None
    assert events(world, EventKind.WRAPUP_ENDED)[-1]["how"] == "ready"
    assert await world.router.shift.extend(ana, 30) is None  # nothing left to extend


async def test_outcome_tags_come_from_the_sites_catalogue() -> None:
    world = shift_world()
    ana, ben = await world.on_duty("Ana"), await world.on_duty("Ben")
    ended = await handled(world, ana, call=False)
    with pytest.raises(ProtocolError) as unknown:
        await world.router.shift.tag(ana, ended, "sold")
    assert unknown.value.code == ErrorCode.TAG_UNKNOWN
    with pytest.raises(ProtocolError) as theirs:
        await world.router.shift.tag(ben, ended, "resolved")
    assert theirs.value.code == ErrorCode.CONVERSATION_NOT_ASSIGNED
    tagged = await world.router.shift.tag(ana, ended, "follow-up")
    assert tagged.outcome == "follow-up"
    assert world.store.conversations[ended].outcome == "follow-up"
    assert events(world, EventKind.CONVERSATION_TAGGED) == [{"tag": "follow-up"}]


async def test_a_pause_after_calls_in_a_row_and_away_starts_the_count_again() -> None:
    world = shift_world()
    ana = await on_call_duty(world, "Ana")
    await handled(world, ana, call=True, visitor="v1")
    await world.router.shift.ready(ana)
    await handled(world, ana, call=True, visitor="v2")
    second = await world.router.shift.view(ana.id)
    assert second is not None and second["pause"] and second["remaining_ms"] == 90_000
    await world.router.shift.ready(ana)

    await handled(world, ana, call=True, visitor="v3")  # the count started again
    third = await world.router.shift.view(ana.id)
    assert third is not None and not third["pause"]
    await world.router.shift.ready(ana)
    await world.router.set_presence(ana, "away", reason="break")
    await world.router.set_presence(ana, "available")
    await handled(world, ana, call=True, visitor="v4")
    fourth = await world.router.shift.view(ana.id)
    assert fourth is not None and not fourth["pause"]  # the break restarted the count


async def test_away_reasons_are_recorded_with_their_durations() -> None:
    world = shift_world()
    ana = await world.on_duty("Ana")
    await world.router.set_presence(ana, "away", reason="break")
    world.clock.time += 600
    await world.router.set_presence(ana, "away", reason="lunch")
    world.clock.time += 1800
    await world.router.set_presence(ana, "available")
    changes = [d for d in events(world, EventKind.PRESENCE_CHANGED)][-3:]
    assert changes == [
        {"status": "away", "reason": "break"},
        {"status": "away", "reason": "lunch", "away_reason": "break", "away_s": 600.0},
        {"status": "available", "away_reason": "lunch", "away_s": 1800.0},
    ]
    shown = world.delivery.to(f"staff:{ana.id}", ServerEvent.PRESENCE)
    assert shown[-2:] == [
        {"status": "away", "reason": "lunch"},
        {"status": "available", "reason": None},
    ]


async def test_the_least_busy_then_the_longest_idle_is_rung() -> None:
    world = shift_world()
    ana = await world.on_duty("Ana")
    world.clock.time += 1
    ben = await world.on_duty("Ben")
    world.clock.time += 1
    cleo = await world.on_duty("Cleo")
    first = await world.ask("v1")
    assert world.rings(ana) == [first.id]  # the longest idle
    await world.router.accept(ana, first.id)
    world.clock.time += 100
    second = await world.ask("v2")
    assert world.rings(ben) == [second.id]  # next longest idle; Ana holds one
    await world.router.accept(ben, second.id)
    world.clock.time += 1
    third = await world.ask("v3")
    assert world.rings(cleo) == [third.id]
    await world.router.accept(cleo, third.id)
    world.clock.time += 1
    await world.router.end(world.store.conversations[first.id], "staff")
    # Ana is idle only from now, later than anyone, but she alone holds none.
    fourth = await world.ask("v4")
    assert world.rings(ana)[-1] == fourth.id
    await world.router.accept(ana, fourth.id)
    # All hold one: Ben's last change (his accept) is the oldest.
    fifth = await world.ask("v5")
    assert world.rings(ben)[-1] == fifth.id


async def test_nobody_in_a_call_is_rung_for_another_call() -> None:
    world = shift_world()
    ana = await on_call_duty(world, "Ana")
    first = await world.ask("v1", channel="voice")
    await world.router.accept(ana, first.id)
    await world.store.start_call(NewCall(first.id, ana.id, "voice", "customer"), world.clock.now())
    second = await world.ask("v2", channel="voice")
    assert world.rings(ana) == [first.id]  # two free chat slots, but no second call
    chat = await world.ask("v3")
    assert world.rings(ana) == [first.id, chat.id]
    ben = await on_call_duty(world, "Ben")
    assert world.rings(ben) == [second.id]

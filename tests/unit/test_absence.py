"""Who is no longer there, on a fake clock: the last available staff member going while
customers wait, and customers whose frames went."""

from __future__ import annotations

from signaling.events import ServerEvent
from tests.unit.test_routing import World


async def test_the_last_available_staff_member_going_tells_each_waiting_customer() -> None:
    world = World()
    ana = await world.on_duty("Ana", max_chats=1)
    ben = await world.on_duty("Ben", max_chats=1)
    talking = await world.ask("v1")
    await world.router.accept(ana, talking.id)
    waiting = await world.ask("v2")
    await world.router.decline(ben, waiting.id)

    await world.router.set_presence(ana, "away")  # Ben is still there: nobody is told
    assert world.delivery.to(f"customer:{waiting.id}", ServerEvent.TEAM_AWAY) == []
    await world.router.staff_disconnected(f"sid-{ben.id}")
    told = world.delivery.to(f"customer:{waiting.id}", ServerEvent.TEAM_AWAY)
    assert told == [{"conversation_id": waiting.id}]
    assert world.delivery.to(f"customer:{talking.id}", ServerEvent.TEAM_AWAY) == []
    unstaffed = [e for e in world.store.events if e.kind == "queue.unstaffed"]
    assert [e.detail for e in unstaffed] == [{"waiting": 1}]

    # Someone already away going offline changes nothing for the customers.
    await world.router.staff_disconnected(f"sid-{ana.id}")
    assert len(world.delivery.to(f"customer:{waiting.id}", ServerEvent.TEAM_AWAY)) == 1


async def test_nobody_is_rung_for_a_customer_whose_frame_went_until_it_comes_back() -> None:
    world = World()
    conversation = await world.ask()
    await world.router.absence.customer_left(conversation.id)
    ana = await world.on_duty("Ana")
    assert world.rings(ana) == []
    assert world.store.conversations[conversation.id].customer_left_at == world.clock.now()

    await world.router.absence.customer_back(world.store.conversations[conversation.id])
    assert world.rings(ana) == [conversation.id]
    assert world.store.conversations[conversation.id].customer_left_at is None


async def test_a_waiting_customer_gone_past_the_grace_is_abandoned() -> None:
    world = World()
    conversation = await world.ask()
    await world.router.absence.customer_left(conversation.id)
    await world.clock.advance(59)
    await world.router.sweep()
    assert world.status(conversation) == "queued"
    await world.clock.advance(2)
    await world.router.sweep()
    assert world.status(conversation) == "ended"
    kinds = [e.kind for e in world.store.events if e.conversation_id == conversation.id]
    assert kinds[-2:] == ["customer.left", "conversation.abandoned"]
    # A staff member who comes online later is not rung for them.
    ana = await world.on_duty("Ana")
    assert world.rings(ana) == []

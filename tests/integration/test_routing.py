"""Routing: one agent rung at a time, longest idle first, timeouts, declines, capacity,
language, and the grace period of a staff member whose console drops."""

import pytest

from server.keys import STORE
from tests.support import Peer, Server, customer, staff_peer


async def waiting_customer(
    server: Server, clients: list[Peer], **start: object
) -> tuple[Peer, str]:
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    reply = await visitor.ok("conversation.start", dict(start))
    return visitor, reply["conversation"]["id"]


def rung_for(cid: str):  # type: ignore[no-untyped-def]
    return lambda data: data["conversation"]["id"] == cid


@pytest.mark.settings(ring_timeout=0.5)
async def test_ring_timeout_moves_to_the_next_agent(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    ben = await staff_peer(server, await server.add_staff("Ben"))
    clients += [ana, ben]
    _, cid = await waiting_customer(server, clients)

    await ana.wait_for("ring", rung_for(cid))  # Ana has been idle longest
    assert not ben.seen("ring")
    cancelled = await ana.wait_for("ring.cancelled")
    assert cancelled == {"conversation_id": cid, "reason": "timeout"}
    await ben.wait_for("ring", rung_for(cid))
    assert await ana.refused_with("ring.accept", {"conversation_id": cid}) == "ring.expired"
    accepted = await ben.ok("ring.accept", {"conversation_id": cid})
    assert accepted["conversation"]["assignee"]["name"] == "Ben"


async def test_decline_moves_to_the_next_agent(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    ben = await staff_peer(server, await server.add_staff("Ben"))
    clients += [ana, ben]
    _, cid = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(cid))
    await ana.ok("ring.decline", {"conversation_id": cid})
    assert (await ana.wait_for("ring.cancelled"))["reason"] == "declined"
    await ben.wait_for("ring", rung_for(cid))
    assert len(ana.seen("ring")) == 1


async def test_only_the_rung_agent_can_accept(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    ben = await staff_peer(server, await server.add_staff("Ben"))
    clients += [ana, ben]
    _, cid = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(cid))
    assert await ben.refused_with("ring.accept", {"conversation_id": cid}) == "ring.expired"
    assert await ben.refused_with("ring.decline", {"conversation_id": cid}) == "ring.expired"


async def test_capacity_is_respected(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana", max_chats=1))
    clients.append(ana)
    _, first = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(first))
    await ana.ok("ring.accept", {"conversation_id": first})

    second_visitor, second = await waiting_customer(server, clients)
    ben = await staff_peer(server, await server.add_staff("Ben"))
    clients.append(ben)
    await ben.wait_for("ring", rung_for(second))
    # Ben's ring is the checkpoint: routing has run, and it did not pick Ana.
    assert not ana.seen("ring", rung_for(second))
    state = second_visitor.seen("conversation.state")[-1]["conversation"]
    assert state["status"] == "ringing"


async def test_language_matching(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana", languages=("de",)))
    ben = await staff_peer(server, await server.add_staff("Ben", languages=("pt", "en")))
    clients += [ana, ben]
    _, cid = await waiting_customer(server, clients, language="pt-BR")
    await ben.wait_for("ring", rung_for(cid))
    _, german = await waiting_customer(server, clients, language="de")
    await ana.wait_for("ring", rung_for(german))
    assert not ana.seen("ring", rung_for(cid))


@pytest.mark.settings(grace_period=0.5)
async def test_grace_period_then_requeue(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    clients.append(ana)
    visitor, cid = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(cid))
    await ana.ok("ring.accept", {"conversation_id": cid})
    await ana.close()

    requeued = await visitor.wait_for(
        "message.new",
        lambda d: d["message"]["kind"] == "system" and d["message"]["body"] == "requeued",
    )
    assert requeued["message"]["sender"] == "system"
    state = await visitor.wait_for(
        "conversation.state", lambda d: d["conversation"]["status"] == "queued"
    )
    assert state["conversation"]["assignee"] is None

    ben = await staff_peer(server, await server.add_staff("Ben"))
    clients.append(ben)
    await ben.wait_for("ring", rung_for(cid))
    accepted = await ben.ok("ring.accept", {"conversation_id": cid})
    bodies = [m["body"] for m in accepted["messages"]]
    assert bodies == ["joined", "requeued", "joined"]


async def test_reconnecting_within_grace_keeps_the_conversation(
    server: Server, clients: list[Peer]
) -> None:
    member = await server.add_staff("Ana")
    ana = await staff_peer(server, member)
    clients.append(ana)
    visitor, cid = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(cid))
    await ana.ok("ring.accept", {"conversation_id": cid})
    await ana.close()
    await visitor.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "while-away", "body": "hello?"}
    )

    back = await staff_peer(server, member, available=False)
    clients.append(back)
    synced = await back.ok("sync", {"last_seqs": {cid: 1}})
    assert [c["id"] for c in synced["conversations"]] == [cid]
    assert [m["body"] for m in synced["messages"]] == ["hello?"]
    assert synced["presence"] == "available"
    await back.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "im-back-1", "body": "here"}
    )
    await visitor.wait_for("message.new", lambda d: d["message"]["body"] == "here")
    assert not visitor.seen("message.new", lambda d: d["message"]["body"] == "requeued")


async def test_away_agents_are_not_rung(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"), available=False)
    clients.append(ana)
    visitor, cid = await waiting_customer(server, clients)
    synced = await ana.ok("sync", {})
    assert synced["presence"] == "away"
    assert [c["id"] for c in synced["queue"]] == [cid]
    await ana.ok("presence.set", {"status": "available"})
    await ana.wait_for("ring", rung_for(cid))
    await ana.ok("presence.set", {"status": "away"})
    assert (await ana.wait_for("ring.cancelled"))["reason"] == "away"
    await visitor.wait_for("conversation.state", lambda d: d["conversation"]["status"] == "queued")


@pytest.mark.settings(ring_timeout=0.5)
async def test_the_event_log_tells_the_conversation_s_story(
    server: Server, clients: list[Peer]
) -> None:
    first, second = await server.add_staff("Ana"), await server.add_staff("Ben")
    ana, ben = await staff_peer(server, first), await staff_peer(server, second)
    clients += [ana, ben]
    visitor, cid = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(cid))
    await ana.wait_for("ring.cancelled")  # Ana lets it ring out
    await ben.wait_for("ring", rung_for(cid))
    await ben.ok("ring.accept", {"conversation_id": cid})
    await visitor.ok("conversation.end", {"conversation_id": cid})

    logged = await server.app[STORE].list_events(cid)
    assert [(e.kind.value, e.actor, e.staff_id) for e in logged] == [
        ("conversation.queued", "customer", None),
        ("conversation.rung", "system", first.id),
        ("conversation.missed", "system", first.id),
        ("conversation.rung", "system", second.id),
        ("conversation.accepted", "staff", second.id),
        ("conversation.ended", "customer", second.id),
    ]
    assert logged[2].detail == {"reason": "timeout"}

"""Calls are rows, not a process's memory: two server nodes on one database (SQLite file or
PostgreSQL) both know the running call and the open proposal. Cross-node emits (Redis) are
not part of this; every answer here comes from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import Peer, Server, customer, settings_for, staff_peer


@pytest.fixture
async def second_node(server: Server, database_url: str) -> AsyncIterator[Server]:
    """Another node on the same database (the same secret, so tokens and sessions hold)."""
    node = Server(settings_for(database_url))
    await node.start()
    yield node
    await node.stop()


async def test_a_second_node_sees_the_running_call_and_takes_the_answer_to_a_proposal(
    server: Server, second_node: Server, clients: list[Peer]
) -> None:
    staff = await staff_peer(server, await server.add_staff("Sam"))
    visitor = customer(server)
    clients += [staff, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await staff.wait_for("ring", lambda d: d["conversation"]["id"] == cid)
    await staff.ok("ring.accept", {"conversation_id": cid})
    proposal = await staff.ok("call.propose", {"conversation_id": cid, "channel": "video"})

    # The same visitor in a tab that reached the other node answers the proposal there.
    elsewhere = Peer(second_node.url, "/customer", auth=dict(visitor.auth or {}))
    clients.append(elsewhere)
    await elsewhere.connect()
    await elsewhere.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    answer = {"conversation_id": cid, "proposal_id": proposal["proposal_id"], "accept": True}
    answered = await elsewhere.ok("call.respond", answer)
    call = answered["call"]["call"]
    assert (call["channel"], call["started_by"]) == ("video", "staff")
    assert await elsewhere.refused_with("call.respond", answer) == "call.not_found"

    # The first node knows the call it did not start, for both sides.
    synced = await staff.ok("sync", {"last_seqs": {}})
    assert [c["call"]["id"] for c in synced["calls"]] == [call["id"]]
    resumed = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["call"]["call"]["id"] == call["id"]
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    offer = {"conversation_id": cid, "call_id": call["id"], "sdp": sdp}
    await elsewhere.ok("call.offer", offer)

    ended = await staff.ok(
        "call.end", {"conversation_id": cid, "call_id": call["id"], "reason": "hangup"}
    )
    assert ended["call"]["ended_by"] == "staff"
    assert await elsewhere.refused_with("call.offer", offer) == "call.not_found"
    resumed = await elsewhere.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["call"] is None
    assert resumed["conversation"]["channel"] == "chat"

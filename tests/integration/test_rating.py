"""The customer rates an ended conversation: stored once (a new rating replaces it), shown to
the staff member at once, its score in the event log without the comment, and refused while
the conversation runs, out of range, or for someone else's conversation."""

from server.keys import STORE
from signaling.domain_events import EventKind
from tests.support import Peer, Server, customer, staff_peer


async def test_a_rating_is_stored_shown_and_logged(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    visitor = customer(server)
    mallory = customer(server)
    clients += [ana, visitor, mallory]
    await visitor.connect()
    await mallory.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await ana.wait_for("ring")
    await ana.ok("ring.accept", {"conversation_id": cid})

    early = await visitor.refused_with("conversation.rate", {"conversation_id": cid, "score": 5})
    assert early == "conversation.not_ended"
    await visitor.ok("conversation.end", {"conversation_id": cid})

    for score in (0, 6):
        bad = {"conversation_id": cid, "score": score}
        assert await visitor.refused_with("conversation.rate", bad) == "payload.invalid"
    long = {"conversation_id": cid, "score": 4, "comment": "x" * 1001}
    assert await visitor.refused_with("conversation.rate", long) == "payload.invalid"
    other = {"conversation_id": cid, "score": 1}
    assert await mallory.refused_with("conversation.rate", other) == "conversation.not_found"

    rated = await visitor.ok(
        "conversation.rate", {"conversation_id": cid, "score": 2, "comment": "slow"}
    )
    assert rated["conversation"]["rating"] == {"score": 2, "comment": "slow"}
    seen = await ana.wait_for(
        "conversation.state", lambda d: (d["conversation"].get("rating") or {}).get("score") == 2
    )
    assert seen["conversation"]["rating"]["comment"] == "slow"

    # A second rating replaces the first: one per conversation.
    again = await visitor.ok("conversation.rate", {"conversation_id": cid, "score": 5})
    assert again["conversation"]["rating"] == {"score": 5, "comment": None}
    stored = await server.app[STORE].get_conversation(cid)
    assert stored is not None and (stored.rating, stored.rating_comment) == (5, None)
    resumed = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["conversation"]["rating"]["score"] == 5

    logged = [
        e
        for e in await server.app[STORE].list_events(cid)
        if e.kind == EventKind.CONVERSATION_RATED
    ]
    assert [e.detail for e in logged] == [{"score": 2}, {"score": 5}]
    assert all(e.actor == "customer" for e in logged)

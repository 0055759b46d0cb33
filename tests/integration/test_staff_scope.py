"""What a staff member may do in a conversation they do not hold: an admin may read it, but
only its assignee acts in it (types, marks it read, writes, calls, ends it)."""

from tests.support import Peer, Server, customer, staff_peer


async def test_admins_act_only_on_conversations_they_hold(
    server: Server, clients: list[Peer]
) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    root = await staff_peer(server, await server.add_staff("Root", role="admin"), available=False)
    visitor = customer(server)
    clients += [ana, root, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await ana.wait_for("ring")
    await ana.ok("ring.accept", {"conversation_id": cid})
    await visitor.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "question-1", "body": "hi"}
    )

    # Reading stays open to the admin.
    resumed = await root.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["conversation"]["status"] == "active"
    assert "hi" in [m["body"] for m in resumed["messages"]]

    for event, payload in [
        ("typing", {"conversation_id": cid, "typing": True}),
        ("read", {"conversation_id": cid, "seq": 2}),
        ("message.send", {"conversation_id": cid, "client_msg_id": "barge-in-1", "body": "x"}),
        ("call.propose", {"conversation_id": cid, "channel": "voice"}),
        ("conversation.end", {"conversation_id": cid}),
    ]:
        assert await root.refused_with(event, payload) == "conversation.not_assigned", event

    # The assignee's own typing is the checkpoint: everything the admin sent came before it.
    await ana.ok("typing", {"conversation_id": cid, "typing": True})
    await visitor.wait_for("typing", lambda d: d["side"] == "staff")
    assert len(visitor.seen("typing")) == 1
    assert not visitor.seen("read")
    still = await ana.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert still["conversation"]["status"] == "active"
    assert still["conversation"]["staff_read_seq"] == 0


async def test_a_supervisor_reads_any_conversation_but_acts_in_none(
    server: Server, clients: list[Peer]
) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    lead = await staff_peer(
        server, await server.add_staff("Lead", role="supervisor"), available=False
    )
    visitor = customer(server)
    clients += [ana, lead, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await ana.wait_for("ring")
    await ana.ok("ring.accept", {"conversation_id": cid})

    resumed = await lead.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["conversation"]["status"] == "active"
    assert (
        await lead.refused_with(
            "message.send", {"conversation_id": cid, "client_msg_id": "supervisor-1", "body": "x"}
        )
        == "conversation.not_assigned"
    )

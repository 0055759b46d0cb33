"""The delivery contract: idempotent sends, replay after a seq, state on reconnect, and
nothing lost across a server restart."""

from typing import Any

from server.keys import STORE
from signaling.conversations import REPLAY_LIMIT
from tests.support import (
    Peer,
    Server,
    another_tab,
    customer,
    staff_peer,
    store_unannounced,
    until,
)


async def active_chat(server: Server, clients: list[Peer]) -> tuple[Peer, Peer, str]:
    staff = await staff_peer(server, await server.add_staff("Sam"))
    visitor = customer(server)
    clients += [staff, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await staff.wait_for("ring")
    await staff.ok("ring.accept", {"conversation_id": cid})
    await visitor.wait_for("conversation.state", lambda d: d["conversation"]["status"] == "active")
    return visitor, staff, cid


def send(cid: str, msg_id: str, body: str) -> dict[str, Any]:
    return {"conversation_id": cid, "client_msg_id": msg_id, "body": body}


async def test_a_resent_message_is_stored_once_and_shown_once(
    server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await active_chat(server, clients)
    first = await visitor.ok("message.send", send(cid, "same-id-1", "Is this lamp dimmable?"))
    again = await visitor.ok("message.send", send(cid, "same-id-1", "Is this lamp dimmable?"))
    assert first["message"] == again["message"]
    await visitor.ok("message.send", send(cid, "other-id-2", "And in brass?"))
    await staff.wait_for("message.new", lambda d: d["message"]["body"] == "And in brass?")
    shown = staff.seen("message.new", lambda d: d["message"]["client_msg_id"] == "same-id-1")
    assert len(shown) == 1
    stored = await server.app[STORE].messages_after(cid, 0)
    assert [m.body for m in stored] == ["joined", "Is this lamp dimmable?", "And in brass?"]


async def test_the_visitors_other_tab_gets_what_it_sent_and_the_sender_does_not(
    server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await active_chat(server, clients)
    other_tab = await another_tab(server, visitor, cid, clients)
    await visitor.ok("message.send", send(cid, "two-tabs-1", "Sent from the first tab"))
    await other_tab.wait_for(
        "message.new", lambda d: d["message"]["body"] == "Sent from the first tab"
    )
    await staff.wait_for("message.new", lambda d: d["message"]["body"] == "Sent from the first tab")
    # A later message proves the sender's own copy would have arrived by now.
    await staff.ok("message.send", send(cid, "reply-0001", "Got it"))
    await visitor.wait_for("message.new", lambda d: d["message"]["body"] == "Got it")
    assert visitor.seen("message.new", lambda d: d["message"]["sender"] == "customer") == []


async def test_after_a_disconnect_the_customer_gets_exactly_what_it_missed(
    server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await active_chat(server, clients)
    held = (await visitor.ok("message.send", send(cid, "before-01", "before")))["message"]["seq"]
    token = visitor.auth["token"]  # type: ignore[index]
    await visitor.close()

    for n in range(5):
        await staff.ok("message.send", send(cid, f"missed-{n:03}", f"missed {n}"))

    back = Peer(
        server.url,
        "/customer",
        auth={"site": "shop-site", "host": "http://shop.test", "token": token},
    )
    clients.append(back)
    await back.connect()
    resumed = await back.ok("conversation.resume", {"conversation_id": cid, "last_seq": held})
    assert [m["body"] for m in resumed["messages"]] == [f"missed {n}" for n in range(5)]
    assert [m["seq"] for m in resumed["messages"]] == list(range(held + 1, held + 6))
    assert resumed["conversation"]["status"] == "active"


async def test_after_a_disconnect_the_staff_gets_exactly_what_it_missed(
    server: Server, clients: list[Peer]
) -> None:
    visitor, staff, cid = await active_chat(server, clients)
    found = await server.app[STORE].staff_credentials("sam@staff.test")
    assert found is not None
    member = found[0]
    await staff.close()
    for n in range(3):
        await visitor.ok("message.send", send(cid, f"offline-{n:02}", f"are you there {n}"))
    back = await staff_peer(server, member, available=False)
    clients.append(back)
    synced = await back.ok("sync", {"last_seqs": {cid: 1}})
    assert [m["body"] for m in synced["messages"]] == [f"are you there {n}" for n in range(3)]


async def test_an_end_while_away_arrives_as_ended(server: Server, clients: list[Peer]) -> None:
    visitor, staff, cid = await active_chat(server, clients)
    token = visitor.auth["token"]  # type: ignore[index]
    await visitor.close()
    await staff.ok("conversation.end", {"conversation_id": cid})

    back = Peer(
        server.url,
        "/customer",
        auth={"site": "shop-site", "host": "http://shop.test", "token": token},
    )
    clients.append(back)
    await back.connect()
    resumed = await back.ok("conversation.resume", {"conversation_id": cid, "last_seq": 1})
    assert resumed["conversation"]["status"] == "ended"
    assert resumed["conversation"]["ended_by"] == "staff"
    assert [m["body"] for m in resumed["messages"]] == ["ended"]
    fresh = await back.ok("conversation.start", {})
    assert fresh["conversation"]["id"] != cid


async def test_a_server_restart_loses_nothing(server: Server, clients: list[Peer]) -> None:
    visitor, staff, cid = await active_chat(server, clients)
    for n in range(3):
        await visitor.ok("message.send", send(cid, f"pre-restart-{n}", f"customer {n}"))
        await staff.ok("message.send", send(cid, f"pre-staff-{n}", f"staff {n}"))
    before = [(m.seq, m.body) for m in await server.app[STORE].messages_after(cid, 0)]

    await server.stop()
    await until(lambda: not visitor.sio.connected and not staff.sio.connected, what="disconnect")
    await server.start()
    # Both clients reconnect on their own (the staff session lives in the database).
    await until(lambda: visitor.sio.namespaces.get("/customer"), what="customer reconnect")
    await until(lambda: staff.sio.namespaces.get("/staff"), what="staff reconnect")

    resumed = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert [(m["seq"], m["body"]) for m in resumed["messages"]] == before
    assert resumed["conversation"]["status"] == "active"
    synced = await staff.ok("sync", {"last_seqs": {cid: before[-1][0]}})
    assert [c["id"] for c in synced["conversations"]] == [cid]
    assert synced["messages"] == []

    await visitor.ok("message.send", send(cid, "post-restart", "still here"))
    got = await staff.wait_for("message.new", lambda d: d["message"]["body"] == "still here")
    assert got["message"]["seq"] == before[-1][0] + 1


async def test_a_customer_missing_more_than_a_replay_page_pages_until_caught_up(
    server: Server, clients: list[Peer]
) -> None:
    visitor, _staff, cid = await active_chat(server, clients)
    held = (await visitor.ok("message.send", send(cid, "held-0001", "held")))["message"]["seq"]
    missed = [f"missed {n}" for n in range(REPLAY_LIMIT + 200)]
    await store_unannounced(server, cid, missed)

    first = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": held})
    assert len(first["messages"]) == REPLAY_LIMIT
    assert first["more"] is True
    after = first["messages"][-1]["seq"]
    rest = await visitor.ok("conversation.resume", {"conversation_id": cid, "last_seq": after})
    assert rest["more"] is False
    got = first["messages"] + rest["messages"]
    assert [m["body"] for m in got] == missed
    assert [m["seq"] for m in got] == list(range(held + 1, held + 1 + len(missed)))


async def test_a_console_missing_more_than_a_replay_page_is_told_to_page(
    server: Server, clients: list[Peer]
) -> None:
    _visitor, staff, cid = await active_chat(server, clients)
    missed = [f"customer {n}" for n in range(REPLAY_LIMIT + 20)]
    await store_unannounced(server, cid, missed, sender="customer")

    synced = await staff.ok("sync", {"last_seqs": {cid: 1}})
    assert len(synced["messages"]) == REPLAY_LIMIT
    assert synced["more"] == [cid]
    after = synced["messages"][-1]["seq"]
    rest = await staff.ok("conversation.resume", {"conversation_id": cid, "last_seq": after})
    assert rest["more"] is False
    assert [m["body"] for m in synced["messages"] + rest["messages"]] == missed
    caught_up = await staff.ok("sync", {"last_seqs": {cid: rest["messages"][-1]["seq"]}})
    assert caught_up["messages"] == []
    assert caught_up["more"] == []

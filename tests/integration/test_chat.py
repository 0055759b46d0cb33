"""A text conversation end to end through the real app and real socket.io clients."""

from tests.support import Peer, Server, customer, staff_peer


async def start_chat(server: Server, clients: list[Peer], **start: object) -> tuple[Peer, str]:
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    reply = await visitor.ok("conversation.start", {"channel": "chat", **start})
    return visitor, reply["conversation"]["id"]


async def test_customer_and_staff_chat(server: Server, clients: list[Peer]) -> None:
    sam = await server.add_staff("Sam")
    staff = await staff_peer(server, sam)
    clients.append(staff)
    visitor, cid = await start_chat(server, clients, page_url="http://shop.test/lamps")
    assert visitor.seen("session")[0]["token"].startswith("v1.")

    sent = await visitor.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "first-msg", "body": "Hello?"}
    )
    assert sent["message"]["seq"] == 1

    ring = await staff.wait_for("ring")
    assert ring["conversation"]["id"] == cid
    assert ring["conversation"]["visitor"]["page_url"] == "http://shop.test/lamps"
    accepted = await staff.ok("ring.accept", {"conversation_id": cid})
    assert [m["body"] for m in accepted["messages"]] == ["Hello?", "joined"]

    state = await visitor.wait_for(
        "conversation.state", lambda d: d["conversation"]["status"] == "active"
    )
    assert state["conversation"]["assignee"]["name"] == "Sam"
    assert "visitor" not in state["conversation"] or state["conversation"]["visitor"] is None

    await staff.ok("typing", {"conversation_id": cid, "typing": True})
    await visitor.wait_for("typing", lambda d: d["side"] == "staff" and d["typing"])
    await staff.ok(
        "message.send",
        {"conversation_id": cid, "client_msg_id": "reply-001", "body": "Hi! Sam here."},
    )
    got = await visitor.wait_for("message.new", lambda d: d["message"]["sender"] == "staff")
    assert got["message"]["body"] == "Hi! Sam here."
    assert got["message"]["author_name"] == "Sam"

    await visitor.ok("read", {"conversation_id": cid, "seq": got["message"]["seq"]})
    read = await staff.wait_for("read", lambda d: d["side"] == "customer")
    assert read["seq"] == got["message"]["seq"]

    ended = await staff.ok("conversation.end", {"conversation_id": cid})
    assert ended["conversation"]["status"] == "ended"
    state = await visitor.wait_for(
        "conversation.state", lambda d: d["conversation"]["status"] == "ended"
    )
    assert state["conversation"]["ended_by"] == "staff"
    code = await visitor.refused_with(
        "message.send",
        {"conversation_id": cid, "client_msg_id": "late-msg1", "body": "still there?"},
    )
    assert code == "conversation.ended"


async def test_starting_twice_returns_the_open_conversation(
    server: Server, clients: list[Peer]
) -> None:
    visitor, cid = await start_chat(server, clients)
    again = await visitor.ok("conversation.start", {})
    assert again["conversation"]["id"] == cid


async def test_queue_position_and_estimate(server: Server, clients: list[Peer]) -> None:
    first, first_id = await start_chat(server, clients)
    second = customer(server)
    clients.append(second)
    await second.connect()
    reply = await second.ok("conversation.start", {})
    assert reply["conversation"]["status"] == "queued"
    assert reply["conversation"]["queue_position"] == 2
    # nobody is available: no estimate rather than a made-up one
    assert reply["conversation"]["estimated_wait_s"] is None

    sam = await server.add_staff("Sam", max_chats=1)
    staff = await staff_peer(server, sam)
    clients.append(staff)
    await staff.wait_for("ring")
    state = await second.wait_for(
        "conversation.state", lambda d: d["conversation"]["estimated_wait_s"] is not None
    )
    assert state["conversation"]["queue_position"] == 2
    assert state["conversation"]["estimated_wait_s"] > 0

    await first.ok("conversation.end", {"conversation_id": first_id})
    moved = await second.wait_for(
        "conversation.state", lambda d: d["conversation"]["queue_position"] == 1
    )
    assert moved["conversation"]["status"] in ("queued", "ringing")


async def test_customer_can_cancel_while_waiting(server: Server, clients: list[Peer]) -> None:
    sam = await server.add_staff("Sam")
    staff = await staff_peer(server, sam)
    clients.append(staff)
    visitor, cid = await start_chat(server, clients)
    await staff.wait_for("ring")
    ended = await visitor.ok("conversation.end", {"conversation_id": cid})
    assert ended["conversation"]["status"] == "ended"
    cancelled = await staff.wait_for("ring.cancelled")
    assert cancelled == {"conversation_id": cid, "reason": "abandoned"}
    assert await staff.refused_with("ring.accept", {"conversation_id": cid}) == "ring.expired"


async def test_availability_endpoint_follows_presence(server: Server, clients: list[Peer]) -> None:
    import aiohttp

    async def available() -> bool:
        async with aiohttp.ClientSession() as http:
            response = await http.get(f"{server.url}/api/v1/sites/shop-site/availability")
            assert response.headers["Cache-Control"] == "public, max-age=15"
            return bool((await response.json())["available"])

    assert await available() is False
    sam = await server.add_staff("Sam")
    staff = await staff_peer(server, sam)
    clients.append(staff)
    assert await available() is True
    await staff.ok("presence.set", {"status": "away"})
    assert await available() is False

"""A person's data over REST, on both databases: export everything about a visitor, refuse
to erase while their conversation runs, erase, and export again to find only the tombstone;
other visitors are untouched."""

from __future__ import annotations

from server.keys import STORE
from tests.integration.test_audit import Admin, as_staff
from tests.support import Peer, Server, customer, staff_peer

NAME = "Greta Lind"
TEXT = "Deliver to Storgatan 4, please"


async def test_export_erase_export(server: Server, clients: list[Peer]) -> None:
    root = await server.add_staff("Root", role="admin")
    sam = await server.add_staff("Sam")
    staff = await staff_peer(server, sam)
    clients.append(staff)
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    started = await visitor.ok(
        "conversation.start", {"name": NAME, "page_url": "http://shop.test/lamps/42"}
    )
    cid = started["conversation"]["id"]
    await staff.wait_for("ring")
    await staff.ok("ring.accept", {"conversation_id": cid})
    await visitor.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "gdpr-0001", "body": TEXT}
    )
    other = customer(server)
    clients.append(other)
    await other.connect()
    other_id = (await other.ok("conversation.start", {"name": "Olle"}))["conversation"]["id"]

    admin = await as_staff(server, root.email)
    status, busy = await admin.call("POST", "/api/v1/privacy/erase", {"conversation_id": cid})
    assert (status, busy["error"]["code"]) == (409, "conversation.not_ended")
    await staff.ok("conversation.end", {"conversation_id": cid})
    await visitor.ok(
        "conversation.rate", {"conversation_id": cid, "score": 4, "comment": "Ask for Greta"}
    )

    status, document = await admin.call("POST", "/api/v1/privacy/export", {"conversation_id": cid})
    assert status == 200
    subject = document["subject"]
    assert subject["kind"] == "visitor" and subject["site"] == "shop-site"
    (conversation,) = document["conversations"]
    assert conversation["id"] == cid and conversation["visitor_name"] == NAME
    assert conversation["page_url"] == "http://shop.test/lamps/42"
    assert TEXT in [m["body"] for m in conversation["messages"]]
    kinds = [e["kind"] for e in conversation["events"]]
    assert kinds[:3] == ["conversation.queued", "conversation.rung", "conversation.accepted"]
    assert kinds[-2:] == ["conversation.ended", "conversation.rated"]
    assert (conversation["rating"], conversation["rating_comment"]) == (4, "Ask for Greta")
    assert document["erasures"] == []

    by_visitor = {"site": subject["site"], "visitor_id": subject["visitor_id"]}
    status, erased = await admin.call("POST", "/api/v1/privacy/erase", by_visitor)
    assert status == 200
    assert erased["erased"] == {"conversations": 1, "messages": len(conversation["messages"])}

    # The row stays for the figures (the score too), without a word of the person's.
    kept_row = await server.app[STORE].get_conversation(cid)
    assert kept_row is not None and kept_row.visitor_name is None and kept_row.page_url is None
    assert (kept_row.rating, kept_row.rating_comment) == (4, None)
    assert kept_row.visitor_id != subject["visitor_id"]
    assert await server.app[STORE].messages_after(cid, 0) == []

    status, again = await admin.call("POST", "/api/v1/privacy/export", by_visitor)
    assert status == 200 and again["conversations"] == []
    (tombstone,) = again["erasures"]
    assert tombstone["conversations"] == 1
    # The visitor's own token no longer reaches the conversation.
    assert await visitor.refused_with(
        "conversation.resume", {"conversation_id": cid, "last_seq": 0}
    ) in ("conversation.not_found", "auth.forbidden")

    # The tombstone names the person by digest only; the other visitor is untouched.
    _, log = await admin.call("GET", "/api/v1/audit", params={"action": "privacy."})
    assert [e["action"] for e in log["entries"]] == [
        "privacy.exported",
        "privacy.erased",
        "privacy.exported",
    ]
    assert all(e["target"].startswith("subject:") for e in log["entries"])
    assert subject["visitor_id"] not in str(log) and NAME not in str(log)
    status, kept = await admin.call("POST", "/api/v1/privacy/export", {"conversation_id": other_id})
    assert kept["conversations"][0]["visitor_name"] == "Olle"


async def test_privacy_routes_are_for_admins(server: Server) -> None:
    agent = await server.add_staff("Ann")
    member = await as_staff(server, agent.email)
    for path in ("/api/v1/privacy/export", "/api/v1/privacy/erase"):
        assert (await member.call("POST", path, {"conversation_id": "x"}))[0] == 403
    root = await server.add_staff("Root", role="admin")
    admin: Admin = await as_staff(server, root.email)
    status, body = await admin.call("POST", "/api/v1/privacy/export", {"site": "shop-site"})
    assert (status, body["error"]["code"]) == (400, "payload.invalid")
    status, body = await admin.call(
        "POST", "/api/v1/privacy/export", {"site": "nowhere", "visitor_id": "v"}
    )
    assert (status, body["error"]["code"]) == (404, "site.unknown")

"""Business hours and the offline path through the real app, on SQLite and PostgreSQL:
availability, hours validation, messages left for later, the last staff member leaving,
and customers who left."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from server.auth import SESSION_COOKIE
from server.keys import STORE
from signaling.hours import Hours
from tests.support import Peer, Server, customer, login, staff_peer, until

CLOSED_ALL_WEEK: dict[str, Any] = {"timezone": "Atlantic/Reykjavik", "week": {}}


async def admin_session(server: Server) -> tuple[str, str]:
    boss = await server.add_staff("Boss", role="admin")
    return await login(server, boss.email)


async def api(
    server: Server, method: str, path: str, session: tuple[str, str] | None, **kw: Any
) -> tuple[int, Any]:
    headers = dict(kw.pop("headers", {}))
    if session is not None:
        headers.update({"Cookie": f"{SESSION_COOKIE}={session[0]}", "X-CSRF-Token": session[1]})
    async with aiohttp.ClientSession() as http:
        response = await http.request(method, f"{server.url}{path}", headers=headers, **kw)
        return response.status, await response.json()


async def availability(server: Server) -> dict[str, Any]:
    status, body = await api(server, "GET", "/api/v1/sites/shop-site/availability", None)
    assert status == 200
    return dict(body)


async def visitor_token(server: Server, clients: list[Peer]) -> tuple[Peer, str]:
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    token = await until(lambda: visitor.seen("session"), what="session")
    return visitor, str(token[0]["token"])


async def leave(server: Server, token: str, **body: Any) -> tuple[int, Any]:
    payload = {"email": "ana@example.com", "message": "Call me back?", "client_msg_id": "msg-0001"}
    return await api(
        server,
        "POST",
        "/api/v1/sites/shop-site/offline-messages",
        None,
        json={**payload, **body},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_hours_decide_availability_and_the_next_opening(
    server: Server, clients: list[Peer]
) -> None:
    session = await admin_session(server)
    sam = await server.add_staff("Sam")
    clients.append(await staff_peer(server, sam))
    assert (await availability(server))["available"] is True  # no hours: always open

    status, body = await api(
        server, "PUT", "/api/v1/sites/shop-site/hours", session, json={"hours": CLOSED_ALL_WEEK}
    )
    assert status == 200, body
    closed = await availability(server)
    assert closed["available"] is False and closed["open"] is False and closed["staffed"]
    assert closed["next_open"] is None

    today = datetime.now(UTC).date()
    # Closed today (a holiday), open tomorrow 09:00-17:00 Reykjavik (UTC all year).
    week = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    hours = {
        "timezone": "Atlantic/Reykjavik",
        "week": week,
        "closures": [{"start": today.isoformat(), "note": "Holiday"}],
    }
    status, body = await api(
        server,
        "PUT",
        "/api/v1/sites/shop-site/hours",
        session,
        json={"hours": hours, "offline": "message", "queue_timeout_s": 120},
    )
    assert status == 200, body
    now = await availability(server)
    expected = Hours.from_wire(hours).status(datetime.now(UTC)).next_open
    assert expected is not None
    assert now["next_open"] == expected.isoformat().replace("+00:00", "Z")
    assert now["open"] is False and now["queue_timeout_s"] == 120
    assert now["timezone"] == "Atlantic/Reykjavik"
    status, read = await api(server, "GET", "/api/v1/sites/shop-site/hours", session)
    assert status == 200 and read["hours"]["closures"][0]["note"] == "Holiday"


BAD_HOURS: list[tuple[dict[str, Any], str]] = [
    ({"hours": {"timezone": "Mars/Olympus", "week": {}}}, "hours.timezone_unknown"),
    ({"hours": {"timezone": "UTC", "week": {"mon": [["17:00", "09:00"]]}}}, "hours.invalid"),
    (
        {"hours": {"timezone": "UTC", "week": {}, "closures": [{"start": "2026-13-01"}]}},
        "hours.invalid",
    ),
    ({"hours": None, "offline": "pigeon"}, "payload.invalid"),
    ({"hours": None, "queue_timeout_s": 5}, "payload.invalid"),
]


async def test_invalid_hours_are_refused_with_a_code_and_nothing_stored(server: Server) -> None:
    session = await admin_session(server)
    path = "/api/v1/sites/shop-site/hours"
    status, _ = await api(server, "PUT", path, session, json={"hours": CLOSED_ALL_WEEK})
    assert status == 200
    for body, code in BAD_HOURS:
        status, refused = await api(server, "PUT", path, session, json=body)
        assert status == 400 and refused["error"]["code"] == code, (body, refused)
    sam = await server.add_staff("Sam")
    status, refused = await api(
        server, "PUT", path, await login(server, sam.email), json={"hours": None}
    )
    assert status == 403 and refused["error"]["code"] == "auth.forbidden"
    _, stored = await api(server, "GET", path, session)
    assert stored["hours"] == Hours.from_wire(CLOSED_ALL_WEEK).to_wire()
    assert stored["offline"] == "message"
    # The change is audited with what changed; refusals and a repeat record nothing.
    status, _ = await api(server, "PUT", path, session, json={"hours": CLOSED_ALL_WEEK})
    assert status == 200
    _, page = await api(
        server, "GET", "/api/v1/audit", session, params={"target": "site:shop-site"}
    )
    assert [(e["action"], e["details"]) for e in page["entries"]] == [
        ("site.changed", {"changed": ["hours"], "hours": stored["hours"]}),
    ]


async def test_a_message_left_for_later_is_stored_offline_and_listed(
    server: Server, clients: list[Peer]
) -> None:
    _, token = await visitor_token(server, clients)
    status, body = await leave(server, token, page_url="http://shop.test/lamps")
    assert status == 201, body
    conversation = body["conversation"]
    assert conversation["status"] == "ended" and conversation["offline"] is True
    stored = await server.app[STORE].get_conversation(conversation["id"])
    assert stored is not None and stored.customer_email == "ana@example.com"
    messages = await server.app[STORE].messages_after(conversation["id"], 0)
    assert [(m.sender, m.body) for m in messages] == [("customer", "Call me back?")]
    events = [e.kind for e in await server.app[STORE].list_events(conversation["id"])]
    assert events == ["conversation.offline"]

    sam = await server.add_staff("Sam")
    status, listed = await api(
        server, "GET", "/api/v1/offline-messages", await login(server, sam.email)
    )
    assert status == 200
    (item,) = listed["messages"]
    assert item["email"] == "ana@example.com" and item["message"] == "Call me back?"
    assert item["site_name"] == "Shop" and item["page_url"] == "http://shop.test/lamps"


BAD_MESSAGES: list[tuple[dict[str, Any], str]] = [
    ({"email": "not-an-address"}, "email.invalid"),
    ({"email": "a@b.c, x@y.z"}, "email.invalid"),
    ({"message": "   "}, "payload.invalid"),
    ({"message": "x" * 4001}, "payload.invalid"),
    ({"client_msg_id": "!"}, "payload.invalid"),
    ({"page_url": "javascript:alert(1)"}, "payload.invalid"),
]


async def test_a_bad_message_is_refused_with_a_code_and_nothing_stored(
    server: Server, clients: list[Peer]
) -> None:
    _, token = await visitor_token(server, clients)
    for body, code in BAD_MESSAGES:
        got, refused = await leave(server, token, **body)
        assert got == 400 and refused["error"]["code"] == code, (body, refused)
    assert await server.app[STORE].offline_conversations() == []
    assert await server.app[STORE].list_conversations(("ended",)) == []


async def test_no_message_without_a_visitor_token_or_when_the_site_hides(
    server: Server, clients: list[Peer]
) -> None:
    got, refused = await leave(server, "v1.forged")
    assert got == 401 and refused["error"]["code"] == "token.invalid"
    session = await admin_session(server)
    await api(
        server,
        "PUT",
        "/api/v1/sites/shop-site/hours",
        session,
        json={"hours": None, "offline": "hide"},
    )
    _, token = await visitor_token(server, clients)
    got, refused = await leave(server, token)
    assert got == 409 and refused["error"]["code"] == "offline.disabled"
    assert await server.app[STORE].offline_conversations() == []


async def test_the_last_staff_member_going_tells_waiting_customers(
    server: Server, clients: list[Peer]
) -> None:
    sam = await server.add_staff("Sam", max_chats=1)
    staff = await staff_peer(server, sam)
    clients.append(staff)
    busy, _ = await visitor_token(server, clients)
    first = await busy.ok("conversation.start", {})
    await staff.wait_for("ring")
    await staff.ok("ring.accept", {"conversation_id": first["conversation"]["id"]})
    waiting, token = await visitor_token(server, clients)
    queued = (await waiting.ok("conversation.start", {}))["conversation"]
    assert queued["status"] == "queued"

    started = time.monotonic()
    await staff.ok("presence.set", {"status": "away"})
    told = await waiting.wait_for("team.away", timeout=5.0)
    assert told["conversation_id"] == queued["id"] and time.monotonic() - started < 5.0
    assert not busy.seen("team.away")  # talking to someone: not waiting
    kinds = [e.kind for e in await server.app[STORE].list_events()]
    assert "queue.unstaffed" in kinds

    # Offered the offline path, the waiting customer takes it: the same conversation.
    status, body = await leave(server, token, message="I'll wait for an email.")
    assert status == 201 and body["conversation"]["id"] == queued["id"]
    state = await waiting.wait_for(
        "conversation.state", lambda d: d["conversation"]["offline"] is True
    )
    assert state["conversation"]["status"] == "ended"


@pytest.mark.settings(customer_grace=1.0)
async def test_nobody_is_rung_for_a_customer_who_left(server: Server, clients: list[Peer]) -> None:
    visitor, _ = await visitor_token(server, clients)
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await visitor.close()
    store = server.app[STORE]
    await until(lambda: _left(server, cid))
    # A staff member comes online after the customer went: no ring, and soon it is abandoned.
    sam = await server.add_staff("Sam")
    staff = await staff_peer(server, sam)
    clients.append(staff)
    ended = await until(lambda: _status(server, cid, "ended"))
    assert ended.ended_by == "system"
    assert not staff.seen("ring")

    async def logged() -> list[str] | None:
        # The event log is written after the conversation's own row.
        kinds = [str(e.kind) for e in await store.list_events(cid)]
        return kinds if "conversation.abandoned" in kinds else None

    kinds = await until(logged)
    assert kinds[-2:] == ["customer.left", "conversation.abandoned"]


async def test_a_customer_who_comes_back_is_rung_for(server: Server, clients: list[Peer]) -> None:
    visitor, token = await visitor_token(server, clients)
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await visitor.close()
    await until(lambda: _left(server, cid))
    sam = await server.add_staff("Sam")
    staff = await staff_peer(server, sam)
    clients.append(staff)
    back = customer(server)
    back.auth = {**(back.auth or {}), "token": token}
    clients.append(back)
    await back.connect()
    resumed = await back.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
    assert resumed["conversation"]["customer_left_at"] is None
    ring = await staff.wait_for("ring")
    assert ring["conversation"]["id"] == cid


async def _left(server: Server, cid: str) -> bool:
    found = await server.app[STORE].get_conversation(cid)
    return found is not None and found.customer_left_at is not None


async def _status(server: Server, cid: str, status: str) -> Any:
    found = await server.app[STORE].get_conversation(cid)
    return found if found is not None and found.status == status else None


async def test_a_message_left_for_later_is_exported_and_erased_with_its_address(
    server: Server, clients: list[Peer]
) -> None:
    _, token = await visitor_token(server, clients)
    status, body = await leave(server, token)
    assert status == 201, body
    cid = body["conversation"]["id"]
    session = await admin_session(server)
    by_id = {"conversation_id": cid}
    status, document = await api(server, "POST", "/api/v1/privacy/export", session, json=by_id)
    assert status == 200, document
    (exported,) = document["conversations"]
    assert exported["customer_email"] == "ana@example.com" and exported["offline_at"]
    status, _ = await api(server, "POST", "/api/v1/privacy/erase", session, json=by_id)
    assert status == 200
    kept = await server.app[STORE].get_conversation(cid)
    assert kept is not None and kept.customer_email is None and kept.offline_at is not None
    _, listed = await api(server, "GET", "/api/v1/offline-messages", session)
    assert [(m["email"], m["message"]) for m in listed["messages"]] == [(None, "")]

"""The shift over the real app, on SQLite and PostgreSQL: an admin sets a site's rules over
REST; a staff member's wrap-up, its outcome tag, "Ready now" and "+30 s" over their socket;
away reasons."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from server.auth import SESSION_COOKIE
from server.keys import STORE
from tests.integration.test_routing import rung_for, waiting_customer
from tests.support import Peer, Server, login, staff_peer

RULES = {
    "wrapup_chat_s": 30,
    "wrapup_call_s": 45,
    "outcome_tags": ["resolved", "follow-up"],
    "call_cap": 3,
    "pause_s": 90,
}


async def put_rules(server: Server, email: str, rules: dict[str, Any]) -> tuple[int, Any]:
    cookie, csrf = await login(server, email)
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        response = await http.put(
            f"{server.url}/api/v1/sites/shop-site/shift",
            json=rules,
            headers={"X-CSRF-Token": csrf},
        )
        return response.status, await response.json()


async def test_admins_set_the_rules_and_staff_read_them(server: Server) -> None:
    admin = await server.add_staff("Root", role="admin")
    ana = await server.add_staff("Ana")
    status, body = await put_rules(server, admin.email, RULES)
    assert status == 200 and body["shift"] == {**RULES, "wrapup_chat_s": 30.0}
    assert (await put_rules(server, ana.email, RULES))[0] == 403
    bad = await put_rules(server, admin.email, {**RULES, "outcome_tags": ["a", "a"]})
    assert bad[0] == 400 and bad[1]["error"]["code"] == "payload.invalid"
    cookie, _ = await login(server, ana.email)
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        response = await http.get(f"{server.url}/api/v1/sites/shop-site/shift")
        assert (await response.json())["shift"]["outcome_tags"] == ["resolved", "follow-up"]


async def test_wrapup_tag_more_time_and_ready_now(server: Server, clients: list[Peer]) -> None:
    admin = await server.add_staff("Root", role="admin")
    assert (await put_rules(server, admin.email, RULES))[0] == 200
    ana = await staff_peer(server, await server.add_staff("Ana"))
    clients.append(ana)
    _, first = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(first))
    await ana.ok("ring.accept", {"conversation_id": first})
    await ana.ok("conversation.end", {"conversation_id": first})
    started = (await ana.wait_for("wrapup", lambda d: d["wrapup"] is not None))["wrapup"]
    assert started["conversation_id"] == first and started["tags"] == RULES["outcome_tags"]
    assert 25_000 < started["remaining_ms"] <= 30_000

    _, second = await waiting_customer(server, clients)
    more = await ana.ok("wrapup.extend", {"seconds": 30})
    assert more["wrapup"]["remaining_ms"] > 55_000
    assert await ana.refused_with(
        "conversation.tag", {"conversation_id": first, "tag": "sold"}
    ) == ("tag.unknown")
    tagged = await ana.ok("conversation.tag", {"conversation_id": first, "tag": "resolved"})
    assert tagged["tag"] == "resolved"
    logged = await server.app[STORE].list_events(first)
    assert [dict(e.detail) for e in logged if e.kind == "conversation.tagged"] == [
        {"tag": "resolved"}
    ]
    synced = await ana.ok("sync", {})
    assert synced["wrapup"]["outcome"] == "resolved"
    assert not ana.seen("ring", rung_for(second))  # still wrapping up

    await ana.ok("wrapup.end", {})
    await ana.wait_for("ring", rung_for(second))
    assert ana.seen("wrapup")[-1] == {"wrapup": None}
    assert (await ana.ok("sync", {}))["wrapup"] is None


async def test_a_short_wrapup_ends_by_itself(server: Server, clients: list[Peer]) -> None:
    admin = await server.add_staff("Root", role="admin")
    assert (await put_rules(server, admin.email, {"wrapup_chat_s": 1}))[0] == 200
    ana = await staff_peer(server, await server.add_staff("Ana"))
    clients.append(ana)
    _, first = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(first))
    await ana.ok("ring.accept", {"conversation_id": first})
    await ana.ok("conversation.end", {"conversation_id": first})
    ended = time.monotonic()
    _, second = await waiting_customer(server, clients)
    await ana.wait_for("ring", rung_for(second), timeout=5)
    assert time.monotonic() - ended >= 0.9  # not before the wrap-up's end
    assert ana.seen("wrapup")[-1] == {"wrapup": None}


async def test_away_reasons(server: Server, clients: list[Peer]) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    clients.append(ana)
    away = await ana.ok("presence.set", {"status": "away", "reason": "training"})
    assert (away["presence"], away["reason"]) == ("away", "training")
    assert (await ana.ok("sync", {}))["reason"] == "training"
    refused = await ana.refused_with("presence.set", {"status": "available", "reason": "lunch"})
    assert refused == "payload.invalid"
    back = await ana.ok("presence.set", {"status": "available"})
    assert (back["presence"], back["reason"]) == ("available", None)

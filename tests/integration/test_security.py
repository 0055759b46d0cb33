"""Who may do what: tokens, origins, roles, CSRF, throttling, and payload validation."""

import aiohttp
import pytest

from server.keys import STORE
from tests.support import PASSWORD, SHOP, Peer, Server, customer, login, staff_peer

CID = "0" * 32


async def test_a_token_grants_only_its_own_conversations(
    server: Server, clients: list[Peer]
) -> None:
    alice = customer(server)
    mallory = customer(server)
    clients += [alice, mallory]
    await alice.connect()
    await mallory.connect()
    cid = (await alice.ok("conversation.start", {}))["conversation"]["id"]
    await alice.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "private-1", "body": "my address"}
    )

    for event, payload in [
        ("conversation.resume", {"conversation_id": cid, "last_seq": 0}),
        ("message.send", {"conversation_id": cid, "client_msg_id": "inject-01", "body": "hi"}),
        ("typing", {"conversation_id": cid, "typing": True}),
        ("read", {"conversation_id": cid, "seq": 1}),
        ("page.view", {"conversation_id": cid, "url": "http://shop.test/x", "title": "x"}),
        ("conversation.end", {"conversation_id": cid}),
    ]:
        assert await mallory.refused_with(event, payload) == "conversation.not_found", event
    # and joining the room never happened: Alice's traffic does not reach Mallory
    await alice.ok(
        "message.send", {"conversation_id": cid, "client_msg_id": "private-2", "body": "more"}
    )
    assert not mallory.seen("message.new")
    stored = await server.app[STORE].messages_after(cid, 0)
    assert [m.body for m in stored] == ["my address", "more"]


async def refusal(peer: Peer) -> dict[str, str]:
    with pytest.raises(Exception):  # noqa: B017 - socketio raises its ConnectionError
        await peer.connect()
    assert peer.refusals, "no connect_error received"
    return peer.refusals[-1]["data"]  # type: ignore[no-any-return]


async def test_a_foreign_origin_is_refused(server: Server, clients: list[Peer]) -> None:
    embedded_elsewhere = customer(server, host="http://evil.test")
    opened_elsewhere = Peer(
        server.url,
        "/customer",
        auth={"site": "shop-site", "host": SHOP},
        headers={"Origin": "http://evil.test"},
    )
    clients += [embedded_elsewhere, opened_elsewhere]
    assert (await refusal(embedded_elsewhere))["code"] == "origin.not_allowed"
    assert (await refusal(opened_elsewhere))["code"] == "origin.not_allowed"


async def test_unknown_sites_and_forged_tokens_are_refused(
    server: Server, clients: list[Peer]
) -> None:
    unknown = customer(server, site_key="no-such-site")
    forged = Peer(
        server.url,
        "/customer",
        auth={"site": "shop-site", "host": SHOP, "token": "v1.shop-site.abc.1.forged"},
    )
    malformed = Peer(server.url, "/customer", auth={"site": "!", "host": SHOP})
    clients += [unknown, forged, malformed]
    assert (await refusal(unknown))["code"] == "site.unknown"
    assert (await refusal(forged))["code"] == "token.invalid"
    assert (await refusal(malformed))["code"] == "payload.invalid"


async def test_staff_sockets_need_a_session_and_our_origin(
    server: Server, clients: list[Peer]
) -> None:
    member = await server.add_staff("Sam")
    anonymous = Peer(server.url, "/staff")
    clients.append(anonymous)
    assert (await refusal(anonymous))["code"] == "auth.required"
    cookie, _ = await login(server, member.email)
    hijack = Peer(
        server.url,
        "/staff",
        headers={"Cookie": f"porchlight_session={cookie}", "Origin": "http://evil.test"},
    )
    clients.append(hijack)
    assert (await refusal(hijack))["code"] == "origin.not_allowed"


async def test_signing_out_closes_the_console_socket(server: Server, clients: list[Peer]) -> None:
    member = await server.add_staff("Sam")
    cookie, csrf = await login(server, member.email)
    console = Peer(server.url, "/staff", headers={"Cookie": f"porchlight_session={cookie}"})
    clients.append(console)
    await console.connect()
    async with aiohttp.ClientSession() as http:
        headers = {"Cookie": f"porchlight_session={cookie}", "X-CSRF-Token": csrf}
        assert (await http.post(f"{server.url}/api/v1/auth/logout", headers=headers)).status == 200
        assert (await http.get(f"{server.url}/api/v1/me", headers=headers)).status == 401
    from tests.support import until

    await until(lambda: not console.sio.namespaces.get("/staff"), what="staff socket closed")


CUSTOMER_BAD = [
    ("message.send", None, "payload.invalid"),
    ("message.send", "text", "payload.invalid"),
    (
        "message.send",
        {"conversation_id": "{cid}", "client_msg_id": "x", "body": "hi"},
        "payload.invalid",
    ),
    (
        "message.send",
        {"conversation_id": "{cid}", "client_msg_id": "abcdefgh", "body": ""},
        "payload.invalid",
    ),
    (
        "message.send",
        {"conversation_id": "{cid}", "client_msg_id": "abcdefgh", "body": "x" * 4001},
        "payload.invalid",
    ),
    (
        "message.send",
        {"conversation_id": "{cid}", "client_msg_id": "abcdefgh", "body": "x" * 20000},
        "payload.too_large",
    ),
    (
        "message.send",
        {"conversation_id": "{cid}", "client_msg_id": "abcdefgh", "body": "hi", "seq": 9},
        "payload.invalid",
    ),
    (
        "message.send",
        {"conversation_id": "{cid}", "client_msg_id": "abcdefgh", "body": ["hi"]},
        "payload.invalid",
    ),
    ("read", {"conversation_id": "{cid}", "seq": -1}, "payload.invalid"),
    ("read", {"conversation_id": "{cid}", "seq": "1"}, "payload.invalid"),
    ("typing", {"conversation_id": "{cid}", "typing": "yes"}, "payload.invalid"),
    ("page.view", {"conversation_id": "{cid}", "url": "javascript:alert(1)"}, "payload.invalid"),
    ("conversation.resume", {"conversation_id": "../../etc", "last_seq": 0}, "payload.invalid"),
    ("conversation.start", {"channel": "telepathy"}, "payload.invalid"),
    ("conversation.start", {"name": "x" * 81}, "payload.invalid"),
    ("no.such.event", {}, "event.unknown"),
]


def fill(payload: object, cid: str) -> object:
    if isinstance(payload, dict):
        return {
            k: (v.replace("{cid}", cid) if isinstance(v, str) else v) for k, v in payload.items()
        }
    return payload


async def test_malformed_payloads_get_coded_errors_and_change_nothing(
    server: Server, clients: list[Peer]
) -> None:
    staff = await staff_peer(server, await server.add_staff("Sam"))
    visitor = customer(server)
    clients += [staff, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await staff.wait_for("ring")
    await staff.ok("ring.accept", {"conversation_id": cid})
    store = server.app[STORE]
    before = await store.get_conversation(cid)
    shown_before = len(staff.seen("message.new"))

    for event, payload, code in CUSTOMER_BAD:
        assert await visitor.refused_with(event, fill(payload, cid)) == code, (event, payload)
    for event, payload, code in [
        ("presence.set", {"status": "asleep"}, "payload.invalid"),
        ("sync", {"last_seqs": {cid: "x"}}, "payload.invalid"),
        ("ring.accept", {"conversation_id": 5}, "payload.invalid"),
        (
            "message.send",
            {"conversation_id": cid, "client_msg_id": "abcdefgh", "body": "x" * 20000},
            "payload.too_large",
        ),
        ("conversation.delete", {"conversation_id": cid}, "event.unknown"),
    ]:
        assert await staff.refused_with(event, payload) == code, (event, payload)

    after = await store.get_conversation(cid)
    assert after == before
    assert [m.body for m in await store.messages_after(cid, 0)] == ["joined"]
    assert len(staff.seen("message.new")) == shown_before


async def test_staff_cannot_write_to_a_conversation_they_do_not_handle(
    server: Server, clients: list[Peer]
) -> None:
    ana = await staff_peer(server, await server.add_staff("Ana"))
    ben = await staff_peer(server, await server.add_staff("Ben"), available=False)
    visitor = customer(server)
    clients += [ana, ben, visitor]
    await visitor.connect()
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await ana.wait_for("ring")
    await ana.ok("ring.accept", {"conversation_id": cid})
    payload = {"conversation_id": cid, "client_msg_id": "sneaky-01", "body": "hi"}
    assert await ben.refused_with("message.send", payload) == "conversation.not_assigned"
    assert (
        await ben.refused_with("conversation.end", {"conversation_id": cid})
        == "conversation.not_assigned"
    )
    assert (
        await ben.refused_with("conversation.resume", {"conversation_id": cid, "last_seq": 0})
        == "conversation.not_assigned"
    )
    assert (
        await ben.refused_with("conversation.resume", {"conversation_id": CID, "last_seq": 0})
        == "conversation.not_found"
    )


async def test_rest_roles_csrf_and_throttling(server: Server) -> None:
    await server.add_staff("Root", role="admin")
    await server.add_staff("Agent")
    admin_cookie, admin_csrf = await login(server, "root@staff.test")
    agent_cookie, agent_csrf = await login(server, "agent@staff.test")
    url = server.url
    new_site = {"name": "Other", "allowed_origins": ["https://other.test"]}
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{url}/api/v1/sites")).status == 401
        agent = {"Cookie": f"porchlight_session={agent_cookie}", "X-CSRF-Token": agent_csrf}
        assert (await http.get(f"{url}/api/v1/sites", headers=agent)).status == 403
        assert (await http.post(f"{url}/api/v1/sites", json=new_site, headers=agent)).status == 403
        admin = {"Cookie": f"porchlight_session={admin_cookie}"}
        no_csrf = await http.post(f"{url}/api/v1/sites", json=new_site, headers=admin)
        assert no_csrf.status == 403
        assert (await no_csrf.json())["error"]["code"] == "auth.csrf"
        made = await http.post(
            f"{url}/api/v1/sites", json=new_site, headers={**admin, "X-CSRF-Token": admin_csrf}
        )
        assert made.status == 201
        site = (await made.json())["site"]
        assert site["relay_only"] is False
        private = await http.post(
            f"{url}/api/v1/sites",
            json={**new_site, "relay_only": True},
            headers={**admin, "X-CSRF-Token": admin_csrf},
        )
        assert (await private.json())["site"]["relay_only"] is True
        assert (
            site["snippet"]
            == f'<script async src="{url}/widget.js" data-site="{site["key"]}"></script>'
        )
        bad = await http.post(
            f"{url}/api/v1/sites",
            json={"name": "x", "allowed_origins": ["nope"]},
            headers={**admin, "X-CSRF-Token": admin_csrf},
        )
        assert bad.status == 400

        cross_site = await http.post(
            f"{url}/api/v1/auth/login",
            json={"email": "agent@staff.test", "password": PASSWORD},
            headers={"Origin": "http://evil.test"},
        )
        assert cross_site.status == 403
        statuses = []
        for _ in range(6):
            wrong = await http.post(
                f"{url}/api/v1/auth/login",
                json={"email": "agent@staff.test", "password": "wrong password"},
            )
            statuses.append(wrong.status)
        assert statuses == [401] * 5 + [429]
        throttled = await http.post(
            f"{url}/api/v1/auth/login", json={"email": "agent@staff.test", "password": PASSWORD}
        )
        assert throttled.status == 429
        assert int(throttled.headers["Retry-After"]) > 0


async def test_frame_is_only_embeddable_by_allowed_origins(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        ok = await http.get(f"{server.url}/w/frame", params={"site": "shop-site", "host": SHOP})
        assert ok.status == 200
        policy = ok.headers["Content-Security-Policy"]
        assert "frame-ancestors http://shop.test" in policy
        assert "script-src 'self'" in policy
        assert ok.headers["X-Content-Type-Options"] == "nosniff"
        foreign = await http.get(
            f"{server.url}/w/frame", params={"site": "shop-site", "host": "http://evil.test"}
        )
        assert foreign.status == 403
        unknown = await http.get(f"{server.url}/w/frame", params={"site": "nope", "host": SHOP})
        assert unknown.status == 404
        console = await http.get(f"{server.url}/console")
        assert "frame-ancestors 'none'" in console.headers["Content-Security-Policy"]


async def test_a_non_ascii_visitor_token_gets_a_coded_refusal(
    server: Server, clients: list[Peer]
) -> None:
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    token = str((visitor.auth or {})["token"])
    for bad in (token[:-1] + "é", "v1.shop-site.é.1.é"):
        tampered = Peer(
            server.url, "/customer", auth={"site": "shop-site", "host": SHOP, "token": bad}
        )
        clients.append(tampered)
        assert (await refusal(tampered))["code"] == "token.invalid"


async def test_a_non_ascii_bearer_token_is_refused_with_a_code(
    server: Server, clients: list[Peer]
) -> None:
    visitor = customer(server)
    clients.append(visitor)
    await visitor.connect()
    token = str((visitor.auth or {})["token"])
    async with aiohttp.ClientSession() as http:
        response = await http.get(
            f"{server.url}/api/v1/precheck/ice",
            params={"policy": "all"},
            headers={"Authorization": f"Bearer {token[:-1]}é", "X-Porchlight-Site": "shop-site"},
        )
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "token.invalid"


async def test_a_non_ascii_csrf_token_is_refused_with_a_code(server: Server) -> None:
    member = await server.add_staff("Sam")
    cookie, _ = await login(server, member.email)
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.url}/api/v1/auth/logout",
            headers={"Cookie": f"porchlight_session={cookie}", "X-CSRF-Token": "éééééééé"},
        )
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "auth.csrf"


async def test_a_deeply_nested_precheck_offer_is_refused_with_a_code(server: Server) -> None:
    member = await server.add_staff("Sam")
    cookie, csrf = await login(server, member.email)
    depth = 100_000
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.url}/api/v1/precheck",
            data="[" * depth + "]" * depth,
            headers={
                "Cookie": f"porchlight_session={cookie}",
                "X-CSRF-Token": csrf,
                "Content-Type": "application/json",
            },
        )
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "payload.invalid"


async def test_refusals_and_unknown_routes_carry_the_security_headers(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        signed_out = await http.get(f"{server.url}/api/v1/sites")  # 401 raised by require()
        unknown_api = await http.get(f"{server.url}/api/v1/no-such-route")
        unknown_page = await http.get(f"{server.url}/no/such/page")
        no_site = await http.get(f"{server.url}/w/frame", params={"site": "nope", "host": SHOP})
        for response, status in [
            (signed_out, 401),
            (unknown_api, 404),
            (unknown_page, 404),
            (no_site, 404),
        ]:
            assert response.status == status, response.url
            assert response.headers.get("X-Content-Type-Options") == "nosniff", response.url


async def test_the_server_header_names_no_version(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/console", "/no/such/page", "/api/v1/me"):
            response = await http.get(f"{server.url}{path}", allow_redirects=False)
            assert response.headers["Server"] == "Porchlight", path


async def test_the_frame_csp_does_not_echo_the_host_header(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.get(
            f"{server.url}/w/frame",
            params={"site": "shop-site", "host": SHOP},
            headers={"Host": "attacker.test"},
        )
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
        connect = next(p for p in policy.split("; ") if p.startswith("connect-src"))
        assert "attacker.test" not in policy
        assert connect == f"connect-src 'self' ws://{server.url.split('://', 1)[1]}"

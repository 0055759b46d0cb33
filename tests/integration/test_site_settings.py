"""A site owner changes a site over REST: validation with coded errors, the widget's look in
the loader's availability answer, the install check, channels enforced, and deletion."""

from typing import Any

import aiohttp

from server.auth import SESSION_COOKIE
from tests.integration.test_security import refusal
from tests.support import SHOP, Peer, Server, customer, login, staff_peer


async def admin_headers(server: Server) -> dict[str, str]:
    await server.add_staff("Root", role="admin")
    cookie, csrf = await login(server, "root@staff.test")
    return {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf}


async def test_a_change_is_validated_and_reaches_the_loader(server: Server) -> None:
    admin = await admin_headers(server)
    url = f"{server.url}/api/v1/sites/shop-site"
    async with aiohttp.ClientSession(headers=admin) as http:
        bad = await http.patch(url, json={"allowed_origins": ["https://shop.test/path"]})
        assert bad.status == 400
        error = (await bad.json())["error"]
        assert error["code"] == "payload.invalid"
        assert "only a scheme and host" in error["message"]
        assert (await http.patch(url, json={"brand_color": "blue"})).status == 400
        assert (await http.patch(url, json={"channels": []})).status == 400
        unknown = await http.patch(f"{server.url}/api/v1/sites/nope", json={"greeting": "x"})
        assert unknown.status == 404
        assert (await unknown.json())["error"]["code"] == "site.unknown"
        # Nothing of the refused changes was stored.
        site = (await (await http.get(url)).json())["site"]
        assert site["allowed_origins"] == [SHOP]
        assert site["brand_color"] == "#1f3a5f"

        changed = await http.patch(
            url,
            json={
                "brand_color": "#FFD400",
                "launcher_position": "left",
                "launcher_text": "Ask us",
                "greeting": "Hello from the lamp shop",
            },
        )
        assert changed.status == 200, await changed.text()
        site = (await changed.json())["site"]
        assert site["brand_color"] == "#ffd400"
        assert site["brand_ink"] == "#1d2430"

    async with aiohttp.ClientSession() as http:
        answer = await http.get(
            f"{server.url}/api/v1/sites/shop-site/availability", headers={"Origin": SHOP}
        )
        look = (await answer.json())["look"]
        assert look == {"color": "#ffd400", "ink": "#1d2430", "position": "left", "text": "Ask us"}
        frame = await http.get(f"{server.url}/w/frame?site=shop-site&host={SHOP}")
        assert "Hello from the lamp shop" in await frame.text()


async def test_the_install_check_records_where_the_snippet_ran(server: Server) -> None:
    admin = await admin_headers(server)
    async with aiohttp.ClientSession() as http:
        # An origin the site does not allow is not a sighting.
        await http.get(
            f"{server.url}/api/v1/sites/shop-site/availability",
            headers={"Origin": "https://elsewhere.test"},
        )
        site = await (await http.get(f"{server.url}/api/v1/sites/shop-site", headers=admin)).json()
        assert site["site"]["seen_at"] is None
        await http.get(
            f"{server.url}/api/v1/sites/shop-site/availability", headers={"Origin": SHOP}
        )
        site = await (await http.get(f"{server.url}/api/v1/sites/shop-site", headers=admin)).json()
        assert site["site"]["seen_origin"] == SHOP
        assert site["site"]["seen_at"] > 0


async def test_a_channel_the_site_does_not_offer_is_refused(
    server: Server, clients: list[Peer]
) -> None:
    admin = await admin_headers(server)
    async with aiohttp.ClientSession(headers=admin) as http:
        response = await http.patch(
            f"{server.url}/api/v1/sites/shop-site", json={"channels": ["chat", "voice"]}
        )
        assert response.status == 200
    ana = await staff_peer(server, await server.add_staff("Ana"))
    visitor = customer(server)
    clients += [ana, visitor]
    await visitor.connect()
    code = await visitor.refused_with("conversation.start", {"channel": "video"})
    assert code == "channel.not_offered"
    cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
    await ana.wait_for("ring")
    await ana.ok("ring.accept", {"conversation_id": cid})
    video: dict[str, Any] = {"conversation_id": cid, "channel": "video"}
    assert await visitor.refused_with("call.start", video) == "channel.not_offered"
    assert await ana.refused_with("call.propose", video) == "channel.not_offered"
    await ana.ok("call.propose", {"conversation_id": cid, "channel": "voice"})


async def test_a_deleted_site_stops_at_once_and_its_key_is_gone(
    server: Server, clients: list[Peer]
) -> None:
    admin = await admin_headers(server)
    async with aiohttp.ClientSession(headers=admin) as http:
        assert (await http.delete(f"{server.url}/api/v1/sites/shop-site")).status == 200
        assert (await http.delete(f"{server.url}/api/v1/sites/shop-site")).status == 404
        listed = await (await http.get(f"{server.url}/api/v1/sites")).json()
        assert [s["key"] for s in listed["sites"]] == []
    async with aiohttp.ClientSession() as http:
        availability = await http.get(f"{server.url}/api/v1/sites/shop-site/availability")
        assert availability.status == 404
        frame = await http.get(f"{server.url}/w/frame?site=shop-site&host={SHOP}")
        assert frame.status == 404
    visitor = customer(server)
    clients.append(visitor)
    assert (await refusal(visitor))["code"] == "site.unknown"

"""Webhooks through the real app: an admin sets up an endpoint over REST, a real
conversation produces signed deliveries to a real receiver, the delivery log and "send
again" work, the secret rotates, and unsafe URLs and other roles are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.auth import SESSION_COOKIE
from tests.receiver import Receiver
from tests.support import Peer, Server, customer, login, staff_peer, until

pytestmark = pytest.mark.settings(webhook_allowed_networks=("127.0.0.2/32",))


class Admin:
    def __init__(self, http: aiohttp.ClientSession, server: Server, cookie: str, csrf: str):
        self.http, self.url = http, server.url
        self.headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, self.url + path, json=body, headers=self.headers
        ) as response:
            return response.status, await response.json()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver()
    await running.start()
    yield running
    await running.close()


async def admin_of(server: Server, http: aiohttp.ClientSession) -> Admin:
    await server.add_staff("Root", role="admin")
    return Admin(http, server, *await login(server, "root@staff.test"))


async def test_a_conversation_reaches_the_receiver_signed(
    server: Server, receiver: Receiver, clients: list[Peer]
) -> None:
    async with aiohttp.ClientSession() as http:
        admin = await admin_of(server, http)
        status, kinds = await admin.call("GET", "/api/v1/webhooks/kinds")
        assert status == 200 and "conversation.accepted" in [k["kind"] for k in kinds["kinds"]]
        status, made = await admin.call(
            "POST",
            "/api/v1/sites/shop-site/webhooks",
            {
                "url": receiver.url,
                "description": "CRM",
                "kinds": ["conversation.queued", "conversation.accepted"],
            },
        )
        assert status == 201, made
        assert made["secret"].startswith("whsec_")
        receiver.secrets.append(made["secret"])
        hook = made["id"]
        status, listed = await admin.call("GET", "/api/v1/sites/shop-site/webhooks")
        assert [w["id"] for w in listed["webhooks"]] == [hook]
        assert listed["webhooks"][0]["secret"] is None  # shown once only

        sam = await server.add_staff("Sam")
        staff = await staff_peer(server, sam)
        visitor = customer(server)
        clients += [staff, visitor]
        await visitor.connect()
        reply = await visitor.ok("conversation.start", {"channel": "chat", "name": "Ada"})
        cid = reply["conversation"]["id"]
        await staff.wait_for("ring")
        await staff.ok("ring.accept", {"conversation_id": cid})
        await until(lambda: len(receiver.hits) == 2, what="two deliveries")
        bodies = [json.loads(hit.body) for hit in receiver.hits]
        assert [b["type"] for b in bodies] == ["conversation.queued", "conversation.accepted"]
        assert bodies[1]["data"] == {
            "conversation_id": cid,
            "site": "shop-site",
            "actor": "staff",
            "staff_id": sam.id,
        }
        assert "Ada" not in receiver.hits[0].body
        assert receiver.unverified == []

        status, log = await admin.call("GET", f"/api/v1/webhooks/{hook}/deliveries")
        assert status == 200
        assert [d["status"] for d in log["deliveries"]] == ["delivered", "delivered"]
        assert log["next_cursor"] is None
        first = log["deliveries"][-1]
        assert first["webhook_id"] == receiver.hits[0].webhook_id
        assert first["body"] == receiver.hits[0].body

        # Rotate: both secrets sign for a day, so a receiver on the old one keeps working.
        status, rotated = await admin.call("POST", f"/api/v1/webhooks/{hook}/rotate-secret")
        assert status == 200 and rotated["secret"] not in receiver.secrets
        assert rotated["previous_secret_until"] is not None
        old = receiver.secrets.pop()
        receiver.secrets.append(rotated["secret"])
        status, again = await admin.call(
            "POST", f"/api/v1/webhooks/{hook}/deliveries/{first['id']}/resend"
        )
        assert status == 200 and again["status"] == "pending"
        await until(lambda: len(receiver.hits) == 3, what="the delivery sent again")
        repeat = receiver.hits[2]
        assert repeat.webhook_id == first["webhook_id"]
        assert len(repeat.signature.split(" ")) == 2
        receiver.secrets = [old]
        assert receiver.verified(repeat)

        # Disabled: nothing more is sent.
        status, changed = await admin.call(
            "PATCH", f"/api/v1/webhooks/{hook}", {"enabled": False, "kinds": ["call.ended"]}
        )
        assert status == 200 and changed["enabled"] is False
        assert changed["kinds"] == ["call.ended"]
        status, _ = await admin.call("DELETE", f"/api/v1/webhooks/{hook}")
        assert status == 200
        status, gone = await admin.call("GET", f"/api/v1/webhooks/{hook}/deliveries")
        assert status == 404 and gone["error"]["code"] == "webhook.not_found"


UNSAFE = [
    "http://127.0.0.1:9/hooks",
    "http://localhost/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::ffff:127.0.0.1]/",
    "https://10.0.0.5/",
    "https://2130706433/",
    "ftp://hooks.example.com/",
]


async def test_unsafe_urls_other_roles_and_unknown_kinds_are_refused(server: Server) -> None:
    await server.add_staff("Agent")
    async with aiohttp.ClientSession() as http:
        agent = Admin(http, server, *await login(server, "agent@staff.test"))
        status, _ = await agent.call("GET", "/api/v1/sites/shop-site/webhooks")
        assert status == 403
        admin = await admin_of(server, http)
        status, bad = await admin.call(
            "POST",
            "/api/v1/sites/shop-site/webhooks",
            {"url": "https://hooks.example.com/in", "kinds": ["message.stored"]},
        )
        assert status == 400 and bad["error"]["code"] == "payload.invalid"
        status, _ = await admin.call(
            "POST", "/api/v1/sites/nope/webhooks", {"url": "https://a.example", "kinds": []}
        )
        assert status == 404
        status, _ = await admin.call("GET", "/api/v1/webhooks/999")
        assert status == 404
        for url in UNSAFE:
            status, refused = await admin.call(
                "POST", "/api/v1/sites/shop-site/webhooks", {"url": url, "kinds": ["call.ended"]}
            )
            assert status == 400 and refused["error"]["code"] == "webhook.url_refused", url
        status, made = await admin.call(
            "POST",
            "/api/v1/sites/shop-site/webhooks",
            {"url": "https://hooks.example.com/in", "kinds": ["call.ended"]},
        )
        assert status == 201
        status, refused = await admin.call(
            "PATCH", f"/api/v1/webhooks/{made['id']}", {"url": "http://127.0.0.1/"}
        )
        assert status == 400 and refused["error"]["code"] == "webhook.url_refused"

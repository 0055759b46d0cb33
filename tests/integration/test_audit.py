"""The audit log: sign-ins (and refusals), staff and site changes and signing out everywhere
are recorded; admins read it newest first, filtered by actor, action and date, page by page;
the table refuses changes on both databases."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from server.auth import SESSION_COOKIE
from tests.support import PASSWORD, Server, login


class Admin:
    """A signed-in staff member's HTTP client."""

    def __init__(self, server: Server, cookie: str, csrf: str) -> None:
        self.server, self.cookie, self.csrf = server, cookie, csrf

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        headers = {
            "Cookie": f"{SESSION_COOKIE}={self.cookie}",
            "X-CSRF-Token": self.csrf,
            "Origin": self.server.url,
        }
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, self.server.url + path, json=body, params=params, headers=headers
            ) as response,
        ):
            return response.status, await response.json()


async def sign_in(server: Server, email: str, password: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/v1/auth/login",
            json={"email": email, "password": password},
            headers={"Origin": server.url},
        ) as response,
    ):
        return response.status


async def as_staff(server: Server, email: str) -> Admin:
    return Admin(server, *(await login(server, email)))


async def test_audit_log_records_and_filters(server: Server) -> None:
    root = await server.add_staff("Root", role="admin")
    agent = await server.add_staff("Ann")
    assert await sign_in(server, root.email, "not the password") == 401
    assert await sign_in(server, "nobody@example.org", PASSWORD) == 401
    admin = await as_staff(server, root.email)
    status, _ = await admin.call(
        "POST",
        "/api/v1/staff",
        {"email": "bo@staff.test", "name": "Bo", "role": "supervisor", "password": "p" * 12},
    )
    assert status == 201
    status, created = await admin.call(
        "POST", "/api/v1/sites", {"name": "Lamps", "allowed_origins": ["https://lamps.test"]}
    )
    assert status == 201
    other = await as_staff(server, agent.email)
    assert (await other.call("GET", "/api/v1/audit"))[0] == 403
    assert (await other.call("POST", "/api/v1/auth/logout-everywhere"))[0] == 200

    status, page = await admin.call("GET", "/api/v1/audit")
    assert status == 200 and page["next_cursor"] is None
    actions = [(e["action"], e["actor"], e["target"]) for e in page["entries"]]
    assert actions == [
        ("auth.signed_out_everywhere", agent.email, f"staff:{agent.id}"),
        ("auth.sign_in", agent.email, f"staff:{agent.id}"),
        ("site.created", root.email, f"site:{created['site']['key']}"),
        ("staff.created", root.email, actions[3][2]),
        ("auth.sign_in", root.email, f"staff:{root.id}"),
        ("auth.sign_in_failed", "nobody@example.org", None),
        ("auth.sign_in_failed", root.email, f"staff:{root.id}"),
    ]
    newest = page["entries"][0]
    assert newest["actor_id"] == agent.id and newest["details"] == {"sessions": 1}
    assert newest["address"] == "127.0.0.1"
    assert page["entries"][-1]["details"] == {"reason": "invalid"}

    _, failed = await admin.call("GET", "/api/v1/audit", params={"action": "auth.sign_in_failed"})
    assert len(failed["entries"]) == 2
    _, family = await admin.call("GET", "/api/v1/audit", params={"action": "auth."})
    assert len(family["entries"]) == 5
    _, by_root = await admin.call("GET", "/api/v1/audit", params={"actor": str(root.id)})
    assert [e["action"] for e in by_root["entries"]] == [
        "site.created",
        "staff.created",
        "auth.sign_in",
    ]
    _, by_email = await admin.call("GET", "/api/v1/audit", params={"actor": "NOBODY@example.org"})
    assert len(by_email["entries"]) == 1
    first_at = page["entries"][-1]["at"]
    _, later = await admin.call("GET", "/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"})
    assert later["entries"] == []
    _, until = await admin.call("GET", "/api/v1/audit", params={"until": first_at})
    assert until["entries"] == []
    _, since = await admin.call("GET", "/api/v1/audit", params={"since": first_at})
    assert len(since["entries"]) == 7

    seen: list[int] = []
    params = {"limit": "3"}
    while True:
        status, part = await admin.call("GET", "/api/v1/audit", params=params)
        assert status == 200 and len(part["entries"]) <= 3
        seen += [e["id"] for e in part["entries"]]
        if part["next_cursor"] is None:
            break
        params = {"limit": "3", "cursor": part["next_cursor"]}
    assert seen == [e["id"] for e in page["entries"]]

    for bad in ({"cursor": "bm9wZQ"}, {"limit": "0"}, {"since": "yesterday"}, {"who": "x"}):
        status, body = await admin.call("GET", "/api/v1/audit", params=bad)
        assert (status, body["error"]["code"]) == (400, "payload.invalid"), bad
    _, catalogue = await admin.call("GET", "/api/v1/audit/actions")
    assert {"action": "auth.sign_in", "description": "Signed in"} in catalogue["actions"]


async def test_the_audit_log_is_append_only(server: Server) -> None:
    member = await server.add_staff("Root", role="admin")
    await login(server, member.email)
    engine = create_async_engine(server.settings.database_url)
    try:
        for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(sa.text(statement))
        async with engine.connect() as conn:
            count = (await conn.execute(sa.text("SELECT count(*) FROM audit_log"))).scalar()
            assert count == 1
    finally:
        await engine.dispose()


async def test_site_changes_and_deletions_are_audited(server: Server) -> None:
    root = await server.add_staff("Root", role="admin")
    admin = await as_staff(server, root.email)
    changed = await admin.call("PATCH", "/api/v1/sites/shop-site", {"greeting": "Hello there"})
    assert changed[0] == 200
    assert (await admin.call("PUT", "/api/v1/sites/shop-site/retention", {"days": 90}))[0] == 200
    assert (await admin.call("DELETE", "/api/v1/sites/shop-site"))[0] == 200
    _, page = await admin.call("GET", "/api/v1/audit", params={"target": "site:shop-site"})
    assert [(e["action"], e["details"]) for e in page["entries"]] == [
        ("site.deleted", {}),
        ("site.changed", {"changed": ["retention_days"], "retention_days": 90}),
        ("site.changed", {"changed": ["greeting"], "greeting": "Hello there"}),
    ]

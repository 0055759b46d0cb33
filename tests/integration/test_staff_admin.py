"""Staff administration over REST with the app's own mail catcher as the mail server:
invitations and reset links by email, single use and expiring; edits validated with coded
errors; one's own profile and password."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.auth import SESSION_COOKIE, token_digest
from server.keys import CATCHER, STORE
from server.tables import staff_links
from tests.images import png
from tests.support import PASSWORD, Server, free_port, login, settings_for, until

LINK = re.compile(r"http://127\.0\.0\.1:\d+/account/password\?token=[\w-]+")


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[Server]:
    """The app with its development mail catcher as the SMTP server it sends to."""
    running = Server(
        settings_for(
            database_url,
            mail_catcher=True,
            smtp_host="127.0.0.1",
            smtp_port=free_port(),
            smtp_security="none",
        )
    )
    await running.start()
    await running.add_site()
    yield running
    await running.stop()


@dataclass
class Browser:
    """A signed-in staff member's HTTP client (cookie and CSRF token)."""

    server: Server
    cookie: str
    csrf: str

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Cookie": f"{SESSION_COOKIE}={self.cookie}", "X-CSRF-Token": self.csrf}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.server.url + path, json=body, headers=headers) as reply,
        ):
            return reply.status, await reply.json()


async def signed_in(server: Server, email: str, password: str = PASSWORD) -> Browser:
    cookie, csrf = await login(server, email, password)
    return Browser(server, cookie, csrf)


async def caught_link(server: Server, to: str) -> str:
    catcher = server.app[CATCHER]
    mail = await until(
        lambda: [m for m in catcher.caught if to in m.recipients], what=f"an email to {to}"
    )
    found = LINK.search(mail[-1].text)
    assert found is not None, mail[-1].text
    assert found.group(0) in mail[-1].html
    return found.group(0)


async def form(url: str, fields: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        if fields is None:
            async with http.get(url) as reply:
                return reply.status, await reply.text()
        origin = url.split("/account")[0]
        async with http.post(url.split("?")[0], data=fields, headers={"Origin": origin}) as reply:
            return reply.status, await reply.text()


async def test_an_invited_member_sets_a_password_once_with_the_emailed_link(
    server: Server,
) -> None:
    boss = await server.add_staff("Sam", role="admin")
    admin = await signed_in(server, boss.email)
    status, body = await admin.call(
        "POST",
        "/api/v1/staff/invitations",
        {"email": "Ana@Example.com", "name": "Ana", "languages": ["en", "pt-BR"], "max_calls": 0},
    )
    assert status == 201, body
    assert body["staff"]["invited"] is True
    assert body["staff"]["email"] == "ana@example.com"
    url = await caught_link(server, "ana@example.com")
    assert url == body["url"]
    token = url.split("token=")[1]
    # Stored as its digest only.
    statement = sa.select(staff_links.c.token_hash)
    hashes = await server.app[STORE]._run(lambda conn: conn.scalars(statement).all())
    assert hashes == [token_digest(token)]

    status, page = await form(url)
    assert status == 200 and "Welcome, Ana" in page
    status, page = await form(url, {"token": token, "password": "short", "confirm": "short"})
    assert status == 400 and "at least 10 characters" in page
    new = "a brand new password"
    status, page = await form(url, {"token": token, "password": new, "confirm": new + "x"})
    assert status == 400 and "not the same" in page
    status, page = await form(url, {"token": token, "password": new, "confirm": new})
    assert status == 200 and "is set" in page
    ana = await signed_in(server, "ana@example.com", new)
    status, me = await ana.call("GET", "/api/v1/me/profile")
    assert me["staff"]["languages"] == ["en", "pt-BR"] and me["staff"]["max_calls"] == 0

    # Single use.
    status, page = await form(url)
    assert status == 410 and "expired or has been used" in page
    status, _ = await form(
        url, {"token": token, "password": "another one!", "confirm": "another one!"}
    )
    assert status == 410
    await signed_in(server, "ana@example.com", new)


async def test_an_invitation_expires_and_a_new_one_replaces_the_old(server: Server) -> None:
    boss = await server.add_staff("Sam", role="admin")
    admin = await signed_in(server, boss.email)
    status, body = await admin.call(
        "POST", "/api/v1/staff/invitations", {"email": "kim@example.com", "name": "Kim"}
    )
    assert status == 201
    first = await caught_link(server, "kim@example.com")
    status, again = await admin.call("POST", f"/api/v1/staff/{body['staff']['id']}/password-link")
    assert status == 201 and again["url"] != first
    assert (await form(first))[0] == 410  # superseded
    second = again["url"]
    assert (await form(second))[0] == 200
    # Expired: its time has passed.
    statement = sa.update(staff_links).values(expires_at=time.time() - 1)

    def expire(conn: Connection) -> None:
        conn.execute(statement)
        conn.commit()

    await server.app[STORE]._run(expire)
    assert (await form(second))[0] == 410


async def test_a_reset_link_sets_a_new_password_and_signs_the_member_out(
    server: Server,
) -> None:
    boss = await server.add_staff("Sam", role="admin")
    kim = await server.add_staff("Kim")
    admin = await signed_in(server, boss.email)
    old = await signed_in(server, kim.email)
    status, _ = await admin.call("POST", f"/api/v1/staff/{kim.id}/password-link")
    assert status == 201
    url = await caught_link(server, kim.email)
    mail = server.app[CATCHER].caught[-1]
    assert mail.subject == "Reset your Porchlight password"
    token = url.split("token=")[1]
    new = "kim's new password"
    assert (await form(url, {"token": token, "password": new, "confirm": new}))[0] == 200
    assert (await old.call("GET", "/api/v1/me/profile"))[0] == 401
    await signed_in(server, kim.email, new)
    async with aiohttp.ClientSession() as http:
        reply = await http.post(
            f"{server.url}/api/v1/auth/login",
            json={"email": kim.email, "password": PASSWORD},
            headers={"Origin": server.url},
        )
        assert reply.status == 401


async def test_admins_edit_staff_with_the_same_validation_as_everywhere(server: Server) -> None:
    boss = await server.add_staff("Sam", role="admin")
    kim = await server.add_staff("Kim")
    admin = await signed_in(server, boss.email)
    path = f"/api/v1/staff/{kim.id}"
    for bad in (
        {"role": "owner"},
        {"max_chats": 0},
        {"max_calls": 2},
        {"languages": ["english!"]},
        {"name": ""},
        {"email": "new@example.com"},  # not editable here
    ):
        status, body = await admin.call("PATCH", path, bad)
        assert (status, body["error"]["code"]) == (400, "payload.invalid"), bad
    status, body = await admin.call(
        "PATCH",
        path,
        {"name": "Kim Lee", "role": "supervisor", "languages": ["is"], "max_chats": 5},
    )
    assert status == 200, body
    assert body["staff"] | {"id": 0} == {
        "id": 0,
        "email": kim.email,
        "name": "Kim Lee",
        "role": "supervisor",
        "languages": ["is"],
        "max_chats": 5,
        "max_calls": 1,
        "console_language": "en",
        "invited": False,
        "photo_url": None,
    }
    listed = (await admin.call("GET", "/api/v1/staff"))[1]["staff"]
    assert [m["name"] for m in listed] == ["Sam", "Kim Lee"]
    # The team never loses its last admin.
    status, body = await admin.call("PATCH", f"/api/v1/staff/{boss.id}", {"role": "agent"})
    assert (status, body["error"]["code"]) == (409, "staff.last_admin")
    assert (await admin.call("PATCH", "/api/v1/staff/999", {"name": "X"}))[0] == 404
    status, body = await admin.call(
        "POST", "/api/v1/staff/invitations", {"email": kim.email, "name": "Again"}
    )
    assert (status, body["error"]["code"]) == (409, "staff.exists")
    # Not for anyone but admins.
    supervisor = await signed_in(server, kim.email)
    for method, where in (("GET", "/api/v1/staff"), ("PATCH", path), ("GET", path)):
        status, body = await supervisor.call(method, where, {"name": "Me"})
        assert (status, body["error"]["code"]) == (403, "auth.forbidden"), where


async def test_each_member_edits_their_own_profile_and_password(server: Server) -> None:
    kim = await server.add_staff("Kim")
    me = await signed_in(server, kim.email)
    status, body = await me.call("PATCH", "/api/v1/me/profile", {"console_language": "xx"})
    assert (status, body["error"]["code"]) == (400, "payload.invalid")
    status, body = await me.call("PATCH", "/api/v1/me/profile", {"role": "admin"})
    assert (status, body["error"]["code"]) == (400, "payload.invalid")
    status, body = await me.call("PATCH", "/api/v1/me/profile", {"name": "Kimberly"})
    assert status == 200 and body["staff"]["name"] == "Kimberly"
    assert body["console_languages"] == [{"code": "en", "name": "English"}]
    status, body = await me.call(
        "POST",
        "/api/v1/me/password",
        {"current_password": "wrong password", "new_password": "a new password"},
    )
    assert (status, body["error"]["code"]) == (400, "password.wrong")
    status, body = await me.call(
        "POST", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": "short"}
    )
    assert (status, body["error"]["code"]) == (400, "payload.invalid")
    status, _ = await me.call(
        "POST",
        "/api/v1/me/password",
        {"current_password": PASSWORD, "new_password": "a new password"},
    )
    assert status == 200
    await signed_in(server, kim.email, "a new password")


async def test_the_caught_mail_is_for_admins_and_only_while_the_catcher_runs(
    server: Server, database_url: str
) -> None:
    boss = await server.add_staff("Sam", role="admin")
    admin = await signed_in(server, boss.email)
    await admin.call("POST", f"/api/v1/staff/{boss.id}/password-link")
    await caught_link(server, boss.email)
    status, body = await admin.call("GET", "/api/v1/caught-mail")
    assert status == 200
    assert body["emails"][0]["subject"] == "Reset your Porchlight password"
    assert body["emails"][0]["to"] == [boss.email]


async def test_a_member_who_forgot_their_password_gets_a_link_and_no_one_learns_who_works_here(
    server: Server,
) -> None:
    kim = await server.add_staff("Kim")
    forgot = f"{server.url}/account/forgot"
    status, page = await form(forgot)
    assert status == 200 and "Forgot your password?" in page
    status, unknown = await form(forgot, {"email": "nobody@example.com"})
    status_known, known = await form(forgot, {"email": kim.email.upper()})
    assert (status, status_known) == (200, 200)
    assert "If <strong>nobody@example.com</strong> belongs" in unknown
    assert f"If <strong>{kim.email}</strong> belongs" in known
    url = await caught_link(server, kim.email)
    assert [m.recipients for m in server.app[CATCHER].caught] == [(kim.email,)]
    assert (await form(url))[0] == 200
    # Counted like sign-in attempts: a flood for one address is held back.
    statuses = [(await form(forgot, {"email": kim.email}))[0] for _ in range(6)]
    assert statuses[-1] == 429
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            forgot, data={"email": kim.email}, headers={"Origin": "https://evil.test"}
        ) as reply,
    ):
        assert reply.status == 403


async def test_a_member_uploads_a_photo_that_is_served_only_as_an_image(server: Server) -> None:
    kim = await server.add_staff("Kim")
    me = await signed_in(server, kim.email)
    picture = png()
    data_url = "data:image/png;base64," + base64.b64encode(picture).decode()
    disguised = "data:image/png;base64," + base64.b64encode(b"<script>alert(1)</script>").decode()
    for bad in (disguised, "not a data url", "data:image/png;base64," + "A" * 230_000):
        status, body = await me.call("PUT", "/api/v1/me/photo", {"data": bad})
        assert (status, body["error"]["code"]) == (400, "payload.invalid"), bad[:40]
    status, body = await me.call("PUT", "/api/v1/me/photo", {"data": data_url})
    assert status == 200
    url = body["photo_url"]
    assert url.startswith(f"/staff-photos/{kim.id}?v=")
    assert (await me.call("GET", "/api/v1/me/profile"))[1]["staff"]["photo_url"] == url
    async with aiohttp.ClientSession() as http, http.get(server.url + url) as reply:
        assert reply.status == 200
        assert await reply.read() == picture
        assert reply.headers["Content-Type"] == "image/png"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in reply.headers["Content-Security-Policy"]
    assert (await me.call("DELETE", "/api/v1/me/photo"))[1] == {"photo_url": None}
    async with aiohttp.ClientSession() as http, http.get(server.url + url) as reply:
        assert reply.status == 404

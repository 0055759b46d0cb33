"""Staff sign-in over HTTP: throttling that concurrency cannot outrun, per real address behind
a trusted proxy, without locking the real user out; signing out everywhere."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from server.auth import SESSION_COOKIE
from tests.support import PASSWORD, Peer, Server, login, until

PROXIED = pytest.mark.settings(trusted_proxies=("127.0.0.1",))


async def sign_in(
    http: aiohttp.ClientSession,
    server: Server,
    email: str,
    password: str,
    address: str | None = None,
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    headers = {"X-Forwarded-For": address} if address else {}
    response = await http.post(
        f"{server.url}/api/v1/auth/login",
        json={"email": email, "password": password},
        headers=headers,
    )
    return response.status, await response.json(), response


async def test_concurrent_guesses_cannot_bypass_the_sign_in_limit(server: Server) -> None:
    await server.add_staff("Agent")
    guesses = [f"wrong guess {n}" for n in range(40)]
    guesses[25] = PASSWORD
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(
            *(sign_in(http, server, "agent@staff.test", guess) for guess in guesses)
        )
    statuses = [status for status, _, _ in answers]
    assert 200 not in statuses, "a concurrent guess got a session"
    # Exactly the free attempts were checked; every other one was refused before Argon2.
    assert statuses.count(401) == server.settings.login_attempts
    refused = [(body, response) for status, body, response in answers if status == 429]
    assert len(refused) == 40 - server.settings.login_attempts
    for body, response in refused:
        assert body["error"]["code"] == "auth.throttled"
        assert int(response.headers["Retry-After"]) > 0


@PROXIED
async def test_one_address_behind_a_proxy_does_not_lock_out_the_others(server: Server) -> None:
    await server.add_staff("Agent")
    await server.add_staff("Other")
    async with aiohttp.ClientSession() as http:
        for _ in range(server.settings.login_attempts):
            status, _, _ = await sign_in(http, server, "agent@staff.test", "wrong", "198.51.100.7")
            assert status == 401
        status, body, _ = await sign_in(http, server, "other@staff.test", "wrong", "198.51.100.7")
        assert (status, body["error"]["code"]) == (429, "auth.throttled")
        # A colleague behind the same proxy, from their own address, signs in at once.
        status, _, _ = await sign_in(http, server, "other@staff.test", PASSWORD, "198.51.100.8")
        assert status == 200


@PROXIED
async def test_bad_guesses_cannot_lock_the_real_user_out(server: Server) -> None:
    await server.add_staff("Agent")
    async with aiohttp.ClientSession() as http:
        for _ in range(server.settings.login_attempts):
            await sign_in(http, server, "agent@staff.test", "wrong", "203.0.113.66")
        status, _, _ = await sign_in(http, server, "agent@staff.test", PASSWORD, "203.0.113.66")
        assert status == 429  # the guesser is slowed, even with the right password
        status, _, _ = await sign_in(http, server, "agent@staff.test", PASSWORD, "198.51.100.1")
        assert status == 200  # the real user, from their own address, is not


async def test_a_forged_forwarded_for_is_ignored_without_trusted_proxies(server: Server) -> None:
    await server.add_staff("Agent")
    async with aiohttp.ClientSession() as http:
        statuses = [
            (await sign_in(http, server, "agent@staff.test", "wrong", f"198.51.100.{n}"))[0]
            for n in range(server.settings.login_attempts + 1)
        ]
    assert statuses == [401] * server.settings.login_attempts + [429]


async def test_a_deeply_nested_sign_in_body_is_refused_with_a_code(server: Server) -> None:
    depth = 100_000
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.url}/api/v1/auth/login",
            data="[" * depth + "]" * depth,
            headers={"Content-Type": "application/json"},
        )
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "payload.invalid"


async def test_me_and_sign_in_answers_are_not_cached(server: Server) -> None:
    member = await server.add_staff("Agent")
    async with aiohttp.ClientSession() as http:
        status, _, signed_in = await sign_in(http, server, member.email, PASSWORD)
        assert status == 200
        assert signed_in.headers["Cache-Control"] == "no-store"
        cookie = signed_in.cookies[SESSION_COOKIE].value
        me = await http.get(
            f"{server.url}/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
        )
        assert me.status == 200
        assert "csrf_token" in await me.json()
        assert me.headers["Cache-Control"] == "no-store"


async def test_signing_out_everywhere_ends_every_session_and_console(
    server: Server, clients: list[Peer]
) -> None:
    member = await server.add_staff("Sam")
    colleague = await server.add_staff("Kim")
    laptop, laptop_csrf = await login(server, member.email)
    phone, _ = await login(server, member.email)
    theirs, _ = await login(server, colleague.email)
    consoles = [
        Peer(server.url, "/staff", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        for cookie in (laptop, phone, theirs)
    ]
    clients.extend(consoles)
    for console in consoles:
        await console.connect()
    url = f"{server.url}/api/v1/auth/logout-everywhere"
    async with aiohttp.ClientSession() as http:
        cookie = {"Cookie": f"{SESSION_COOKIE}={laptop}"}
        unproven = await http.post(url, headers=cookie)
        assert unproven.status == 403  # CSRF-protected like every state change
        done = await http.post(url, headers={**cookie, "X-CSRF-Token": laptop_csrf})
        assert done.status == 200
        assert (await done.json())["sessions_ended"] == 2
        for ended in (laptop, phone):
            me = await http.get(
                f"{server.url}/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}={ended}"}
            )
            assert me.status == 401
        kept = await http.get(
            f"{server.url}/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}={theirs}"}
        )
        assert kept.status == 200
    for console in consoles[:2]:
        await until(lambda c=console: not c.sio.namespaces.get("/staff"), what="console closed")
    assert consoles[2].sio.namespaces.get("/staff")

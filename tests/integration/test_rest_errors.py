"""Every refusal under ``/api/`` is one envelope with a catalogue code: our own refusals,
aiohttp's 404, 405 and 413, and an unhandled exception's 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from server.api_models import Ok
from server.app import create_app
from server.openapi import operation
from server.rest import envelope, reply
from signaling.errors import ErrorCode
from tests.support import Server, login, settings_for


class BrokenServer(Server):
    """The real app plus one API route whose handler fails the way a bug would."""

    async def start(self) -> None:
        app = create_app(self.settings)

        async def broken(request: web.Request) -> web.Response:
            raise RuntimeError("a bug with a secret in it: hunter2")

        @operation(Ok, roles=["admin"])
        async def forgetful(request: web.Request) -> web.Response:
            """A handler that forgets to call require()."""
            return reply(Ok())

        app.router.add_get("/api/v1/broken", broken)
        app.router.add_get("/api/v1/forgetful", forgetful)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.settings.host, self.settings.port).start()


@pytest.fixture
async def broken(database_url: str) -> AsyncIterator[BrokenServer]:
    running = BrokenServer(settings_for(database_url))
    await running.start()
    yield running
    await running.stop()


def assert_envelope(body: Any, code: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert ErrorCode(body["error"]["code"])  # in the catalogue
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_aiohttps_own_refusals_are_envelopes(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/no-such-thing") as response:
            assert response.status == 404
            assert_envelope(await response.json(), "route.not_found")
        async with http.get(f"{server.url}/api/v1/auth/login") as response:
            assert response.status == 405
            assert "POST" in response.headers["Allow"]
            assert_envelope(await response.json(), "method.not_allowed")
        big = b'{"email": "' + b"a" * 300_000 + b'"}'
        headers = {"Content-Type": "application/json", "Origin": server.url}
        async with http.post(f"{server.url}/api/v1/auth/login", data=big, headers=headers) as r:
            assert r.status == 413
            assert_envelope(await r.json(), "payload.too_large")
        # Pages outside /api keep their own answers.
        async with http.get(f"{server.url}/no-such-page") as response:
            assert response.status == 404
            assert response.content_type != "application/json"


async def test_codes_that_were_outside_the_catalogue(server: Server) -> None:
    admin = await server.add_staff("Ada", role="admin")
    cookie, csrf = await login(server, admin.email)
    async with aiohttp.ClientSession(cookies={"porchlight_session": cookie}) as http:
        async with http.post(f"{server.url}/api/v1/sites", json={}) as response:
            assert response.status == 403
            assert_envelope(await response.json(), "auth.csrf")
        new = {"email": admin.email, "name": "Twin", "password": "x" * 12}
        async with http.post(
            f"{server.url}/api/v1/staff", json=new, headers={"X-CSRF-Token": csrf}
        ) as response:
            assert response.status == 409
            assert_envelope(await response.json(), "staff.exists")
    async with aiohttp.ClientSession() as http:
        wrong = {"email": admin.email, "password": "wrong password"}
        headers = {"Origin": server.url}
        async with http.post(
            f"{server.url}/api/v1/auth/login", json=wrong, headers=headers
        ) as response:
            assert response.status == 401
            assert_envelope(await response.json(), "auth.invalid")
        status = 401
        for _ in range(20):  # the throttle's budget is well under 20 failures
            async with http.post(
                f"{server.url}/api/v1/auth/login", json=wrong, headers=headers
            ) as response:
                status = response.status
                if status == 429:
                    body = await response.json()
                    assert_envelope(body, "auth.throttled")
                    assert body["error"]["retry_after_ms"] >= 1000
                    assert int(response.headers["Retry-After"]) >= 1
                    break
        assert status == 429


async def test_an_unhandled_error_is_a_coded_500_that_shows_nothing(
    broken: BrokenServer,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{broken.url}/api/v1/broken") as response:
            assert response.status == 500
            text = await response.text()
            assert "hunter2" not in text and "RuntimeError" not in text
            assert_envelope(await response.json(), "server.error")


async def test_a_declared_role_holds_even_if_the_handler_forgets(broken: BrokenServer) -> None:
    agent = await broken.add_staff("Sam")
    admin = await broken.add_staff("Ada", role="admin")
    url = f"{broken.url}/api/v1/forgetful"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 401
            assert_envelope(await response.json(), "auth.required")
        for member, status in [(agent, 403), (admin, 200)]:
            cookie, _ = await login(broken, member.email)
            async with http.get(url, headers={"Cookie": f"porchlight_session={cookie}"}) as r:
                assert r.status == status, member.role


def test_an_uncatalogued_code_cannot_be_sent() -> None:
    with pytest.raises(ValueError):
        envelope("auth.made_up", "No such code.")

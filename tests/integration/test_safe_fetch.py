"""The SSRF corpus against real servers: a public stand-in on 127.0.0.2 (the one network the
policy allows, as an operator would allow an on-premises receiver) that redirects inward, and
an inner server on 127.0.0.1 that must never be reached."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from server.safe_fetch import FetchFailed, FetchPolicy, UnsafeTarget, _system_resolve, fetch
from tests.support import free_port

OUTER = "127.0.0.2"


@dataclass
class Servers:
    outer: int
    inner: int
    inner_hits: list[str]
    outer_hits: list[str]
    lookups: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{OUTER}:{self.outer}"


async def _serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    found = Servers(free_port(), free_port(), [], [])
    never = asyncio.Event()

    async def outer(request: web.Request) -> web.StreamResponse:
        found.outer_hits.append(request.path)
        if request.path == "/to":
            raise web.HTTPFound(request.query["u"])
        if request.path == "/loop":
            raise web.HTTPFound("/loop")
        if request.path == "/keep":
            raise web.HTTPTemporaryRedirect("/echo")
        if request.path == "/big":
            return web.Response(body=b"x" * (1024 * 1024))
        if request.path == "/slow":
            await never.wait()
        return web.Response(text=f"{request.method} {await request.text()}")

    async def inner(request: web.Request) -> web.Response:
        found.inner_hits.append(request.path)
        return web.Response(text="secret")

    outer_app, inner_app = web.Application(), web.Application()
    outer_app.router.add_route("*", "/{tail:.*}", outer)
    inner_app.router.add_route("*", "/{tail:.*}", inner)
    runners = [
        await _serve(outer_app, OUTER, found.outer),
        await _serve(inner_app, "127.0.0.1", found.inner),
    ]
    yield found
    never.set()
    for runner in runners:
        await runner.cleanup()


def policy(servers: Servers, **changes: object) -> FetchPolicy:
    """http allowed, 127.0.0.2 allowed; a fake DNS for *.test names, counting lookups."""
    answers = {
        "outer.test": [[OUTER]],
        "inner.test": [["127.0.0.1"]],
        "mixed.test": [[OUTER, "127.0.0.1"]],
        # First the allowed address, then (rebinding) the inner one.
        "rebind.test": [[OUTER], ["127.0.0.1"]],
    }

    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            return await _system_resolve(host, port)
        seen = servers.lookups.get(host, 0)
        servers.lookups[host] = seen + 1
        return answers[host][min(seen, len(answers[host]) - 1)]

    values: dict[str, object] = {
        "allow_http": True,
        "allowed_networks": (ipaddress.ip_network(f"{OUTER}/32"),),
        "resolve": resolve,
    }
    values.update(changes)
    return FetchPolicy(**values)  # type: ignore[arg-type]


async def test_the_allowed_server_answers(servers: Servers) -> None:
    got = await fetch(f"http://outer.test:{servers.outer}/ok", policy(servers))
    assert (got.status, got.body) == (200, b"GET ")


async def test_redirects_inward_are_refused_and_nothing_inside_is_reached(
    servers: Servers,
) -> None:
    inner = servers.inner
    targets = {
        f"http://127.0.0.1:{inner}/": "loopback",
        f"http://localhost:{inner}/": "loopback",
        f"http://[::1]:{inner}/": "loopback",
        f"http://[::ffff:127.0.0.1]:{inner}/": "loopback",
        f"http://[::ffff:7f00:1]:{inner}/": "loopback",
        f"http://2130706433:{inner}/": "host",
        f"http://127.1:{inner}/": "host",
        f"http://inner.test:{inner}/": "loopback",
        f"http://mixed.test:{inner}/": "loopback",
        "http://169.254.169.254/latest/meta-data/": "metadata",
        "http://[fd00:ec2::254]/latest/meta-data/": "metadata",
        "http://10.0.0.1/": "private",
        "http://100.64.0.1/": "cgnat",
        "http://[fe80::1]/": "link_local",
        f"gopher://127.0.0.1:{inner}/": "scheme",
    }
    for target, reason in targets.items():
        for start in (target, f"{servers.base}/to?u={target}"):
            with pytest.raises(UnsafeTarget) as refused:
                await fetch(start, policy(servers))
            assert refused.value.reason == reason, (start, refused.value)
    assert servers.inner_hits == []


async def test_every_hop_is_resolved_again(servers: Servers) -> None:
    """rebind.test first resolves to the allowed server, then to the inner one: the redirect
    back to the same name is checked afresh and refused."""
    start = f"http://rebind.test:{servers.outer}/to?u=http://rebind.test:{servers.inner}/"
    with pytest.raises(UnsafeTarget) as refused:
        await fetch(start, policy(servers))
    assert refused.value.reason == "loopback"
    assert servers.lookups["rebind.test"] == 2
    assert servers.outer_hits == ["/to"]
    assert servers.inner_hits == []


async def test_the_connection_goes_to_the_address_checked(servers: Servers) -> None:
    """One lookup per hop: the connector uses the checked answer and never asks again (a
    second lookup here would have answered 127.0.0.1)."""
    got = await fetch(f"http://rebind.test:{servers.outer}/ok", policy(servers))
    assert got.status == 200
    assert servers.lookups["rebind.test"] == 1
    assert servers.outer_hits == ["/ok"]


async def test_https_only_unless_http_is_allowed(servers: Servers) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        await fetch(f"{servers.base}/ok", policy(servers, allow_http=False))
    assert refused.value.reason == "scheme"
    assert servers.outer_hits == []


async def test_redirects_are_capped(servers: Servers) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        await fetch(f"{servers.base}/loop", policy(servers, max_redirects=3))
    assert refused.value.reason == "redirects"
    assert servers.outer_hits == ["/loop"] * 4


async def test_307_keeps_the_method_and_body(servers: Servers) -> None:
    got = await fetch(f"{servers.base}/keep", policy(servers), method="POST", body=b"payload")
    assert got.body == b"POST payload"


async def test_the_body_read_is_capped(servers: Servers) -> None:
    got = await fetch(f"{servers.base}/big", policy(servers, max_bytes=1000))
    assert (len(got.body), got.truncated) == (1000, True)


async def test_a_server_that_never_answers_times_out(servers: Servers) -> None:
    with pytest.raises(FetchFailed, match="timed out"):
        await fetch(f"{servers.base}/slow", policy(servers, total_timeout=0.5))


async def test_a_closed_port_fails_without_a_refusal(servers: Servers) -> None:
    closed = free_port()
    with pytest.raises(FetchFailed, match="cannot connect"):
        await fetch(f"http://{OUTER}:{closed}/", policy(servers))

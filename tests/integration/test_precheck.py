"""The pre-call check through the real app: a client aiortc peer (the browser's stand-in) sends
camera and microphone to the server's check peer through a real coturn, relay-only, so every
packet stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiortc import AudioStreamTrack, RTCPeerConnection, VideoStreamTrack
from av import AudioFrame

from server import precheck_api
from server.app import create_app
from server.auth import SESSION_COOKIE
from server.media.precheck import PrecheckManager
from tests.coturn import Coturn
from tests.rtc import candidate_types, description, peer_from
from tests.support import Peer, Server, customer, login, settings_for

WAIT = 20.0
CHECK = "/api/v1/precheck"


class ToneTrack(AudioStreamTrack):
    """A 440 Hz sine at half scale (aiortc's ``AudioStreamTrack`` only sends silence)."""

    async def recv(self) -> AudioFrame:
        timed = await super().recv()  # paces the frames and stamps pts
        rate, samples = 48000, 960
        frame = AudioFrame(format="s16", layout="mono", samples=samples)
        start = int(timed.pts or 0) * rate // 8000
        tone = [
            int(16384 * math.sin(2 * math.pi * 440 * (start + i) / rate)) for i in range(samples)
        ]
        frame.planes[0].update(b"".join(s.to_bytes(2, "little", signed=True) for s in tone))
        frame.pts = start
        frame.sample_rate = rate
        frame.time_base = fractions.Fraction(1, rate)
        return frame


class PrecheckServer(Server):
    """The real app, with the check's routes and manager mounted the way ``create_app`` is
    meant to mount them (a no-op once it does)."""

    async def start(self) -> None:
        app = create_app(self.settings)
        if not any(r.canonical == CHECK for r in app.router.resources()):
            app.add_routes(precheck_api.routes)
            app.cleanup_ctx.append(precheck_api.precheck_runtime)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.settings.host, self.settings.port).start()

    @property
    def manager(self) -> PrecheckManager:
        return self.app[precheck_api.PRECHECK]


@pytest.fixture
async def server(tmp_path: Path, coturn: Coturn) -> AsyncIterator[PrecheckServer]:
    running = PrecheckServer(
        settings_for(
            f"sqlite+aiosqlite:///{tmp_path / 'precheck.db'}",
            turn_host=coturn.turn_host,
            turn_port=coturn.turn_port,
            turn_secret=coturn.turn_secret,
        )
    )
    await running.start()
    await running.add_site()
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def visitor(server: Server, clients: list[Peer], site: str = "shop-site") -> dict[str, str]:
    """A customer socket's token, as the frame would present it over HTTP."""
    peer = customer(server)
    clients.append(peer)
    await peer.connect()
    session = await peer.wait_for("session")
    return {
        "Authorization": f"Bearer {session['token']}",
        "X-Porchlight-Site": site,
        "Origin": server.url,
    }


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any = None,
) -> tuple[int, Any]:
    async with http.request(method, url, headers=headers, json=body) as response:
        data = await response.json() if response.content_type == "application/json" else None
        return response.status, data


async def poll(
    fetch: Callable[[], Awaitable[Any]],
    predicate: Callable[[Any], bool],
    what: str,
    timeout: float = WAIT,
) -> Any:
    """Fetch until ``predicate`` holds; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.05)


async def offer_from(
    server: Server,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    *,
    tone: bool = False,
) -> tuple[RTCPeerConnection, str]:
    """The browser's part: fetch ICE, add camera and microphone, offer with every candidate."""
    status, ice = await call(http, "GET", f"{server.url}{CHECK}/ice?policy=relay", headers)
    assert status == 200, ice
    assert ice["ice_transport_policy"] == "relay"
    pc = peer_from(ice)
    pc.addTrack(VideoStreamTrack())
    pc.addTrack(ToneTrack() if tone else AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    assert candidate_types(pc.localDescription.sdp) == {"relay"}
    return pc, pc.localDescription.sdp


async def start_check(
    server: Server,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    *,
    tone: bool = False,
) -> tuple[RTCPeerConnection, str]:
    pc, sdp = await offer_from(server, http, headers, tone=tone)
    status, body = await call(
        http, "POST", f"{server.url}{CHECK}", headers, {"sdp": sdp, "policy": "relay"}
    )
    assert status == 201, body
    assert candidate_types(body["answer_sdp"]) == {"relay"}
    await pc.setRemoteDescription(description(body["answer_sdp"], "answer"))
    return pc, str(body["check_id"])


def result_of(
    server: Server, http: aiohttp.ClientSession, headers: dict[str, str], check_id: str
) -> Callable[[], Awaitable[Any]]:
    async def fetch() -> Any:
        status, body = await call(http, "GET", f"{server.url}{CHECK}/{check_id}", headers)
        assert status == 200, body
        return body

    return fetch


def aiortc_tasks(tasks: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """Tasks of the check manager, aiortc or aioice (client or server side)."""
    found = []
    for task in tasks:
        if task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code else ""
        if task.get_name().startswith("precheck-") or "aiortc" in filename or "aioice" in filename:
            found.append(task)
    return found


async def test_camera_and_microphone_arrive_through_turn(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    headers = await visitor(server, clients)
    pc, check_id = await start_check(server, http, headers, tone=True)
    try:
        result = await poll(
            result_of(server, http, headers, check_id),
            lambda r: (
                r["state"] == "connected"
                and r["video_frames"] > 5
                and r["audio_frames"] > 5
                and r["audio_level"] > 0
                and r["selected_candidate_type"] == "relay"
                and r["rtt_ms"] is not None
            ),
            "frames, a level and a round trip through TURN",
        )
        assert result["video_size"] == [640, 480]
        # a 440 Hz sine at half scale has an RMS of 0.5/√2 ≈ 0.35; opus keeps it close
        assert 0.2 < result["audio_level"] < 0.5, result
        assert 0 < result["rtt_ms"] < 1000
    finally:
        await pc.close()
    status, _ = await call(http, "DELETE", f"{server.url}{CHECK}/{check_id}", headers)
    assert status == 204
    assert server.manager.live_peers == 0
    status, body = await call(http, "GET", f"{server.url}{CHECK}/{check_id}", headers)
    assert (status, body["error"]["code"]) == (404, "precheck.not_found")


async def test_silence_is_reported_as_silence(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    headers = await visitor(server, clients)
    pc, check_id = await start_check(server, http, headers)
    try:
        result = await poll(
            result_of(server, http, headers, check_id),
            lambda r: r["audio_frames"] > 10,
            "audio frames",
        )
        assert result["audio_level"] < 0.01
    finally:
        await pc.close()
        await call(http, "DELETE", f"{server.url}{CHECK}/{check_id}", headers)


async def test_twenty_checks_in_a_row_leave_no_peers_or_tasks(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    headers = await visitor(server, clients)
    before = set(asyncio.all_tasks())
    for _ in range(20):
        pc, check_id = await start_check(server, http, headers)
        try:
            await poll(
                result_of(server, http, headers, check_id),
                lambda r: r["state"] == "connected" and r["video_frames"] >= 1,
                "connected with a frame",
            )
        finally:
            status, _ = await call(http, "DELETE", f"{server.url}{CHECK}/{check_id}", headers)
            await pc.close()
        assert status == 204
        assert (server.manager.live_peers, server.manager.live_tasks) == (0, 0)
    left = await poll(
        lambda: asyncio.sleep(0, aiortc_tasks(set(asyncio.all_tasks()) - before)),
        lambda tasks: not tasks,
        "aiortc tasks to finish",
        timeout=5.0,
    )
    assert left == []


async def test_one_check_at_a_time_and_an_abandoned_check_times_out(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    server.manager.max_concurrent = 1
    server.manager.timeout = 1.0
    first, second = await visitor(server, clients), await visitor(server, clients)
    abandoned, abandoned_id = await start_check(server, http, first)
    other, sdp = await offer_from(server, http, second)
    try:
        status, body = await call(
            http, "POST", f"{server.url}{CHECK}", second, {"sdp": sdp, "policy": "relay"}
        )
        assert (status, body["error"]["code"]) == (429, "precheck.busy")
        # the tab never sends its DELETE
        await poll(
            lambda: asyncio.sleep(0, server.manager.live_peers),
            lambda live: live == 0,
            "the abandoned check to time out",
            timeout=10.0,
        )
        assert server.manager.live_tasks == 0
        # its last result stays readable for its owner until deleted
        status, body = await call(http, "GET", f"{server.url}{CHECK}/{abandoned_id}", first)
        assert (status, body["state"]) == (200, "closed")
        status, body = await call(
            http, "POST", f"{server.url}{CHECK}", second, {"sdp": sdp, "policy": "relay"}
        )
        assert status == 201, body
        status, _ = await call(http, "DELETE", f"{server.url}{CHECK}/{body['check_id']}", second)
        assert status == 204
        status, _ = await call(http, "DELETE", f"{server.url}{CHECK}/{abandoned_id}", first)
        assert status == 204
    finally:
        await abandoned.close()
        await other.close()


async def test_who_may_check_and_whose_check_it_is(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    await server.add_site("other-site", origins=("http://other.test",))
    owner, stranger = await visitor(server, clients), await visitor(server, clients)
    pc, sdp = await offer_from(server, http, owner)
    offer = {"sdp": sdp, "policy": "relay"}
    try:
        nobody = {"Origin": server.url}
        for method, path, body in [
            ("GET", f"{CHECK}/ice?policy=relay", None),
            ("POST", CHECK, offer),
            ("GET", f"{CHECK}/{'a' * 32}", None),
            ("DELETE", f"{CHECK}/{'a' * 32}", None),
        ]:
            status, data = await call(http, method, f"{server.url}{path}", nobody, body)
            assert (status, data["error"]["code"]) == (401, "auth.required"), path

        wrong_site = dict(owner, **{"X-Porchlight-Site": "other-site"})
        status, data = await call(http, "POST", f"{server.url}{CHECK}", wrong_site, offer)
        assert (status, data["error"]["code"]) == (401, "token.invalid")
        no_site = dict(owner, **{"X-Porchlight-Site": "no-such-site"})
        status, data = await call(http, "POST", f"{server.url}{CHECK}", no_site, offer)
        assert (status, data["error"]["code"]) == (401, "site.unknown")
        forged = dict(owner, Authorization=owner["Authorization"][:-3] + "AAA")
        status, data = await call(http, "POST", f"{server.url}{CHECK}", forged, offer)
        assert (status, data["error"]["code"]) == (401, "token.invalid")
        foreign = dict(owner, Origin="http://evil.test")
        status, data = await call(http, "POST", f"{server.url}{CHECK}", foreign, offer)
        assert (status, data["error"]["code"]) == (403, "auth.csrf")

        for bad, code in [
            ({"sdp": "not an sdp at all", "policy": "relay"}, (400, "payload.invalid")),
            ({"sdp": sdp, "policy": "sometimes"}, (400, "payload.invalid")),
            ({"sdp": sdp}, (400, "payload.invalid")),
            (
                {"sdp": sdp + "a=" + "x" * 50_000 + "\r\n", "policy": "relay"},
                (413, "payload.too_large"),
            ),
        ]:
            status, data = await call(http, "POST", f"{server.url}{CHECK}", owner, bad)
            assert (status, data["error"]["code"]) == code, bad.get("policy")
        status, data = await call(http, "GET", f"{server.url}{CHECK}/ice?policy=maybe", owner)
        assert (status, data["error"]["code"]) == (400, "payload.invalid")

        status, data = await call(http, "POST", f"{server.url}{CHECK}", owner, offer)
        assert status == 201, data
        mine = data["check_id"]
        for method in ("GET", "DELETE"):
            status, data = await call(http, method, f"{server.url}{CHECK}/{mine}", stranger)
            assert (status, data["error"]["code"]) == (404, "precheck.not_found"), method

        member = await server.add_staff("Sam")
        cookie, csrf = await login(server, member.email)
        staff = {"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": server.url}
        status, data = await call(http, "POST", f"{server.url}{CHECK}", staff, offer)
        assert (status, data["error"]["code"]) == (403, "auth.csrf")
        staff["X-CSRF-Token"] = csrf
        status, ice = await call(http, "GET", f"{server.url}{CHECK}/ice?policy=all", staff)
        assert status == 200 and ice["ice_transport_policy"] == "all"
        turn = [s for s in ice["ice_servers"] if "username" in s]
        assert turn[0]["username"].endswith(f":staff-{member.id}")
        status, data = await call(http, "POST", f"{server.url}{CHECK}", staff, offer)
        assert status == 201, data
        staffs = data["check_id"]
        status, data = await call(http, "GET", f"{server.url}{CHECK}/{staffs}", staff)
        assert status == 200 and data["state"] in ("connecting", "failed"), data
        status, _ = await call(http, "GET", f"{server.url}{CHECK}/{staffs}", owner)
        assert status == 404
        status, _ = await call(http, "GET", f"{server.url}{CHECK}/{mine}", staff)
        assert status == 404
        assert server.manager.live_peers == 2
        for headers, check_id in [(staff, staffs), (owner, mine)]:
            status, _ = await call(http, "DELETE", f"{server.url}{CHECK}/{check_id}", headers)
            assert status == 204
        assert server.manager.live_peers == 0
    finally:
        await pc.close()


async def test_shutdown_closes_running_checks(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    headers = await visitor(server, clients)
    pc, check_id = await start_check(server, http, headers)
    manager = server.manager
    try:
        await poll(
            result_of(server, http, headers, check_id),
            lambda r: r["state"] == "connected",
            "connected",
        )
        await server.stop()
        assert (manager.live_peers, manager.live_tasks) == (0, 0)
    finally:
        await pc.close()


async def post_offer(
    server: Server, http: aiohttp.ClientSession, headers: dict[str, str], sdp: str
) -> tuple[int, Any]:
    return await call(
        http, "POST", f"{server.url}{CHECK}", headers, {"sdp": sdp, "policy": "relay"}
    )


async def test_one_visitor_cannot_hold_every_check_slot(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    server.manager.max_concurrent = 4
    hoarder, other = await visitor(server, clients), await visitor(server, clients)
    pc, sdp = await offer_from(server, http, hoarder)
    try:
        posted = [await post_offer(server, http, hoarder, sdp) for _ in range(4)]
        assert [status for status, _ in posted] == [201] * 4
        # each new check closed the one before it; its result stays readable
        status, first = await call(
            http, "GET", f"{server.url}{CHECK}/{posted[0][1]['check_id']}", hoarder
        )
        assert (status, first["state"]) == (200, "closed")
        await poll(
            lambda: asyncio.sleep(0, server.manager.live_peers),
            lambda live: live == 1,
            "the replaced checks to close",
        )
        status, body = await post_offer(server, http, other, sdp)
        assert status == 201, body
    finally:
        await pc.close()
        await server.manager.close_all()


async def test_one_address_cannot_hold_every_check_slot(
    server: PrecheckServer, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    server.manager.max_concurrent = 4
    server.manager.max_per_address = 2
    visitors = [await visitor(server, clients) for _ in range(3)]
    pc, sdp = await offer_from(server, http, visitors[0])
    try:
        for headers in visitors[:2]:
            status, body = await post_offer(server, http, headers, sdp)
            assert status == 201, body
        status, body = await post_offer(server, http, visitors[2], sdp)
        assert (status, body["error"]["code"]) == (429, "precheck.busy")
        assert server.manager.live_peers == 2  # two of the four slots: the rest stay free
    finally:
        await pc.close()
        await server.manager.close_all()


async def test_starting_checks_is_rate_limited(
    tmp_path: Path, coturn: Coturn, http: aiohttp.ClientSession, clients: list[Peer]
) -> None:
    limited = PrecheckServer(
        settings_for(
            f"sqlite+aiosqlite:///{tmp_path / 'limited.db'}",
            turn_host=coturn.turn_host,
            turn_port=coturn.turn_port,
            turn_secret=coturn.turn_secret,
            precheck_limits=("2/minute", "100/minute", "100/minute"),
        )
    )
    await limited.start()
    try:
        await limited.add_site()
        headers = await visitor(limited, clients)
        pc, sdp = await offer_from(limited, http, headers)
        try:
            statuses = [(await post_offer(limited, http, headers, sdp))[0] for _ in range(2)]
            assert statuses == [201, 201]
            async with http.post(
                f"{limited.url}{CHECK}", headers=headers, json={"sdp": sdp, "policy": "relay"}
            ) as response:
                body = await response.json()
                assert (response.status, body["error"]["code"]) == (429, "rate.limited")
                assert 0 < body["error"]["retry_after_ms"] <= 60_000
                assert int(response.headers["Retry-After"]) >= 1
        finally:
            await pc.close()
    finally:
        await limited.stop()

"""A console that vanishes without closing its connection (a laptop lid, a dead network) is
noticed within ping_interval + ping_timeout, and only then does its grace period start."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from server.auth import SESSION_COOKIE
from server.keys import SIGNALING
from server.settings import Settings
from tests.support import WAIT, Peer, Server, customer, login, until

# Short pings, so that the test runs in seconds (engine.io takes whole-second intervals).
PING_INTERVAL = 1
PING_TIMEOUT = 0.5
GRACE = 1.0
SLACK = 1.0  # scheduling on a busy machine; far below engine.io's default 25 s + 20 s


class SilentConsole:
    """A /staff socket.io client spoken by hand over a raw websocket, so that it can go
    silent: after ``vanish()`` it answers no ping and sends nothing, but keeps the TCP
    connection open, as a machine that went to sleep does."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.events: list[tuple[str, Any]] = []
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.silent = False
        self.pongs = 0
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, server: Server, cookie: str) -> SilentConsole:
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(
            f"{server.url}/socket.io/?EIO=4&transport=websocket",
            headers={"Origin": server.url, "Cookie": f"{SESSION_COOKIE}={cookie}"},
        )
        opened = await ws.receive_str(timeout=WAIT)
        assert opened.startswith("0"), opened  # engine.io open packet
        await ws.send_str("40/staff,")
        connected = await ws.receive_str(timeout=WAIT)
        assert connected.startswith("40/staff,"), connected
        return cls(http, ws)

    async def _read(self) -> None:
        prefix = "42/staff,"
        ack = "43/staff,"
        async for frame in self.ws:
            text = str(frame.data)
            if text == "2":
                if not self.silent:
                    await self.ws.send_str("3")
                    self.pongs += 1
            elif text.startswith(ack):
                number, _, body = text[len(ack) :].partition("[")
                self.acks.pop(int(number)).set_result(json.loads("[" + body)[0])
            elif text.startswith(prefix):
                event, *data = json.loads(text[len(prefix) :])
                self.events.append((event, data[0] if data else None))

    async def call(self, event: str, payload: Any) -> Any:
        self.next_ack += 1
        answer = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = answer
        await self.ws.send_str(f"42/staff,{self.next_ack}" + json.dumps([event, payload]))
        return await asyncio.wait_for(answer, WAIT)

    def vanish(self) -> None:
        self.silent = True

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()
        await self.http.close()


@pytest.mark.settings(ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, grace_period=GRACE)
async def test_a_silent_console_is_noticed_within_the_ping_bound(
    server: Server, clients: list[Peer]
) -> None:
    member = await server.add_staff("Ana")
    cookie, _ = await login(server, member.email)
    console = await SilentConsole.connect(server, cookie)
    try:
        assert (await console.call("presence.set", {"status": "available"}))["ok"]
        visitor = customer(server)
        clients.append(visitor)
        await visitor.connect()
        cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
        await until(lambda: any(name == "ring" for name, _ in console.events), what="ring")
        assert (await console.call("ring.accept", {"conversation_id": cid}))["ok"]
        router = server.app[SIGNALING].router

        async def connected() -> bool:
            return (await router.staff.presence(member)).connected

        assert await connected()

        # A console that answers is kept, ping round after ping round.
        await until(lambda: console.pongs >= 2, timeout=3 * PING_INTERVAL + SLACK, what="pings")
        assert await connected()

        console.vanish()
        vanished = time.monotonic()
        bound = server.settings.silent_drop_bound + SLACK
        while await connected():
            assert time.monotonic() - vanished < bound, "the silent console was not dropped"
            await asyncio.sleep(0.05)
        noticed = time.monotonic() - vanished
        # The grace period starts when the drop is noticed: the conversation is still hers.
        assert (await router.staff.presence(member)).grace_until is not None
        assert [c.id for c in await router.routing.assigned_to(member.id)] == [cid]
        assert not visitor.seen("message.new", lambda d: d["message"]["body"] == "requeued")

        await visitor.wait_for(
            "message.new",
            lambda d: d["message"]["body"] == "requeued",
            timeout=GRACE + SLACK,
        )
        assert time.monotonic() - vanished >= noticed + GRACE * 0.9
    finally:
        await console.close()


def test_a_silent_console_is_noticed_within_10_s_by_default() -> None:
    defaults = Settings()
    assert (defaults.ping_interval, defaults.ping_timeout) == (6, 4.0)
    assert defaults.silent_drop_bound == 10.0
    # What README promises: a console that vanished keeps its conversations at most
    # 10 s + grace_period (30 s) = 40 s.
    assert defaults.silent_drop_bound + defaults.grace_period == 40.0

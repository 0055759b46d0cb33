"""A websocket that speaks engine.io and socket.io by hand, to send what no real client would:
forged lifecycle events, undecodable frames, binary packets."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support import SHOP, Server, until


@dataclass
class RawSocket:
    """One engine.io websocket; every text frame the server sends is kept in ``frames``."""

    ws: aiohttp.ClientWebSocketResponse
    frames: list[str] = field(default_factory=list)
    closed: bool = False
    reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(message.data)
        self.closed = True

    async def send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def connect(self, namespace: str, auth: dict[str, Any] | None = None) -> str:
        """Join ``namespace``; the server's answer (``40…`` connected, ``44…`` refused)."""
        await self.send(f"40{namespace}," + json.dumps(auth or {}))
        return await self.frame(lambda f: f.startswith((f"40{namespace},", f"44{namespace},")))

    async def frame(self, predicate: Any, what: str = "a frame") -> str:
        found: list[str] = await until(lambda: [f for f in self.frames if predicate(f)], what=what)
        return found[0]

    async def call(self, namespace: str, ack_id: int, event: str, *args: Any) -> Any:
        """Emit ``event`` with an ack id; the acknowledgement's first argument."""
        await self.send(f"42{namespace},{ack_id}" + json.dumps([event, *args]))
        prefix = f"43{namespace},{ack_id}["
        ack = await self.frame(lambda f: f.startswith(prefix), what=f"ack {ack_id} ({event})")
        data = json.loads(ack[len(prefix) - 1 :])
        return data[0] if data else None

    def events(self, namespace: str, name: str) -> list[Any]:
        prefix = f"42{namespace},"
        found = []
        for frame in self.frames:
            if frame.startswith(prefix):
                data = json.loads(frame[len(prefix) :])
                if data[0] == name:
                    found.append(data[1] if len(data) > 1 else None)
        return found

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await until(lambda: self.closed, timeout, what="the server to close the socket")

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await self.reader


async def open_raw(
    http: aiohttp.ClientSession, server: Server, headers: dict[str, str] | None = None
) -> RawSocket:
    """An engine.io websocket to ``server``, its handshake done, from our own origin."""
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await http.ws_connect(url, headers={"Origin": server.url, **(headers or {})})
    raw = RawSocket(ws)
    raw.reader = asyncio.create_task(raw._read())
    await raw.frame(lambda f: f.startswith("0{"), what="engine.io open")
    return raw


CUSTOMER_AUTH = {"site": "shop-site", "host": SHOP}

"""A cheap socket.io client for benchmarks that hold thousands of sockets: one bare aiohttp
websocket speaking just enough engine.io 4 / socket.io 5 to connect a namespace, answer
pings, emit with an ack id and resolve the matching ack. Server events are read and dropped.
python-socketio's own client costs too much to open 10,000 of them on two cores."""

from __future__ import annotations

import asyncio
import json
import resource
from contextlib import suppress
from typing import Any

import aiohttp


class RawCustomer:
    """One socket on one namespace (a widget frame's ``/customer``, in the benchmarks)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, namespace: str) -> None:
        self.ws = ws
        self.namespace = namespace
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, http: aiohttp.ClientSession, url: str, namespace: str, auth: dict[str, Any]
    ) -> RawCustomer:
        """Open the websocket, connect ``namespace`` with ``auth``; raises if refused."""
        ws = await http.ws_connect(
            f"{url}/socket.io/?EIO=4&transport=websocket",
            headers={"Origin": url},
            autoping=False,
            heartbeat=None,
        )
        customer = cls(ws, namespace)
        try:
            opened = await ws.receive_str()
            if not opened.startswith("0"):
                raise RuntimeError(f"no engine.io open packet: {opened[:80]!r}")
            await ws.send_str(f"40{namespace},{json.dumps(auth)}")
            while True:
                packet = await ws.receive_str()
                if packet.startswith(f"40{namespace},"):
                    break
                if packet.startswith(f"44{namespace},"):
                    raise RuntimeError(f"refused: {packet[:200]}")
                if packet == "2":
                    await ws.send_str("3")
        except BaseException:
            await ws.close()
            raise
        customer.reader = asyncio.create_task(customer.read())
        return customer

    async def read(self) -> None:
        ack_prefix = f"43{self.namespace},"
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            packet: str = frame.data
            if packet == "2":
                await self.ws.send_str("3")
            elif packet.startswith(ack_prefix):
                body = packet[len(ack_prefix) :]
                bracket = body.index("[")
                future = self.acks.pop(int(body[:bracket]), None)
                if future is not None and not future.done():
                    future.set_result(json.loads(body[bracket:])[0])
        closed = ConnectionError(f"socket closed (websocket close code {self.ws.close_code})")
        for future in self.acks.values():
            if not future.done():
                future.set_exception(closed)

    async def emit(self, event: str, data: dict[str, Any]) -> asyncio.Future[Any]:
        """Write the event; returns a future of its acknowledgement (not awaited here)."""
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = future
        await self.ws.send_str(f"42{self.namespace},{self.next_id}{json.dumps([event, data])}")
        return future

    async def call(self, event: str, data: dict[str, Any]) -> Any:
        """Emit and wait for the acknowledgement."""
        return await (await self.emit(event, data))

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            with suppress(Exception):
                await self.reader


def raise_open_files(wanted: int) -> int:
    """Raise this process's open-file limit to at least ``wanted`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted)
    if target > hard:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return target
        except (ValueError, OSError):
            target = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target

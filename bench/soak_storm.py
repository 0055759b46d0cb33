"""The soak's reconnect storm: a worker process holding N idle widget sockets on one node,
each redialling on the widget's schedule when it drops, and its controller.

The sockets are raw websockets (aiohttp) speaking just enough engine.io 4 / socket.io 5 to
join ``/customer`` and answer pings: python-socketio's client costs too much CPU to hold
thousands on two shared cores. A socket is back when the server has accepted its
``/customer`` connect again (a frame with no conversation has nothing else to resume).

Worker protocol, one JSON object a line: it prints ``{"ready", "failed"}`` once its sockets
are open; on ``report`` it prints ``{"open", "drops", "backs"}`` (``backs``: the
``time.monotonic()`` of every reconnect since the last report; the clock is the machine's,
shared with the bench process); on ``stop`` (or end of input) it closes everything.

    python bench/soak_storm.py URL N SITE HOST   (started by ``Storm``)
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiohttp

CUSTOMER_NS = "/customer"
CONNECT_TIMEOUT = 10.0
FIRST_CONNECTS = 32  # initial connects at once; reconnects are not throttled (the storm)
READY_TIMEOUT = 600.0
REPORT_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def redial_delay(attempt: int, rng: random.Random) -> float:
    """widget/src/shared/reconnect.ts ``reconnectDelay``, in seconds."""
    if attempt <= 0:
        return 0.0
    ceiling: float = min(4.0, 0.25 * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + rng.random() / 2)


class Widget:
    """One idle frame socket that reconnects for ever."""

    def __init__(self, fleet: Fleet, rng: random.Random) -> None:
        self.fleet = fleet
        self.rng = rng

    async def open(self) -> aiohttp.ClientWebSocketResponse:
        fleet = self.fleet
        ws = await fleet.http.ws_connect(
            f"{fleet.url}/socket.io/?EIO=4&transport=websocket",
            headers={"Origin": fleet.url},
            autoping=False,
            heartbeat=None,
        )
        try:
            opened = await ws.receive_str()
            if not opened.startswith("0"):
                raise ConnectionError(f"no engine.io open packet: {opened[:80]!r}")
            await ws.send_str(f"40{CUSTOMER_NS},{fleet.auth}")
            while True:
                packet = await ws.receive_str()
                if packet.startswith(f"40{CUSTOMER_NS},"):
                    return ws
                if packet.startswith(f"44{CUSTOMER_NS},"):
                    raise ConnectionError(f"refused: {packet[:200]}")
                if packet == "2":
                    await ws.send_str("3")
        except BaseException:
            await ws.close()
            raise

    async def serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Answer pings until the websocket closes."""
        with suppress(Exception):
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                if frame.data == "2":
                    await ws.send_str("3")
        with suppress(Exception):
            await ws.close()

    async def run(self, first: asyncio.Semaphore) -> None:
        fleet = self.fleet
        async with first:
            ws = await self._attempts()
        if ws is None:
            return
        fleet.opened += 1
        if fleet.opened == fleet.count:
            fleet.all_open.set()
        while not fleet.stopping:
            fleet.open += 1
            await self.serve(ws)
            fleet.open -= 1
            if fleet.stopping:
                return
            fleet.drops += 1
            ws = await self._attempts()
            if ws is None:
                return
            fleet.backs.append(time.monotonic())

    async def _attempts(self) -> aiohttp.ClientWebSocketResponse | None:
        attempt = 0
        while not self.fleet.stopping:
            await asyncio.sleep(redial_delay(attempt, self.rng))
            attempt += 1
            try:
                return await asyncio.wait_for(self.open(), CONNECT_TIMEOUT)
            except Exception as error:
                self.fleet.failures += 1
                self.fleet.last_error = repr(error)[:200]
        return None


class Fleet:
    """The worker's sockets and their counters."""

    def __init__(
        self, http: aiohttp.ClientSession, url: str, count: int, site: str, host: str
    ) -> None:
        self.http = http
        self.count = count
        self.all_open = asyncio.Event()
        self.url = url
        self.auth = json.dumps({"site": site, "host": host})
        self.stopping = False
        self.opened = 0
        self.open = 0
        self.drops = 0
        self.failures = 0
        self.last_error = ""
        self.backs: list[float] = []


def say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def worker(url: str, count: int, site: str, host: str) -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        fleet = Fleet(http, url, count, site, host)
        first = asyncio.Semaphore(FIRST_CONNECTS)
        rng = random.Random(count)
        tasks = [asyncio.create_task(Widget(fleet, rng).run(first)) for _ in range(count)]
        with suppress(TimeoutError):
            await asyncio.wait_for(fleet.all_open.wait(), READY_TIMEOUT)
        say({"ready": fleet.opened, "failed": fleet.failures, "error": fleet.last_error})
        try:
            while command := (await commands.readline()).decode().strip():
                if command == "report":
                    backs, fleet.backs = fleet.backs, []
                    say({"open": fleet.open, "drops": fleet.drops, "backs": backs})
                elif command == "stop":
                    break
        finally:
            fleet.stopping = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class Storm:
    """Controls one worker process (``start``, ``report``, ``stop``)."""

    def __init__(self, url: str, sockets: int, site: str, host: str, log: Path) -> None:
        self.url = url
        self.sockets = sockets
        self.site = site
        self.host = host
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        """Start the worker; the number of sockets it opened."""
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                self.url,
                str(self.sockets),
                self.site,
                self.host,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        ready = await self._read(READY_TIMEOUT + 30)
        if ready["ready"] < self.sockets:
            raise RuntimeError(f"storm sockets: {ready}")
        return int(ready["ready"])

    async def _read(self, within: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"the storm worker exited; see {self.log}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def _tell(self, command: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()

    async def report(self) -> dict[str, Any]:
        await self._tell("report")
        return await self._read(REPORT_TIMEOUT)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with suppress(Exception):
            await self._tell("stop")
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


if __name__ == "__main__":
    asyncio.run(worker(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))

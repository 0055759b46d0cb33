"""How soon customers are back after a server restart, with the widget's reconnect schedule
against the one it had before (docs/DESIGN.md budget: p95 <= 5 s after the server is back).

The real server (``porchlight serve``, SQLite by default) runs as a separate process; N
python-socketio clients connect to ``/customer`` as widgets do. The server is stopped
(SIGTERM), started again on the same port and database, and each client redials on a
schedule: ``ours`` is widget/src/shared/reconnect.ts (at once, then 250 ms doubling to 4 s,
times a random factor in [0.5, 1)); ``before`` is what socket.io-client's Manager did with
the options the widget gave it (1 s doubling to 10 s, randomization 0.5). A client is back
when the server has accepted its connection; the figure is the time from the moment the new
server answers /healthz.

    .venv/bin/python bench/reconnect.py [--clients 200] [--down 5] [--json out.json]
                                        [--postgres postgres@127.0.0.1:5432]

``--down`` keeps the server stopped that many seconds before it starts again (a deploy, a
host restart): the longer the outage, the further a back-off has grown when it ends.

Only 127.0.0.1 is used. Everything it starts is stopped, and its temporary files deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import socketio
from chat_latency import HOST, PORCHLIGHT, SECRET_KEY, free_port, percentile, running, seed

CUSTOMER_PAGE = "http://bench.test"
SITE_KEY = "bench-site"
BACK_TIMEOUT = 60.0  # every client is back

Schedule = Callable[[int], float]


def ours(attempt: int) -> float:
    """widget/src/shared/reconnect.ts ``reconnectDelay``, in seconds."""
    if attempt <= 0:
        return 0.0
    return min(4.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


def before(attempt: int) -> float:
    """socket.io-client's Backoff with reconnectionDelay 1 s, Max 10 s, randomization 0.5."""
    ms = 1000 * 2**attempt
    rand = random.random()
    deviation = int(rand * 0.5 * ms)
    ms = ms - deviation if int(rand * 10) & 1 == 0 else ms + deviation
    return min(ms, 10_000) / 1000


SCHEDULES: dict[str, Schedule] = {"ours": ours, "before": before}


@dataclass
class Widget:
    """One customer socket that redials on ``schedule`` whenever it is dropped."""

    url: str
    schedule: Schedule
    sio: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False, handle_sigint=False)
    )
    back_at: float | None = None
    back: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: int = 0
    task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=["/customer"],
            transports=["websocket"],
            auth={"site": SITE_KEY, "host": CUSTOMER_PAGE},
            headers={"Origin": self.url},  # the frame is served by the server itself
            wait_timeout=10,
            retry=False,
        )

    def dropped(self) -> None:
        self.back_at = None
        self.task = asyncio.get_running_loop().create_task(self.redial())

    async def redial(self) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(self.schedule(attempt))
            attempt += 1
            self.attempts += 1
            try:
                await self.connect()
            except (socketio.exceptions.ConnectionError, OSError, TimeoutError):
                continue
            self.back_at = time.monotonic()
            self.back.set()
            return


@asynccontextmanager
async def database(workdir: Path, postgres: str | None) -> AsyncIterator[str]:
    """SQLite in ``workdir``, or a fresh PostgreSQL database on ``postgres``, dropped after."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    name = f"porchlight_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(f"postgresql://{postgres}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://{postgres}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def run(
    schedule_name: str, clients: int, down: float, database_url: str, workdir: Path
) -> dict[str, Any]:
    await seed(database_url, staff=1, max_chats=3)
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = {
        **os.environ,
        "PORCHLIGHT_PUBLIC_URL": url,
        "PORCHLIGHT_LOG_LEVEL": "WARNING",
        "PORCHLIGHT_SECRET_KEY": SECRET_KEY,
    }
    command = [str(PORCHLIGHT), "--database-url", database_url, "serve", "--port", str(port)]
    widgets = [Widget(url, SCHEDULES[schedule_name]) for _ in range(clients)]
    async with running("porchlight", command, env, workdir, url) as first:
        for widget in widgets:
            await widget.connect()
            widget.sio.on("disconnect", widget.dropped, namespace="/customer")
        await first.stop()
    await asyncio.sleep(down)
    async with running("porchlight-again", command, env, workdir, url):
        ready = time.monotonic()
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(w.back.wait() for w in widgets)), BACK_TIMEOUT)
        back = sorted(w.back_at - ready for w in widgets if w.back_at is not None)
        for widget in widgets:
            if widget.task is not None and not widget.task.done():
                widget.task.cancel()
            await widget.sio.disconnect()
    return {
        "schedule": schedule_name,
        "clients": clients,
        "down_s": down,
        "back": len(back),
        "attempts_mean": round(sum(w.attempts for w in widgets) / clients, 2),
        "after_ready_ms": {
            "p50": round(percentile(back, 0.50) * 1000),
            "p95": round(percentile(back, 0.95) * 1000),
            "max": round(back[-1] * 1000),
        }
        if back
        else {},
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--postgres", help="user@host:port of a PostgreSQL server (default SQLite)")
    parser.add_argument("--down", type=float, default=5.0, help="seconds the server stays down")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = []
    for name in SCHEDULES:
        with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as tmp:
            async with database(Path(tmp), args.postgres) as database_url:
                results.append(await run(name, args.clients, args.down, database_url, Path(tmp)))
    report = {
        "bench": "reconnect",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "database": "postgresql" if args.postgres else "sqlite",
        "run": secrets.token_hex(4),
        "results": results,
    }
    head = ("clients", "down s", "back", "tries", "p50 ms", "p95 ms", "max ms")
    print(f"{'schedule':10}" + "".join(f"{h:>9}" for h in head))
    for r in results:
        t = r["after_ready_ms"]
        print(
            f"{r['schedule']:10}{r['clients']:>9}{r['down_s']:>9}{r['back']:>9}"
            f"{r['attempts_mean']:>9}"
            f"{t.get('p50', '-'):>9}{t.get('p95', '-'):>9}{t.get('max', '-'):>9}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())

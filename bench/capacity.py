"""How many idle customer sockets one server process holds, what each one costs in memory, and
how long a burst of new conversations takes to be admitted, against the design budget
(docs/PERFORMANCE.md).

Idle sockets: the real server (``porchlight serve``, SQLite) runs as its own process; client
processes open N websockets to ``/customer`` (a widget frame that is open, with no
conversation yet) and keep them alive, answering engine.io's pings. The server's resident
memory (VmRSS from /proc) is read before the first socket and once all N are connected;
their difference over N is the cost of one socket. The clients are raw websockets (aiohttp)
speaking just enough engine.io 4 / socket.io 5 to connect, answer pings and wait for acks:
python-socketio's own client costs too much to open 10,000 of them on two cores.

Burst: 10 staff consoles are available and B customer sockets are connected; then every
customer emits ``conversation.start`` at once. The figure is the time from the first emit to
the last acknowledgement. The same clients, sockets and measurement then run against
``bench/echo_server.py`` (a bare python-socketio relay): the floor. Budget: within 2x the
floor.

    .venv/bin/python bench/capacity.py [--sockets 10000] [--burst 1000] [--workers 3]
                                       [--json out.json]

Only 127.0.0.1 is used. Everything it starts is stopped, and its temporary files deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from chat_latency import (
    CUSTOMER_NS,
    CUSTOMER_PAGE,
    HOST,
    PORCHLIGHT,
    SECRET_KEY,
    SITE_KEY,
    STAFF_NS,
    ServerProcess,
    echo_server,
    free_port,
    running,
    seed,
    sign_in,
    staff_email,
    unlimited,
)
from raw_client import RawCustomer, raise_open_files

from server.auth import SESSION_COOKIE

BUDGET_SOCKETS = 10_000
BUDGET_KIB_PER_SOCKET = 32.0
BUDGET_BURST_RATIO = 2.0

CONNECT_TIMEOUT = 30.0  # one websocket and its socket.io connect
READY_TIMEOUT = 600.0  # every worker has opened its sockets
BURST_TIMEOUT = 300.0  # every conversation.start is acknowledged
SETTLE_TIMEOUT = 30.0  # the server's memory stops growing after the last connect
SETTLE_STEP = 0.5
STAFF = 10
CONCURRENT_CONNECTS = 64  # per worker: the server's listen backlog is 128
FD_HEADROOM = 1024
CUSTOMER_AUTH = {"site": SITE_KEY, "host": CUSTOMER_PAGE}


# -- the worker processes ------------------------------------------------------------------


def say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def worker(url: str, count: int) -> None:
    """Open ``count`` sockets, report; on ``burst`` start a conversation on each and report
    the timings; on ``stop`` (or end of input) close everything."""
    raise_open_files(count + FD_HEADROOM)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        slots = asyncio.Semaphore(CONCURRENT_CONNECTS)
        errors: list[str] = []

        async def one() -> RawCustomer | None:
            async with slots:
                try:
                    opening = RawCustomer.open(http, url, CUSTOMER_NS, CUSTOMER_AUTH)
                    return await asyncio.wait_for(opening, CONNECT_TIMEOUT)
                except Exception as error:
                    errors.append(repr(error)[:200])
                    return None

        opened = [c for c in await asyncio.gather(*(one() for _ in range(count))) if c]
        say({"ready": len(opened), "failed": len(errors), "errors": sorted(set(errors))[:5]})
        try:
            while command := (await reader.readline()).decode().strip():
                if command == "burst":
                    say(await burst(opened))
                elif command == "stop":
                    break
        finally:
            await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)


async def burst(customers: list[RawCustomer]) -> dict[str, Any]:
    async def start(customer: RawCustomer) -> tuple[float, float, Any]:
        sent = time.monotonic()
        reply = await customer.call("conversation.start", {"channel": "chat"})
        return sent, time.monotonic(), reply

    results = await asyncio.wait_for(
        asyncio.gather(*(start(c) for c in customers), return_exceptions=True), BURST_TIMEOUT
    )
    done = [r for r in results if isinstance(r, tuple)]
    lost_because = sorted({str(r) for r in results if isinstance(r, BaseException)})
    refused = [
        str(reply.get("error", {}).get("code") if isinstance(reply, dict) else reply)
        for _, _, reply in done
        if not (isinstance(reply, dict) and reply.get("ok") is True)
    ]
    return {
        "first_sent": min((r[0] for r in done), default=math.nan),
        "last_acked": max((r[1] for r in done), default=math.nan),
        "acked": len(done) - len(refused),
        "refused": refused[:5],
        "lost": len(results) - len(done),
        "lost_because": lost_because[:5],
    }


# -- the measuring process -------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """The process's resident memory (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def settled_rss_kib(pid: int) -> int:
    """VmRSS once it stopped growing (the server may still be finishing connects)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_STEP)
        now = rss_kib(pid)
        if now <= last:
            return now
        last = now
    return last


@dataclass
class Workers:
    """Client processes, each holding a share of the sockets."""

    processes: list[asyncio.subprocess.Process]
    reports: list[dict[str, Any]] = field(default_factory=list)

    async def tell(self, command: str) -> list[dict[str, Any]]:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(f"{command}\n".encode())
            await process.stdin.drain()
        if command == "stop":
            return []
        return [await self.read(process, BURST_TIMEOUT) for process in self.processes]

    @staticmethod
    async def read(process: asyncio.subprocess.Process, within: float) -> dict[str, Any]:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"worker {process.pid} exited")
        report: dict[str, Any] = json.loads(line)
        return report


@asynccontextmanager
async def workers(url: str, sockets: int, count: int) -> AsyncIterator[Workers]:
    shares = [sockets // count + (1 if i < sockets % count else 0) for i in range(count)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            url,
            str(share),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for share in shares
        if share
    ]
    group = Workers(processes)
    try:
        group.reports = [await Workers.read(p, READY_TIMEOUT) for p in processes]
        yield group
    finally:
        with suppress(Exception):
            await group.tell("stop")
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def porchlight(workdir: Path) -> AsyncIterator[ServerProcess]:
    database_url = f"sqlite+aiosqlite:///{workdir / 'capacity.db'}"
    await seed(database_url, STAFF, max_chats=100)
    port = free_port()
    env = {
        **os.environ,
        "PORCHLIGHT_PUBLIC_URL": f"http://{HOST}:{port}",
        "PORCHLIGHT_LOG_LEVEL": "WARNING",
        "PORCHLIGHT_SECRET_KEY": SECRET_KEY,
        "PORCHLIGHT_RING_TIMEOUT": "600",
        **unlimited(),
    }
    command = [str(PORCHLIGHT), "--database-url", database_url, "serve", "--port", str(port)]
    async with running("porchlight", command, env, workdir, f"http://{HOST}:{port}") as server:
        yield server


@asynccontextmanager
async def system(name: str) -> AsyncIterator[ServerProcess]:
    with tempfile.TemporaryDirectory(prefix="porchlight-capacity-") as workdir:
        if name == "porchlight":
            async with porchlight(Path(workdir)) as server:
                yield server
        else:
            async with echo_server(Path(workdir)) as server:
                yield server


@dataclass
class Idle:
    system: str
    sockets: int
    connected: int
    failed: int
    rss_before_kib: int
    rss_after_kib: int
    kib_per_socket: float
    connect_s: float
    errors: list[str]


@dataclass
class Burst:
    system: str
    conversations: int
    admitted: int
    lost: int
    seconds: float
    per_s: float
    server_cpu_s: float
    refused: list[str]
    lost_because: list[str]


async def measure_idle(name: str, sockets: int, count: int) -> Idle:
    async with system(name) as server:
        pid = server.process.pid
        before = await settled_rss_kib(pid)
        started = time.perf_counter()
        async with workers(server.url, sockets, count) as group:
            connect_s = time.perf_counter() - started
            after = await settled_rss_kib(pid)
            connected = sum(r["ready"] for r in group.reports)
            errors = sorted({e for r in group.reports for e in r["errors"]})[:5]
            return Idle(
                system=name,
                sockets=sockets,
                connected=connected,
                failed=sum(r["failed"] for r in group.reports),
                rss_before_kib=before,
                rss_after_kib=after,
                kib_per_socket=round((after - before) / max(connected, 1), 2),
                connect_s=round(connect_s, 1),
                errors=errors,
            )


async def consoles(name: str, url: str) -> list[socketio.AsyncClient]:
    """STAFF available consoles (python-socketio clients); the floor needs no sign-in."""
    cookies: list[str | None] = [None] * STAFF
    if name == "porchlight":
        cookies = list(await asyncio.gather(*(sign_in(url, staff_email(i)) for i in range(STAFF))))
    made = []
    for cookie in cookies:
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        headers = {"Origin": url}
        if cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        await client.connect(url, namespaces=[STAFF_NS], transports=["websocket"], headers=headers)
        reply = await client.call(
            "presence.set", {"status": "available"}, namespace=STAFF_NS, timeout=30
        )
        if not (isinstance(reply, dict) and reply.get("ok")):
            raise RuntimeError(f"presence.set refused: {reply}")
        made.append(client)
    return made


async def measure_burst(name: str, conversations: int, count: int) -> Burst:
    async with system(name) as server:
        staff = await consoles(name, server.url)
        try:
            async with workers(server.url, conversations, count) as group:
                cpu = server.cpu_seconds()
                reports = await group.tell("burst")
                cpu = server.cpu_seconds() - cpu
        finally:
            await asyncio.gather(*(c.disconnect() for c in staff), return_exceptions=True)
    seconds = max(r["last_acked"] for r in reports) - min(r["first_sent"] for r in reports)
    admitted = sum(r["acked"] for r in reports)
    return Burst(
        system=name,
        conversations=conversations,
        admitted=admitted,
        lost=sum(r["lost"] for r in reports),
        seconds=round(seconds, 3),
        per_s=round(admitted / seconds, 1) if seconds > 0 else math.nan,
        server_cpu_s=round(cpu, 2),
        refused=sorted({code for r in reports for code in r["refused"]}),
        lost_because=sorted({why for r in reports for why in r["lost_because"]}),
    )


# -- reporting -------------------------------------------------------------------------------


def table(idle: list[Idle], bursts: list[Burst]) -> str:
    lines = [
        f"{'idle sockets':<14}{'system':<12}{'connected':>10}{'failed':>8}"
        f"{'RSS before MiB':>16}{'RSS after MiB':>15}{'KiB/socket':>12}",
    ]
    for r in idle:
        lines.append(
            f"{'':<14}{r.system:<12}{r.connected:>10}{r.failed:>8}"
            f"{r.rss_before_kib / 1024:>16.1f}{r.rss_after_kib / 1024:>15.1f}"
            f"{r.kib_per_socket:>12.2f}"
        )
    lines.append(
        f"{'burst':<14}{'system':<12}{'admitted':>10}{'lost':>8}{'seconds':>16}"
        f"{'per second':>15}{'x floor':>12}"
    )
    floor = next((b.seconds for b in bursts if b.system == "floor"), math.nan)
    for b in bursts:
        lines.append(
            f"{'':<14}{b.system:<12}{b.admitted:>10}{b.lost:>8}{b.seconds:>16.3f}"
            f"{b.per_s:>15.1f}{b.seconds / floor if floor else math.nan:>12.2f}"
        )
    return "\n".join(lines)


def verdict(idle: list[Idle], bursts: list[Burst]) -> dict[str, Any]:
    ours = next((r for r in idle if r.system == "porchlight"), None)
    burst = {b.system: b.seconds for b in bursts}
    ratio = burst["porchlight"] / burst["floor"] if {"porchlight", "floor"} <= set(burst) else None
    # A burst with sockets lost was not admitted, however long it took.
    all_admitted = all(b.admitted == b.conversations for b in bursts)
    return {
        "idle_sockets": None
        if ours is None
        else {
            "goal": f">= {BUDGET_SOCKETS} at <= {BUDGET_KIB_PER_SOCKET:g} KiB each",
            "met": ours.connected >= BUDGET_SOCKETS
            and ours.kib_per_socket <= BUDGET_KIB_PER_SOCKET,
        },
        "burst": None
        if ratio is None
        else {
            "goal": f"<= {BUDGET_BURST_RATIO:g}x the floor",
            "ratio": round(ratio, 2),
            "all_admitted": all_admitted,
            "met": all_admitted and ratio <= BUDGET_BURST_RATIO,
        },
    }


def report(args: argparse.Namespace, idle: list[Idle], bursts: list[Burst]) -> dict[str, Any]:
    return {
        "benchmark": "capacity",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "open_files": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        },
        "parameters": {
            "sockets": args.sockets,
            "burst": args.burst,
            "workers": args.workers,
            "staff": STAFF,
            "idle": "raw websocket clients connected to /customer, answering pings, no "
            "conversation; server VmRSS before the first socket and after the last",
            "burst_time": "first conversation.start emitted until the last one acknowledged",
            "floor": "bench/echo_server.py: bare python-socketio relay, same clients",
        },
        "idle": [asdict(r) for r in idle],
        "burst": [asdict(b) for b in bursts],
        "verdict": verdict(idle, bursts),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--sockets", type=int, default=BUDGET_SOCKETS, help="idle sockets")
    cli.add_argument("--burst", type=int, default=1000, help="conversations in the burst")
    cli.add_argument("--workers", type=int, default=3, help="client processes")
    cli.add_argument("--skip-floor", action="store_true", help="measure Porchlight only")
    cli.add_argument("--skip-idle", action="store_true", help="measure the burst only")
    cli.add_argument("--json", type=Path, help="also write the JSON report here")
    return cli.parse_args(argv)


async def run_all(args: argparse.Namespace) -> tuple[list[Idle], list[Burst]]:
    raise_open_files(args.sockets + FD_HEADROOM * 4)
    systems = ["porchlight"] if args.skip_floor else ["porchlight", "floor"]
    idle, bursts = [], []
    for name in [] if args.skip_idle else systems:
        print(f"{name}: {args.sockets} idle sockets ...", file=sys.stderr, flush=True)
        idle.append(await measure_idle(name, args.sockets, args.workers))
        print(f"  {idle[-1]}", file=sys.stderr, flush=True)
    for name in systems:
        print(f"{name}: burst of {args.burst} ...", file=sys.stderr, flush=True)
        bursts.append(await measure_burst(name, args.burst, args.workers))
        print(f"  {bursts[-1]}", file=sys.stderr, flush=True)
    return idle, bursts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        asyncio.run(worker(argv[1], int(argv[2])))
        return 0
    args = parse(argv)
    idle, bursts = asyncio.run(run_all(args))
    document = report(args, idle, bursts)
    if args.json is not None:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(table(idle, bursts))
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

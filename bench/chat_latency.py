"""Customer → staff chat delivery latency, against the design budget (docs/PERFORMANCE.md).

For each number of open conversations N, the real server (``porchlight serve``, SQLite) runs
as a separate process with N customers chatting with 10 staff consoles, all real
python-socketio clients in this process. A customer emits ``message.send``; the latency is
the time from just before the emit until the assigned staff console receives the matching
``message.new``. The same clients, load and measurement then run against
``bench/echo_server.py``, a bare python-socketio relay: the floor that the socket.io stack and
this client process cost on their own.

    .venv/bin/python bench/chat_latency.py [--conversations 100 1000] [--messages 2000]
                                           [--nodes 1|2] [--customers socketio|raw]
                                           [--json out.json]

``--nodes 2``: a fleet of two. Porchlight runs as two ``porchlight serve`` processes on one
new PostgreSQL database and one Redis (a private ``redis-server`` on a free port unless
``--redis`` names one; a channel of the run's own either way); every customer connects to
the first node and every staff console to the second, so each message crosses nodes through
Redis. The floor is two ``bench/echo_server.py --redis`` processes, python-socketio's own
Redis manager on the same Redis, customers on one and staff on the other: the floor pays the
Redis hop too.

``--customers raw``: customers are ``bench/raw_client.py`` sockets (bare websockets speaking
just enough socket.io) instead of python-socketio clients, cheap enough to hold 10,000 in
this process. Staff consoles are always python-socketio clients, where latency is read.

Only 127.0.0.1 is used. Everything it starts is stopped, and its temporary files deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import math
import os
import platform
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
import socketio
from commit_cost import commit_cost, describe
from raw_client import RawCustomer, raise_open_files
from redis.asyncio import Redis

from server.auth import SESSION_COOKIE, hash_password
from server.migrate import migrate
from server.store import SqlStore

HOST = "127.0.0.1"
CUSTOMER_PAGE = "http://bench.test"
SITE_KEY = "bench-site"
STAFF_PASSWORD = "bench-password-0123"  # noqa: S105 - a throwaway account in a temp database
SECRET_KEY = secrets.token_urlsafe(48)
BODY = "Hello! Does the brass desk lamp come with a warm white bulb?"
LIMITED_KINDS = ("CONNECTION", "CONVERSATION", "MESSAGE", "TYPING", "PRECHECK")
UNLIMITED = "1000000/{window},1000000/{window},1000000/{window}"

CUSTOMER_NS = "/customer"
STAFF_NS = "/staff"

READY_TIMEOUT = 30.0  # the server answers /healthz
CALL_TIMEOUT = 15.0  # one acknowledged event
SETUP_TIMEOUT = 120.0  # a batch of conversations is accepted
STALL_TIMEOUT = 10.0  # a free in-flight slot appears; else deliveries have stalled
DRAIN_TIMEOUT = 10.0  # the last messages arrive
TEARDOWN_TIMEOUT = 30.0  # clients disconnect
STOP_TIMEOUT = 10.0  # a server exits after SIGTERM
RUN_TIMEOUT = 600.0  # one system at one N, everything included (--run-timeout)
FLEET_TIMEOUT = 10.0  # every node of a fleet listens on its Redis channel
FD_HEADROOM = 4096  # open files beyond one per customer socket
# The fleet's PostgreSQL server, as the tests name it (a database of the run's own is made).
PG_SERVER = os.environ.get("PORCHLIGHT_TEST_PG", "postgres@127.0.0.1:5432")
ACCEPT_ATTEMPTS = 100  # ring.accept is rate limited per socket (20/s, burst 60)

ROOT = Path(__file__).resolve().parent
ECHO_SERVER = ROOT / "echo_server.py"
PORCHLIGHT = Path(sys.executable).parent / "porchlight"


@dataclass(frozen=True)
class Parameters:
    conversations: tuple[int, ...]
    messages: int
    warmup: int
    rate: float
    max_in_flight: int
    staff: int
    batch: int
    nodes: int = 1
    customers: str = "socketio"
    run_timeout: float = RUN_TIMEOUT
    redis: str | None = None
    limit_window: str = "second"

    @property
    def load(self) -> str:
        return (
            f"fixed send rate {self.rate:g} msg/s round-robin over the conversations, "
            f"at most {self.max_in_flight} messages undelivered at once"
        )


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3, "state"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def open_log(path: Path) -> IO[bytes]:
    return path.open("wb")


@dataclass
class ServerProcess:
    """A server started by this script, on 127.0.0.1."""

    name: str
    url: str
    process: asyncio.subprocess.Process
    log: Path

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def wait_ready(self, path: str = "/healthz") -> None:
        """Poll ``path`` until it answers 200, the process dies, or READY_TIMEOUT passes."""
        deadline = time.monotonic() + READY_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
                with suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}{path}") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {READY_TIMEOUT:g} s:\n{self.log_tail()}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT."""
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            print(f"{self.name} ignored SIGTERM for {STOP_TIMEOUT:g} s; killing it", flush=True)
            self.process.kill()
            await self.process.wait()


@asynccontextmanager
async def running(
    name: str,
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    url: str,
    ready: str = "/healthz",
) -> Any:
    """Start a server process, wait until ``ready`` answers 200 at ``url``, always stop it."""
    log = workdir / f"{name}.log"
    with open_log(log) as output:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    server = ServerProcess(name, url, process, log)
    try:
        await server.wait_ready(ready)
        yield server
    finally:
        await server.stop()


# -- Porchlight: seed the database, start the server, sign the staff in ---------------------


def staff_email(index: int) -> str:
    return f"agent{index:02d}@bench.test"


async def seed(database_url: str, staff: int, max_chats: int) -> None:
    """Schema, one site whose widget may run on CUSTOMER_PAGE, and ``staff`` agents."""
    await migrate(database_url)
    store = await SqlStore.open(database_url)
    try:
        await store.create_site(
            key=SITE_KEY,
            name="Bench Lamps",
            allowed_origins=(CUSTOMER_PAGE,),
            greeting="Hi!",
            secret=secrets.token_urlsafe(32),
        )
        password_hash = hash_password(STAFF_PASSWORD)
        for index in range(staff):
            await store.create_staff(
                email=staff_email(index),
                name=f"Agent {index}",
                role="agent",
                password_hash=password_hash,
                max_chats=max_chats,
            )
    finally:
        await store.close()


def unlimited(window: str = "second") -> dict[str, str]:
    """Settings that lift the limits per client address: every client of a benchmark comes
    from 127.0.0.1, one address (and its ten staff sign in at once). ``window`` "minute"
    keeps the shipped limits' windows (and so as many live counters as production holds),
    only with counts never reached."""
    rates = UNLIMITED.format(window=window)
    return {
        **{f"PORCHLIGHT_{kind}_LIMITS": rates for kind in LIMITED_KINDS},
        "PORCHLIGHT_SOCKETS_PER_ADDRESS": "1000000",
        "PORCHLIGHT_LOGIN_ATTEMPTS": "100",
    }


@asynccontextmanager
async def porchlight(workdir: Path, conversations: int, params: Parameters) -> Any:
    database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await seed(database_url, params.staff, math.ceil(conversations / params.staff) + 1)
    port = free_port()
    env = porchlight_env(port, params.limit_window)
    command = [str(PORCHLIGHT), "--database-url", database_url, "serve", "--port", str(port)]
    async with running("porchlight", command, env, workdir, f"http://{HOST}:{port}") as server:
        yield server


def porchlight_env(port: int, window: str = "second", **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "PORCHLIGHT_PUBLIC_URL": f"http://{HOST}:{port}",
        "PORCHLIGHT_LOG_LEVEL": "WARNING",
        "PORCHLIGHT_SECRET_KEY": SECRET_KEY,
        "PORCHLIGHT_RING_TIMEOUT": "60",
        **unlimited(window),
        **{f"PORCHLIGHT_{name.upper()}": value for name, value in settings.items()},
    }


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new PostgreSQL database on PG_SERVER (dropped afterwards), as a SQLAlchemy URL."""
    name = f"porchlight_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres", timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://{PG_SERVER}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass
class RedisServer:
    url: str
    pid: int | None  # None: not started by this script (its CPU is not measured)


@asynccontextmanager
async def redis_server(workdir: Path, url: str | None) -> AsyncIterator[RedisServer]:
    """``url``'s Redis, or a private ``redis-server`` on a free port keeping nothing on disk."""
    if url is not None:
        yield RedisServer(url, None)
        return
    port = free_port()
    command = ["redis-server", "--bind", HOST, "--port", str(port), "--save", "", "--appendonly"]
    command += ["no", "--dir", str(workdir)]
    with open_log(workdir / "redis.log") as output:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output
        )
    started = RedisServer(f"redis://{HOST}:{port}/0", process.pid)
    try:
        client = Redis.from_url(started.url)
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                while True:
                    with suppress(Exception):
                        if await client.ping():
                            break
                    if process.returncode is not None:
                        raise RuntimeError("redis-server exited early")
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        yield started
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def listening(redis_url: str, channel: str, nodes: int) -> None:
    """Until ``nodes`` subscribers listen on ``channel`` (every node hears the others)."""
    client = Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(FLEET_TIMEOUT):
            while True:
                ((_, count),) = await client.pubsub_numsub(channel)
                if count >= nodes:
                    return
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


@asynccontextmanager
async def porchlight_fleet(
    workdir: Path, conversations: int, params: Parameters, redis_url: str
) -> AsyncIterator[list[ServerProcess]]:
    """Two nodes on one new PostgreSQL database and one Redis channel."""
    async with postgres_database() as database_url, AsyncExitStack() as stack:
        await seed(database_url, params.staff, math.ceil(conversations / params.staff) + 1)
        channel = f"porchlight-bench-{secrets.token_hex(6)}"
        nodes = []
        for name in ("porchlight-a", "porchlight-b"):
            port = free_port()
            env = porchlight_env(
                port, params.limit_window, redis_url=redis_url, redis_channel=channel
            )
            command = [str(PORCHLIGHT), "--database-url", database_url, "serve"]
            command += ["--port", str(port)]
            url = f"http://{HOST}:{port}"
            nodes.append(await stack.enter_async_context(running(name, command, env, workdir, url)))
        await listening(redis_url, channel, len(nodes))
        yield nodes


@asynccontextmanager
async def echo_fleet(
    workdir: Path, params: Parameters, redis_url: str
) -> AsyncIterator[list[ServerProcess]]:
    """Two ``echo_server.py --redis`` nodes on one Redis channel."""
    channel = f"floor-bench-{secrets.token_hex(6)}"
    async with AsyncExitStack() as stack:
        nodes = []
        for name in ("floor-a", "floor-b"):
            port = free_port()
            command = [sys.executable, str(ECHO_SERVER), "--port", str(port)]
            command += ["--redis", redis_url, "--channel", channel]
            command += ["--staff-slots", str(params.staff)]
            url = f"http://{HOST}:{port}"
            started = running(name, command, dict(os.environ), workdir, url)
            nodes.append(await stack.enter_async_context(started))
        await listening(redis_url, channel, len(nodes))
        yield nodes


async def sign_in(url: str, email: str) -> str:
    """POST /api/v1/auth/login; the session cookie's value."""
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{url}/api/v1/auth/login",
            json={"email": email, "password": STAFF_PASSWORD},
            headers={"Origin": url},
        )
        if response.status != 200:
            raise RuntimeError(f"sign-in of {email} failed: {await response.text()}")
        return response.cookies[SESSION_COOKIE].value


@asynccontextmanager
async def echo_server(workdir: Path) -> Any:
    port = free_port()
    command = [sys.executable, str(ECHO_SERVER), "--port", str(port)]
    async with running(
        "floor", command, dict(os.environ), workdir, f"http://{HOST}:{port}"
    ) as server:
        yield server


# -- the clients ----------------------------------------------------------------------------


def client() -> socketio.AsyncClient:
    return socketio.AsyncClient(reconnection=False, handle_sigint=False)


def refusal_code(response: Any) -> str | None:
    """None for ``{"ok": true, ...}``, else the error code (or a description)."""
    if isinstance(response, dict) and response.get("ok") is True:
        return None
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        return str(response["error"].get("code"))
    return repr(response)


@dataclass(slots=True)
class Pending:
    conversation_id: str
    sent_at: float


class Assignments:
    """Which console accepted which conversation."""

    def __init__(self) -> None:
        self.assignees: dict[str, Console] = {}
        self.failures: list[str] = []
        self._changed = asyncio.Condition()

    async def accepted(self, conversation_id: str, console: Console) -> None:
        async with self._changed:
            self.assignees[conversation_id] = console
            self._changed.notify_all()

    async def refused(self, code: str) -> None:
        async with self._changed:
            self.failures.append(code)
            self._changed.notify_all()

    async def wait_accepted(self, conversation_ids: list[str]) -> None:
        """Until every one of ``conversation_ids`` is accepted (bounded); raises on a refusal."""
        async with asyncio.timeout(SETUP_TIMEOUT), self._changed:
            await self._changed.wait_for(
                lambda: self.failures or all(c in self.assignees for c in conversation_ids)
            )
        if self.failures:
            raise RuntimeError(f"ring.accept refused: {self.failures[:5]}")


class Deliveries:
    """Messages sent and not yet seen by their staff console, and the latencies of those
    seen. At most ``max_in_flight`` are pending at once."""

    def __init__(self, max_in_flight: int, assignments: Assignments) -> None:
        self.pending: dict[str, Pending] = {}
        self.latencies: list[float] = []
        self.refusals: list[str] = []
        self.misrouted = 0
        self.assignments = assignments
        self._slots = asyncio.Semaphore(max_in_flight)
        self._all_delivered = asyncio.Event()

    async def take_slot(self) -> None:
        try:
            await asyncio.wait_for(self._slots.acquire(), STALL_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(
                f"{len(self.pending)} messages undelivered for {STALL_TIMEOUT:g} s"
            ) from None

    def sent(self, client_msg_id: str, conversation_id: str, at: float) -> None:
        self.pending[client_msg_id] = Pending(conversation_id, at)
        self._all_delivered.clear()

    def _settled(self) -> None:
        self._slots.release()
        if not self.pending:
            self._all_delivered.set()

    def delivered(self, client_msg_id: str | None, console: Console, at: float) -> None:
        pending = self.pending.pop(client_msg_id or "", None)
        if pending is None:
            return  # a system message ("joined"), or not ours
        self.latencies.append(at - pending.sent_at)
        if self.assignments.assignees.get(pending.conversation_id) is not console:
            self.misrouted += 1
        self._settled()

    def acknowledged(self, client_msg_id: str, response: Any = None) -> None:
        code = refusal_code(response)
        if code is None:
            return
        self.refusals.append(code)
        if self.pending.pop(client_msg_id, None) is not None:
            self._settled()

    async def drain(self) -> int:
        """Wait (bounded) for every pending message; the number still missing."""
        if self.pending:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._all_delivered.wait(), DRAIN_TIMEOUT)
        return len(self.pending)

    def restart(self) -> None:
        """Forget what was measured so far (after the warm-up)."""
        self.latencies.clear()
        self.refusals.clear()
        self.misrouted = 0


class Console:
    """One staff member's console socket: available, accepts every ring, and reports each
    ``message.new`` to ``deliveries``."""

    def __init__(self, url: str, cookie: str | None, deliveries: Deliveries) -> None:
        self.url = url
        self.cookie = cookie
        self.deliveries = deliveries
        self.assignments = deliveries.assignments
        self.sio = client()
        self.sio.on("ring", self._on_ring, namespace=STAFF_NS)
        self.sio.on("message.new", self._on_message, namespace=STAFF_NS)
        self._tasks: set[asyncio.Task[None]] = set()

    def headers(self) -> dict[str, str]:
        # Called for every connect: engine.io deletes "Cookie" from the dict it is given.
        headers = {"Origin": self.url}
        if self.cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        return headers

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=[STAFF_NS],
            transports=["websocket"],
            headers=self.headers,
            wait_timeout=CALL_TIMEOUT,
        )
        response = await self.call("presence.set", {"status": "available"})
        if refusal_code(response) is not None:
            raise RuntimeError(f"presence.set refused: {response}")

    async def call(self, event: str, data: dict[str, Any]) -> Any:
        return await self.sio.call(event, data, namespace=STAFF_NS, timeout=CALL_TIMEOUT)

    async def _on_message(self, data: dict[str, Any]) -> None:
        received_at = time.perf_counter()
        self.deliveries.delivered(data["message"].get("client_msg_id"), self, received_at)

    async def _on_ring(self, data: dict[str, Any]) -> None:
        task = asyncio.create_task(self.accept(data["conversation"]["id"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def accept(self, conversation_id: str) -> None:
        """``ring.accept``, retried while the server says to slow down."""
        for _ in range(ACCEPT_ATTEMPTS):
            response = await self.call("ring.accept", {"conversation_id": conversation_id})
            code = refusal_code(response)
            if code is None:
                await self.assignments.accepted(conversation_id, self)
                return
            if code != "rate.limited":
                await self.assignments.refused(code)
                return
            await asyncio.sleep(0.1)
        await self.assignments.refused("rate.limited")


class Customer:
    """One widget frame's socket with its one conversation."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = client()
        self.conversation_id = ""

    async def connect_and_start(self) -> str:
        await self.sio.connect(
            self.url,
            namespaces=[CUSTOMER_NS],
            transports=["websocket"],
            auth={"site": SITE_KEY, "host": CUSTOMER_PAGE},
            headers=lambda: {"Origin": self.url},
            wait_timeout=CALL_TIMEOUT,
        )
        response = await self.sio.call(
            "conversation.start", {}, namespace=CUSTOMER_NS, timeout=CALL_TIMEOUT
        )
        if refusal_code(response) is not None:
            raise RuntimeError(f"conversation.start refused: {response}")
        self.conversation_id = str(response["conversation"]["id"])
        return self.conversation_id

    async def send(self, client_msg_id: str, deliveries: Deliveries) -> None:
        payload = {
            "conversation_id": self.conversation_id,
            "client_msg_id": client_msg_id,
            "body": BODY,
        }
        deliveries.sent(client_msg_id, self.conversation_id, time.perf_counter())
        await self.sio.emit(
            "message.send",
            payload,
            namespace=CUSTOMER_NS,
            callback=partial(deliveries.acknowledged, client_msg_id),
        )

    async def close(self) -> None:
        await self.sio.disconnect()


class RawChatCustomer:
    """``Customer`` on a ``RawCustomer`` socket (``--customers raw``)."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http
        self.raw: RawCustomer | None = None
        self.conversation_id = ""

    async def connect_and_start(self) -> str:
        auth = {"site": SITE_KEY, "host": CUSTOMER_PAGE}
        self.raw = await asyncio.wait_for(
            RawCustomer.open(self.http, self.url, CUSTOMER_NS, auth), CALL_TIMEOUT
        )
        response = await asyncio.wait_for(self.raw.call("conversation.start", {}), CALL_TIMEOUT)
        if refusal_code(response) is not None:
            raise RuntimeError(f"conversation.start refused: {response}")
        self.conversation_id = str(response["conversation"]["id"])
        return self.conversation_id

    async def send(self, client_msg_id: str, deliveries: Deliveries) -> None:
        assert self.raw is not None
        payload = {
            "conversation_id": self.conversation_id,
            "client_msg_id": client_msg_id,
            "body": BODY,
        }
        deliveries.sent(client_msg_id, self.conversation_id, time.perf_counter())
        acknowledged = await self.raw.emit("message.send", payload)
        acknowledged.add_done_callback(partial(_raw_ack, deliveries, client_msg_id))

    async def close(self) -> None:
        if self.raw is not None:
            await self.raw.close()


def _raw_ack(deliveries: Deliveries, client_msg_id: str, future: asyncio.Future[Any]) -> None:
    if future.cancelled() or future.exception() is not None:
        deliveries.acknowledged(client_msg_id, f"lost: {future!r}")
    else:
        deliveries.acknowledged(client_msg_id, future.result())


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Clients:
    """Everyone connected to one server: staff consoles and customers with accepted
    conversations."""

    consoles: list[Console]
    customers: list[Any]  # Customer or RawChatCustomer
    deliveries: Deliveries
    http: aiohttp.ClientSession | None = None  # the raw customers' session

    async def close(self) -> None:
        closing = [c.close() for c in self.customers]
        closing += [c.sio.disconnect() for c in self.consoles]
        with suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*closing, return_exceptions=True), TEARDOWN_TIMEOUT
            )
        if self.http is not None:
            await self.http.close()


async def open_conversations(
    staff_url: str,
    customer_url: str,
    cookies: list[str | None],
    conversations: int,
    params: Parameters,
) -> Clients:
    """Connect the consoles, then the customers in batches, each batch waiting until every
    one of its conversations has been accepted (the queue stays short)."""
    assignments = Assignments()
    deliveries = Deliveries(params.max_in_flight, assignments)
    consoles = [Console(staff_url, cookie, deliveries) for cookie in cookies]
    clients = Clients(consoles, [], deliveries)
    customers: list[Any]
    if params.customers == "raw":
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        clients.http = aiohttp.ClientSession(connector=connector)
        customers = [RawChatCustomer(customer_url, clients.http) for _ in range(conversations)]
    else:
        customers = [Customer(customer_url) for _ in range(conversations)]
    try:
        await asyncio.gather(*(console.connect() for console in consoles))
        for batch in batches(customers, params.batch):
            clients.customers.extend(batch)
            started = await asyncio.gather(*(c.connect_and_start() for c in batch))
            await assignments.wait_accepted(started)
    except BaseException:
        await clients.close()
        raise
    return clients


# -- the measurement ------------------------------------------------------------------------


@dataclass
class Phase:
    """What one stretch of sending produced."""

    latencies: list[float]
    lost: int
    refusals: list[str]
    misrouted: int
    seconds: float
    node_cpu_s: list[float]
    redis_cpu_s: float | None
    client_cpu_s: float


async def send_paced(
    clients: Clients, count: int, first: int, params: Parameters, run: str
) -> None:
    """``count`` messages at ``params.rate`` a second, round-robin over the customers,
    never more than ``params.max_in_flight`` undelivered; no catching up in bursts."""
    interval = 1.0 / params.rate
    next_at = time.perf_counter()
    customers = clients.customers
    for index in range(first, first + count):
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await clients.deliveries.take_slot()
        customer = customers[index % len(customers)]
        await customer.send(f"{run}-{index:07d}", clients.deliveries)
        next_at = max(next_at + interval, time.perf_counter())


async def phase(
    clients: Clients,
    servers: list[ServerProcess],
    redis_pid: int | None,
    count: int,
    first: int,
    params: Parameters,
    run: str,
) -> Phase:
    clients.deliveries.restart()
    node_cpu = [server.cpu_seconds() for server in servers]
    redis_cpu = cpu_seconds(redis_pid) if redis_pid else None
    client_cpu, started = own_cpu_seconds(), time.perf_counter()
    await send_paced(clients, count, first, params, run)
    lost = await clients.deliveries.drain()
    return Phase(
        latencies=list(clients.deliveries.latencies),
        lost=lost,
        refusals=list(clients.deliveries.refusals),
        misrouted=clients.deliveries.misrouted,
        seconds=time.perf_counter() - started,
        node_cpu_s=[s.cpu_seconds() - c for s, c in zip(servers, node_cpu, strict=True)],
        redis_cpu_s=None if redis_pid is None else cpu_seconds(redis_pid) - (redis_cpu or 0),
        client_cpu_s=own_cpu_seconds() - client_cpu,
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in this (the client) process while measuring: with a thousand
    sockets a collection here pauses every client for tens of milliseconds, which is this
    harness's cost, not the server's. The servers collect as they normally do."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    if not ordered:
        return {}
    ms = [value * 1000 for value in ordered]
    return {
        "p50": round(percentile(ms, 0.50), 3),
        "p90": round(percentile(ms, 0.90), 3),
        "p99": round(percentile(ms, 0.99), 3),
        "max": round(ms[-1], 3),
        "mean": round(sum(ms) / len(ms), 3),
    }


@dataclass
class Result:
    conversations: int
    system: str
    nodes: int
    latency_ms: dict[str, float]
    messages: int
    lost: int
    refused: int
    misrouted: int
    measured_s: float
    sent_per_s: float
    server_cpu_s: float  # all nodes together
    node_cpu_s: list[float]
    redis_cpu_s: float | None
    client_cpu_s: float
    setup_s: float
    notes: list[str] = field(default_factory=list)


async def measure(
    system: str,
    servers: list[ServerProcess],
    cookies: list[str | None],
    n: int,
    params: Parameters,
    redis_pid: int | None = None,
) -> Result:
    """Customers on the first server, staff on the last (the same one for one node)."""
    setup_started = time.perf_counter()
    clients = await open_conversations(servers[-1].url, servers[0].url, cookies, n, params)
    setup_s = time.perf_counter() - setup_started
    print(f"  {n} conversations accepted in {setup_s:.1f} s", file=sys.stderr, flush=True)
    run = f"{system[:5]}{n}-{secrets.token_hex(4)}"
    try:
        with collector_paused():
            warmup = await phase(clients, servers, redis_pid, params.warmup, 0, params, run)
            measured = await phase(
                clients, servers, redis_pid, params.messages, params.warmup, params, run
            )
    finally:
        await clients.close()
    notes = [f"warm-up: {len(warmup.latencies)} delivered, {warmup.lost} lost"]
    if measured.refusals:
        notes.append(f"refusals: {sorted(set(measured.refusals))}")
    return Result(
        conversations=n,
        system=system,
        nodes=len(servers),
        latency_ms=summary_ms(measured.latencies),
        messages=len(measured.latencies),
        lost=measured.lost,
        refused=len(measured.refusals),
        misrouted=measured.misrouted,
        measured_s=round(measured.seconds, 3),
        sent_per_s=round(params.messages / measured.seconds, 1),
        server_cpu_s=round(sum(measured.node_cpu_s), 2),
        node_cpu_s=[round(cpu, 2) for cpu in measured.node_cpu_s],
        redis_cpu_s=None if measured.redis_cpu_s is None else round(measured.redis_cpu_s, 2),
        client_cpu_s=round(measured.client_cpu_s, 2),
        setup_s=round(setup_s, 1),
        notes=notes,
    )


@asynccontextmanager
async def deployment(
    system: str, workdir: Path, n: int, params: Parameters, redis: RedisServer | None
) -> AsyncIterator[list[ServerProcess]]:
    """The servers of one system: one process, or a fleet of two on ``redis``."""
    if params.nodes == 1:
        single = porchlight(workdir, n, params) if system == "porchlight" else echo_server(workdir)
        async with single as server:
            yield [server]
        return
    assert redis is not None
    if system == "porchlight":
        async with porchlight_fleet(workdir, n, params, redis.url) as nodes:
            yield nodes
    else:
        async with echo_fleet(workdir, params, redis.url) as nodes:
            yield nodes


async def measure_system(
    system: str, n: int, params: Parameters, redis: RedisServer | None = None
) -> Result:
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as workdir:
        async with deployment(system, Path(workdir), n, params, redis) as servers:
            cookies: list[str | None] = [None] * params.staff
            if system == "porchlight":
                staff_url = servers[-1].url
                emails = [staff_email(index) for index in range(params.staff)]
                cookies = list(
                    await asyncio.gather(*(sign_in(staff_url, email) for email in emails))
                )
            redis_pid = None if redis is None else redis.pid
            return await measure(system, servers, cookies, n, params, redis_pid)


async def measure_porchlight(n: int, params: Parameters) -> Result:
    return await measure_system("porchlight", n, params)


async def measure_floor(n: int, params: Parameters) -> Result:
    return await measure_system("floor", n, params)


# -- reporting ------------------------------------------------------------------------------


FLOOR = {
    1: "bench/echo_server.py: bare python-socketio relay, same clients and load",
    2: "two bench/echo_server.py --redis processes (python-socketio's AsyncRedisManager on the "
    "same Redis), customers on one and staff on the other; same clients and load",
}


def table(results: list[Result]) -> str:
    lines = [
        f"{'N':>6}  {'system':<11}{'nodes':>6}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
        f"{'max ms':>8}{'messages':>10}{'lost':>6}{'server CPU s':>14}{'setup s':>9}",
    ]
    for r in results:
        ms = r.latency_ms
        lines.append(
            f"{r.conversations:>6}  {r.system:<11}{r.nodes:>6}{ms.get('p50', math.nan):>8.2f}"
            f"{ms.get('p90', math.nan):>8.2f}{ms.get('p99', math.nan):>8.2f}"
            f"{ms.get('max', math.nan):>8.2f}{r.messages:>10}{r.lost:>6}{r.server_cpu_s:>14.2f}"
            f"{r.setup_s:>9.1f}"
        )
    return "\n".join(lines)


def report(results: list[Result], params: Parameters, durability: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": "chat_latency",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "parameters": {
            **{k: v for k, v in asdict(params).items() if k != "conversations"},
            "conversations": list(params.conversations),
            "load": params.load,
            "latency": "perf_counter just before the customer's emit of message.send until the "
            "assigned staff console's message.new handler runs",
            "floor": FLOOR[params.nodes],
            "topology": "one process"
            if params.nodes == 1
            else "customers on node a, staff on node b; one Redis channel, one database",
        },
        "results": [asdict(r) for r in results],
        # What acknowledging only after a durable commit costs, on this machine's disk.
        "durability": durability,
    }


def parse(argv: list[str] | None = None) -> tuple[Parameters, Path | None]:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--conversations", type=int, nargs="+", default=[100, 1000])
    cli.add_argument("--messages", type=int, default=2000, help="measured messages per run")
    cli.add_argument("--warmup", type=int, default=100, help="messages sent first, discarded")
    cli.add_argument("--rate", type=float, default=200.0, help="messages a second")
    cli.add_argument("--max-in-flight", type=int, default=8)
    cli.add_argument("--staff", type=int, default=10)
    cli.add_argument("--batch", type=int, default=50, help="customers connected at once")
    cli.add_argument("--nodes", type=int, choices=(1, 2), default=1, help="fleet of two: 2")
    cli.add_argument("--customers", choices=("socketio", "raw"), default="socketio")
    cli.add_argument(
        "--limit-window",
        choices=("second", "minute"),
        default="second",
        help="the lifted limits' window: minute keeps production's counters alive as long",
    )
    cli.add_argument("--redis", help="the fleet's Redis URL (default: a private redis-server)")
    cli.add_argument("--run-timeout", type=float, default=RUN_TIMEOUT, help="per system and N")
    cli.add_argument("--json", type=Path, help="also write the JSON report here")
    args = cli.parse_args(argv)
    params = Parameters(
        conversations=tuple(args.conversations),
        messages=args.messages,
        warmup=args.warmup,
        rate=args.rate,
        max_in_flight=args.max_in_flight,
        staff=args.staff,
        batch=args.batch,
        nodes=args.nodes,
        customers=args.customers,
        run_timeout=args.run_timeout,
        redis=args.redis,
        limit_window=args.limit_window,
    )
    return params, args.json


async def run_all(params: Parameters) -> tuple[list[Result], dict[str, Any]]:
    print("commit cost ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as workdir:
        durability = await commit_cost(Path(workdir))
    print(f"  {describe(durability)}", file=sys.stderr, flush=True)
    # One socket per customer here, and as many in the server (which inherits the limit).
    raise_open_files(max(params.conversations) + FD_HEADROOM)
    results = []
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-redis-") as workdir:
        async with AsyncExitStack() as stack:
            redis = None
            if params.nodes == 2:
                redis = await stack.enter_async_context(redis_server(Path(workdir), params.redis))
            for n in params.conversations:
                for name in ("porchlight", "floor"):
                    print(f"N={n}: {name} ...", file=sys.stderr, flush=True)
                    measuring = measure_system(name, n, params, redis)
                    result = await asyncio.wait_for(measuring, params.run_timeout)
                    print(f"  {result.latency_ms}", file=sys.stderr, flush=True)
                    results.append(result)
    return results, durability


def main(argv: list[str] | None = None) -> int:
    params, json_path = parse(argv)
    print(f"load: {params.load}; {params.warmup} warm-up messages discarded", flush=True)
    results, durability = asyncio.run(run_all(params))
    document = report(results, params, durability)
    if json_path is not None:
        json_path.write_text(json.dumps(document, indent=2) + "\n")
    print(table(results))
    print(describe(durability))
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

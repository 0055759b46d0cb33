"""Test support for a fleet: real ``porchlight serve`` processes sharing one PostgreSQL
database and one Redis, and a private ``redis-server`` for tests that restart Redis.

Each ``Node`` is its own process (``python -m server.cli serve``) on a free port, started
with its settings in ``PORCHLIGHT_*`` variables and its log in the test's directory. A node
can be killed (``kill -9``), frozen (SIGSTOP) and thawed (SIGCONT), and started again on the
same port. Every test gets its own PostgreSQL database and its own Redis channel, so
parallel test runs never hear each other.

PostgreSQL (``PORCHLIGHT_TEST_PG``) and Redis (``PORCHLIGHT_TEST_REDIS``, default
127.0.0.1:6379) are skipped when missing, except on CI (``CI=true``), where that fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
from redis.asyncio import Redis

from server.auth import SESSION_COOKIE, hash_password
from server.migrate import migrate
from server.store import SqlStore
from signaling.ports import Site, StaffMember
from tests.conftest import PG_SERVER, _admin_connection
from tests.support import PASSWORD, SHOP, WAIT, Peer, free_port

HOST = "127.0.0.1"
REDIS_SERVER = os.environ.get("PORCHLIGHT_TEST_REDIS", "127.0.0.1:6379")
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0  # a node answers /healthz (imports, migrations, store)
STOP_TIMEOUT = 10.0  # a node exits after SIGTERM
SECRET_KEY = "c" * 40


def missing(reason: str) -> None:
    """Skip the test, or fail it on CI, where every service must be present."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


# -- the shared services --------------------------------------------------------------------


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards), as a SQLAlchemy URL."""
    name = f"porchlight_fleet_{secrets.token_hex(6)}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://{PG_SERVER}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


async def shared_redis() -> str:
    """The machine's Redis (db 0; tests stay apart by channel), or a skipped test."""
    url = f"redis://{REDIS_SERVER}/0"
    if not await redis_answers(url):
        missing(f"Redis at {REDIS_SERVER} is unreachable")
    return url


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((HOST, port)) == 0


@dataclass
class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port, keeping nothing on disk; it can be
    stopped and started again on the same port (a Redis restart)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed: apt-get install redis-server")
        assert binary is not None
        command = [
            binary,
            "--bind",
            HOST,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.log()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """``kill -9``: connections drop at once and nothing is kept."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self.process = None

    def log(self) -> str:
        return (self.directory / "redis.log").read_text(errors="replace")[-4000:]


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(directory)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


# -- the nodes ------------------------------------------------------------------------------


@dataclass
class Node:
    """One ``porchlight serve`` process. ``url`` stays the same across restarts."""

    name: str
    settings: dict[str, str]
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    def log(self, lines: int = 40) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def spawn(self) -> None:
        """Start the process; ``ready`` waits until it answers."""
        env = {
            **os.environ,
            "PORCHLIGHT_PUBLIC_URL": self.url,
            **{f"PORCHLIGHT_{name.upper()}": value for name, value in self.settings.items()},
        }
        command = [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self) -> None:
        """Poll ``/healthz`` until it answers 200; fail if the process exits first."""
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise AssertionError(f"node {self.name} exited:\n{self.log()}")
                with suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"node {self.name} not ready after {START_TIMEOUT:g} s:\n{self.log()}")

    async def start(self) -> None:
        self.spawn()
        await self.ready()

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None and self.process.poll() is None, self.name
        self.process.send_signal(signum)

    async def kill(self) -> None:
        """``kill -9``: no shutdown, sockets and database connections just drop."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets and answers nothing."""
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    async def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            await self.kill()

    async def restart(self) -> None:
        """Kill (if still running) and start again on the same port."""
        await self.kill()
        await self.start()


@dataclass
class Cluster:
    """Nodes on one PostgreSQL database and one Redis channel."""

    database_url: str
    redis_url: str
    directory: Path
    channel: str = field(default_factory=lambda: f"porchlight-test-{secrets.token_hex(6)}")
    nodes: list[Node] = field(default_factory=list)

    def node(self, name: str, **settings: str) -> Node:
        """A node (not started yet) with the fleet's settings and ``settings`` on top."""
        values = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_channel": self.channel,
            "secret_key": SECRET_KEY,
            "ring_timeout": "5",
            "log_level": "INFO",
            **settings,
        }
        made = Node(name, values, self.directory)
        self.nodes.append(made)
        return made

    async def start(self, *names: str, **settings: str) -> list[Node]:
        """Start nodes at once, as a deployment does, and wait until each answers."""
        started = [self.node(name, **settings) for name in names]
        for node in started:
            node.spawn()
        await asyncio.gather(*(node.ready() for node in started))
        return started

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes))

    @asynccontextmanager
    async def store(self) -> AsyncIterator[SqlStore]:
        """The fleet's database from the test process (migrated first)."""
        await migrate(self.database_url)
        opened = await SqlStore.open(self.database_url)
        try:
            yield opened
        finally:
            await opened.close()

    async def add_site(self, key: str = "shop-site") -> Site:
        async with self.store() as store:
            return await store.create_site(
                key=key,
                name="Shop",
                allowed_origins=(SHOP,),
                greeting="Hi",
                secret="s" * 32,
            )

    async def add_staff(self, name: str, max_chats: int = 3) -> StaffMember:
        async with self.store() as store:
            return await store.create_staff(
                email=f"{name.lower()}@staff.test",
                name=name,
                role="agent",
                password_hash=hash_password(PASSWORD),
                max_chats=max_chats,
            )


@asynccontextmanager
async def running_cluster(directory: Path, redis_url: str | None = None) -> AsyncIterator[Cluster]:
    """A fresh database and Redis channel; every node started on it is stopped afterwards.
    ``redis_url`` defaults to the machine's Redis."""
    redis = redis_url or await shared_redis()
    async with postgres_database() as database_url:
        cluster = Cluster(database_url, redis, directory)
        try:
            yield cluster
        finally:
            await cluster.stop()


# -- clients on a node ----------------------------------------------------------------------


class Address(Protocol):
    """Anything with a base URL: a node, or a proxy in front of nodes."""

    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class Proxy:
    url: str


def customer_on(
    node: Address, auth: dict[str, Any] | None = None, origin: str | None = None
) -> Peer:
    """A widget frame's socket on ``node``; pass another peer's ``auth`` for the same
    visitor (its token) on another tab or node. ``origin`` is the frame's (the nodes'
    public URL; by default the node's own)."""
    return Peer(
        node.url,
        "/customer",
        auth=dict(auth or {"site": "shop-site", "host": SHOP}),
        headers={"Origin": origin or node.url},
    )


async def staff_on(
    node: Address, member: StaffMember, available: bool = True, origin: str | None = None
) -> Peer:
    """A console socket on ``node``, signed in over HTTP on the same node; ``origin`` is the
    console page's (the nodes' public URL; by default the node's own)."""
    page = origin or node.url
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{node.url}/api/v1/auth/login",
            json={"email": member.email, "password": PASSWORD},
            headers={"Origin": page},
            timeout=aiohttp.ClientTimeout(total=WAIT),
        )
        assert response.status == 200, await response.text()
        cookie = response.cookies[SESSION_COOKIE].value
    peer = Peer(
        node.url, "/staff", headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": page}
    )
    await peer.connect()
    if available:
        await peer.ok("presence.set", {"status": "available"})
    return peer

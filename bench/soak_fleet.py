"""The soak's fleet: its parameters, the nodes and services it started, and the clients on
them (bench/soak.py runs it). Imported first: it puts the repository on ``sys.path`` for
``tests.cluster`` (the node processes) before anything else needs it."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from soak_clients import Console, Customer
from soak_link import Journal, Link
from soak_services import Postgres

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests/ is not installed: the node processes of a fleet

from server.auth import SESSION_COOKIE  # noqa: E402
from tests.cluster import Cluster, Node, PrivateRedis  # noqa: E402
from tests.support import PASSWORD, SHOP  # noqa: E402

__all__ = [
    "GOAL_P95_MS",
    "KINDS",
    "LABELS",
    "QUICK",
    "RUN_TIMEOUT",
    "SHOP",
    "SITE_KEY",
    "Cluster",
    "Fleet",
    "Node",
    "Parameters",
    "PrivateRedis",
    "log",
    "node_settings",
    "settle",
    "summary_ms",
    "until",
]

SITE_KEY = "shop-site"  # tests.cluster's site, allowed on SHOP
UNLIMITED = "1000000/second,1000000/second,1000000/second"
LIMITED_KINDS = ("connection", "conversation", "message", "typing")
KINDS = ("kill", "redis", "pg_terminate", "sigstop", "pg_restart", "storm")
LABELS = {
    "kill": "kill -9 node",
    "redis": "Redis restart",
    "pg_terminate": "PG terminate",
    "sigstop": "SIGSTOP node",
    "pg_restart": "PG restart",
    "storm": "storm (kill -9)",
}
GOAL_P95_MS = 5000
SETUP_TIMEOUT = 180.0  # every conversation accepted
RUN_TIMEOUT = 4 * 3600.0


@dataclass(frozen=True)
class Parameters:
    conversations: int = 120
    staff: int = 10
    messages: int = 10_000
    rate: float = 10.0
    reply_share: float = 0.25
    talker_share: float = 0.08  # of all customer messages, to one conversation (> 500)
    kills: int = 6
    redis_restarts: int = 5
    pg_terminates: int = 3
    pg_restarts: int = 3
    sigstops: int = 3
    storms: int = 1
    stop_seconds: float = 30.0
    down: float = 1.0
    storm_sockets: int = 2000
    recover_timeout: float = 60.0
    flush_timeout: float = 180.0
    seed: int = 1


QUICK = {
    "conversations": 20,
    "staff": 4,
    "messages": 800,
    "kills": 2,
    "redis_restarts": 1,
    "pg_terminates": 1,
    "pg_restarts": 1,
    "sigstops": 1,
    "storms": 1,
    "stop_seconds": 15.0,
    "storm_sockets": 300,
}


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, int]:
    if not seconds:
        return {}
    ordered = sorted(seconds)
    return {
        "p50": round(percentile(ordered, 0.5) * 1000),
        "p95": round(percentile(ordered, 0.95) * 1000),
        "max": round(ordered[-1] * 1000),
    }


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the fleet ------------------------------------------------------------------------------


@dataclass
class Fleet:
    """Everything the bench started and the clients on it."""

    params: Parameters
    run: str
    workdir: Path
    postgres: Postgres
    database: str
    redis: PrivateRedis
    cluster: Cluster
    nodes: dict[str, Node]
    journal: Journal = field(default_factory=Journal)
    customers: list[Customer] = field(default_factory=list)
    consoles: list[Console] = field(default_factory=list)

    @property
    def links(self) -> list[Link]:
        return [*self.customers, *self.consoles]

    def node_for(self, index: int) -> tuple[str, Node]:
        name = "a" if index % 2 == 0 else "b"
        return name, self.nodes[name]

    async def sign_in(self, node: Node, email: str) -> str:
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{node.url}/api/v1/auth/login",
                json={"email": email, "password": PASSWORD},
                headers={"Origin": node.url},
                timeout=aiohttp.ClientTimeout(total=30),
            )
            if response.status != 200:
                raise RuntimeError(f"sign-in of {email}: {await response.text()}")
            return response.cookies[SESSION_COOKIE].value

    async def open_clients(self) -> None:
        """Consoles first (available), then customers in batches; until every conversation
        is accepted."""
        p = self.params
        max_chats = 2 * math.ceil(p.conversations / p.staff) + 2
        await self.cluster.add_site(SITE_KEY)
        for index in range(p.staff):
            member = await self.cluster.add_staff(f"Agent{index:02d}", max_chats=max_chats)
            node_name, node = self.node_for(index)
            cookie = await self.sign_in(node, member.email)
            self.consoles.append(
                Console(
                    f"s{index:02d}",
                    node_name,
                    node.url,
                    self.journal,
                    p.seed * 1000 + index,
                    member.id,
                    cookie,
                    SESSION_COOKIE,
                    p.reply_share,
                    self.run,
                )
            )
        await asyncio.gather(*(console.start() for console in self.consoles))
        await until(lambda: all(c.ready for c in self.consoles), 60, "consoles synced")
        for first in range(0, p.conversations, 20):
            batch = []
            for index in range(first, min(first + 20, p.conversations)):
                node_name, node = self.node_for(index)
                seed = p.seed * 100_000 + index
                batch.append(
                    Customer(
                        f"c{index:03d}", node_name, node.url, self.journal, seed, SITE_KEY, SHOP
                    )
                )
            self.customers.extend(batch)
            await asyncio.gather(*(c.start() for c in batch))
            await asyncio.gather(*(c.open_conversation() for c in batch))
        await until(
            lambda: all(c.status == "active" for c in self.customers),
            SETUP_TIMEOUT,
            "every conversation accepted",
        )

    async def close_clients(self) -> None:
        await asyncio.gather(*(link.close() for link in self.links), return_exceptions=True)


async def until(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what} ({within:g} s)")
        await asyncio.sleep(0.1)


async def settle(predicate: Callable[[], bool], within: float) -> bool:
    """Like ``until``, but says whether it came true instead of raising."""
    with suppress(TimeoutError):
        await until(predicate, within, "")
        return True
    return False


def node_settings() -> dict[str, str]:
    """Every bench client is 127.0.0.1: lift the per-address limits."""
    return {
        "ring_timeout": "10",
        "log_level": "INFO",
        "sockets_per_address": "1000000",
        **{f"{kind}_limits": UNLIMITED for kind in LIMITED_KINDS},
    }

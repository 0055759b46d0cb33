"""What a fleet shares in Redis besides fan-out: sign-in throttling and rate limits are one
count for every node, so a guesser or a flooder gains nothing by spreading over nodes; and a
node says when it has lost Redis."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from server.throttle import RedisThrottle
from tests.cluster import customer_on, private_redis, running_cluster, shared_redis
from tests.support import Peer

pytestmark = pytest.mark.postgres


async def test_concurrent_guesses_on_a_shared_throttle_are_counted_before_any_check() -> None:
    redis = Redis.from_url(await shared_redis())
    prefix = f"porchlight-test-{secrets.token_hex(6)}:"
    try:
        throttle = RedisThrottle(redis, prefix, free=5)
        waits = await asyncio.gather(
            *(throttle.admit("ana@shop.test", "203.0.113.9") for _ in range(40))
        )
        assert sum(1 for wait in waits if wait == 0) == 5
        assert all(4.0 < wait <= 5.0 for wait in waits if wait > 0)
        # Another address is not slowed (its own count is clean)…
        assert await throttle.admit("ben@shop.test", "198.51.100.7") == 0
        # …and the account's own delay applies only to addresses that failed themselves.
        assert await throttle.admit("ana@shop.test", "198.51.100.8") == 0
        await throttle.succeeded("ana@shop.test", "198.51.100.8")
    finally:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_sign_in_guesses_spread_over_two_nodes_share_one_limit(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        node_a, node_b = await cluster.start("a", "b", login_attempts="3")
        member = await cluster.add_staff("Ana")
        statuses = []
        async with aiohttp.ClientSession() as http:
            for attempt in range(4):
                node = (node_a, node_b)[attempt % 2]
                async with http.post(
                    f"{node.url}/api/v1/auth/login",
                    json={"email": member.email, "password": "wrong guess"},
                    headers={"Origin": node.url},
                ) as response:
                    statuses.append(response.status)
        assert statuses == [401, 401, 401, 429]


async def test_a_visitor_on_two_nodes_has_one_message_limit(
    tmp_path: Path, clients: list[Peer]
) -> None:
    async with running_cluster(tmp_path) as cluster:
        limits = {"message_limits": "4/minute,1000/minute,1000/minute"}
        node_a, node_b = await cluster.start("a", "b", **limits)
        await cluster.add_site()
        first = customer_on(node_a)
        clients.append(first)
        await first.connect()
        cid = (await first.ok("conversation.start", {"channel": "chat"}))["conversation"]["id"]
        second = customer_on(node_b, first.auth)
        clients.append(second)
        await second.connect()
        await second.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
        answers = []
        for n in range(6):
            tab = (first, second)[n % 2]
            answers.append(
                await tab.call(
                    "message.send",
                    {
                        "conversation_id": cid,
                        "client_msg_id": f"message-{n:04d}",
                        "body": f"hello {n}",
                    },
                )
            )
        refused = [a["error"]["code"] for a in answers if not a["ok"]]
        assert sum(1 for a in answers if a["ok"]) == 4
        assert refused == ["rate.limited", "rate.limited"]


async def test_a_node_without_redis_is_unavailable_then_ready(tmp_path: Path) -> None:
    with private_redis(tmp_path) as redis:
        async with running_cluster(tmp_path, redis_url=redis.url) as cluster:
            (node,) = await cluster.start("a")

            async def readiness() -> tuple[int, str]:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"{node.url}/readyz") as response,
                ):
                    return response.status, (await response.json())["status"]

            assert await readiness() == (200, "ready")
            redis.kill()
            await until_async(lambda: readiness(), (503, "unavailable"))
            redis.start()
            await until_async(lambda: readiness(), (200, "ready"))


async def until_async(probe: Any, wanted: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (seen := await probe()) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"still {seen}, not {wanted}"
        await asyncio.sleep(0.1)

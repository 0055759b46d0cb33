"""The fleet's cross-node channel (server.fanout) on a real Redis, in this process: JSON only,
a listener that comes back quickly, and the state health reports."""

from __future__ import annotations

import asyncio
import json
import pickle
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from server.fanout import RedisFanout, cross_node_ready
from server.keys import SIO
from signaling.outbound import STAFF_NS, Outbound
from tests.cluster import postgres_database, private_redis, shared_redis
from tests.support import WAIT, Server, customer, settings_for, until

pytestmark = pytest.mark.postgres

BACK_WITHIN = 5.0  # cross-node fan-out resumes within 5 s of Redis returning


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


async def fleet_node(database: str, redis_url: str, channel: str) -> Server:
    node = Server(settings_for(database, redis_url=redis_url, redis_channel=channel))
    await node.start()
    return node


def fanout_of(node: Server) -> RedisFanout:
    manager = node.app[SIO].manager
    assert isinstance(manager, RedisFanout)
    return manager


async def next_published(pubsub: PubSub) -> bytes:
    """The next message on the channel (bounded wait)."""
    async with asyncio.timeout(WAIT):
        while True:
            message = await pubsub.get_message(timeout=WAIT)
            if message is not None:
                return bytes(message["data"])


class Touch:
    """Unpickling this creates ``path``: proof that a node ran code it read from Redis."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


async def test_cross_node_emits_are_json_and_a_pickle_on_the_channel_runs_nothing(
    database: str, tmp_path: Path
) -> None:
    redis_url = await shared_redis()
    channel = f"porchlight-test-{secrets.token_hex(6)}"
    node = await fleet_node(database, redis_url, channel)
    listener = Redis.from_url(redis_url)
    heard = listener.pubsub(ignore_subscribe_messages=True)
    peer = customer(node)
    try:
        await heard.subscribe(channel)
        await node.add_site()
        await peer.connect()
        reply = await peer.ok("conversation.start", {})  # emits to the staff consoles
        published = json.loads(await next_published(heard))
        assert published["method"] == "emit"
        assert published["host_id"] == fanout_of(node).host_id

        marker = tmp_path / "unpickled"
        await listener.publish(channel, pickle.dumps({"method": "emit", "x": Touch(marker)}))
        # Then a well-formed emit "from another node" to the customer: once it arrives, the
        # node has read past the pickle.
        cid = reply["conversation"]["id"]
        remote = {
            "method": "emit",
            "event": "typing",
            "data": [{"conversation_id": cid, "side": "staff", "typing": True}],
            "binary": False,
            "namespace": "/customer",
            "room": f"conversation:{cid}",
            "skip_sid": None,
            "callback": None,
            "host_id": "another-node",
        }
        await listener.publish(channel, json.dumps(remote))
        await peer.wait_for("typing", lambda d: d["conversation_id"] == cid)
        assert not marker.exists()
    finally:
        await peer.close()
        await heard.aclose()
        await listener.aclose()
        await node.stop()


async def test_the_listener_is_back_within_5_s_of_a_redis_restart(
    database: str, tmp_path: Path
) -> None:
    with private_redis(tmp_path) as redis:
        node = await fleet_node(database, redis.url, "porchlight-test")
        fanout = fanout_of(node)
        try:
            # Subscribed at start-up, before any socket connected.
            await until(lambda: fanout.subscribed, what="subscribed")
            assert cross_node_ready(fanout)

            redis.kill()
            await until(lambda: not fanout.subscribed, what="unsubscribed")
            assert not cross_node_ready(fanout)
            # Emits while Redis is away are dropped (hints), not raised to the domain.
            await node.app[SIO].emit(
                "queue", {"conversations": []}, room="staff", namespace=STAFF_NS
            )

            redis.start()
            await until(lambda: fanout.subscribed, timeout=BACK_WITHIN, what="subscribed again")
        finally:
            await node.stop()
        assert not fanout.subscribed
        assert fanout.thread is not None and fanout.thread.done()


async def test_the_in_process_manager_needs_no_redis(tmp_path: Path) -> None:
    """SQLite without redis_url: python-socketio's own manager, as before."""
    node = Server(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"))
    await node.start()
    try:
        manager = node.app[SIO].manager
        assert type(manager) is socketio.AsyncManager
        assert cross_node_ready(manager)
    finally:
        await node.stop()


def test_outbound_skips_an_emit_for_a_lone_sender_only_in_one_process() -> None:
    """Outbound's shortcut (no emit when the sender is alone in its room) holds for the
    in-process manager; with a fleet a listener may be on another node."""
    alone = Outbound(socketio.AsyncServer(async_mode="aiohttp"))
    fleet = Outbound(
        socketio.AsyncServer(
            async_mode="aiohttp", client_manager=RedisFanout("redis://127.0.0.1:1/0", "unused")
        )
    )
    assert alone._alone("/customer", "conversation:x", "sid-1")
    assert not fleet._alone("/customer", "conversation:x", "sid-1")

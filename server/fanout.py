"""Cross-node fan-out: socket.io emits that reach the sockets of every node of a fleet.

With ``redis_url`` set, the socket server gets ``RedisFanout``, python-socketio's Redis manager
with two things changed:

- Everything on the channel is JSON (the stdlib module, pinned here), never pickle: a node
  must not run code because of what it read from Redis.
- The listener comes back quickly. python-socketio's own one waits 1 s, doubling to 60 s,
  between attempts, so after a Redis outage a node could miss other nodes' emits for a
  minute. Here it waits 0.1 s doubling to 1 s, with jitter (so a fleet does not reconnect in
  step), and notices a Redis that went silent without closing the connection.

Emits are hints (the delivery contract's replay covers a lost one), so a publish that fails is
dropped after one retry rather than holding up the event that caused it.

Without ``redis_url`` the server keeps python-socketio's in-process manager, as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import socketio
from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.keys import SIO
from server.settings import Settings

log = logging.getLogger(__name__)

RETRY_FIRST = 0.1  # seconds before the listener's first new attempt
RETRY_MAX = 1.0  # the longest wait between attempts
HEARTBEAT = 1.0  # after this long without traffic the listener pings Redis
SILENCE_LIMIT = 3 * HEARTBEAT  # nothing heard for this long: the connection is dead
REDIS_TIMEOUT = 1.0  # connect, and any one command, on a Redis that does not answer

# Jitter for the retry delay; not a secret.
_jitter = random.Random()  # noqa: S311


def manager_for(settings: Settings) -> socketio.AsyncManager:
    """The socket server's client manager: in-process, or ``RedisFanout`` for a fleet."""
    if settings.redis_url is None:
        return socketio.AsyncManager()
    return RedisFanout(settings.redis_url, settings.redis_channel)


def cross_node_ready(manager: socketio.AsyncManager) -> bool:
    """Whether emits reach every node: always for one process; for a fleet, while this
    node's listener is subscribed (otherwise the node is degraded: its sockets miss other
    nodes' emits until the replay path catches them up)."""
    return not isinstance(manager, RedisFanout) or manager.subscribed


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager with a JSON-only channel and a listener that comes
    back within about a second of Redis.

    States: created → (``initialize``) unsubscribed ⇄ subscribed → (``close``) closed.
    ``subscribed`` tells which; each change is logged.

    :param url: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://`` for a socket).
    :param channel: the pub/sub channel; the same on every node of one fleet.
    """

    name = "porchlight-redis"

    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.thread: asyncio.Task[None] | None = None
        self._subscribed = False
        self._publisher: Redis | None = None
        self._publish_failing = False
        self._down_announced = False

    @property
    def subscribed(self) -> bool:
        """Whether this node hears other nodes' emits right now."""
        return self._subscribed

    def set_server(self, server: socketio.AsyncServer) -> None:
        super().set_server(server)
        # The server's packet JSON module is the default; pin the stdlib one regardless.
        self.json = json

    def initialize(self) -> None:
        """Start the listener (once). The socket server calls this on its first connection;
        the app calls it at start-up, so a node without sockets yet is subscribed too."""
        if self.thread is None:
            super().initialize()

    def _client(self) -> Redis:
        return Redis.from_url(
            self.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
            # One immediate retry: a pooled connection may be stale after Redis restarted.
            retry=Retry(NoBackoff(), 1),
        )

    async def _publish(self, data: dict[str, Any]) -> None:
        if self._publisher is None:
            self._publisher = self._client()
        try:
            await self._publisher.publish(self.channel, json.dumps(data))
        except Exception as error:
            if not self._publish_failing:
                log.warning("cross-node emits are not published: %r", error)
            self._publish_failing = True
            return
        if self._publish_failing:
            log.info("cross-node emits are published again")
        self._publish_failing = False

    async def _redis_listen_with_retries(self) -> AsyncIterator[dict[str, Any]]:
        """Every message on the channel, reconnecting for ever (see the module's doc)."""
        delay = RETRY_FIRST
        while True:
            client = self._client()
            pubsub = client.pubsub()
            self.redis, self.pubsub = client, pubsub
            try:
                await self._subscribe(pubsub)
                self._set_subscribed()
                delay = RETRY_FIRST
                async for message in self._messages(pubsub):
                    yield message
            except Exception as error:
                if self._subscribed or not self._down_announced:
                    log.warning("cross-node emits are not heard, retrying: %r", error)
                    self._down_announced = True
                else:
                    log.debug("redis listener attempt failed: %r", error)
            finally:
                self._subscribed = False
                with suppress(Exception):
                    await pubsub.aclose()
                with suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay * _jitter.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_MAX)

    async def _subscribe(self, pubsub: PubSub) -> None:
        """SUBSCRIBE, and wait for Redis to confirm it: only then is this node listening."""
        async with asyncio.timeout(REDIS_TIMEOUT * 2):
            await pubsub.subscribe(self.channel)
            while True:
                reply = await pubsub.get_message(timeout=REDIS_TIMEOUT)
                if reply is not None and reply["type"] == "subscribe":
                    return

    async def _messages(self, pubsub: PubSub) -> AsyncIterator[dict[str, Any]]:
        """Yield what arrives; ping Redis when it is quiet, and give up when even the ping
        goes unanswered (a Redis that stopped without closing the connection)."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=HEARTBEAT)
            if message is not None:
                heard = loop.time()
                yield message
                continue
            if loop.time() - heard > SILENCE_LIMIT:
                raise ConnectionError(f"nothing from Redis for {SILENCE_LIMIT:g} s")
            await pubsub.ping()

    def _set_subscribed(self) -> None:
        log.info("cross-node emits are heard (channel subscribed)")
        self._subscribed = True
        self._down_announced = False

    async def close(self) -> None:
        """Stop the listener and close every Redis connection."""
        if self.thread is not None:
            self.thread.cancel()
            with suppress(asyncio.CancelledError):
                await self.thread
        self._subscribed = False
        if self._publisher is not None:
            await self._publisher.aclose()
            self._publisher = None


async def fanout_runtime(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: subscribe a fleet node at start-up, close its Redis connections last."""
    manager = app[SIO].manager
    if not isinstance(manager, RedisFanout):
        yield
        return
    manager.initialize()
    yield
    await manager.close()

"""Test support: run the real app on a free port, and drive it with real socket.io clients."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import socketio
from aiohttp import web

from server.app import create_app
from server.auth import SESSION_COOKIE, hash_password
from server.keys import STORE
from server.logs import access_logger
from server.settings import Settings
from signaling.ports import NewMessage, Role, Sender, Site, StaffMember

SHOP = "http://shop.test"
PASSWORD = "correct horse battery"
WAIT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    """Poll ``predicate`` (plain or async) until it returns something truthy; fail after
    ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


@dataclass
class Server:
    """The real app on 127.0.0.1, restartable on the same port and database."""

    settings: Settings
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return self.settings.public_url

    @property
    def app(self) -> web.Application:
        assert self.runner is not None
        return self.runner.app

    async def start(self) -> None:
        self.runner = web.AppRunner(
            create_app(self.settings),
            handle_signals=False,
            **access_logger(self.settings.log_format),
        )
        await self.runner.setup()
        await web.TCPSite(self.runner, self.settings.host, self.settings.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def add_site(
        self, key: str = "shop-site", origins: tuple[str, ...] = (SHOP,), relay_only: bool = False
    ) -> Site:
        return await self.app[STORE].create_site(
            key=key,
            name="Shop",
            allowed_origins=origins,
            greeting="Hi",
            secret="s" * 32,
            relay_only=relay_only,
        )

    async def add_staff(
        self,
        name: str,
        *,
        role: str = "agent",
        languages: tuple[str, ...] = (),
        max_chats: int = 3,
    ) -> StaffMember:
        return await self.app[STORE].create_staff(
            email=f"{name.lower()}@staff.test",
            name=name,
            role=cast(Role, role),
            password_hash=hash_password(PASSWORD),
            languages=languages,
            max_chats=max_chats,
        )


def settings_for(database_url: str, **overrides: Any) -> Settings:
    port = free_port()
    values: dict[str, Any] = {
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "database_url": database_url,
        "secret_key": "t" * 40,
        "ring_timeout": 5.0,
        "grace_period": 30.0,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings.model_validate(values)


@dataclass
class Peer:
    """A real socket.io client on one namespace that records every server event."""

    url: str
    namespace: str
    auth: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[tuple[str, Any]] = field(default_factory=list)
    refusals: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sio = socketio.AsyncClient(
            reconnection=True, reconnection_delay=0.05, reconnection_delay_max=0.5
        )
        self.headers.setdefault("Origin", self.url)

        async def record(event: str, data: Any = None) -> None:
            if event == "session" and self.auth is not None:
                self.auth["token"] = data["token"]
            self.events.append((event, data))

        async def refused(data: Any = None) -> None:
            self.refusals.append(data)

        self.sio.on("*", record, namespace=self.namespace)
        self.sio.on("connect_error", refused, namespace=self.namespace)

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            transports=["websocket"],
            auth=self.auth,
            # A callable: engine.io's client deletes "Cookie" from the dict it is given, which
            # would leave reconnects without the staff session.
            headers=lambda: dict(self.headers),
            wait_timeout=WAIT,
            retry=False,
        )

    async def call(self, event: str, payload: Any = None) -> dict[str, Any]:
        result = await self.sio.call(event, payload, namespace=self.namespace, timeout=WAIT)
        assert isinstance(result, dict), result
        return result

    async def ok(self, event: str, payload: Any = None) -> dict[str, Any]:
        result = await self.call(event, payload)
        assert result["ok"] is True, result
        return result

    async def refused_with(self, event: str, payload: Any) -> str:
        result = await self.call(event, payload)
        assert result["ok"] is False, result
        return str(result["error"]["code"])

    def seen(self, event: str, predicate: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        return [data for name, data in self.events if name == event and predicate(data)]

    async def wait_for(
        self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = WAIT
    ) -> Any:
        found = await until(lambda: self.seen(event, predicate), timeout, what=event)
        return found[-1]

    async def close(self) -> None:
        """Disconnect, or stop reconnecting (after its server stopped): nothing left running."""
        await self.sio.shutdown()


def customer(server: Server, site_key: str = "shop-site", host: str = SHOP) -> Peer:
    return Peer(server.url, "/customer", auth={"site": site_key, "host": host})


async def another_tab(
    server: Server, visitor: Peer, conversation_id: str, clients: list[Peer]
) -> Peer:
    """The same visitor in a second tab (same token), connected and resumed in the
    conversation; added to ``clients`` (closed after the test) before it connects."""
    tab = Peer(server.url, "/customer", auth=dict(visitor.auth or {}))
    clients.append(tab)
    await tab.connect()
    await tab.ok("conversation.resume", {"conversation_id": conversation_id, "last_seq": 0})
    return tab


async def login(server: Server, email: str, password: str = PASSWORD) -> tuple[str, str]:
    """Sign in over HTTP: (session cookie, csrf token)."""
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.url}/api/v1/auth/login",
            json={"email": email, "password": password},
            headers={"Origin": server.url},
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        return response.cookies[SESSION_COOKIE].value, str(body["csrf_token"])


async def staff_peer(server: Server, member: StaffMember, available: bool = True) -> Peer:
    cookie, _ = await login(server, member.email)
    peer = Peer(server.url, "/staff", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    await peer.connect()
    if available:
        await peer.ok("presence.set", {"status": "available"})
    return peer


async def store_unannounced(
    server: Server, conversation_id: str, bodies: list[str], sender: Sender = "staff"
) -> None:
    """Store messages straight into the database, announced to no one: what a client sees of
    messages whose hints it lost (another node's emit, a dropped event)."""
    store = server.app[STORE]
    for n, body in enumerate(bodies):
        new = NewMessage(conversation_id, sender, "text", body, client_msg_id=f"quiet-{n:06}")
        await store.append_message(new, time.time())

"""The soak's client plumbing: one socket.io connection that reconnects forever on the
widget's schedule, with acknowledged calls and an outbox (``Link``); a conversation's
messages as a client holds them (``View``) and the catch-up that fills its gaps; and the
``Journal`` every client writes what it did to, with ``time.monotonic()`` stamps.

The behaviour follows widget/src: reconnect at once, then 250 ms doubling to 4 s, times a
random factor in [0.5, 1) (``reconnect.ts``); every call acknowledged within 10 s or it
counts as a retryable ``server.error`` (``wire.ts``), and a disconnect fails the calls in
flight at once (socket.io-client 4.6+); a message goes into the outbox before it is first
sent and leaves it only when the server committed it (or refused it for good), one at a
time and in order, retried 3 s after a retryable failure and at once after a reconnect
(``outbox.ts``, ``frame/chat.ts``, ``console/desk.ts``); a catch-up runs from the first gap,
page after page while the server says ``more`` (``catchup.ts``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import socketio

ACK_TIMEOUT = 10.0  # widget/src/shared/wire.ts ACK_TIMEOUT_MS
RETRY = 3.0  # RETRY_MS of frame/chat.ts, the console's 3000 ms
CONNECT_TIMEOUT = 10.0  # one connection attempt
FIRST_BACKOFF = 0.25  # widget/src/shared/reconnect.ts
MAX_BACKOFF = 4.0
RETRYABLE = frozenset({"server.error", "rate.limited"})  # outbox.ts ``retryable``
CUSTOMER_NS = "/customer"
STAFF_NS = "/staff"

Ack = dict[str, Any]


def redial_delay(attempt: int, rng: random.Random) -> float:
    """``reconnectDelay`` of widget/src/shared/reconnect.ts, in seconds."""
    if attempt <= 0:
        return 0.0
    ceiling: float = min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + rng.random() / 2)


def failure(message: str) -> Ack:
    """What ``caller`` makes of a missing acknowledgement."""
    return {"ok": False, "error": {"code": "server.error", "message": message}}


def is_ok(ack: Ack) -> bool:
    return isinstance(ack, dict) and ack.get("ok") is True


def code_of(ack: Ack) -> str:
    if isinstance(ack, dict) and isinstance(ack.get("error"), dict):
        return str(ack["error"].get("code"))
    return "malformed"


# -- what was sent, acknowledged and seen ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """One message as a client holds it."""

    client_msg_id: str | None
    sender: str
    body: str


@dataclass(frozen=True, slots=True)
class Item:
    """One outbox entry: the message a person typed."""

    conversation_id: str
    client_msg_id: str
    body: str
    node: str  # the sender's node, to tell cross-node deliveries apart


@dataclass(frozen=True, slots=True)
class Acked:
    conversation_id: str
    seq: int
    body: str
    at: float


@dataclass
class Journal:
    """Everything the clients did that the figures are made of."""

    sent: dict[str, Item] = field(default_factory=dict)
    acked: dict[str, Acked] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # client_msg_id → final error code
    # An ok acknowledgement whose message differs from the first one for the same id.
    ack_conflicts: list[str] = field(default_factory=list)
    # The times of message.new hints from a client on the other node, by direction
    # ("a->b": sent on node A, heard on node B).
    cross_hints: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # unexpected refusals of non-messages

    def acknowledged(self, item: Item, message: dict[str, Any], at: float) -> None:
        first = self.acked.get(item.client_msg_id)
        if first is None:
            self.acked[item.client_msg_id] = Acked(
                message["conversation_id"], message["seq"], message["body"], at
            )
        elif (first.conversation_id, first.seq) != (message["conversation_id"], message["seq"]):
            self.ack_conflicts.append(item.client_msg_id)

    def hint(self, item: Item | None, node: str) -> None:
        """A ``message.new`` for ``item`` (if the bench sent it) reached a client on ``node``."""
        if item is not None and item.node != node:
            self.cross_hints.setdefault(f"{item.node}->{node}", []).append(time.monotonic())

    def error(self, who: str, event: str, ack: Ack) -> None:
        if len(self.errors) < 200:
            self.errors.append(f"{who} {event}: {code_of(ack)}")


class View:
    """One conversation's messages as a client holds them, by seq; ``through`` is the last
    seq of the run held without a gap. ``conflicts`` records a seq seen twice with different
    content (a duplicate or a rewrite)."""

    def __init__(self) -> None:
        self.messages: dict[int, Seen] = {}
        self.through = 0
        self.conflicts: list[int] = []

    def add(self, wire: dict[str, Any]) -> bool:
        """Merge one wire message; whether it was new."""
        seq = int(wire["seq"])
        seen = Seen(wire.get("client_msg_id"), str(wire["sender"]), str(wire["body"]))
        held = self.messages.get(seq)
        if held is not None:
            if held != seen:
                self.conflicts.append(seq)
            return False
        self.messages[seq] = seen
        while self.through + 1 in self.messages:
            self.through += 1
        return True


class CatchUp:
    """``catchup.ts``: fill a view from its first gap, a page at a time, one run at a time
    (a request during a run makes it go round once more)."""

    def __init__(self, view: View, fetch: Callable[[int], Any]) -> None:
        self.view = view
        self.fetch = fetch  # async (after) -> bool | None: more follow / could not
        self.running = False
        self.again = False

    async def run(self) -> None:
        if self.running:
            self.again = True
            return
        self.running = True
        try:
            while True:
                self.again = False
                for _ in range(10_000):  # bounded: a page that fills nothing ends the run
                    start = self.view.through
                    more = await self.fetch(start)
                    if more is None:
                        return  # the next connect resumes
                    if not more or self.view.through == start:
                        break
                if not self.again:
                    return
        finally:
            self.running = False


# -- one socket, reconnecting forever -------------------------------------------------------


class Link:
    """One socket.io connection to one node's namespace, redialled on the widget's schedule
    for as long as the client lives. A fresh ``AsyncClient`` per connection attempt keeps a
    half-closed one from wedging the next.

    ``troubles`` are the times of disconnects and failed (retryable) acknowledgements,
    ``oks`` the times of successful ones; ``inflight`` the send times of calls awaiting
    their acknowledgement."""

    namespace = ""

    def __init__(self, name: str, node: str, url: str, journal: Journal, seed: int) -> None:
        self.name = name
        self.node = node
        self.url = url
        self.journal = journal
        self.rng = random.Random(seed)
        self.sio: socketio.AsyncClient | None = None
        self.connected = False
        self.ready = False  # resumed (or synced) since the last connect
        self.closing = False
        self.troubles: list[float] = []
        self.oks: list[float] = []
        self.inflight: dict[asyncio.Future[Any], float] = {}
        self.drops = 0
        self.kick = asyncio.Event()  # wakes the outbox pump
        self.outbox: deque[Item] = deque()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.redialing: asyncio.Task[None] | None = None

    # subclasses: what the server needs to know, what to do once connected

    def auth(self) -> dict[str, Any] | None:
        return None

    def headers(self) -> dict[str, str]:
        return {"Origin": self.url}

    def listen(self, sio: socketio.AsyncClient) -> None:
        """Register the namespace's server events on a new client."""

    async def connected_again(self) -> None:
        """Resume or sync after a connect; set ``ready`` and kick the outbox when done."""

    async def sent(self, item: Item, ack: Ack) -> None:
        """An outbox item was acknowledged (``ack`` ok)."""

    # the connection

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def dial(self) -> None:
        """One connection attempt; raises if it fails."""
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        sio.on("connect", lambda: self._connected(sio), namespace=self.namespace)
        sio.on("disconnect", lambda *_: self._dropped(sio), namespace=self.namespace)
        self.listen(sio)
        self.sio = sio
        try:
            await sio.connect(
                self.url,
                namespaces=[self.namespace],
                transports=["websocket"],
                headers=self.headers(),
                auth=self.auth(),
                wait_timeout=CONNECT_TIMEOUT,
                retry=False,
            )
        except BaseException:
            with suppress(Exception):
                await sio.disconnect()
            raise

    async def keep_connected(self) -> None:
        """Redial until connected: attempt 0 at once, then the back-off."""
        attempt = 0
        while not self.closing and not self.connected:
            await asyncio.sleep(redial_delay(attempt, self.rng))
            attempt += 1
            if self.closing or self.connected:
                return
            try:
                await self.dial()
            except (socketio.exceptions.SocketIOError, OSError, TimeoutError, ValueError):
                continue

    def _connected(self, sio: socketio.AsyncClient) -> None:
        if sio is not self.sio:
            return
        self.connected = True
        self.spawn(self.connected_again())

    def _dropped(self, sio: socketio.AsyncClient) -> None:
        if sio is not self.sio or not self.connected:
            return
        now = time.monotonic()
        self.connected = False
        self.ready = False
        self.drops += 1
        self.troubles.append(now)
        for future in self.inflight:
            if not future.done():
                future.set_exception(ConnectionError("disconnected"))
        if not self.closing and (self.redialing is None or self.redialing.done()):
            self.redialing = asyncio.get_running_loop().create_task(self.keep_connected())

    async def call(self, event: str, data: dict[str, Any]) -> Ack:
        """Emit with an acknowledgement; a missing one is a retryable ``server.error``."""
        sio = self.sio
        if sio is None or not self.connected:
            return failure("Not connected.")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def answered(*args: Any) -> None:
            if not future.done():
                future.set_result(args[0] if args else None)

        self.inflight[future] = time.monotonic()
        try:
            await sio.emit(event, data, namespace=self.namespace, callback=answered)
            ack = await asyncio.wait_for(future, ACK_TIMEOUT)
        except (TimeoutError, ConnectionError, socketio.exceptions.SocketIOError) as error:
            ack = failure(f"No answer from the server: {error!r}")
        finally:
            self.inflight.pop(future, None)
        if not isinstance(ack, dict):
            ack = failure(f"malformed acknowledgement {ack!r}")
        answer: Ack = ack
        now = time.monotonic()
        if is_ok(ack):
            self.oks.append(now)
        elif code_of(ack) in RETRYABLE:
            self.troubles.append(now)
        return answer

    async def retrying(self, event: str, data: Callable[[], dict[str, Any]]) -> Ack | None:
        """Call until the answer is not retryable; None once the socket dropped."""
        for _ in range(10_000):
            if self.closing or not self.connected:
                return None
            ack = await self.call(event, data())
            if is_ok(ack) or code_of(ack) not in RETRYABLE:
                return ack
            await asyncio.sleep(RETRY)
        return None

    # the outbox

    def post(self, item: Item) -> None:
        """A person typed a message: into the outbox first, then sent."""
        self.journal.sent[item.client_msg_id] = item
        self.outbox.append(item)
        self.kick.set()

    async def pump(self) -> None:
        """Send the outbox's head until it empties, for ever (``Outbox.drain``)."""
        while not self.closing:
            if not self.outbox or not self.ready:
                self.kick.clear()
                await self.kick.wait()
                continue
            item = self.outbox[0]
            ack = await self.call(
                "message.send",
                {
                    "conversation_id": item.conversation_id,
                    "client_msg_id": item.client_msg_id,
                    "body": item.body,
                },
            )
            if is_ok(ack):
                self.outbox.popleft()
                self.journal.acknowledged(item, ack["message"], time.monotonic())
                await self.sent(item, ack)
            elif code_of(ack) in RETRYABLE:
                self.kick.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.kick.wait(), RETRY)
            else:
                self.outbox.popleft()
                self.journal.refused[item.client_msg_id] = code_of(ack)

    async def start(self) -> None:
        """Connect (retrying) and start the outbox pump."""
        self.spawn(self.pump())
        await asyncio.wait_for(self.keep_connected(), 60.0)

    async def close(self) -> None:
        self.closing = True
        self.kick.set()
        if self.redialing is not None:
            self.redialing.cancel()
        for task in list(self.tasks):
            task.cancel()
        if self.sio is not None:
            with suppress(Exception):
                await asyncio.wait_for(self.sio.disconnect(), 5.0)

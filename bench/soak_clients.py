"""The soak's clients: a widget frame (``Customer``) and a staff console (``Console``), on
``soak_link.Link``. On every connect a customer resumes its conversation after the last seq
it holds without a gap, and a console syncs; a ``message.new`` past a gap, or a state whose
``last_seq`` is ahead, starts a catch-up; an acknowledged message joins the sender's own
view, as in the apps.
"""

from __future__ import annotations

from typing import Any

import socketio
from soak_link import (
    CUSTOMER_NS,
    STAFF_NS,
    Ack,
    CatchUp,
    Item,
    Journal,
    Link,
    View,
    is_ok,
)

# -- the widget frame -----------------------------------------------------------------------


class Customer(Link):
    """A visitor with one conversation: resumes it on every connect, sends from its outbox,
    follows the staff member's messages."""

    namespace = CUSTOMER_NS

    def __init__(
        self, name: str, node: str, url: str, journal: Journal, seed: int, site: str, host: str
    ) -> None:
        super().__init__(name, node, url, journal, seed)
        self.site = site
        self.host = host
        self.token: str | None = None
        self.conversation_id: str | None = None
        self.status = ""
        self.version = 0
        self.view = View()
        self.catch_up = CatchUp(self.view, self._page)
        self.sent_count = 0

    def auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"site": self.site, "host": self.host}
        if self.token:
            auth["token"] = self.token
        return auth

    def listen(self, sio: socketio.AsyncClient) -> None:
        sio.on("session", self._session, namespace=self.namespace)
        sio.on("conversation.state", self._state, namespace=self.namespace)
        sio.on("message.new", self._message, namespace=self.namespace)

    def _session(self, data: dict[str, Any]) -> None:
        self.token = data["token"]

    def _state(self, data: dict[str, Any]) -> None:
        self.apply(data["conversation"])

    def apply(self, conversation: dict[str, Any]) -> None:
        if conversation["id"] != self.conversation_id or conversation["version"] < self.version:
            return
        self.version = conversation["version"]
        self.status = conversation["status"]
        if conversation["last_seq"] > self.view.through:
            self.spawn(self.catch_up.run())

    async def sent(self, item: Item, ack: Ack) -> None:
        self.receive(ack["message"])  # chat.ts: the acknowledged message joins the thread

    def _message(self, data: dict[str, Any]) -> None:
        message = data["message"]
        if message["conversation_id"] != self.conversation_id:
            return
        self.journal.hint(self.journal.sent.get(message.get("client_msg_id") or ""), self.node)
        self.receive(message)

    def receive(self, message: dict[str, Any]) -> None:
        if message["seq"] > self.view.through + 1:
            self.spawn(self.catch_up.run())
        self.view.add(message)

    async def _page(self, after: int) -> bool | None:
        if self.conversation_id is None or not self.connected:
            return None
        ack = await self.call(
            "conversation.resume", {"conversation_id": self.conversation_id, "last_seq": after}
        )
        if not is_ok(ack):
            return None
        for message in ack["messages"]:
            self.view.add(message)
        self.apply(ack["conversation"])
        return bool(ack.get("more"))

    async def open_conversation(self) -> None:
        """``conversation.start`` (retried) once connected."""
        ack = await self.retrying("conversation.start", lambda: {"channel": "chat"})
        if ack is None or not is_ok(ack):
            raise RuntimeError(f"{self.name}: conversation.start failed: {ack}")
        self.conversation_id = ack["conversation"]["id"]
        self.apply(ack["conversation"])
        self.ready = True
        self.kick.set()

    async def connected_again(self) -> None:
        if self.conversation_id is None:
            return  # open_conversation does the first start
        conversation_id = self.conversation_id
        ack = await self.retrying(
            "conversation.resume",
            lambda: {"conversation_id": conversation_id, "last_seq": self.view.through},
        )
        if ack is None:
            return  # dropped again: the next connect resumes
        if not is_ok(ack):
            self.journal.error(self.name, "conversation.resume", ack)
            return
        for message in ack["messages"]:
            self.view.add(message)
        self.apply(ack["conversation"])
        if ack.get("more"):
            self.spawn(self.catch_up.run())
        self.ready = True
        self.kick.set()

    def say(self, run: str) -> Item:
        """The visitor types one message."""
        assert self.conversation_id is not None
        self.sent_count += 1
        client_msg_id = f"{run}-{self.name}-{self.sent_count:06d}"
        item = Item(
            self.conversation_id, client_msg_id, f"{client_msg_id} from the visitor", self.node
        )
        self.post(item)
        return item

    async def replay_all(self) -> View:
        """Everything from seq 0, page by page, into a fresh view (the final check)."""
        view = View()
        assert self.conversation_id is not None
        for _ in range(10_000):
            ack = await self.retrying(
                "conversation.resume",
                lambda: {"conversation_id": self.conversation_id, "last_seq": view.through},
            )
            if ack is None or not is_ok(ack):
                raise RuntimeError(f"{self.name}: replay failed: {ack}")
            before = view.through
            for message in ack["messages"]:
                view.add(message)
            if not ack.get("more") or view.through == before:
                return view
        return view


# -- the staff console ----------------------------------------------------------------------


class Console(Link):
    """A staff member: available, accepts every ring, answers a share of what customers
    write (only what arrives live, as a person does), syncs on every connect."""

    namespace = STAFF_NS

    def __init__(
        self,
        name: str,
        node: str,
        url: str,
        journal: Journal,
        seed: int,
        staff_id: int,
        cookie: str,
        cookie_name: str,
        reply_share: float,
        run: str,
    ) -> None:
        super().__init__(name, node, url, journal, seed)
        self.staff_id = staff_id
        self.cookie = cookie
        self.cookie_name = cookie_name
        self.reply_share = reply_share
        self.run = run
        self.replying = True
        self.mine: set[str] = set()
        self.versions: dict[str, int] = {}
        self.views: dict[str, View] = {}
        self.catch_ups: dict[str, CatchUp] = {}
        self.sent_count = 0

    def headers(self) -> dict[str, str]:
        return {"Origin": self.url, "Cookie": f"{self.cookie_name}={self.cookie}"}

    def listen(self, sio: socketio.AsyncClient) -> None:
        sio.on("ring", self._ring, namespace=self.namespace)
        sio.on("conversation.state", self._state, namespace=self.namespace)
        sio.on("message.new", self._message, namespace=self.namespace)

    def view(self, conversation_id: str) -> View:
        view = self.views.get(conversation_id)
        if view is None:
            view = self.views[conversation_id] = View()
        return view

    def _ring(self, data: dict[str, Any]) -> None:
        self.spawn(self.accept(data["conversation"]["id"]))

    async def accept(self, conversation_id: str) -> None:
        ack = await self.retrying("ring.accept", lambda: {"conversation_id": conversation_id})
        if ack is None or not is_ok(ack):
            return  # taken, expired, or dropped: the sweeper rings again
        self.mine.add(conversation_id)
        for message in ack["messages"]:
            self.view(conversation_id).add(message)
        self.apply(ack["conversation"])
        if ack.get("more"):
            self.spawn(self.catch_up(conversation_id))

    def _state(self, data: dict[str, Any]) -> None:
        self.apply(data["conversation"])

    def apply(self, conversation: dict[str, Any]) -> None:
        conversation_id = conversation["id"]
        if conversation["version"] < self.versions.get(conversation_id, 0):
            return  # a late hint
        self.versions[conversation_id] = conversation["version"]
        assignee = conversation.get("assignee") or {}
        if str(assignee.get("id")) == str(self.staff_id) and conversation["status"] == "active":
            self.mine.add(conversation_id)
            if conversation["last_seq"] > self.view(conversation_id).through:
                self.spawn(self.catch_up(conversation_id))
        else:
            self.mine.discard(conversation_id)

    async def sent(self, item: Item, ack: Ack) -> None:
        message = ack["message"]  # desk.ts settle(): the acknowledged message joins the panel
        view = self.view(message["conversation_id"])
        if message["conversation_id"] in self.mine and message["seq"] > view.through + 1:
            self.spawn(self.catch_up(message["conversation_id"]))
        view.add(message)

    def _message(self, data: dict[str, Any]) -> None:
        message = data["message"]
        conversation_id = message["conversation_id"]
        if conversation_id not in self.mine:
            return
        self.journal.hint(self.journal.sent.get(message.get("client_msg_id") or ""), self.node)
        view = self.view(conversation_id)
        if message["seq"] > view.through + 1:
            self.spawn(self.catch_up(conversation_id))
        fresh = view.add(message)
        wanted = self.replying and self.rng.random() < self.reply_share
        if fresh and message["sender"] == "customer" and message["kind"] == "text" and wanted:
            self.answer(conversation_id)

    def answer(self, conversation_id: str) -> None:
        self.sent_count += 1
        client_msg_id = f"{self.run}-{self.name}-{self.sent_count:06d}"
        body = f"{client_msg_id} from the staff member"
        self.post(Item(conversation_id, client_msg_id, body, self.node))

    async def catch_up(self, conversation_id: str) -> None:
        catch_up = self.catch_ups.get(conversation_id)
        if catch_up is None:

            async def page(after: int) -> bool | None:
                if conversation_id not in self.mine or not self.connected:
                    return None
                ack = await self.call(
                    "conversation.resume", {"conversation_id": conversation_id, "last_seq": after}
                )
                if not is_ok(ack):
                    return None
                for message in ack["messages"]:
                    self.view(conversation_id).add(message)
                self.apply(ack["conversation"])
                return bool(ack.get("more"))

            catch_up = self.catch_ups[conversation_id] = CatchUp(self.view(conversation_id), page)
        await catch_up.run()

    async def connected_again(self) -> None:
        """``sync`` from the last seqs held, then presence (as ``desk.ts`` does)."""
        ack = await self.retrying(
            "sync",
            lambda: {"last_seqs": {c: self.view(c).through for c in sorted(self.mine)[:200]}},
        )
        if ack is None:
            return
        if not is_ok(ack):
            self.journal.error(self.name, "sync", ack)
            return
        assigned = {c["id"] for c in ack["conversations"]}
        self.mine &= assigned
        for conversation in ack["conversations"]:
            self.apply(conversation)
        for message in ack["messages"]:
            if message["conversation_id"] in self.mine:
                self.view(message["conversation_id"]).add(message)
        for conversation_id in ack.get("more", []):
            self.spawn(self.catch_up(conversation_id))
        for ring in ack["rings"]:
            self.spawn(self.accept(ring["conversation"]["id"]))
        presence = await self.retrying("presence.set", lambda: {"status": "available"})
        if presence is not None and not is_ok(presence):
            self.journal.error(self.name, "presence.set", presence)
        self.ready = True
        self.kick.set()

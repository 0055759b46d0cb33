"""The floor for ``bench/chat_latency.py``: a bare python-socketio relay that speaks just
enough of Porchlight's wire protocol for the benchmark's own client code to drive it.

``/staff`` sockets join a room of their own and are rung round-robin for each
``conversation.start`` on ``/customer``; ``ring.accept`` pairs the conversation with that
staff socket; ``message.send`` is re-emitted as ``message.new`` to the paired staff room and
acknowledged. No database, no validation, no authentication, no rate limits. Every other
event is acknowledged with ``{"ok": true}``.

    python bench/echo_server.py --port 8765

With ``--redis URL`` it is one node of a relay fleet: python-socketio's own
``AsyncRedisManager`` (JSON on one pub/sub channel) carries every emit to the other nodes, as
Porchlight's fleet does. The nodes share no memory, so staff sockets are rung by slot: each
node puts its k-th staff socket in room ``slot:<k mod S>``, and a conversation started on any
node is rung, round-robin, to one of the ``S`` (``--staff-slots``) slot rooms, wherever those
sockets are; its messages go to that room. So customers on one node and staff on another
exercise the Redis hop both ways (ring out, messages across).

    python bench/echo_server.py --port 8766 --redis redis://127.0.0.1:6379/0 \
        --channel bench-floor --staff-slots 10
"""

from __future__ import annotations

import argparse
import itertools
import secrets
from typing import Any

import socketio
from aiohttp import web

CUSTOMER_NS = "/customer"
STAFF_NS = "/staff"


def staff_room(sid: str) -> str:
    return f"staff:{sid}"


def slot_room(slot: int) -> str:
    return f"slot:{slot}"


class Relay:
    """Conversations in memory: which staff room each one is delivered to. ``slots`` (a
    fleet node) rings slot rooms instead of this process's own staff sockets."""

    def __init__(self, sio: socketio.AsyncServer, slots: int | None = None) -> None:
        self.sio = sio
        self.slots = slots
        self.staff: list[str] = []
        self.joined = itertools.count()
        self.turn = itertools.count()
        self.rooms: dict[str, str] = {}

    async def staff_connected(self, sid: str) -> None:
        self.staff.append(sid)
        await self.sio.enter_room(sid, staff_room(sid), namespace=STAFF_NS)
        if self.slots is not None:
            room = slot_room(next(self.joined) % self.slots)
            await self.sio.enter_room(sid, room, namespace=STAFF_NS)

    def staff_disconnected(self, sid: str) -> None:
        if sid in self.staff:
            self.staff.remove(sid)

    def next_room(self) -> str | None:
        if self.slots is not None:
            return slot_room(next(self.turn) % self.slots)
        if not self.staff:
            return None
        return staff_room(self.staff[next(self.turn) % len(self.staff)])

    async def start(self) -> dict[str, Any]:
        room = self.next_room()
        if room is None:
            return {"ok": False, "error": {"code": "nobody.available"}}
        conversation_id = secrets.token_hex(16)
        self.rooms[conversation_id] = room
        conversation = {"id": conversation_id, "status": "ringing"}
        await self.sio.emit("ring", {"conversation": conversation}, room=room, namespace=STAFF_NS)
        return {"ok": True, "conversation": conversation}

    async def relay(self, message: dict[str, Any]) -> dict[str, Any]:
        room = self.rooms.get(message.get("conversation_id", ""))
        if room is None:
            return {"ok": False, "error": {"code": "conversation.not_found"}}
        await self.sio.emit("message.new", {"message": message}, room=room, namespace=STAFF_NS)
        return {"ok": True, "message": message}


def create_app(
    redis_url: str | None = None, channel: str = "socketio", slots: int = 10
) -> web.Application:
    fleet = redis_url is not None
    sio = socketio.AsyncServer(
        client_manager=socketio.AsyncRedisManager(redis_url, channel=channel) if fleet else None,
        async_mode="aiohttp",
        transports=["websocket"],
        cors_allowed_origins="*",
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )
    relay = Relay(sio, slots if fleet else None)

    @sio.on("connect", namespace=STAFF_NS)
    async def staff_connect(sid: str, environ: Any, auth: Any = None) -> None:
        await relay.staff_connected(sid)

    @sio.on("disconnect", namespace=STAFF_NS)
    async def staff_disconnect(sid: str, reason: Any = None) -> None:
        relay.staff_disconnected(sid)

    @sio.on("*", namespace=STAFF_NS)
    async def staff_event(event: str, sid: str, data: Any = None) -> dict[str, Any]:
        if event == "ring.accept":
            return {"ok": True, "conversation": {"id": data["conversation_id"]}}
        return {"ok": True}

    @sio.on("connect", namespace=CUSTOMER_NS)
    async def customer_connect(sid: str, environ: Any, auth: Any = None) -> None:
        return None

    @sio.on("*", namespace=CUSTOMER_NS)
    async def customer_event(event: str, sid: str, data: Any = None) -> dict[str, Any]:
        if event == "conversation.start":
            return await relay.start()
        if event == "message.send":
            return await relay.relay(data)
        return {"ok": True}

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def subscribe(app: web.Application) -> None:
        # python-socketio starts the manager's listener at the first connection; a fleet
        # node listens from the start, as Porchlight's nodes do.
        if fleet and not sio.manager_initialized:
            sio.manager_initialized = True
            sio.manager.initialize()

    app = web.Application()
    sio.attach(app)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(subscribe)
    return app


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--redis", help="a fleet node: python-socketio's Redis manager at this URL")
    cli.add_argument("--channel", default="socketio", help="the fleet's pub/sub channel")
    cli.add_argument("--staff-slots", type=int, default=10, help="slot rooms rung round-robin")
    args = cli.parse_args()
    app = create_app(args.redis, args.channel, args.staff_slots)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

"""The floor for ``bench/chat_latency.py``: a bare python-socketio relay that speaks just
enough of Porchlight's wire protocol for the benchmark's own client code to drive it.

``/staff`` sockets join a room of their own and are rung round-robin for each
``conversation.start`` on ``/customer``; ``ring.accept`` pairs the conversation with that
staff socket; ``message.send`` is re-emitted as ``message.new`` to the paired staff room and
acknowledged. No database, no validation, no authentication, no rate limits. Every other
event is acknowledged with ``{"ok": true}``.

    python bench/echo_server.py --port 8765
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


class Relay:
    """Conversations in memory: which staff room each one is delivered to."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.staff: list[str] = []
        self.turn = itertools.count()
        self.rooms: dict[str, str] = {}

    async def staff_connected(self, sid: str) -> None:
        self.staff.append(sid)
        await self.sio.enter_room(sid, staff_room(sid), namespace=STAFF_NS)

    def staff_disconnected(self, sid: str) -> None:
        if sid in self.staff:
            self.staff.remove(sid)

    async def start(self) -> dict[str, Any]:
        if not self.staff:
            return {"ok": False, "error": {"code": "nobody.available"}}
        conversation_id = secrets.token_hex(16)
        room = staff_room(self.staff[next(self.turn) % len(self.staff)])
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


def create_app() -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        transports=["websocket"],
        cors_allowed_origins="*",
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )
    relay = Relay(sio)

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

    app = web.Application()
    sio.attach(app)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--port", type=int, required=True)
    args = cli.parse_args()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

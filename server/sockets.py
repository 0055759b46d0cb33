"""The socket.io server, hardened at the transport: what reaches the namespaces is a well-formed
event from a client, never a lifecycle call it forged, a frame that does not decode, or a
binary packet (the protocol has none).

python-socketio hands a client's event named ``connect`` or ``disconnect`` to the same
``trigger_event`` that the transport uses for the real connect and disconnect, and logs a
traceback for every frame it cannot decode while keeping the socket open. ``SocketServer``
takes the engine.io message path over: client events with a lifecycle name are refused with
``event.unknown``; a socket that sends anything that does not decode, or a binary packet, is
closed, with one log line and no traceback.

It also bounds the sockets open at once from one client address (``sockets_per_address``):
the socket past the bound gets a coded ``rate.limited`` connect refusal and is closed; past
twice the bound (clients that never ask to connect a namespace) the handshake itself is
refused. Each socket's address is put in its environ under ``CLIENT_ADDRESS``, for the
namespaces' rate limits.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import socketio
from engineio import packet as engine_packet
from engineio.async_drivers.aiohttp import WebSocket
from socketio import packet

from signaling.dispatch import CLIENT_ADDRESS, refuse
from signaling.errors import ErrorCode, ProtocolError, refusal

log = logging.getLogger(__name__)

LIFECYCLE = frozenset({"connect", "connect_error", "disconnect", "disconnecting"})
"""Event names that only the transport may trigger (socket.io reserves them)."""
FULL_RETRY_SECONDS = 5.0
"""The retry hint of a refusal for too many open sockets: when one closes is unknown."""


class Garbage(Exception):
    """A frame from the client that is not a packet this server accepts."""


class CheckedWebSocket(WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket, refusing frames that are not engine.io packets: engine.io
    decodes them outside any error handling, so one bad frame logged a traceback. A frame that
    does not decode reads as the client closing the connection, which engine.io handles
    cleanly."""

    async def wait(self) -> str | bytes | None:
        data: str | bytes | None = await super().wait()
        if data is None:
            return None
        try:
            engine_packet.Packet(encoded_packet=data)
        except Exception:  # ValueError, binascii.Error, …: whatever the decoder raises
            log.info("socket closed: undecodable engine.io frame")
            return None
        return data


class SocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` (same ``options``) that lets only the transport trigger
    lifecycle handlers, closes a socket at its first frame that is not a text event, ack,
    connect or disconnect packet, and bounds the open sockets per client address.

    :param address_of: a connection's real client address, from its environ.
    :param sockets_per_address: sockets open at once from one address.
    """

    def __init__(
        self,
        *,
        address_of: Callable[[Mapping[str, Any]], str],
        sockets_per_address: int,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        # A copy: the driver's table is module-level and shared by every server.
        self.eio._async = {**self.eio._async, "websocket": CheckedWebSocket}
        self.address_of = address_of
        self.sockets_per_address = sockets_per_address
        self._open: Counter[str] = Counter()
        self._address: dict[str, str] = {}

    def open_sockets(self, address: str) -> int:
        """Sockets open now from ``address``."""
        return self._open.get(address, 0)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> bool | None:
        address = self.address_of(environ)
        if self._open[address] >= 2 * self.sockets_per_address:
            return False  # engine.io answers 401; nothing is logged, the client pays for it
        self._open[address] += 1
        self._address[eio_sid] = address
        environ[CLIENT_ADDRESS] = address
        await super()._handle_eio_connect(eio_sid, environ)
        return None

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        await super()._handle_eio_disconnect(eio_sid, reason)
        address = self._address.pop(eio_sid, None)
        if address is not None:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        address = self._address.get(eio_sid)
        if address is not None and self._open[address] > self.sockets_per_address:
            error = ProtocolError(
                ErrorCode.RATE_LIMITED,
                "Too many connections from your network; try again shortly.",
                FULL_RETRY_SECONDS,
            )
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    packet.CONNECT_ERROR, data=refuse(error).error_args, namespace=namespace
                ),
            )
            await self._drop(eio_sid)
            return
        await super()._handle_connect(eio_sid, namespace, data)

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        """engine.io's message handler: decode one socket.io packet and dispatch it."""
        if eio_sid not in self.environ:
            return  # closed already; frames it had in flight are dropped
        try:
            pkt = self._decode(data)
        except Garbage as garbage:
            log.info("socket closed: %s", garbage)
            await self._drop(eio_sid)
            return
        if pkt.packet_type == packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif pkt.packet_type == packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif pkt.packet_type == packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif pkt.data[0] in LIFECYCLE:
            await self._refuse_event(eio_sid, pkt)
        else:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)

    def _decode(self, data: str | bytes) -> Any:
        if not isinstance(data, str):
            raise Garbage("binary frame")  # attachments: the protocol sends no binary
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception:  # ValueError, TypeError, …: whatever the decoder raises
            raise Garbage("undecodable socket.io packet") from None
        if pkt.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK):
            raise Garbage("binary packet")
        if pkt.packet_type == packet.EVENT:
            if not (isinstance(pkt.data, list) and pkt.data and isinstance(pkt.data[0], str)):
                raise Garbage("event without a name")
        elif pkt.packet_type == packet.ACK:
            if not isinstance(pkt.data, list):
                raise Garbage("malformed ack")
        elif pkt.packet_type not in (packet.CONNECT, packet.DISCONNECT):
            raise Garbage(f"unexpected packet type {pkt.packet_type!r}")
        return pkt

    async def _refuse_event(self, eio_sid: str, pkt: Any) -> None:
        if pkt.id is None:
            return
        error = ProtocolError(ErrorCode.EVENT_UNKNOWN, "Only the server triggers that event.")
        await self._send_packet(
            eio_sid,
            self.packet_class(
                packet.ACK, namespace=pkt.namespace, id=pkt.id, data=[refusal(error)]
            ),
        )

    async def _drop(self, eio_sid: str) -> None:
        """Disconnect every namespace (their handlers run, as for any disconnect), then close
        the websocket itself: a client that ignores engine.io's close packet is closed too."""
        engine_socket = self.eio.sockets.get(eio_sid)
        await self.eio.disconnect(eio_sid)
        if engine_socket is not None:
            await engine_socket.queue.put(None)  # how engine.io stops its writer and the socket

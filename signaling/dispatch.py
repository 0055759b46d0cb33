"""The base of both socket.io namespaces: every event is looked up in the namespace's closed
catalogue, rate-limited, decoded against its payload model and acknowledged; every failure
becomes a coded refusal, so a bad payload never reaches a handler and changes nothing.

Two rate limits apply: a token bucket per socket for every event (a flood guard), and the
``Limits`` port for the kinds a namespace lists in ``limited``, counted per visitor (or staff
member), per client address and per site, however many sockets they use."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

import socketio

from signaling.errors import ErrorCode, ProtocolError, refusal
from signaling.ports import Counted, LimitKind, Limits
from signaling.protocol import Payload, decode

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], Awaitable[dict[str, Any]]]

CLIENT_ADDRESS = "porchlight.client_address"
"""The environ key where the transport puts a connection's real client address."""


class Bucket:
    """Token bucket: ``rate`` events a second, bursts up to ``burst``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, time.monotonic()

    def take(self) -> float | None:
        """Take a token: None, or the seconds until there is one."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return (1 - self.tokens) / self.rate
        self.tokens -= 1
        return None


class ProtocolNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Decodes each event against the catalogue and acknowledges every one of them.

    ``limited`` maps the events that ``Limits`` counts to their kind; they are counted against
    what ``count_as`` recorded for the socket when it connected.
    """

    catalogue: type[StrEnum]
    payloads: Mapping[Any, type[Payload]]
    limited: Mapping[Any, LimitKind] = {}

    def __init__(self, namespace: str, limits: Limits) -> None:
        super().__init__(namespace)
        self.limits = limits
        self._buckets: dict[str, Bucket] = {}
        self._counted: dict[str, Counted] = {}

    def count_as(self, sid: str, who: Counted) -> None:
        """Count this socket's limited events against ``who``."""
        self._counted[sid] = who

    async def limit(self, kind: LimitKind, who: Counted) -> None:
        """Count one ``kind`` against ``who``; raises ``rate.limited`` with the retry delay."""
        retry_after = await self.limits.hit(kind, who)
        if retry_after is not None:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many requests; try again shortly.", retry_after
            )

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # Only the transport gets here with these two: server.sockets refuses client events
        # that carry a lifecycle name.
        if event in ("connect", "disconnect"):
            if event == "disconnect":
                self._buckets.pop(args[0], None)
                self._counted.pop(args[0], None)
            return await super().trigger_event(event, *args)
        sid = args[0]
        try:
            try:
                name = self.catalogue(event)
            except ValueError:
                raise ProtocolError(ErrorCode.EVENT_UNKNOWN, f"Unknown event {event!r}.") from None
            bucket = self._buckets.setdefault(sid, Bucket(rate=20.0, burst=60.0))
            wait = bucket.take()
            if wait is not None:
                raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many events; slow down.", wait)
            kind, who = self.limited.get(name), self._counted.get(sid)
            if kind is not None and who is not None:
                await self.limit(kind, who)
            request = decode(self.payloads[name], args[1] if len(args) > 1 else None)
            handler: Handler = getattr(self, "on_" + name.value.replace(".", "_"))
            return await handler(sid, request)
        except ProtocolError as error:
            return refusal(error)
        except Exception:
            log.exception("event %s failed", event)
            return refusal(ProtocolError(ErrorCode.SERVER_ERROR, "Something went wrong."))


def refuse(error: ProtocolError) -> socketio.exceptions.ConnectionRefusedError:
    """A connect refusal whose ``data`` carries the coded error."""
    return socketio.exceptions.ConnectionRefusedError(error.message, error.to_wire())

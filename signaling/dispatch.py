"""The base of both socket.io namespaces: every event is looked up in the namespace's closed
catalogue, rate-limited, decoded against its payload model and acknowledged; every failure
becomes a coded refusal, so a bad payload never reaches a handler and changes nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

import socketio

from signaling.errors import ErrorCode, ProtocolError, refusal
from signaling.protocol import Payload, decode

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], Awaitable[dict[str, Any]]]


class Bucket:
    """Token bucket: ``rate`` events a second, bursts up to ``burst``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ProtocolNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Decodes each event against the catalogue and acknowledges every one of them."""

    catalogue: type[StrEnum]
    payloads: Mapping[Any, type[Payload]]

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self._buckets: dict[str, Bucket] = {}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            if event == "disconnect":
                self._buckets.pop(args[0], None)
            return await super().trigger_event(event, *args)
        sid = args[0]
        try:
            try:
                name = self.catalogue(event)
            except ValueError:
                raise ProtocolError(ErrorCode.EVENT_UNKNOWN, f"Unknown event {event!r}.") from None
            bucket = self._buckets.setdefault(sid, Bucket(rate=20.0, burst=60.0))
            if not bucket.take():
                raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many events; slow down.")
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

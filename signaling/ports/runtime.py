"""Everything else the domain needs from outside: delivery to sockets, the event publisher,
time, authentication, ICE configuration and rate limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from signaling.domain_events import DomainEvent
from signaling.events import ServerEvent
from signaling.ports.records import Site, StaffMember


class Delivery(Protocol):
    """How the domain reaches people: server events to a conversation's customer sockets, to
    a staff member's consoles, or to every console. Implemented by the socket.io adapter
    (``signaling.outbound``); emits are hints, so nothing here waits for a client."""

    async def to_customer(
        self,
        conversation_id: str,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None: ...

    async def to_staff(
        self, staff_id: int, event: ServerEvent, data: dict[str, Any], skip_sid: str | None = None
    ) -> None: ...

    async def to_both(
        self,
        conversation_id: str,
        assignee_id: int | None,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None:
        """The same payload to the staff member, if assigned, and to the customer."""
        ...

    async def to_all_staff(self, event: ServerEvent, data: dict[str, Any]) -> None: ...


class Publisher(Protocol):
    """Where the domain announces what it did (``signaling.domain_events``)."""

    async def publish(self, event: DomainEvent) -> None:
        """Record ``event`` and hand it to every subscriber; returns once they are done."""
        ...


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time, so that routing can be driven by tests and the event loop alike."""

    def now(self) -> float:
        """Epoch seconds."""
        ...

    def call_later(self, delay: float, callback: Callable[[], Any]) -> TimerHandle:
        """Run ``callback`` (sync, or returning an awaitable that will be awaited) after
        ``delay`` seconds."""
        ...


@dataclass(frozen=True, slots=True)
class CustomerIdentity:
    """A connected visitor, established from a verified token."""

    site: Site
    visitor_id: str
    token: str


class Auth(Protocol):
    """Who is on the other end of a socket."""

    async def staff_from_environ(self, environ: Mapping[str, Any]) -> StaffMember | None:
        """The signed-in staff member behind this connection (session cookie), or None."""
        ...

    async def customer_from_auth(
        self, site_key: str, host: str, token: str | None, environ: Mapping[str, Any]
    ) -> CustomerIdentity:
        """Check the site, the origins and the token; mint a token for a new visitor.
        Raises ``ProtocolError`` (site.unknown, origin.not_allowed, token.invalid)."""
        ...


class IceProvider(Protocol):
    """STUN/TURN configuration for one call participant."""

    async def config_for(self, site_key: str, participant_id: str) -> dict[str, Any]:
        """``{"ice_servers": [...], "ice_transport_policy": "all" | "relay"}`` with TURN
        credentials minted for ``participant_id`` alone and expiring soon."""
        ...


LimitKind = Literal["connection", "conversation", "message", "typing", "precheck"]
"""What is counted: new socket connections, ``conversation.start``, ``message.send``,
``typing`` and pre-call checks started."""


@dataclass(frozen=True, slots=True)
class Counted:
    """Who one event is counted against. Each scope given has its own limit (per visitor or
    staff member, per client address, per site); ``None`` leaves that scope out."""

    visitor: str | None = None
    address: str | None = None
    site: str | None = None


class Limits(Protocol):
    """Rate limits per visitor, address and site, shared by every node that uses the same
    storage (in memory: this process only)."""

    async def hit(self, kind: LimitKind, who: Counted) -> float | None:
        """Count one ``kind`` against each scope of ``who``, narrowest first. ``None`` when
        every scope allows it; otherwise the seconds until the scope that refused allows it
        again (the scopes after it are not counted)."""
        ...

"""What the real-time domain needs from outside, as protocols, plus the records that cross
them. ``server/`` implements these (SQL store, session auth); tests may implement them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["queued", "ringing", "active", "ended"]
Sender = Literal["customer", "staff", "system"]
Side = Literal["customer", "staff"]
EndedBy = Literal["customer", "staff", "system"]
Role = Literal["admin", "agent"]


@dataclass(frozen=True, slots=True)
class Site:
    """A website that embeds the widget."""

    id: int
    key: str
    name: str
    allowed_origins: tuple[str, ...]
    greeting: str = "Hi! How can we help?"
    relay_only: bool = False


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A person who answers. ``languages`` empty means they take any language."""

    id: int
    email: str
    name: str
    role: Role
    languages: tuple[str, ...] = ()
    max_chats: int = 3


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation as stored. Times are epoch seconds (float).

    States: ``queued → ringing → active → ended`` (``ringing → queued`` on timeout or decline,
    ``active → queued`` when the assignee's grace period runs out). ``version`` starts at 1 and
    grows with every ``Store.update_conversation`` that changes the row, so of two copies the
    one with the higher version is the newer.
    """

    id: str
    site_id: int
    site_key: str
    visitor_id: str
    status: Status
    channel: str
    language: str | None
    assignee_id: int | None
    ringing_staff_id: int | None
    last_seq: int
    customer_read_seq: int
    staff_read_seq: int
    visitor_name: str | None
    page_url: str | None
    page_title: str | None
    created_at: float
    queued_at: float
    accepted_at: float | None
    ended_at: float | None
    ended_by: EndedBy | None
    version: int


@dataclass(frozen=True, slots=True)
class Message:
    """One committed message; ``seq`` is gapless per conversation, starting at 1."""

    conversation_id: str
    seq: int
    client_msg_id: str | None
    sender: Sender
    author_id: int | None
    author_name: str | None
    kind: Literal["text", "system"]
    body: str
    created_at: float
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NewConversation:
    """What a customer's ``conversation.start`` creates."""

    site: Site
    visitor_id: str
    channel: str = "chat"
    language: str | None = None
    visitor_name: str | None = None
    page_url: str | None = None
    page_title: str | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store; ``client_msg_id`` makes the write idempotent (None for system)."""

    conversation_id: str
    sender: Sender
    kind: Literal["text", "system"]
    body: str
    client_msg_id: str | None = None
    author_id: int | None = None
    author_name: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Owners:
    """Whose a conversation is and whether it is open, as read inside a message's own
    transaction (so the check and the write see the same row)."""

    status: Status
    site_id: int
    visitor_id: str
    assignee_id: int | None


@dataclass(frozen=True, slots=True)
class Appended:
    """What ``Store.append_message`` did: the stored message, whether this call created it
    (``False`` for a resend of a stored ``client_msg_id``) and the conversation's owners."""

    message: Message
    created: bool
    owners: Owners


@dataclass(slots=True)
class Changes:
    """Fields to change on a conversation; ``None`` leaves a field as it is, except for the
    two ``clear_*`` flags."""

    status: Status | None = None
    assignee_id: int | None = None
    clear_assignee: bool = False
    ringing_staff_id: int | None = None
    clear_ringing: bool = False
    queued_at: float | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    ended_by: EndedBy | None = None
    page_url: str | None = None
    page_title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Store(Protocol):
    """Durable state. Every method is one transaction; ``append_message`` commits before it
    returns, so an acknowledgement sent after it is a promise kept."""

    async def get_site(self, key: str) -> Site | None:
        """The site with this public key."""
        ...

    async def get_staff(self, staff_id: int) -> StaffMember | None:
        """A staff member by id."""
        ...

    async def create_conversation(self, new: NewConversation, now: float) -> Conversation:
        """Insert a ``queued`` conversation with ``last_seq`` 0."""
        ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        """One conversation, or None."""
        ...

    async def open_conversation_for(self, site_id: int, visitor_id: str) -> Conversation | None:
        """The visitor's newest conversation on this site that has not ended."""
        ...

    async def list_conversations(self, statuses: tuple[Status, ...]) -> list[Conversation]:
        """Conversations in these states, oldest ``queued_at`` first."""
        ...

    async def update_conversation(
        self,
        conversation_id: str,
        changes: Changes,
        expect_status: tuple[Status, ...] | None = None,
        expect_assignee: int | None = None,
    ) -> Conversation | None:
        """Apply ``changes`` only if the row still matches the expectations (compare and set)
        and bump its ``version`` in the same write; returns the updated conversation, or None
        when it did not match."""
        ...

    async def append_message(
        self, new: NewMessage, now: float, admit: Callable[[Owners], None] | None = None
    ) -> Appended:
        """Store a message and assign the next ``seq`` in one transaction, the delivery path's
        only trip to the database. ``admit`` is called inside it with the conversation's
        owners; whatever it raises rolls the transaction back and propagates. A message with
        the same ``(conversation_id, client_msg_id)`` already stored is returned unchanged,
        ``created`` False. Raises ``KeyError`` for an unknown conversation."""
        ...

    async def messages_after(
        self, conversation_id: str, after_seq: int, limit: int = 500
    ) -> list[Message]:
        """Messages with ``seq > after_seq`` in seq order."""
        ...

    async def set_read(self, conversation_id: str, side: Side, seq: int) -> None:
        """Raise this side's read marker to ``seq`` (never lowers it)."""
        ...

    async def record_event(
        self,
        conversation_id: str,
        kind: str,
        now: float,
        staff_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append a routing event (rung, missed, declined, accepted, abandoned, requeued,
        ended) to the conversation's audit trail."""
        ...

    async def recent_handling_seconds(self, limit: int = 20) -> list[float]:
        """``ended_at - accepted_at`` for the most recently ended handled conversations."""
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

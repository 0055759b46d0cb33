"""What the real-time domain needs from outside, as protocols, plus the records that cross
them. ``server/`` implements these (SQL store, session auth); tests may implement them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from signaling.domain_events import DomainEvent
from signaling.events import ServerEvent
from signaling.protocol import CallChannel, Channel

Status = Literal["queued", "ringing", "active", "ended"]
Sender = Literal["customer", "staff", "system"]
Side = Literal["customer", "staff"]
EndedBy = Literal["customer", "staff", "system"]
Role = Literal["admin", "agent"]
Answer = Literal["accepted", "declined", "superseded", "withdrawn"]


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
    ring_deadline: float | None = None
    tried: tuple[int, ...] = ()


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


@dataclass(frozen=True, slots=True)
class Call:
    """One call in a conversation, as stored: running while ``ended_at`` is None. A
    conversation has at most one running call and a staff member at most one, anywhere (the
    database's unique indexes say so, not a process's memory)."""

    id: str
    conversation_id: str
    staff_id: int
    channel: CallChannel
    started_by: Side
    started_at: float
    ended_at: float | None = None
    ended_by: EndedBy | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class NewCall:
    """A call to start: the conversation, the staff member it must still be assigned to, the
    channel and the side that asked."""

    conversation_id: str
    staff_id: int
    channel: CallChannel
    started_by: Side


@dataclass(frozen=True, slots=True)
class StartedCall:
    """What ``Store.start_call`` did: the new call, and the conversation's previous call if it
    ended in the same transaction (``switched``)."""

    call: Call
    switched: Call | None


class CallRefused(Exception):
    """``Store.start_call`` changed nothing: the conversation is not active with that staff
    member (``not_active``), or the staff member is in a call elsewhere (``busy``)."""

    def __init__(self, reason: Literal["not_active", "busy"]) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Proposal:
    """The staff member's ``call.propose``: open while ``answer`` is None. A conversation has
    at most one open proposal; a newer one supersedes it."""

    id: str
    conversation_id: str
    staff_id: int
    channel: Channel
    proposed_at: float
    answered_at: float | None = None
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """What ``Store.close_conversation`` did: the conversation as it now stands and the call
    that ended with it, if one was running."""

    conversation: Conversation
    call: Call | None


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

    async def append_event(self, event: DomainEvent) -> None:
        """Append a domain event to the append-only event log."""
        ...

    async def list_events(self, conversation_id: str | None = None) -> list[DomainEvent]:
        """The event log in order, for one conversation or for everything."""
        ...

    async def recent_handling_seconds(self, limit: int = 20) -> list[float]:
        """``ended_at - accepted_at`` for the most recently ended handled conversations."""
        ...

    # -- calls: the running call of a conversation and of a staff member are rows, so any
    # node answers; each change is one transaction holding the conversation's row.

    async def start_call(self, new: NewCall, now: float) -> StartedCall:
        """Start a call in one transaction holding the conversation's row: the conversation
        must be ``active`` and assigned to ``new.staff_id``, and that staff member in no call
        in another conversation; the conversation's running call, if any, ends as
        ``switched`` (ended by ``new.started_by``) and its ``channel`` becomes the call's.
        Raises ``CallRefused`` (and changes nothing) otherwise."""
        ...

    async def running_call(self, conversation_id: str) -> Call | None:
        """The call running in this conversation, or None."""
        ...

    async def running_call_of_staff(self, staff_id: int) -> Call | None:
        """The call this staff member is in, in whichever conversation, or None."""
        ...

    async def end_call(
        self,
        conversation_id: str,
        call_id: str | None,
        by: EndedBy,
        reason: str,
        now: float,
    ) -> Call | None:
        """End the conversation's running call (only if its id is ``call_id``, unless that
        is None) and put the conversation's ``channel`` back to chat, in one transaction.
        Returns the ended call, or None when no such call was running."""
        ...

    async def close_conversation(
        self,
        conversation_id: str,
        changes: Changes,
        call_reason: str,
        now: float,
        expect_status: tuple[Status, ...] | None = None,
        expect_assignee: int | None = None,
    ) -> Closed | None:
        """``update_conversation`` for a change that takes a conversation out of ``active``
        (it ends, or returns to the queue). In the same transaction its running call ends
        (ended by ``system``, reason ``call_reason``, channel back to chat) and an open
        proposal is ``withdrawn``, so no call outlives its conversation, on any node. None
        when the row did not match the expectations (nothing changed)."""
        ...

    async def propose_call(
        self, conversation_id: str, staff_id: int, channel: Channel, now: float
    ) -> Proposal | None:
        """Open a proposal, superseding the conversation's open one, while the conversation is
        ``active`` and assigned to ``staff_id`` (checked holding its row); None otherwise."""
        ...

    async def answer_proposal(
        self, conversation_id: str, proposal_id: str, accepted: bool, now: float
    ) -> Proposal | None:
        """Answer the conversation's open proposal ``proposal_id`` (once: a second answer, a
        superseded or withdrawn proposal gets None); returns it answered."""
        ...


PresenceStatus = Literal["available", "away", "offline"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A staff member as routing sees them when choosing whom to ring: connected on some
    live node, with what they chose, their free capacity and their devices."""

    member: StaffMember
    status: PresenceStatus
    active: int
    ringing: bool
    idle_since: float
    media: frozenset[str] = frozenset()

    @property
    def has_capacity(self) -> bool:
        return self.active < self.member.max_chats

    def speaks(self, language: str | None) -> bool:
        """Matches on the primary subtag (``pt-BR`` matches ``pt``); no languages means any."""
        if not language or not self.member.languages:
            return True
        wanted = language.split("-")[0].lower()
        return any(own.split("-")[0].lower() == wanted for own in self.member.languages)


@dataclass(frozen=True, slots=True)
class Presence:
    """One staff member's presence as stored: ``status`` is what they chose, ``connected``
    whether any live node holds a console socket of theirs."""

    staff_id: int
    status: Literal["available", "away"]
    connected: bool
    media: frozenset[str]
    idle_since: float
    grace_until: float | None

    @property
    def shown(self) -> PresenceStatus:
        """What others see: offline while no console is connected."""
        return self.status if self.connected else "offline"


@dataclass(frozen=True, slots=True)
class Ring:
    """A ring the store made: ``conversation`` is now ``ringing`` for ``staff_id``."""

    conversation: Conversation
    staff_id: int


@dataclass(frozen=True, slots=True)
class EndedRing:
    """A ring that ended without an accept (timeout, decline, the staff member went away or
    offline): ``conversation`` is ``queued`` again, or None if it had moved on."""

    conversation_id: str
    staff_id: int
    conversation: Conversation | None


@dataclass(frozen=True, slots=True)
class Staffing:
    """Who can answer right now, for wait estimates."""

    serving: int
    open_slots: int
    capacity: int


# Chooses whom to ring for one queued conversation among the free candidates and returns
# their id and the round's new ``tried`` set, or None. Runs inside the dispatch transaction.
Chooser = Callable[[Conversation, list[Candidate]], tuple[int, tuple[int, ...]] | None]


class RoutingStore(Protocol):
    """Routing state every node shares: rings with their deadlines, presence, console
    sockets per node, grace deadlines and node heartbeats. Each method is one transaction;
    those that ring or requeue are compare-and-set, so two nodes acting at once cannot both
    win."""

    async def heartbeat(self, node_id: str, now: float) -> bool:
        """Record that this node is alive; whether its row was there. False on the first
        call, and after the other nodes took this node for dead (no beat for longer than
        the node timeout) and forgot its console sockets; the row is made again."""
        ...

    async def forget_nodes(
        self, now: float, grace: float, *, before: float | None = None, node_id: str | None = None
    ) -> list[int]:
        """Drop the nodes whose heartbeat is older than ``before`` (or the node ``node_id``)
        and their console sockets; staff left with no socket anywhere get a grace deadline
        (``now + grace``) when they hold conversations. Returns those staff ids."""
        ...

    async def attach_socket(
        self, node_id: str, sid: str, member: StaffMember, now: float
    ) -> Presence:
        """A console socket connected: it counts as this staff member's presence, and a
        pending grace deadline is cleared."""
        ...

    async def detach_socket(
        self, node_id: str, sid: str, now: float, grace: float
    ) -> Presence | None:
        """A console socket closed. When it was the staff member's last, they get a grace
        deadline (if they hold conversations). None for an unknown socket."""
        ...

    async def sockets_of(self, staff_id: int) -> list[str]:
        """The console sockets of this staff member on every node."""
        ...

    async def set_presence(
        self,
        member: StaffMember,
        status: Literal["available", "away"],
        media: frozenset[str] | None,
        now: float,
    ) -> Presence:
        """Store what the staff member chose; becoming available restarts their idle time."""
        ...

    async def get_presence(self, member: StaffMember, now: float) -> Presence:
        """The staff member's presence (away and offline when never seen)."""
        ...

    async def dispatch(self, now: float, ring_timeout: float, choose: Chooser) -> list[Ring]:
        """Ring free staff for queued conversations, oldest first, one ring per conversation
        and per staff member. Serialised across nodes; returns the rings it made."""
        ...

    async def accept_ring(
        self, conversation_id: str, member: StaffMember, now: float
    ) -> Conversation | None:
        """Make the conversation ``active`` for ``member`` if it is ringing for them and they
        have capacity (counted in the same statement); None otherwise."""
        ...

    async def end_ring(self, conversation_id: str, staff_id: int) -> EndedRing | None:
        """Put a conversation ringing for ``staff_id`` back in the queue; None if it was not."""
        ...

    async def rings_of(self, staff_id: int) -> list[Conversation]:
        """The conversations ringing for this staff member."""
        ...

    async def expire_rings(self, now: float) -> list[EndedRing]:
        """Requeue every ring whose deadline has passed (each claimed by one node only)."""
        ...

    async def expire_grace(self, now: float) -> list[tuple[int, list[Closed]]]:
        """For each staff member whose grace deadline has passed and who is still not
        connected: their active conversations, returned to the queue (keeping their place),
        each with the call that ended with it."""
        ...

    async def assigned_to(self, staff_id: int) -> list[Conversation]:
        """The staff member's active conversations."""
        ...

    async def waiting(self) -> list[Conversation]:
        """Queued and ringing conversations, first come first served."""
        ...

    async def queue_position(self, conversation: Conversation) -> int | None:
        """1 for the first waiting conversation; None when this one is not waiting."""
        ...

    async def staffing(self, now: float) -> Staffing:
        """Connected, available staff and their free and total chat slots."""
        ...


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

"""Routing state every node shares: rings and deadlines, presence, console sockets,
nodes; and the records routing reads and writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from signaling.ports.calls import Closed
from signaling.ports.records import Conversation, StaffMember, WrapUp

PresenceStatus = Literal["available", "away", "offline"]
AwayReason = Literal["break", "lunch", "training", "other"]


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
    # In a call already (or about to be: holding a call conversation whose call is not yet
    # started): calls are their own capacity (one), so no call rings them.
    in_call: bool = False

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
    # While away: why, and since when (for the duration recorded when it ends).
    reason: AwayReason | None = None
    away_since: float | None = None

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
        reason: AwayReason | None = None,
    ) -> tuple[Presence, Presence]:
        """Store what the staff member chose, with the away ``reason``; becoming available
        restarts their idle time, going away (or changing reason) restarts ``away_since``
        and the count of calls in a row. Returns the presence before and after, read in the
        same transaction."""
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

    # -- wrap-up: a deadline on the presence row (begun by ``Store.close_conversation``),
    # swept like rings ------------------------------------------------------------------

    async def wrapup_of(self, staff_id: int, now: float) -> WrapUp | None:
        """The staff member's running wrap-up, if any."""
        ...

    async def end_wrapup(self, staff_id: int, now: float) -> WrapUp | None:
        """End a running wrap-up early (idle from now); None if none was running."""
        ...

    async def extend_wrapup(
        self, staff_id: int, now: float, seconds: float, longest: float
    ) -> WrapUp | None:
        """Add ``seconds`` to a running wrap-up, to at most ``longest`` from now; None if
        none was running."""
        ...

    async def expire_wrapups(self, now: float) -> list[WrapUp]:
        """End every wrap-up past its deadline (each claimed by one node only); their staff
        count as idle since the deadline."""
        ...

    async def tag_conversation(
        self, conversation_id: str, staff_id: int, tag: str
    ) -> Conversation | None:
        """Store the outcome ``tag`` on a conversation assigned to ``staff_id`` (open or
        ended); None if it is not theirs."""
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

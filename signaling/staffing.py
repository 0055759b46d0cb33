"""Staffing: who is on duty. Presence (what each staff member chose), their console sockets on
every node, capacity, grace periods, and the choice of whom to ring next.

Everything here is a row in the shared ``RoutingStore``, so a staff member with two tabs on
two nodes is one person: connected while any node holds one of their sockets, rung once.
A staff member whose last socket goes (closed, or its node died) keeps their conversations
until a grace deadline, which any node's sweeper acts on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from signaling.ports import (
    AwayReason,
    Candidate,
    Clock,
    Conversation,
    Presence,
    RoutingStore,
    StaffMember,
    Store,
)

log = logging.getLogger(__name__)

# The devices a staff member needs ready to be rung for a conversation of each channel.
NEEDS: dict[str, frozenset[str]] = {
    "chat": frozenset(),
    "voice": frozenset({"microphone"}),
    "video": frozenset({"camera", "microphone"}),
    "oneway": frozenset({"camera", "microphone"}),
}


def choose(
    conversation: Conversation, free: Sequence[Candidate]
) -> tuple[int, tuple[int, ...]] | None:
    """Whom to ring for ``conversation`` among ``free`` staff (connected, available, not
    rung, with a free slot, not wrapping up): who speaks its language, has the devices its
    channel needs (and, for a call, is in no call) and has not been rung in this round; the
    least loaded first and among them the longest idle (idle since the end of their last
    conversation or wrap-up, their last accept, or their becoming available). When everyone
    who fits has been rung once, the round starts again rather than leave the customer
    waiting on nobody. Returns the staff id and the round's new ``tried`` set."""
    needs = NEEDS.get(conversation.channel, frozenset())
    call = conversation.channel != "chat"
    fits = [
        c
        for c in free
        if c.speaks(conversation.language) and needs <= c.media and not (call and c.in_call)
    ]
    if not fits:
        return None
    tried = set(conversation.tried)
    fresh = [c for c in fits if c.member.id not in tried]
    pool, tried = (fresh, tried) if fresh else (fits, set())
    picked = min(pool, key=lambda c: (c.active, c.idle_since, c.member.id))
    return picked.member.id, tuple(sorted(tried | {picked.member.id}))


class Staff:
    """Presence and console sockets of this node's staff, kept in the shared store.

    ``node_id`` names this process among the nodes; ``grace`` is how long a staff member
    without a console keeps their conversations.
    """

    def __init__(
        self, store: Store, routing: RoutingStore, clock: Clock, node_id: str, grace: float
    ) -> None:
        self.store = store
        self.routing = routing
        self.clock = clock
        self.node_id = node_id
        self.grace = grace
        self._names: dict[int, str] = {}
        self._consoles: dict[str, StaffMember] = {}  # this node's console sockets

    def remember(self, member: StaffMember) -> None:
        self._names[member.id] = member.name

    def known_name(self, staff_id: int | None) -> str | None:
        return None if staff_id is None else self._names.get(staff_id)

    async def name_of(self, staff_id: int) -> str:
        """A staff member's display name (cached; names rarely change)."""
        name = self._names.get(staff_id)
        if name is None:
            member = await self.store.get_staff(staff_id)
            name = member.name if member else "Staff"
            self._names[staff_id] = name
        return name

    async def connected(self, member: StaffMember, sid: str) -> Presence:
        """A console socket of ``member`` connected to this node; a grace period stops."""
        self.remember(member)
        self._consoles[sid] = member
        presence = await self.routing.attach_socket(self.node_id, sid, member, self.clock.now())
        log.info("staff %s connected on node %s", member.id, self.node_id)
        return presence

    async def forgotten(self) -> list[tuple[str, StaffMember]]:
        """This node's console sockets that the store no longer holds, with their staff
        members. They are forgotten when the other nodes took this node for dead (it did
        not beat for longer than the node timeout: stopped, starved, or cut off from the
        database) and started their staff's grace; they are still connected here, and
        attaching them again (``connected``) cancels the grace before anything is requeued."""
        lost = []
        for sid, member in list(self._consoles.items()):
            if sid not in await self.routing.sockets_of(member.id):
                lost.append((sid, member))
        log.warning(
            "node %s was taken for dead; %d console sockets rejoin", self.node_id, len(lost)
        )
        return lost

    async def disconnected(self, sid: str) -> Presence | None:
        """A console socket closed. Returns the staff member's presence when it was their last
        socket anywhere (their rings are then to be withdrawn; if they hold conversations,
        their grace has started); None otherwise."""
        self._consoles.pop(sid, None)
        presence = await self.routing.detach_socket(self.node_id, sid, self.clock.now(), self.grace)
        if presence is None or presence.connected:
            return None
        if presence.grace_until is not None:
            log.info("staff %s offline; grace period started", presence.staff_id)
        return presence

    async def set(
        self,
        member: StaffMember,
        status: Literal["available", "away"],
        media: frozenset[str] | None,
        reason: AwayReason | None = None,
    ) -> tuple[Presence, Presence]:
        """Store what the staff member chose (and which devices work, and why away);
        returns their presence before and after."""
        self.remember(member)
        before, after = await self.routing.set_presence(
            member, status, media, self.clock.now(), reason
        )
        log.info("staff %s is %s", member.id, after.status)
        return before, after

    async def presence(self, member: StaffMember) -> Presence:
        return await self.routing.get_presence(member, self.clock.now())

"""Routing: ringing one staff member at a time for each waiting conversation, accept and
decline, ring and grace deadlines, and the end of a conversation.

A waiting conversation is ``queued`` or ``ringing``. ``dispatch`` rings, for each queued
conversation in queue order, the longest-idle matching staff member; the ring ends by accept
(→ ``active``), decline or timeout (→ ``queued``, next person). A staff member whose last
console socket goes keeps their conversations until a grace deadline; then they return to the
queue at their original place.

Nothing here lives only in this process: rings, deadlines, presence and sockets are rows of
the shared ``RoutingStore``, changed by compare-and-set, so any node may act on any of them
and a node that dies loses nothing. ``sweep`` (run by every node's ``Sweeper``) fires what is
due: rings past their deadline, grace periods that ran out, nodes that stopped beating. A
timer of this process may fire a ring's timeout first; that is only an optimisation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode, ProtocolError
from signaling.events import ServerEvent
from signaling.ports import (
    AwayReason,
    Call,
    Changes,
    Clock,
    Closed,
    Conversation,
    Delivery,
    EndedBy,
    EndedRing,
    NewMessage,
    Presence,
    Publisher,
    Ring,
    RoutingStore,
    StaffMember,
    Status,
    Store,
)
from signaling.protocol import ConversationView
from signaling.queueing import WAITING, QueueFeed
from signaling.shift import Shift, reason_of
from signaling.staffing import Staff, choose
from signaling.views import StaffHandles, message_view

log = logging.getLogger(__name__)

OPEN: tuple[Status, ...] = ("queued", "ringing", "active")


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Timings and defaults, from settings."""

    ring_timeout: float = 20.0
    grace_period: float = 30.0
    default_handling_seconds: float = 180.0
    # A node whose heartbeat is older than this is dead; its consoles count as gone.
    node_timeout: float = 10.0


class Router:
    """Routing for one node; all state is in the store."""

    def __init__(
        self,
        store: Store,
        routing: RoutingStore,
        clock: Clock,
        outbound: Delivery,
        policy: RoutingPolicy,
        handles: StaffHandles,
        node_id: str,
        events: Publisher,
    ) -> None:
        self.store = store
        self.events = events
        self.routing = routing
        self.clock = clock
        self.outbound = outbound
        self.policy = policy
        self.node_id = node_id
        # One node with no shared manager (``start`` says): no heartbeats to keep.
        self.alone = False
        self.handles = handles
        self.staff = Staff(store, routing, clock, node_id, policy.grace_period)
        self.queue = QueueFeed(
            store,
            routing,
            clock,
            outbound,
            self.staff.known_name,
            handles,
            policy.default_handling_seconds,
        )
        self.shift = Shift(store, routing, clock, outbound, events, self.dispatch)
        # Told when a conversation's running call ended with it (the conversation ended, or
        # went back to the queue), in the same transaction; before the conversation's own note.
        self.on_call_ended: list[Callable[[Conversation, Call], Awaitable[None]]] = []

    # -- views ----------------------------------------------------------------------------

    def view(self, conversation: Conversation, *, for_staff: bool) -> ConversationView:
        """The conversation for one side, without a queue position (see ``current_view``)."""
        return self.queue.view(conversation, for_staff=for_staff)

    async def current_view(
        self, conversation: Conversation, *, for_staff: bool
    ) -> ConversationView:
        return await self.queue.current_view(conversation, for_staff=for_staff)

    async def rings_for(self, staff_id: int) -> list[dict[str, Any]]:
        """Rings pending for this staff member, as ``ring`` event payloads."""
        now = self.clock.now()
        return [
            self._ring_payload(c, (c.ring_deadline or now) - now)
            for c in await self.routing.rings_of(staff_id)
        ]

    async def serving(self) -> int:
        """How many staff are connected and available (the loader's availability)."""
        return (await self.routing.staffing(self.clock.now())).serving

    # -- announcements --------------------------------------------------------------------

    async def announce(self, conversation: Conversation) -> None:
        """Send a conversation's state to its customer and its assignee."""
        view = await self.current_view(conversation, for_staff=False)
        await self.outbound.to_customer(
            conversation.id, ServerEvent.CONVERSATION_STATE, {"conversation": view.to_wire()}
        )
        if conversation.assignee_id is not None:
            staff_data = {"conversation": self.view(conversation, for_staff=True).to_wire()}
            await self.outbound.to_staff(
                conversation.assignee_id, ServerEvent.CONVERSATION_STATE, staff_data
            )

    async def changed(self, conversation: Conversation) -> None:
        """A conversation changed outside routing (the customer's page): tell whoever shows
        it."""
        if conversation.status in WAITING:
            await self.queue.changed(conversation)
        if conversation.assignee_id is not None:
            await self.announce(conversation)

    async def post_system(
        self,
        conversation: Conversation,
        body: str,
        author: str | None,
        detail: dict[str, Any] | None = None,
    ) -> Conversation:
        """Store a system message (``joined``, ``ended``, ``requeued``) and publish it;
        returns the conversation as it now stands (its ``last_seq`` moved)."""
        appended = await self.store.append_message(
            NewMessage(
                conversation_id=conversation.id,
                sender="system",
                kind="system",
                body=body,
                author_name=author,
                detail=detail,
            ),
            self.clock.now(),
        )
        await self.outbound.to_both(
            conversation.id,
            conversation.assignee_id,
            ServerEvent.MESSAGE_NEW,
            {"message": message_view(appended.message).to_wire()},
        )
        return await self.store.get_conversation(conversation.id) or conversation

    # -- the queue and rings --------------------------------------------------------------

    async def enqueue(self, conversation: Conversation) -> None:
        """A new conversation joins the queue."""
        await self.queue.changed(conversation)
        await self.dispatch()

    async def dispatch(self) -> None:
        """Ring free staff for queued conversations (serialised across nodes by the store)."""
        rings = await self.routing.dispatch(self.clock.now(), self.policy.ring_timeout, choose)
        for ring in rings:
            await self._rung(ring)

    async def _rung(self, ring: Ring) -> None:
        conversation, staff_id = ring.conversation, ring.staff_id
        now = self.clock.now()
        await self.events.publish(
            DomainEvent(EventKind.CONVERSATION_RUNG, now, "system", conversation.id, staff_id)
        )
        log.info("ringing staff %s for conversation %s", staff_id, conversation.id)
        # The sweeper is the source of truth for the deadline; this timer only fires it early.
        self.clock.call_later(self.policy.ring_timeout, self.expire_rings)
        await self.outbound.to_staff(
            staff_id, ServerEvent.RING, self._ring_payload(conversation, self.policy.ring_timeout)
        )
        await self.announce(conversation)
        await self.queue.changed(conversation)

    def _ring_payload(self, conversation: Conversation, remaining: float) -> dict[str, Any]:
        return {
            "conversation": self.view(conversation, for_staff=True).to_wire(),
            "timeout_ms": max(0, int(remaining * 1000)),
        }

    async def _ring_ended(self, ended: EndedRing, reason: str) -> None:
        """A ring ended without an accept (``declined``, or missed: ``timeout``, ``offline``,
        ``away``): tell the staff member, record it, show the customer they wait again."""
        declined = reason == "declined"
        await self.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_DECLINED if declined else EventKind.CONVERSATION_MISSED,
                self.clock.now(),
                "staff" if declined else "system",
                ended.conversation_id,
                ended.staff_id,
                {} if declined else {"reason": reason},
            )
        )
        log.info("ring for conversation %s ended: %s", ended.conversation_id, reason)
        await self.outbound.to_staff(
            ended.staff_id,
            ServerEvent.RING_CANCELLED,
            {"conversation_id": ended.conversation_id, "reason": reason},
        )
        if ended.conversation is not None:
            await self.announce(ended.conversation)
            await self.queue.changed(ended.conversation)

    async def expire_rings(self) -> bool:
        """Requeue rings past their deadline (whichever node gets there first)."""
        expired = await self.routing.expire_rings(self.clock.now())
        for ended in expired:
            await self._ring_ended(ended, "timeout")
        if expired:
            await self.dispatch()
        return bool(expired)

    async def accept(self, member: StaffMember, conversation_id: str) -> Conversation:
        """The rung staff member takes the conversation. Raises ``ring.expired`` if the ring
        is no longer theirs, ``capacity.full`` if they are at capacity."""
        now = self.clock.now()
        self.staff.remember(member)
        active = await self.routing.accept_ring(conversation_id, member, now)
        if active is None:
            current = await self.store.get_conversation(conversation_id)
            if current is not None and current.ringing_staff_id == member.id:
                raise ProtocolError(ErrorCode.CAPACITY_FULL, "You are at capacity.")
            if current is not None and current.status == "ended":
                raise ProtocolError(ErrorCode.RING_EXPIRED, "The customer has left.")
            raise ProtocolError(ErrorCode.RING_EXPIRED, "This ring is no longer yours.")
        await self.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_ACCEPTED,
                now,
                "staff",
                conversation_id,
                member.id,
                {"waited_s": round(max(0.0, now - active.queued_at), 3)},
            )
        )
        log.info("staff %s accepted conversation %s", member.id, conversation_id)
        await self.queue.changed(active)
        active = await self.post_system(active, "joined", member.name)
        await self.announce(active)
        await self.dispatch()
        return active

    async def decline(self, member: StaffMember, conversation_id: str) -> None:
        ended = await self.routing.end_ring(conversation_id, member.id)
        if ended is None:
            raise ProtocolError(ErrorCode.RING_EXPIRED, "This ring is no longer yours.")
        await self._ring_ended(ended, "declined")
        await self.dispatch()

    async def end(self, conversation: Conversation, by: EndedBy) -> Conversation:
        """End an open conversation; a customer leaving before anyone answered is recorded as
        abandoned. Frees the assignee's capacity and rings for the next in line."""
        now = self.clock.now()
        # Its running call ends, and its staff member's wrap-up begins, in the same
        # transaction: no call outlives it, and no node rings them before the wrap-up.
        policy = None
        if conversation.status == "active":
            policy = await self.shift.policy(conversation.site_key)
        closed = await self.store.close_conversation(
            conversation.id,
            Changes(status="ended", ended_at=now, ended_by=by, clear_ringing=True),
            "conversation_ended",
            now,
            expect_status=OPEN,
            wrapup=policy,
        )
        if closed is None:
            raise ProtocolError(ErrorCode.CONVERSATION_ENDED, "The conversation has ended.")
        ended = closed.conversation
        waited = conversation.status in WAITING
        if conversation.ringing_staff_id is not None:
            await self.outbound.to_staff(
                conversation.ringing_staff_id,
                ServerEvent.RING_CANCELLED,
                {"conversation_id": conversation.id, "reason": "abandoned"},
            )
        await self.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_ABANDONED if waited else EventKind.CONVERSATION_ENDED,
                now,
                by,
                conversation.id,
                ended.assignee_id,
                {"waited_s": round(max(0.0, now - ended.queued_at), 3)} if waited else {},
            )
        )
        if not waited:
            durations = await self.store.recent_handling_seconds()
            if durations:
                self.queue.handling = sum(durations) / len(durations)
        log.info("conversation %s ended by %s", conversation.id, by)
        if waited:
            await self.queue.changed(ended)
        await self._call_ended(ended, closed.call)
        ended = await self.post_system(ended, "ended", None)
        await self.announce(ended)
        if closed.wrapup is not None:
            await self.shift.began(closed.wrapup)
        await self.dispatch()
        return ended

    # -- presence -------------------------------------------------------------------------

    async def staff_connected(self, member: StaffMember, sid: str) -> Presence:
        """A console socket connected; a pending grace period is cancelled."""
        presence = await self.staff.connected(member, sid)
        await self._presence_changed(member.id, presence.shown)
        self.queue.stale()
        await self.dispatch()
        return presence

    async def staff_disconnected(self, sid: str) -> None:
        """A console socket closed. The last one anywhere withdraws the staff member's ring
        and starts the grace period for their conversations."""
        gone = await self.staff.disconnected(sid)
        if gone is None:
            return
        await self._withdraw_rings(gone.staff_id, "offline")
        await self._presence_changed(gone.staff_id, "offline")
        self.queue.stale()
        await self.dispatch()

    async def _presence_changed(
        self, staff_id: int, status: str, detail: dict[str, Any] | None = None
    ) -> None:
        await self.events.publish(
            DomainEvent(
                EventKind.PRESENCE_CHANGED,
                self.clock.now(),
                "staff" if status != "offline" else "system",
                staff_id=staff_id,
                detail=detail or {"status": status},
            )
        )

    async def _withdraw_rings(self, staff_id: int, reason: str) -> None:
        for conversation in await self.routing.rings_of(staff_id):
            ended = await self.routing.end_ring(conversation.id, staff_id)
            if ended is not None:
                await self._ring_ended(ended, reason)

    async def set_presence(
        self,
        member: StaffMember,
        status: Literal["available", "away"],
        media: frozenset[str] | None = None,
        reason: AwayReason | None = None,
    ) -> Presence:
        """Available or away (with a ``reason``); ``media`` (camera, microphone) says which
        calls they can take. An away spell that ends is recorded with its length."""
        before, presence = await self.staff.set(member, status, media, reason)
        if presence.status == "away":
            await self._withdraw_rings(member.id, "away")
        await self.outbound.to_staff(
            member.id,
            ServerEvent.PRESENCE,
            {"status": presence.shown, "reason": reason_of(presence)},
        )
        detail = self.shift.presence_detail(before, presence)
        await self._presence_changed(member.id, presence.shown, detail)
        self.queue.stale()
        await self.dispatch()
        return presence

    # -- due work -------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Fire whatever is due, on any node: a heartbeat for this node, the sockets of dead
        nodes, rings past their deadline, grace periods that ran out."""
        now = self.clock.now()
        orphaned: list[int] = []
        if not self.alone:
            # Only other nodes read heartbeats; a lone node writes nothing when nothing is
            # due (on SQLite a write every second would also wait on any other writer).
            if not await self.routing.heartbeat(self.node_id, now):
                # Taken for dead, yet here: its consoles count again before their grace runs
                # out.
                for sid, member in await self.staff.forgotten():
                    await self.staff_connected(member, sid)
            orphaned = await self.routing.forget_nodes(
                now, self.policy.grace_period, before=now - self.policy.node_timeout
            )
            await self._orphaned(orphaned)
        changed = await self.expire_rings()
        await self.shift.expire()
        for staff_id, requeued in await self.routing.expire_grace(now):
            changed = True
            await self._requeued(staff_id, requeued)
        if orphaned or changed:
            self.queue.stale()
            await self.dispatch()

    async def _requeued(self, staff_id: int, requeued: list[Closed]) -> None:
        """A staff member did not come back in time: their conversations wait again, in
        front (they keep their original place); their calls ended with them."""
        log.info("staff %s grace over; %d conversations requeued", staff_id, len(requeued))
        for closed in requeued:
            conversation = closed.conversation
            await self.events.publish(
                DomainEvent(
                    EventKind.CONVERSATION_REQUEUED,
                    self.clock.now(),
                    "system",
                    conversation.id,
                    staff_id,
                )
            )
            await self._call_ended(conversation, closed.call)
            posted = await self.post_system(conversation, "requeued", None)
            await self.announce(posted)
            await self.queue.changed(posted)

    async def _call_ended(self, conversation: Conversation, call: Call | None) -> None:
        if call is not None:
            for listener in self.on_call_ended:
                await listener(conversation, call)

    async def _orphaned(self, staff_ids: list[int]) -> None:
        for staff_id in staff_ids:
            log.info("staff %s lost their node; grace period started", staff_id)
            await self._withdraw_rings(staff_id, "offline")
            await self._presence_changed(staff_id, "offline")

    async def start(self, *, alone: bool) -> None:
        """This node starts and beats. ``alone`` (one node, no shared manager): every other
        node row is this server's past self, so its consoles are gone now, not after the
        node timeout."""
        now = self.clock.now()
        self.alone = alone
        await self.routing.heartbeat(self.node_id, now)
        if alone:
            await self._orphaned(
                await self.routing.forget_nodes(now, self.policy.grace_period, before=now)
            )

    async def stop(self) -> None:
        """This node stops cleanly: its consoles' sockets go with it (their grace starts)."""
        self.queue.close()
        await self.routing.forget_nodes(
            self.clock.now(), self.policy.grace_period, node_id=self.node_id
        )

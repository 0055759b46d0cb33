"""Routing: the queue, ringing one agent at a time, accept/decline, grace periods.

A waiting conversation is ``queued`` or ``ringing``. ``dispatch`` rings, for each queued
conversation in queue order, the longest-idle matching agent; the ring ends by accept
(→ ``active``), decline or timeout (→ ``queued``, next agent). An agent whose last console
socket drops keeps their conversations for ``grace_period``; then they return to the queue at
their original place. All state changes go through the store's compare-and-set, so the
database stays the source of truth and ``recover`` rebuilds this from it after a restart.

Each state change is announced at once, under the lock that made it, with the conversation's
new ``version``: to its customer (``conversation.state``), to its assignee, and to all staff
as one ``queue.changed`` while it waits or as it stops waiting. Positions that merely moved
are the queue's business (``signaling.queue``), coalesced.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from signaling.errors import ErrorCode, ProtocolError
from signaling.events import ServerEvent
from signaling.outbound import Outbound
from signaling.ports import (
    Changes,
    Clock,
    Conversation,
    EndedBy,
    NewMessage,
    StaffMember,
    Status,
    Store,
    TimerHandle,
)
from signaling.presence import Agent, Roster
from signaling.protocol import ConversationView, QueueChange
from signaling.queue import Queue
from signaling.views import StaffHandles, conversation_view, message_view

log = logging.getLogger(__name__)

# The devices a staff member needs ready to be rung for a conversation of each channel.
NEEDS: dict[str, frozenset[str]] = {
    "chat": frozenset(),
    "voice": frozenset({"microphone"}),
    "video": frozenset({"camera", "microphone"}),
    "oneway": frozenset({"camera", "microphone"}),
}
WAITING: tuple[Status, ...] = ("queued", "ringing")
OPEN: tuple[Status, ...] = ("queued", "ringing", "active")


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Timings and defaults, from settings."""

    ring_timeout: float = 20.0
    grace_period: float = 30.0
    default_handling_seconds: float = 180.0
    # How often, at most, waiting customers are told positions that moved.
    position_interval: float = 1.0


@dataclass(slots=True)
class Ring:
    staff_id: int
    deadline: float
    timer: TimerHandle


class Router:
    """Owns the queue and the rings of one process. Methods that change routing state run
    under one lock, so a ring cannot be accepted and timed out at once."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        roster: Roster,
        outbound: Outbound,
        policy: RoutingPolicy,
        handles: StaffHandles,
    ) -> None:
        self.store = store
        self.clock = clock
        self.roster = roster
        self.outbound = outbound
        self.policy = policy
        self.handles = handles
        self._waiting = Queue(
            clock, self._customer_view, self._tell_customer, policy.position_interval
        )
        self._rings: dict[str, Ring] = {}
        self._tried: dict[str, set[int]] = {}
        self._names: dict[int, str] = {}
        self._handling = policy.default_handling_seconds
        self._lock = asyncio.Lock()
        # Told when a conversation goes back to the queue (its staff member did not return).
        self.on_requeue: list[Callable[[Conversation], Awaitable[None]]] = []

    # -- views ----------------------------------------------------------------------------

    def queue(self) -> list[Conversation]:
        """Waiting conversations, first come first served."""
        return list(self._waiting)

    def position(self, conversation_id: str) -> int | None:
        return self._waiting.position(conversation_id)

    def estimate(self, position: int) -> int | None:
        """Seconds until a person answers, from recent handling times; None when nobody is
        available, because then no estimate would be honest."""
        serving = self.roster.serving()
        if serving == 0:
            return None
        ahead = max(0, position - self.roster.open_slots())
        if ahead == 0:
            return 0
        capacity = sum(a.member.max_chats for a in self.roster.all() if a.connected) or 1
        seconds = ahead * self._handling / capacity
        return int(math.ceil(seconds / 30.0) * 30)

    def view(
        self, conversation: Conversation, *, for_staff: bool, position: int | None = None
    ) -> ConversationView:
        """The conversation for one side; pass ``position`` when it is known (walking the
        queue) to save its look-up."""
        if position is None and conversation.status in WAITING:
            position = self.position(conversation.id)
        return conversation_view(
            conversation,
            assignee_name=self._names.get(conversation.assignee_id or 0),
            handles=self.handles,
            queue_position=position,
            estimated_wait_s=self.estimate(position) if position is not None else None,
            for_staff=for_staff,
        )

    def _customer_view(self, conversation: Conversation, position: int) -> ConversationView:
        return self.view(conversation, for_staff=False, position=position)

    async def _tell_customer(self, view: ConversationView) -> None:
        data = {"conversation": view.to_wire()}
        await self.outbound.to_customer(view.id, ServerEvent.CONVERSATION_STATE, data)

    def rings_for(self, staff_id: int) -> list[dict[str, Any]]:
        """Rings pending for this staff member, as ``ring`` event payloads."""
        now = self.clock.now()
        return [
            self._ring_payload(waiting, ring.deadline - now)
            for cid, ring in self._rings.items()
            if ring.staff_id == staff_id and (waiting := self._waiting.get(cid)) is not None
        ]

    def queue_payload(self) -> dict[str, Any]:
        return {
            "conversations": [
                self.view(c, for_staff=True, position=n).to_wire()
                for n, c in enumerate(self.queue(), start=1)
            ]
        }

    async def name_of(self, staff_id: int) -> str:
        name = self._names.get(staff_id)
        if name is None:
            member = await self.store.get_staff(staff_id)
            name = member.name if member else "Staff"
            self._names[staff_id] = name
        return name

    # -- announcements --------------------------------------------------------------------

    async def announce(self, conversation: Conversation) -> None:
        """Send a conversation's state to its customer and its assignee. ``conversation``
        must be the copy the caller just wrote or read: clients drop a view older than the
        one they hold, so an old copy would be wasted at best."""
        view = self.view(conversation, for_staff=False)
        self._waiting.told(view)
        await self._tell_customer(view)
        if conversation.assignee_id is not None:
            staff_data = {"conversation": self.view(conversation, for_staff=True).to_wire()}
            await self.outbound.to_staff(
                conversation.assignee_id, ServerEvent.CONVERSATION_STATE, staff_data
            )

    async def _queue_changed(self, conversation: Conversation) -> None:
        """Tell all staff about one conversation: ``upsert`` while it waits, ``remove`` once
        it does not. One conversation per event, whatever the queue's length."""
        op = "upsert" if conversation.id in self._waiting else "remove"
        change = QueueChange(op=op, conversation=self.view(conversation, for_staff=True))
        await self.outbound.to_all_staff(ServerEvent.QUEUE_CHANGED, change.to_wire())

    async def changed(self, conversation: Conversation) -> None:
        """A conversation changed outside routing (the customer's page): keep the waiting
        copy current and tell whoever shows it."""
        if conversation.id in self._waiting:
            self._waiting.refresh(conversation)
            await self._queue_changed(self._waiting.get(conversation.id) or conversation)
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

    # -- lifecycle ------------------------------------------------------------------------

    async def recover(self) -> None:
        """Rebuild routing state from the store after a start: rings become queued again,
        assignees get their conversations back and a grace period to reconnect."""
        now = self.clock.now()
        for conversation in await self.store.list_conversations(OPEN):
            if conversation.status == "ringing":
                requeued = await self.store.update_conversation(
                    conversation.id,
                    Changes(status="queued", clear_ringing=True),
                    expect_status=("ringing",),
                )
                conversation = requeued or conversation
            if conversation.status in WAITING:
                self._waiting.put(conversation)
            elif conversation.assignee_id is not None:
                member = await self.store.get_staff(conversation.assignee_id)
                if member is None:
                    continue
                self._names[member.id] = member.name
                agent = self.roster.ensure(member, now)
                agent.active.add(conversation.id)
                self._start_grace(agent)
        log.info("routing recovered: %d waiting", len(self._waiting))

    async def enqueue(self, conversation: Conversation) -> None:
        """A new conversation joins the queue."""
        async with self._lock:
            self._waiting.put(conversation)
            await self._queue_changed(conversation)
            await self._dispatch()

    async def dispatch(self) -> None:
        async with self._lock:
            await self._dispatch()

    async def _dispatch(self) -> None:
        changed = False
        for conversation in self.queue():
            if conversation.id in self._rings:
                continue
            tried = self._tried.setdefault(conversation.id, set())
            needs = NEEDS.get(conversation.channel, frozenset())
            agent = self.roster.pick(conversation.language, tried, needs)
            if agent is None and tried:
                # Everyone who fits has been rung once: go round again rather than leave
                # the customer waiting on nobody.
                tried.clear()
                agent = self.roster.pick(conversation.language, tried, needs)
            if agent is None:
                continue
            await self._ring(conversation, agent)
            changed = True
        if changed:
            log.debug("dispatch rang agents; %d waiting", len(self._waiting))

    async def _ring(self, conversation: Conversation, agent: Agent) -> None:
        ringing = await self.store.update_conversation(
            conversation.id,
            Changes(status="ringing", ringing_staff_id=agent.member.id),
            expect_status=("queued",),
        )
        if ringing is None:  # it changed meanwhile (ended elsewhere): it no longer waits
            self._waiting.pop(conversation.id)
            await self._queue_changed(
                await self.store.get_conversation(conversation.id) or conversation
            )
            return
        staff_id = agent.member.id
        timeout = self.policy.ring_timeout
        timer = self.clock.call_later(timeout, lambda: self._on_ring_timeout(ringing.id, staff_id))
        self._rings[ringing.id] = Ring(staff_id, self.clock.now() + timeout, timer)
        self._waiting.put(ringing)
        agent.ringing = ringing.id
        self._tried.setdefault(ringing.id, set()).add(staff_id)
        await self.store.record_event(ringing.id, "rung", self.clock.now(), staff_id)
        log.info("ringing staff %s for conversation %s", staff_id, ringing.id)
        await self.outbound.to_staff(
            staff_id, ServerEvent.RING, self._ring_payload(ringing, timeout)
        )
        await self.announce(ringing)
        await self._queue_changed(ringing)

    def _ring_payload(self, conversation: Conversation, remaining: float) -> dict[str, Any]:
        return {
            "conversation": self.view(conversation, for_staff=True).to_wire(),
            "timeout_ms": max(0, int(remaining * 1000)),
        }

    async def _on_ring_timeout(self, conversation_id: str, staff_id: int) -> None:
        async with self._lock:
            ring = self._rings.get(conversation_id)
            if ring is None or ring.staff_id != staff_id:
                return
            await self._end_ring(conversation_id, "missed", "timeout")
            await self._dispatch()

    async def _end_ring(self, conversation_id: str, event: str, reason: str) -> None:
        """Withdraw the ring (timeout, decline, agent away); the conversation waits again."""
        ring = self._rings.pop(conversation_id)
        ring.timer.cancel()
        agent = self.roster.get(ring.staff_id)
        if agent is not None and agent.ringing == conversation_id:
            agent.ringing = None
        queued = await self.store.update_conversation(
            conversation_id,
            Changes(status="queued", clear_ringing=True),
            expect_status=("ringing",),
        )
        await self.store.record_event(conversation_id, event, self.clock.now(), ring.staff_id)
        log.info("ring for conversation %s ended: %s", conversation_id, reason)
        await self.outbound.to_staff(
            ring.staff_id,
            ServerEvent.RING_CANCELLED,
            {"conversation_id": conversation_id, "reason": reason},
        )
        if queued is not None:
            self._waiting.put(queued)
            await self.announce(queued)
            await self._queue_changed(queued)

    async def accept(self, member: StaffMember, conversation_id: str) -> Conversation:
        """The rung agent takes the conversation. Raises ``ring.expired`` if the ring is no
        longer theirs, ``capacity.full`` if they are at capacity."""
        async with self._lock:
            ring = self._rings.get(conversation_id)
            if ring is None or ring.staff_id != member.id:
                raise ProtocolError(ErrorCode.RING_EXPIRED, "This ring is no longer yours.")
            agent = self.roster.ensure(member, self.clock.now())
            if not agent.has_capacity:
                raise ProtocolError(ErrorCode.CAPACITY_FULL, "You are at capacity.")
            now = self.clock.now()
            active = await self.store.update_conversation(
                conversation_id,
                Changes(
                    status="active", assignee_id=member.id, clear_ringing=True, accepted_at=now
                ),
                expect_status=("ringing",),
            )
            if active is None:
                raise ProtocolError(ErrorCode.RING_EXPIRED, "The customer has left.")
            self._rings.pop(conversation_id).timer.cancel()
            self._waiting.pop(conversation_id)
            self._tried.pop(conversation_id, None)
            agent.ringing = None
            agent.active.add(conversation_id)
            agent.idle_since = now
            self._names[member.id] = member.name
            await self.store.record_event(conversation_id, "accepted", now, member.id)
            log.info("staff %s accepted conversation %s", member.id, conversation_id)
            await self._queue_changed(active)
            self._waiting.moved()  # one slot fewer: the estimates change
            await self._dispatch()
        active = await self.post_system(active, "joined", member.name)
        await self.announce(active)
        return active

    async def decline(self, member: StaffMember, conversation_id: str) -> None:
        async with self._lock:
            ring = self._rings.get(conversation_id)
            if ring is None or ring.staff_id != member.id:
                raise ProtocolError(ErrorCode.RING_EXPIRED, "This ring is no longer yours.")
            await self._end_ring(conversation_id, "declined", "declined")
            await self._dispatch()

    async def end(self, conversation: Conversation, by: EndedBy) -> Conversation:
        """End an open conversation; a customer leaving before anyone answered is recorded as
        abandoned. Frees the assignee's capacity and rings for the next in line."""
        async with self._lock:
            now = self.clock.now()
            ended = await self.store.update_conversation(
                conversation.id,
                Changes(status="ended", ended_at=now, ended_by=by, clear_ringing=True),
                expect_status=OPEN,
            )
            if ended is None:
                raise ProtocolError(ErrorCode.CONVERSATION_ENDED, "The conversation has ended.")
            waited = self._waiting.pop(conversation.id) is not None
            if waited:
                await self._queue_changed(ended)
            self._tried.pop(conversation.id, None)
            ring = self._rings.pop(conversation.id, None)
            if ring is not None:
                ring.timer.cancel()
                rung = self.roster.get(ring.staff_id)
                if rung is not None:
                    rung.ringing = None
                await self.outbound.to_staff(
                    ring.staff_id,
                    ServerEvent.RING_CANCELLED,
                    {"conversation_id": conversation.id, "reason": "abandoned"},
                )
            if ended.assignee_id is not None:
                agent = self.roster.get(ended.assignee_id)
                if agent is not None:
                    agent.active.discard(conversation.id)
                    if not agent.active:
                        agent.idle_since = now
            await self.store.record_event(
                conversation.id, "abandoned" if waited else "ended", now, ended.assignee_id
            )
            if not waited:
                durations = await self.store.recent_handling_seconds()
                if durations:
                    self._handling = sum(durations) / len(durations)
            log.info("conversation %s ended by %s", conversation.id, by)
            self._waiting.moved()  # a slot freed, or the handling time moved: estimates
            await self._dispatch()
        ended = await self.post_system(ended, "ended", None)
        await self.announce(ended)
        return ended

    # -- presence -------------------------------------------------------------------------

    async def staff_connected(self, member: StaffMember, sid: str) -> Agent:
        """A console socket connected; a pending grace period is cancelled."""
        async with self._lock:
            agent = self.roster.attach(member, sid, self.clock.now())
            self._names[member.id] = member.name
            if agent.grace is not None:
                agent.grace.cancel()
                agent.grace = None
                log.info("staff %s reconnected within grace", member.id)
            self._waiting.moved()
            await self._dispatch()
        return agent

    async def staff_disconnected(self, sid: str) -> None:
        """A console socket closed. The last one closing withdraws any ring and starts the
        grace period for the agent's conversations."""
        async with self._lock:
            agent = self.roster.detach(sid)
            if agent is None or agent.connected:
                return
            if agent.ringing is not None:
                await self._end_ring(agent.ringing, "missed", "offline")
            self._start_grace(agent)
            self._waiting.moved()
            await self._dispatch()

    async def set_presence(
        self, member: StaffMember, status: str, media: frozenset[str] | None = None
    ) -> Agent:
        """Available or away; ``media`` (camera, microphone) says which calls they can take."""
        async with self._lock:
            agent = self.roster.ensure(member, self.clock.now())
            if status not in ("available", "away"):
                raise ProtocolError(ErrorCode.PAYLOAD_INVALID, "Unknown presence.")
            if media is not None:
                agent.media = media
            previous = agent.status
            agent.status = "available" if status == "available" else "away"
            if agent.status == "available" and previous != "available":
                agent.idle_since = self.clock.now()
            if agent.status == "away" and agent.ringing is not None:
                await self._end_ring(agent.ringing, "missed", "away")
            log.info("staff %s is %s", member.id, agent.status)
            self._waiting.moved()
            await self._dispatch()
        await self.outbound.to_staff(member.id, ServerEvent.PRESENCE, {"status": agent.presence})
        return agent

    def _start_grace(self, agent: Agent) -> None:
        if agent.grace is not None or not agent.active:
            return
        staff_id = agent.member.id
        agent.grace = self.clock.call_later(
            self.policy.grace_period, lambda: self._on_grace_over(staff_id)
        )
        log.info("staff %s offline; grace period started", staff_id)

    async def _on_grace_over(self, staff_id: int) -> None:
        """The agent did not come back: their conversations return to the queue, in front."""
        requeued: list[Conversation] = []
        async with self._lock:
            agent = self.roster.get(staff_id)
            if agent is None or agent.connected:
                return
            agent.grace = None
            for conversation_id in sorted(agent.active):
                back = await self.store.update_conversation(
                    conversation_id,
                    Changes(status="queued", clear_assignee=True),
                    expect_status=("active",),
                    expect_assignee=staff_id,
                )
                agent.active.discard(conversation_id)
                if back is None:
                    continue
                self._waiting.put(back)
                await self.store.record_event(back.id, "requeued", self.clock.now(), staff_id)
                await self.announce(back)
                await self._queue_changed(back)
                requeued.append(back)
            log.info("staff %s grace over; %d conversations requeued", staff_id, len(requeued))
            await self._dispatch()
        for conversation in requeued:
            for listener in self.on_requeue:
                await listener(conversation)
            await self.post_system(conversation, "requeued", None)

"""In-memory fakes of the domain's ports, for unit tests with no sockets, no database and no
real timers: ``MemoryStore`` (the ``Store`` and ``RoutingStore`` contracts; the calls part
runs the same contract tests as the SQL store, tests/integration/test_store_calls.py, and
tests/integration/test_store_routing.py holds ``SqlStore`` to the routing part),
``FakeClock``, ``RecordingDelivery`` (the ``Delivery`` port), ``RecordingSio`` (under a real
``Outbound``) and ``FakeIce``.

Each ``MemoryStore`` method runs to its end without awaiting, so each is one transaction,
as on the real store."""

from __future__ import annotations

import heapq
import inspect
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from signaling.domain_events import DomainEvent
from signaling.events import ServerEvent
from signaling.ports import (
    Answer,
    Appended,
    AwayReason,
    Call,
    CallRefused,
    Candidate,
    Changes,
    Chooser,
    Closed,
    Conversation,
    EndedBy,
    EndedRing,
    Message,
    NewCall,
    NewConversation,
    NewMessage,
    Owners,
    Presence,
    Proposal,
    Ring,
    Role,
    ShiftPolicy,
    Side,
    Site,
    Staffing,
    StaffMember,
    StartedCall,
    Status,
    WrapUp,
)
from signaling.protocol import Channel

EXTRA_COLUMNS = frozenset({"channel", "language", "visitor_name", "rating", "rating_comment"})


@dataclass
class _Presence:
    status: Literal["available", "away"] = "away"
    media: frozenset[str] = frozenset()
    idle_since: float = 0.0
    grace_until: float | None = None
    reason: AwayReason | None = None
    away_since: float | None = None
    wrapup: WrapUp | None = None
    calls_in_row: int = 0


class MemoryStore:
    """The ``Store`` port in memory, plus ``create_site`` and ``create_staff`` for set-up."""

    def __init__(self) -> None:
        self.sites: dict[int, Site] = {}
        self.staff: dict[int, StaffMember] = {}
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, list[Message]] = {}
        self.events: list[DomainEvent] = []
        self.presence: dict[int, _Presence] = {}
        self.sockets: dict[tuple[str, str], int] = {}
        self.nodes: dict[str, float] = {}
        self.calls: dict[str, Call] = {}
        self.proposals: dict[str, Proposal] = {}
        self._ids = itertools.count(1)

    # -- accounts (set-up) ----------------------------------------------------------------

    async def create_site(
        self,
        key: str,
        name: str,
        allowed_origins: tuple[str, ...] | list[str],
        greeting: str,
        secret: str,
        relay_only: bool = False,
    ) -> Site:
        site = Site(next(self._ids), key, name, tuple(allowed_origins), greeting, relay_only)
        self.sites[site.id] = site
        return site

    async def get_site(self, key: str) -> Site | None:
        return next((s for s in self.sites.values() if s.key == key), None)

    async def create_staff(
        self,
        email: str,
        name: str,
        role: Role,
        password_hash: str,
        languages: tuple[str, ...] = (),
        max_chats: int = 3,
    ) -> StaffMember:
        member = StaffMember(next(self._ids), email.lower(), name, role, languages, max_chats)
        self.staff[member.id] = member
        return member

    async def get_staff(self, staff_id: int) -> StaffMember | None:
        return self.staff.get(staff_id)

    def add_site(self, key: str = "shop", shift: ShiftPolicy | None = None) -> Site:
        site = Site(next(self._ids), key, "Shop", (), "Hi", shift=shift or ShiftPolicy())
        self.sites[site.id] = site
        return site

    def add_staff(
        self, name: str, *, languages: tuple[str, ...] = (), max_chats: int = 3
    ) -> StaffMember:
        member = StaffMember(
            next(self._ids), f"{name.lower()}@x.test", name, "agent", languages, max_chats
        )
        self.staff[member.id] = member
        return member

    # -- conversations --------------------------------------------------------------------

    async def create_conversation(self, new: NewConversation, now: float) -> Conversation:
        conversation = Conversation(
            id=secrets.token_hex(16),
            site_id=new.site.id,
            site_key=new.site.key,
            visitor_id=new.visitor_id,
            status="queued",
            channel=new.channel,
            language=new.language,
            assignee_id=None,
            ringing_staff_id=None,
            last_seq=0,
            customer_read_seq=0,
            staff_read_seq=0,
            visitor_name=new.visitor_name,
            page_url=new.page_url,
            page_title=new.page_title,
            created_at=now,
            queued_at=now,
            accepted_at=None,
            ended_at=None,
            ended_by=None,
            version=1,
        )
        self.conversations[conversation.id] = conversation
        self.messages[conversation.id] = []
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self.conversations.get(conversation_id)

    async def open_conversation_for(self, site_id: int, visitor_id: str) -> Conversation | None:
        mine = [
            c
            for c in self.conversations.values()
            if c.site_id == site_id and c.visitor_id == visitor_id and c.status != "ended"
        ]
        return max(mine, key=lambda c: c.created_at, default=None)

    async def list_conversations(self, statuses: tuple[Status, ...]) -> list[Conversation]:
        found = [c for c in self.conversations.values() if c.status in statuses]
        return sorted(found, key=lambda c: (c.queued_at, c.id))

    async def update_conversation(
        self,
        conversation_id: str,
        changes: Changes,
        expect_status: tuple[Status, ...] | None = None,
        expect_assignee: int | None = None,
    ) -> Conversation | None:
        return self._update(conversation_id, changes, expect_status, expect_assignee)

    def _update(
        self,
        conversation_id: str,
        changes: Changes,
        expect_status: tuple[Status, ...] | None,
        expect_assignee: int | None,
    ) -> Conversation | None:
        unknown = changes.extra.keys() - EXTRA_COLUMNS
        if unknown:
            raise ValueError(f"Changes.extra cannot set {sorted(unknown)}")
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return None
        if expect_status is not None and conversation.status not in expect_status:
            return None
        if expect_assignee is not None and conversation.assignee_id != expect_assignee:
            return None
        values: dict[str, Any] = {
            name: getattr(changes, name)
            for name in (
                "status",
                "assignee_id",
                "ringing_staff_id",
                "queued_at",
                "accepted_at",
                "ended_at",
                "ended_by",
                "page_url",
                "page_title",
            )
            if getattr(changes, name) is not None
        }
        if changes.clear_assignee:
            values["assignee_id"] = None
        if changes.clear_ringing:
            values["ringing_staff_id"] = None
        values.update(changes.extra)
        return self._set(conversation, **values) if values else conversation

    def _set(self, conversation: Conversation, **values: Any) -> Conversation:
        """Change a conversation's state, raising its version (as every UPDATE does)."""
        updated = replace(conversation, version=conversation.version + 1, **values)
        self.conversations[updated.id] = updated
        return updated

    @staticmethod
    def _ordered(conversations: Any) -> list[Conversation]:
        return sorted(conversations, key=lambda c: (c.queued_at, c.id))

    # -- messages -------------------------------------------------------------------------

    async def append_message(
        self, new: NewMessage, now: float, admit: Callable[[Owners], None] | None = None
    ) -> Appended:
        conversation = self.conversations.get(new.conversation_id)
        if conversation is None:
            raise KeyError(new.conversation_id)
        owners = Owners(
            conversation.status, conversation.site_id, conversation.visitor_id,
            conversation.assignee_id,
        )  # fmt: skip
        if admit is not None:
            admit(owners)
        stored = self.messages[new.conversation_id]
        if new.client_msg_id is not None:
            for message in stored:
                if message.client_msg_id == new.client_msg_id:
                    return Appended(message, False, owners)
        seq = conversation.last_seq + 1
        message = Message(
            conversation_id=new.conversation_id,
            seq=seq,
            client_msg_id=new.client_msg_id,
            sender=new.sender,
            author_id=new.author_id,
            author_name=new.author_name,
            kind=new.kind,
            body=new.body,
            created_at=now,
            detail=dict(new.detail) if new.detail else None,
        )
        stored.append(message)
        self.conversations[new.conversation_id] = replace(conversation, last_seq=seq)
        return Appended(message, True, owners)

    async def messages_after(
        self, conversation_id: str, after_seq: int, limit: int = 500
    ) -> list[Message]:
        return [m for m in self.messages.get(conversation_id, []) if m.seq > after_seq][:limit]

    async def set_read(self, conversation_id: str, side: Side, seq: int) -> None:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return
        marker = min(seq, conversation.last_seq)
        if side == "customer" and conversation.customer_read_seq < marker:
            self.conversations[conversation_id] = replace(conversation, customer_read_seq=marker)
        if side == "staff" and conversation.staff_read_seq < marker:
            self.conversations[conversation_id] = replace(conversation, staff_read_seq=marker)

    async def append_event(self, event: DomainEvent) -> None:
        self.events.append(event)

    async def list_events(self, conversation_id: str | None = None) -> list[DomainEvent]:
        return [e for e in self.events if conversation_id in (None, e.conversation_id)]

    async def recent_handling_seconds(self, limit: int = 20) -> list[float]:
        handled = [
            c
            for c in self.conversations.values()
            if c.status == "ended" and c.accepted_at is not None and c.ended_at is not None
        ]
        handled.sort(key=lambda c: c.ended_at or 0.0, reverse=True)
        return [(c.ended_at or 0.0) - (c.accepted_at or 0.0) for c in handled[:limit]]

    # -- calls ----------------------------------------------------------------------------

    def _active_with(self, conversation_id: str, staff_id: int) -> bool:
        conversation = self.conversations.get(conversation_id)
        return (
            conversation is not None
            and conversation.status == "active"
            and conversation.assignee_id == staff_id
        )

    def _running_in(self, conversation_id: str) -> Call | None:
        return next(
            (
                c
                for c in self.calls.values()
                if c.conversation_id == conversation_id and c.ended_at is None
            ),
            None,
        )

    def _finish(self, call: Call, by: EndedBy, reason: str, now: float) -> Call:
        ended = replace(call, ended_at=now, ended_by=by, end_reason=reason)
        self.calls[call.id] = ended
        return ended

    def _set_channel(self, conversation_id: str, channel: str) -> None:
        self._set(self.conversations[conversation_id], channel=channel)

    def _close_proposal(self, conversation_id: str, answer: Answer, now: float) -> None:
        for proposal in list(self.proposals.values()):
            if proposal.conversation_id == conversation_id and proposal.answer is None:
                closed = replace(proposal, answered_at=now, answer=answer)
                self.proposals[proposal.id] = closed

    async def start_call(self, new: NewCall, now: float) -> StartedCall:
        if not self._active_with(new.conversation_id, new.staff_id):
            raise CallRefused("not_active")
        elsewhere = await self.running_call_of_staff(new.staff_id)
        if elsewhere is not None and elsewhere.conversation_id != new.conversation_id:
            raise CallRefused("busy")
        running = self._running_in(new.conversation_id)
        switched = None
        if running is not None:
            switched = self._finish(running, new.started_by, "switched", now)
        call = Call(
            id=secrets.token_hex(16),
            conversation_id=new.conversation_id,
            staff_id=new.staff_id,
            channel=new.channel,
            started_by=new.started_by,
            started_at=now,
        )
        self.calls[call.id] = call
        self._set_channel(new.conversation_id, new.channel)
        return StartedCall(call, switched)

    async def running_call(self, conversation_id: str) -> Call | None:
        return self._running_in(conversation_id)

    async def running_call_of_staff(self, staff_id: int) -> Call | None:
        return next(
            (c for c in self.calls.values() if c.staff_id == staff_id and c.ended_at is None),
            None,
        )

    async def end_call(
        self,
        conversation_id: str,
        call_id: str | None,
        by: EndedBy,
        reason: str,
        now: float,
    ) -> Call | None:
        return self._end_running(conversation_id, call_id, by, reason, now)

    def _end_running(
        self, conversation_id: str, call_id: str | None, by: EndedBy, reason: str, now: float
    ) -> Call | None:
        running = self._running_in(conversation_id)
        if running is None or (call_id is not None and running.id != call_id):
            return None
        self._set_channel(conversation_id, "chat")
        return self._finish(running, by, reason, now)

    async def close_conversation(
        self,
        conversation_id: str,
        changes: Changes,
        call_reason: str,
        now: float,
        expect_status: tuple[Status, ...] | None = None,
        expect_assignee: int | None = None,
        wrapup: ShiftPolicy | None = None,
    ) -> Closed | None:
        if self._update(conversation_id, changes, expect_status, expect_assignee) is None:
            return None
        call = self._end_running(conversation_id, None, "system", call_reason, now)
        self._close_proposal(conversation_id, "withdrawn", now)
        assignee = self.conversations[conversation_id].assignee_id
        wrapped = None
        if wrapup is not None and assignee is not None:
            wrapped = self._begin_wrapup(assignee, conversation_id, now, wrapup)
        return Closed(self.conversations[conversation_id], call, wrapped)

    def _begin_wrapup(
        self, staff_id: int, conversation_id: str, now: float, policy: ShiftPolicy
    ) -> WrapUp | None:
        row = self.presence.get(staff_id)
        if row is None:
            return None
        had_call = any(c.conversation_id == conversation_id for c in self.calls.values())
        seconds = policy.wrapup_call_s if had_call else policy.wrapup_chat_s
        row.calls_in_row += 1 if had_call else 0
        pause = had_call and policy.call_cap > 0 and row.calls_in_row >= policy.call_cap
        if pause:
            seconds += policy.pause_s
            row.calls_in_row = 0
        running = row.wrapup if row.wrapup is not None and row.wrapup.until > now else None
        if seconds <= 0:
            if running is None:
                row.idle_since = now
            return None
        row.wrapup = WrapUp(
            staff_id,
            conversation_id,
            began=running.began if running else now,
            until=max(now + seconds, running.until if running else 0.0),
            pause=pause or (running is not None and running.pause),
        )
        return row.wrapup

    async def propose_call(
        self, conversation_id: str, staff_id: int, channel: Channel, now: float
    ) -> Proposal | None:
        if not self._active_with(conversation_id, staff_id):
            return None
        self._close_proposal(conversation_id, "superseded", now)
        proposal = Proposal(secrets.token_hex(16), conversation_id, staff_id, channel, now)
        self.proposals[proposal.id] = proposal
        return proposal

    async def answer_proposal(
        self, conversation_id: str, proposal_id: str, accepted: bool, now: float
    ) -> Proposal | None:
        proposal = self.proposals.get(proposal_id)
        if proposal is None or proposal.conversation_id != conversation_id or proposal.answer:
            return None
        answered = replace(proposal, answered_at=now, answer="accepted" if accepted else "declined")
        self.proposals[proposal_id] = answered
        return answered

    # -- routing state ---------------------------------------------------------------------------

    def _connected(self, staff_id: int) -> bool:
        return staff_id in self.sockets.values()

    def _active(self, staff_id: int) -> list[Conversation]:
        return self._ordered(
            c
            for c in self.conversations.values()
            if c.status == "active" and c.assignee_id == staff_id
        )

    def _presence_of(self, staff_id: int) -> Presence:
        row = self.presence[staff_id]
        return Presence(
            staff_id,
            row.status,
            self._connected(staff_id),
            row.media,
            row.idle_since,
            row.grace_until,
            row.reason,
            row.away_since,
        )

    def _ensure(self, staff_id: int, now: float) -> _Presence:
        return self.presence.setdefault(staff_id, _Presence(idle_since=now))

    def _start_grace(self, staff_id: int, now: float, grace: float) -> bool:
        if self._connected(staff_id):
            return False
        row = self.presence.get(staff_id)
        if row is not None and self._active(staff_id) and row.grace_until is None:
            row.grace_until = now + grace
        return True

    async def heartbeat(self, node_id: str, now: float) -> bool:
        existed = node_id in self.nodes
        self.nodes[node_id] = now
        return existed

    async def forget_nodes(
        self, now: float, grace: float, *, before: float | None = None, node_id: str | None = None
    ) -> list[int]:
        if node_id is not None:
            gone = {node_id}
        else:
            gone = {n for n, beat in self.nodes.items() if before is not None and beat < before}
        orphaned = {staff for (node, _), staff in self.sockets.items() if node in gone}
        self.sockets = {key: s for key, s in self.sockets.items() if key[0] not in gone}
        for node in gone:
            self.nodes.pop(node, None)
        return [s for s in sorted(orphaned) if self._start_grace(s, now, grace)]

    async def attach_socket(
        self, node_id: str, sid: str, member: StaffMember, now: float
    ) -> Presence:
        self._ensure(member.id, now).grace_until = None
        self.sockets[(node_id, sid)] = member.id
        return self._presence_of(member.id)

    async def detach_socket(
        self, node_id: str, sid: str, now: float, grace: float
    ) -> Presence | None:
        staff_id = self.sockets.pop((node_id, sid), None)
        if staff_id is None:
            return None
        self._start_grace(staff_id, now, grace)
        return self._presence_of(staff_id)

    async def sockets_of(self, staff_id: int) -> list[str]:
        return [sid for (_, sid), staff in self.sockets.items() if staff == staff_id]

    async def set_presence(
        self,
        member: StaffMember,
        status: Literal["available", "away"],
        media: frozenset[str] | None,
        now: float,
        reason: AwayReason | None = None,
    ) -> tuple[Presence, Presence]:
        row = self._ensure(member.id, now)
        before = self._presence_of(member.id)
        if status == "available":
            if row.status != "available":
                row.idle_since = now
            row.reason = row.away_since = None
        elif row.status != "away" or row.reason != reason:
            row.reason, row.away_since, row.calls_in_row = reason, now, 0
        row.status = status
        if media is not None:
            row.media = media
        return before, self._presence_of(member.id)

    async def get_presence(self, member: StaffMember, now: float) -> Presence:
        if member.id not in self.presence:
            return Presence(member.id, "away", False, frozenset(), now, None)
        return self._presence_of(member.id)

    def _free(self, now: float) -> list[Candidate]:
        ringing = {c.ringing_staff_id for c in self.conversations.values() if c.status == "ringing"}
        free = []
        for staff_id, row in self.presence.items():
            if row.status != "available" or not self._connected(staff_id):
                continue
            if row.wrapup is not None and row.wrapup.until > now:
                continue
            candidate = Candidate(
                self.staff[staff_id],
                "available",
                len(self._active(staff_id)),
                staff_id in ringing,
                row.idle_since,
                row.media,
                any(c.channel != "chat" for c in self._active(staff_id)),
            )
            if not candidate.ringing and candidate.has_capacity:
                free.append(candidate)
        return free

    async def dispatch(self, now: float, ring_timeout: float, choose: Chooser) -> list[Ring]:
        free = self._free(now)
        rings = []
        for conversation in await self.list_conversations(("queued",)):
            if not free:
                break
            choice = choose(conversation, free)
            if choice is None:
                continue
            staff_id, tried = choice
            ringing = self._set(
                conversation,
                status="ringing",
                ringing_staff_id=staff_id,
                ring_deadline=now + ring_timeout,
                tried=tried,
            )
            rings.append(Ring(ringing, staff_id))
            free = [c for c in free if c.member.id != staff_id]
        return rings

    async def accept_ring(
        self, conversation_id: str, member: StaffMember, now: float
    ) -> Conversation | None:
        current = self.conversations.get(conversation_id)
        if current is None or current.status != "ringing":
            return None
        if current.ringing_staff_id != member.id:
            return None
        if len(self._active(member.id)) >= member.max_chats:
            return None
        self._ensure(member.id, now).idle_since = now
        return self._set(
            current,
            status="active",
            assignee_id=member.id,
            ringing_staff_id=None,
            ring_deadline=None,
            tried=(),
            accepted_at=now,
        )

    def _requeue(self, conversation: Conversation) -> Conversation:
        return self._set(conversation, status="queued", ringing_staff_id=None, ring_deadline=None)

    async def end_ring(self, conversation_id: str, staff_id: int) -> EndedRing | None:
        current = self.conversations.get(conversation_id)
        if current is None or current.status != "ringing" or current.ringing_staff_id != staff_id:
            return None
        return EndedRing(conversation_id, staff_id, self._requeue(current))

    async def rings_of(self, staff_id: int) -> list[Conversation]:
        return [
            c
            for c in self.conversations.values()
            if c.status == "ringing" and c.ringing_staff_id == staff_id
        ]

    async def expire_rings(self, now: float) -> list[EndedRing]:
        due = [
            c
            for c in self.conversations.values()
            if c.status == "ringing" and (c.ring_deadline or 0) <= now
        ]
        return [EndedRing(c.id, c.ringing_staff_id or 0, self._requeue(c)) for c in due]

    async def expire_grace(self, now: float) -> list[tuple[int, list[Closed]]]:
        done = []
        for staff_id, row in self.presence.items():
            if row.grace_until is None or row.grace_until > now:
                continue
            row.grace_until = None
            if self._connected(staff_id):
                continue
            back = []
            for conversation in self._active(staff_id):
                self._set(conversation, status="queued", assignee_id=None)
                call = self._end_running(conversation.id, None, "system", "requeued", now)
                self._close_proposal(conversation.id, "withdrawn", now)
                back.append(Closed(self.conversations[conversation.id], call))
            done.append((staff_id, back))
        return done

    async def wrapup_of(self, staff_id: int, now: float) -> WrapUp | None:
        row = self.presence.get(staff_id)
        if row is None or row.wrapup is None or row.wrapup.until <= now:
            return None
        return row.wrapup

    async def end_wrapup(self, staff_id: int, now: float) -> WrapUp | None:
        running = await self.wrapup_of(staff_id, now)
        if running is not None:
            row = self.presence[staff_id]
            row.wrapup, row.idle_since = None, now
        return running

    async def extend_wrapup(
        self, staff_id: int, now: float, seconds: float, longest: float
    ) -> WrapUp | None:
        running = await self.wrapup_of(staff_id, now)
        if running is None:
            return None
        extended = replace(running, until=min(running.until + seconds, now + longest))
        self.presence[staff_id].wrapup = extended
        return extended

    async def expire_wrapups(self, now: float) -> list[WrapUp]:
        over = []
        for row in self.presence.values():
            if row.wrapup is not None and row.wrapup.until <= now:
                over.append(row.wrapup)
                row.idle_since, row.wrapup = row.wrapup.until, None
        return over

    async def tag_conversation(
        self, conversation_id: str, staff_id: int, tag: str
    ) -> Conversation | None:
        current = self.conversations.get(conversation_id)
        if current is None or current.assignee_id != staff_id:
            return None
        tagged = replace(current, outcome=tag)
        self.conversations[conversation_id] = tagged
        return tagged

    async def assigned_to(self, staff_id: int) -> list[Conversation]:
        return self._active(staff_id)

    async def waiting(self) -> list[Conversation]:
        return await self.list_conversations(("queued", "ringing"))

    async def queue_position(self, conversation: Conversation) -> int | None:
        waiting = [c.id for c in await self.waiting()]
        return waiting.index(conversation.id) + 1 if conversation.id in waiting else None

    async def staffing(self, now: float) -> Staffing:
        serving = [
            s
            for s, row in self.presence.items()
            if row.status == "available" and self._connected(s)
        ]
        return Staffing(
            serving=len(serving),
            open_slots=sum(max(0, self.staff[s].max_chats - len(self._active(s))) for s in serving),
            capacity=sum(self.staff[s].max_chats for s in serving),
        )


@dataclass
class _Timer:
    clock: FakeClock
    due: float
    callback: Callable[[], Any]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeClock:
    """Time that moves only when a test says so; ``advance`` runs what fell due, in order,
    awaiting coroutine callbacks."""

    time: float = 1_700_000_000.0
    _queue: list[tuple[float, int, _Timer]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def now(self) -> float:
        return self.time

    def call_later(self, delay: float, callback: Callable[[], Any]) -> _Timer:
        timer = _Timer(self, self.time + delay, callback)
        heapq.heappush(self._queue, (timer.due, next(self._order), timer))
        return timer

    def drop_timers(self) -> None:
        """Forget every pending timer, as when the process that set them dies."""
        self._queue.clear()

    async def advance(self, seconds: float) -> None:
        until = self.time + seconds
        while self._queue and self._queue[0][0] <= until:
            due, _, timer = heapq.heappop(self._queue)
            self.time = max(self.time, due)
            if not timer.cancelled:
                result = timer.callback()
                if inspect.isawaitable(result):
                    await result
        self.time = until


# -- delivery ---------------------------------------------------------------------------------


@dataclass
class Sent:
    audience: str  # "customer:<conversation id>", "staff:<id>", "all-staff"
    event: ServerEvent
    data: dict[str, Any]


@dataclass
class RecordingDelivery:
    """Keeps every emit, in order, with its audience."""

    sent: list[Sent] = field(default_factory=list)

    async def to_customer(
        self,
        conversation_id: str,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None:
        self.sent.append(Sent(f"customer:{conversation_id}", event, data))

    async def to_staff(
        self, staff_id: int, event: ServerEvent, data: dict[str, Any], skip_sid: str | None = None
    ) -> None:
        self.sent.append(Sent(f"staff:{staff_id}", event, data))

    async def to_both(
        self,
        conversation_id: str,
        assignee_id: int | None,
        event: ServerEvent,
        data: dict[str, Any],
        skip_sid: str | None = None,
    ) -> None:
        if assignee_id is not None:
            await self.to_staff(assignee_id, event, data)
        await self.to_customer(conversation_id, event, data)

    async def to_all_staff(self, event: ServerEvent, data: dict[str, Any]) -> None:
        self.sent.append(Sent("all-staff", event, data))

    def to(self, audience: str, event: ServerEvent | None = None) -> list[dict[str, Any]]:
        return [s.data for s in self.sent if s.audience == audience and event in (None, s.event)]


@dataclass
class Emitted:
    event: str
    data: Any
    room: str | None
    namespace: str | None


class RecordingSio:
    """The socket server under a real ``Outbound``: records what would be emitted. Its
    manager is not python-socketio's in-memory one, so ``Outbound`` always emits."""

    def __init__(self) -> None:
        self.emitted: list[Emitted] = []
        self.rooms: dict[str, set[str]] = {}
        self.manager = object()

    async def emit(
        self,
        event: str,
        data: Any = None,
        room: str | None = None,
        namespace: str | None = None,
        skip_sid: str | None = None,
    ) -> None:
        self.emitted.append(Emitted(event, data, room, namespace))

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.rooms.setdefault(room, set()).add(sid)

    def to(self, room: str, event: str) -> list[Any]:
        """What ``event`` carried to ``room``, in order."""
        return [e.data for e in self.emitted if e.room == room and e.event == event]


class FakeIce:
    """ICE configuration naming its participant, so a test can tell whose it is."""

    async def config_for(self, site_key: str, participant_id: str) -> dict[str, Any]:
        return {
            "ice_servers": [{"urls": ["turn:turn.test"], "username": participant_id}],
            "ice_transport_policy": "all",
        }

"""Calls inside a conversation: signaling only. Media goes browser to browser; the server
relays offers, answers and candidates between the conversation's two participants and no one
else, hands each side its own ICE configuration, and records each call in the transcript.

A call is running from ``call.start`` until ``call.end`` (either side), a switch to another
channel (which ends it and starts the next), or the end of the conversation. ``call.state``
announces each start and end. The customer chooses; the staff member proposes
(``call.propose``) and the customer accepts or declines. Each call is one entry in the
transcript: channel, start, end, duration and who ended it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode, ProtocolError
from signaling.events import ServerEvent
from signaling.ports import (
    Changes,
    Clock,
    Conversation,
    Delivery,
    EndedBy,
    IceProvider,
    Side,
    Store,
)
from signaling.protocol import CallChannel, CallView, Channel
from signaling.routing import Router
from signaling.views import millis

log = logging.getLogger(__name__)

# How far back in a transcript a restart looks for the start of a running call.
RECOVER_WINDOW = 200

SdpEvent = Literal[ServerEvent.CALL_OFFER, ServerEvent.CALL_ANSWER, ServerEvent.CALL_CANDIDATE]


@dataclass(slots=True)
class Call:
    id: str
    conversation_id: str
    site_key: str
    visitor_id: str
    staff_id: int
    channel: CallChannel
    started_by: Side
    started_at: float
    ended_at: float | None = None
    ended_by: EndedBy | None = None
    end_reason: str | None = None

    def view(self) -> CallView:
        duration = None if self.ended_at is None else round(self.ended_at - self.started_at)
        return CallView(
            id=self.id,
            conversation_id=self.conversation_id,
            channel=self.channel,
            started_by=self.started_by,
            started_at=millis(self.started_at) or 0,
            ended_at=millis(self.ended_at),
            ended_by=self.ended_by,
            end_reason=self.end_reason,
            duration_s=duration,
        )


class Calls:
    """The running calls of this process: one per conversation, one per staff member."""

    def __init__(
        self, store: Store, clock: Clock, router: Router, outbound: Delivery, ice: IceProvider
    ) -> None:
        self.store = store
        self.clock = clock
        self.router = router
        self.outbound = outbound
        self.ice = ice
        self._by_conversation: dict[str, Call] = {}
        self._by_staff: dict[int, Call] = {}
        self._proposals: dict[str, tuple[str, Channel]] = {}
        # Starts, switches and ends await the store between check and change; one lock keeps
        # two tabs of the same visitor (one conversation) from starting two calls at once.
        self._lock = asyncio.Lock()
        router.on_requeue.append(self._on_requeue)

    async def _on_requeue(self, conversation: Conversation) -> None:
        await self.end_any(conversation, "requeued")

    async def recover(self) -> None:
        """Rebuild running calls after a start, from the transcript: a ``call_started`` with
        no ``call_ended`` after it. The browsers' media never went through this server, so
        after a restart their call simply carries on; only its signaling reconnects."""
        for conversation in await self.store.list_conversations(("active",)):
            if conversation.channel == "chat" or conversation.assignee_id is None:
                continue
            recent = await self.store.messages_after(
                conversation.id, max(0, conversation.last_seq - RECOVER_WINDOW)
            )
            calls = [m for m in recent if m.body in ("call_started", "call_ended") and m.detail]
            if not calls or calls[-1].body != "call_started":
                continue
            started = calls[-1]
            detail = started.detail or {}
            call = Call(
                id=str(detail["call_id"]),
                conversation_id=conversation.id,
                site_key=conversation.site_key,
                visitor_id=conversation.visitor_id,
                staff_id=conversation.assignee_id,
                channel=detail["channel"],
                started_by=detail["started_by"],
                started_at=started.created_at,
            )
            self._by_conversation[conversation.id] = call
            self._by_staff[call.staff_id] = call
        log.info("calls recovered: %d running", len(self._by_conversation))

    def running(self, conversation_id: str) -> Call | None:
        return self._by_conversation.get(conversation_id)

    async def ice_for(self, call: Call, side: Side) -> dict[str, Any]:
        """This side's ICE configuration, with TURN credentials minted for it alone."""
        participant = call.visitor_id if side == "customer" else f"staff-{call.staff_id}"
        return await self.ice.config_for(call.site_key, participant)

    async def start(self, conversation: Conversation, side: Side, channel: CallChannel) -> Call:
        """Start a call, or switch the running one to ``channel`` (it ends as ``switched`` and
        a new one starts). Refused unless the conversation is active with its staff member and
        that staff member is in no call elsewhere (calls are their own capacity: one)."""
        async with self._lock:
            return await self._start(conversation, side, channel)

    async def _start(self, conversation: Conversation, side: Side, channel: CallChannel) -> Call:
        staff_id = conversation.assignee_id
        if conversation.status != "active" or staff_id is None:
            raise ProtocolError(
                ErrorCode.CALL_NOT_ALLOWED, "Calls start once a person has joined the chat."
            )
        elsewhere = self._by_staff.get(staff_id)
        if elsewhere is not None and elsewhere.conversation_id != conversation.id:
            raise ProtocolError(ErrorCode.CALL_BUSY, "The staff member is in another call.")
        running = self._by_conversation.get(conversation.id)
        if running is not None:
            await self._finish(conversation, running, side, "switched")
        call = Call(
            id=secrets.token_hex(16),
            conversation_id=conversation.id,
            site_key=conversation.site_key,
            visitor_id=conversation.visitor_id,
            staff_id=staff_id,
            channel=channel,
            started_by=side,
            started_at=self.clock.now(),
        )
        self._by_conversation[conversation.id] = call
        self._by_staff[staff_id] = call
        await self.store.update_conversation(conversation.id, Changes(extra={"channel": channel}))
        detail = {"call_id": call.id, "channel": channel, "started_by": side}
        await self.router.events.publish(
            DomainEvent(
                EventKind.CALL_STARTED,
                call.started_at,
                side,
                conversation.id,
                staff_id,
                {"call_id": call.id, "channel": channel},
            )
        )
        log.info("call %s (%s) started in conversation %s", call.id, channel, conversation.id)
        await self.router.post_system(conversation, "call_started", None, detail)
        await self._announce(call)
        return call

    async def propose(self, conversation: Conversation, channel: Channel, by: str) -> str:
        """The staff member (named ``by``) asks to switch to ``channel``; nothing changes until
        the customer accepts. A newer proposal replaces an unanswered one. The transcript
        records the proposal and, later, the answer."""
        if conversation.status != "active":
            raise ProtocolError(ErrorCode.CALL_NOT_ALLOWED, "The conversation is not active.")
        proposal_id = secrets.token_hex(16)
        self._proposals[conversation.id] = (proposal_id, channel)
        detail = {"proposal_id": proposal_id, "channel": channel}
        await self.router.post_system(conversation, "call_proposed", by, detail)
        await self.outbound.to_customer(
            conversation.id,
            ServerEvent.CALL_PROPOSED,
            {"conversation_id": conversation.id, "proposal_id": proposal_id, "channel": channel},
        )
        return proposal_id

    async def respond(self, conversation: Conversation, proposal_id: str, accept: bool) -> None:
        """The customer's answer; on yes the switch happens, started by the staff member."""
        pending = self._proposals.get(conversation.id)
        if pending is None or pending[0] != proposal_id:
            raise ProtocolError(ErrorCode.CALL_NOT_FOUND, "No such proposal is waiting.")
        del self._proposals[conversation.id]
        channel = pending[1]
        detail = {"proposal_id": proposal_id, "channel": channel, "accepted": accept}
        await self.router.post_system(conversation, "call_proposal_answered", None, detail)
        if conversation.assignee_id is not None:
            await self.outbound.to_staff(
                conversation.assignee_id,
                ServerEvent.CALL_RESPONSE,
                {
                    "conversation_id": conversation.id,
                    "proposal_id": proposal_id,
                    "accepted": accept,
                },
            )
        if not accept:
            return
        async with self._lock:
            if channel == "chat":
                await self._end_any(conversation, "switched", "staff")
            else:
                await self._start(conversation, "staff", channel)

    def require(self, conversation: Conversation, call_id: str) -> Call:
        call = self._by_conversation.get(conversation.id)
        if call is None or call.id != call_id:
            raise ProtocolError(ErrorCode.CALL_NOT_FOUND, "No such call is running here.")
        return call

    async def relay(
        self, conversation: Conversation, side: Side, event: SdpEvent, data: dict[str, Any]
    ) -> None:
        """Pass an offer, answer or candidate to the other participant, and only to them."""
        call = self.require(conversation, str(data["call_id"]))
        if side == "customer":
            await self.outbound.to_staff(call.staff_id, event, data)
        else:
            await self.outbound.to_customer(conversation.id, event, data)
        log.debug("relayed %s for call %s from %s", event, call.id, side)

    async def end(self, conversation: Conversation, call_id: str, by: EndedBy, reason: str) -> Call:
        async with self._lock:
            call = self.require(conversation, call_id)
            return await self._finish(conversation, call, by, reason)

    async def end_any(
        self, conversation: Conversation, reason: str, by: EndedBy = "system"
    ) -> None:
        """End the conversation's call, if one runs (the conversation ended or moved on)."""
        async with self._lock:
            await self._end_any(conversation, reason, by)

    async def _end_any(self, conversation: Conversation, reason: str, by: EndedBy) -> None:
        self._proposals.pop(conversation.id, None)
        call = self._by_conversation.get(conversation.id)
        if call is not None:
            await self._finish(conversation, call, by, reason)

    async def _finish(
        self, conversation: Conversation, call: Call, by: EndedBy, reason: str
    ) -> Call:
        self._by_conversation.pop(call.conversation_id, None)
        if self._by_staff.get(call.staff_id) is call:
            del self._by_staff[call.staff_id]
        call.ended_at = self.clock.now()
        call.ended_by = by
        call.end_reason = reason
        view = call.view()
        if reason != "switched":
            await self.store.update_conversation(
                conversation.id, Changes(extra={"channel": "chat"})
            )
        detail = {
            "call_id": call.id,
            "channel": call.channel,
            "ended_by": by,
            "reason": reason,
            "duration_s": view.duration_s,
        }
        await self.router.events.publish(
            DomainEvent(
                EventKind.CALL_ENDED,
                call.ended_at or self.clock.now(),
                by,
                call.conversation_id,
                call.staff_id,
                {"call_id": call.id, "reason": reason, "duration_s": view.duration_s},
            )
        )
        log.info("call %s ended by %s (%s)", call.id, by, reason)
        await self.router.post_system(conversation, "call_ended", None, detail)
        await self._announce(call)
        return call

    async def _announce(self, call: Call) -> None:
        """``call.state`` to each side, with that side's own ICE configuration while the call
        runs (credentials are never shared between the two)."""
        running = call.ended_at is None
        sides: tuple[Side, ...] = ("customer", "staff")
        for side in sides:
            data: dict[str, Any] = {"call": call.view().to_wire()}
            if running:
                data["ice"] = await self.ice_for(call, side)
            if side == "customer":
                await self.outbound.to_customer(call.conversation_id, ServerEvent.CALL_STATE, data)
            else:
                await self.outbound.to_staff(call.staff_id, ServerEvent.CALL_STATE, data)

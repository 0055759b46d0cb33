"""Calls inside a conversation: signaling only. Media goes browser to browser; the server
relays offers, answers and candidates between the conversation's two participants and no one
else, hands each side its own ICE configuration, and records each call in the transcript.

A call is running from ``call.start`` until ``call.end`` (either side), a switch to another
channel (which ends it and starts the next), or the conversation leaving ``active`` (it ends,
or returns to the queue). ``call.state`` announces each start and end. The customer chooses;
the staff member proposes (``call.propose``) and the customer accepts or declines. Each call
is one entry in the transcript: channel, start, end, duration and who ended it.

Calls and proposals are rows in the store, not this process's memory: any node answers
which call runs in a conversation, relays its signaling, or takes the customer's answer to a
proposal made on another node. Each change is one transaction holding the conversation's
row, so a call cannot start in a conversation that is ending, and the database's unique
indexes allow one running call per conversation and one per staff member.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from signaling.conversations import not_offered
from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode, ProtocolError
from signaling.events import ServerEvent
from signaling.ports import (
    Call,
    CallRefused,
    Clock,
    Conversation,
    Delivery,
    EndedBy,
    IceProvider,
    NewCall,
    Side,
    Store,
)
from signaling.protocol import CallChannel, Channel
from signaling.routing import Router
from signaling.views import call_view

log = logging.getLogger(__name__)

SdpEvent = Literal[ServerEvent.CALL_OFFER, ServerEvent.CALL_ANSWER, ServerEvent.CALL_CANDIDATE]


class Calls:
    """Starts, switches, ends and relays calls kept in the store; one running call per
    conversation and one per staff member."""

    def __init__(
        self, store: Store, clock: Clock, router: Router, outbound: Delivery, ice: IceProvider
    ) -> None:
        self.store = store
        self.clock = clock
        self.router = router
        self.outbound = outbound
        self.ice = ice
        router.on_call_ended.append(self._ended)

    async def running(self, conversation_id: str) -> Call | None:
        """The conversation's running call, as the store has it."""
        return await self.store.running_call(conversation_id)

    async def ice_for(self, conversation: Conversation, call: Call, side: Side) -> dict[str, Any]:
        """This side's ICE configuration, with TURN credentials minted for it alone."""
        participant = conversation.visitor_id if side == "customer" else f"staff-{call.staff_id}"
        return await self.ice.config_for(conversation.site_key, participant)

    async def _offered(self, conversation: Conversation, channel: str) -> None:
        site = await self.store.get_site(conversation.site_key)
        if site is not None and channel not in site.channels:
            raise not_offered(channel)

    async def start(self, conversation: Conversation, side: Side, channel: CallChannel) -> Call:
        """Start a call, or switch the running one to ``channel`` (it ends as ``switched`` and
        a new one starts). Refused unless the conversation is active with its staff member and
        that staff member is in no call elsewhere (calls are their own capacity: one)."""
        await self._offered(conversation, channel)
        staff_id = conversation.assignee_id
        try:
            if staff_id is None:
                raise CallRefused("not_active")
            started = await self.store.start_call(
                NewCall(conversation.id, staff_id, channel, side), self.clock.now()
            )
        except CallRefused as refused:
            if refused.reason == "busy":
                raise ProtocolError(
                    ErrorCode.CALL_BUSY, "The staff member is in another call."
                ) from None
            raise ProtocolError(
                ErrorCode.CALL_NOT_ALLOWED, "Calls start once a person has joined the chat."
            ) from None
        if started.switched is not None:
            await self._ended(conversation, started.switched)
        call = started.call
        detail = {"call_id": call.id, "channel": channel, "started_by": side}
        switched = started.switched
        await self.router.events.publish(
            DomainEvent(
                EventKind.CALL_SWITCHED if switched is not None else EventKind.CALL_STARTED,
                call.started_at,
                side,
                conversation.id,
                call.staff_id,
                {"call_id": call.id, "channel": channel}
                | ({"previous": switched.channel} if switched is not None else {}),
            )
        )
        log.info("call %s (%s) started in conversation %s", call.id, channel, conversation.id)
        await self.router.post_system(conversation, "call_started", None, detail)
        await self._announce(conversation, call)
        return call

    async def propose(self, conversation: Conversation, channel: Channel, by: str) -> str:
        """The staff member (named ``by``) asks to switch to ``channel``; nothing changes until
        the customer accepts. A newer proposal supersedes an unanswered one. The transcript
        records the proposal and, later, the answer."""
        if channel != "chat":
            await self._offered(conversation, channel)
        staff_id = conversation.assignee_id
        proposal = None
        if staff_id is not None:
            proposal = await self.store.propose_call(
                conversation.id, staff_id, channel, self.clock.now()
            )
        if proposal is None:
            raise ProtocolError(ErrorCode.CALL_NOT_ALLOWED, "The conversation is not active.")
        detail = {"proposal_id": proposal.id, "channel": channel}
        await self.router.events.publish(
            DomainEvent(
                EventKind.CALL_PROPOSED,
                self.clock.now(),
                "staff",
                conversation.id,
                staff_id,
                detail,
            )
        )
        await self.router.post_system(conversation, "call_proposed", by, detail)
        await self.outbound.to_customer(
            conversation.id,
            ServerEvent.CALL_PROPOSED,
            {"conversation_id": conversation.id, "proposal_id": proposal.id, "channel": channel},
        )
        return proposal.id

    async def respond(self, conversation: Conversation, proposal_id: str, accept: bool) -> None:
        """The customer's answer, taken once; on yes the switch happens, started by the staff
        member."""
        proposal = await self.store.answer_proposal(
            conversation.id, proposal_id, accept, self.clock.now()
        )
        if proposal is None:
            raise ProtocolError(ErrorCode.CALL_NOT_FOUND, "No such proposal is waiting.")
        channel = proposal.channel
        detail = {"proposal_id": proposal_id, "channel": channel, "accepted": accept}
        await self.router.events.publish(
            DomainEvent(
                EventKind.CALL_PROPOSAL_ANSWERED,
                self.clock.now(),
                "customer",
                conversation.id,
                proposal.staff_id,
                detail,
            )
        )
        await self.router.post_system(conversation, "call_proposal_answered", None, detail)
        await self.outbound.to_staff(
            proposal.staff_id,
            ServerEvent.CALL_RESPONSE,
            {"conversation_id": conversation.id, "proposal_id": proposal_id, "accepted": accept},
        )
        if not accept:
            return
        if channel == "chat":
            await self._end(conversation, None, "staff", "switched")
        else:
            await self.start(conversation, "staff", channel)

    async def require(self, conversation: Conversation, call_id: str) -> Call:
        """The conversation's running call, if its id is ``call_id``; else ``call.not_found``."""
        call = await self.store.running_call(conversation.id)
        if call is None or call.id != call_id:
            raise ProtocolError(ErrorCode.CALL_NOT_FOUND, "No such call is running here.")
        return call

    async def relay(
        self, conversation: Conversation, side: Side, event: SdpEvent, data: dict[str, Any]
    ) -> None:
        """Pass an offer, answer or candidate to the other participant, and only to them."""
        call = await self.require(conversation, str(data["call_id"]))
        if side == "customer":
            await self.outbound.to_staff(call.staff_id, event, data)
        else:
            await self.outbound.to_customer(conversation.id, event, data)
        log.debug("relayed %s for call %s from %s", event, call.id, side)

    async def end(self, conversation: Conversation, call_id: str, by: EndedBy, reason: str) -> Call:
        """End the running call ``call_id`` (``call.end`` from either side)."""
        ended = await self._end(conversation, call_id, by, reason)
        if ended is None:
            raise ProtocolError(ErrorCode.CALL_NOT_FOUND, "No such call is running here.")
        return ended

    async def _end(
        self, conversation: Conversation, call_id: str | None, by: EndedBy, reason: str
    ) -> Call | None:
        ended = await self.store.end_call(conversation.id, call_id, by, reason, self.clock.now())
        if ended is not None:
            await self._ended(conversation, ended)
        return ended

    async def _ended(self, conversation: Conversation, call: Call) -> None:
        """After the store ended ``call`` (here, in a switch, or with its conversation): the
        transcript's note, the audit trail and ``call.state`` to both sides."""
        view = call_view(call)
        detail = {
            "call_id": call.id,
            "channel": call.channel,
            "ended_by": call.ended_by,
            "reason": call.end_reason,
            "duration_s": view.duration_s,
        }
        await self.router.events.publish(
            DomainEvent(
                EventKind.CALL_ENDED,
                call.ended_at or self.clock.now(),
                call.ended_by or "system",
                call.conversation_id,
                call.staff_id,
                {
                    "call_id": call.id,
                    "channel": call.channel,
                    "reason": call.end_reason,
                    "duration_s": view.duration_s,
                },
            )
        )
        log.info("call %s ended by %s (%s)", call.id, call.ended_by, call.end_reason)
        await self.router.post_system(conversation, "call_ended", None, detail)
        await self._announce(conversation, call)

    async def _announce(self, conversation: Conversation, call: Call) -> None:
        """``call.state`` to each side, with that side's own ICE configuration while the call
        runs (credentials are never shared between the two)."""
        data: dict[Side, dict[str, Any]] = {
            side: {"call": call_view(call).to_wire()} for side in ("customer", "staff")
        }
        if call.ended_at is None:
            for side, state in data.items():
                state["ice"] = await self.ice_for(conversation, call, side)
            # Two starts at once (two tabs, two nodes) commit in turn but announce in any
            # order: a call that was switched meanwhile is not announced as running after its
            # end was (whoever switched it announces that).
            current = await self.store.running_call(conversation.id)
            if current is None or current.id != call.id:
                return
        await self.outbound.to_customer(
            call.conversation_id, ServerEvent.CALL_STATE, data["customer"]
        )
        await self.outbound.to_staff(call.staff_id, ServerEvent.CALL_STATE, data["staff"])

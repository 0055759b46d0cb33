"""The delivery contract and the conversation actions both sides share: start, resume (replay
after a seq), send (idempotent by ``client_msg_id``, acknowledged after commit), typing, read
markers and page views. Who may touch which conversation is decided here too."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode, ProtocolError, not_assigned, not_found
from signaling.events import ServerEvent
from signaling.ports import (
    OVERSEERS,
    Changes,
    Clock,
    Conversation,
    CustomerIdentity,
    Delivery,
    Message,
    NewConversation,
    NewMessage,
    Owners,
    Side,
    StaffMember,
    Store,
)
from signaling.protocol import SendMessage, StartConversation
from signaling.routing import Router
from signaling.views import message_view

log = logging.getLogger(__name__)

REPLAY_LIMIT = 500


@dataclass(frozen=True)
class ReplayPage:
    """One page of a replay: at most ``REPLAY_LIMIT`` messages in seq order, and whether more
    follow (the client asks again from the last seq it then holds without a gap)."""

    messages: list[Message]
    more: bool


def owned_by(customer: CustomerIdentity, conversation: Conversation | Owners) -> bool:
    """Whether the conversation is this visitor's own (their site, their visitor id)."""
    return (
        conversation.site_id == customer.site.id and conversation.visitor_id == customer.visitor_id
    )


def held_by(member: StaffMember, conversation: Conversation | Owners) -> bool:
    """Whether this staff member is handling the conversation: the only one who may act in
    it (write, type, mark it read, call, end it), whatever their role."""
    return conversation.assignee_id == member.id


def readable_by(member: StaffMember, conversation: Conversation | Owners) -> bool:
    """Whether this staff member may read the conversation: its assignee, or an admin or
    supervisor (reading any conversation is an overseer's right; acting in it is not)."""
    return held_by(member, conversation) or member.role in OVERSEERS


def not_offered(channel: str) -> ProtocolError:
    names = {"chat": "Chat", "voice": "Voice calls", "video": "Video calls"}
    what = names.get(channel, "Seeing the staff member only")
    return ProtocolError(ErrorCode.CHANNEL_NOT_OFFERED, f"{what} are not offered on this site.")


def new_conversation_id() -> str:
    return secrets.token_hex(16)


class Conversations:
    """Conversation actions; the namespaces call these after decoding and authorising."""

    def __init__(self, store: Store, clock: Clock, router: Router, outbound: Delivery) -> None:
        self.store = store
        self.clock = clock
        self.router = router
        self.outbound = outbound

    # -- access ---------------------------------------------------------------------------

    async def for_customer(self, customer: CustomerIdentity, conversation_id: str) -> Conversation:
        """The conversation if it is this visitor's own; otherwise not found (never say that
        it exists)."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None or not owned_by(customer, conversation):
            raise not_found()
        return conversation

    async def for_staff(self, member: StaffMember, conversation_id: str) -> Conversation:
        """The conversation, to read: if this staff member is handling it, or is an admin.
        Anything that acts in it goes through ``for_assignee`` instead."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise not_found()
        if not readable_by(member, conversation):
            raise not_assigned()
        return conversation

    async def for_assignee(self, member: StaffMember, conversation_id: str) -> Conversation:
        """The conversation, to act in (type, mark read, call, end): only if this staff
        member is handling it. Admins are refused too, so that a supervisor reading along
        never shows up on the customer's side."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise not_found()
        if not held_by(member, conversation):
            raise not_assigned()
        return conversation

    @staticmethod
    def writable(conversation: Conversation | Owners) -> None:
        if conversation.status == "ended":
            raise ProtocolError(ErrorCode.CONVERSATION_ENDED, "The conversation has ended.")

    # -- actions --------------------------------------------------------------------------

    async def start(
        self,
        customer: CustomerIdentity,
        request: StartConversation,
        join: Callable[[str], Awaitable[None]],
    ) -> Conversation:
        """Open a conversation, or return the visitor's open one (so a double click or a
        second tab never makes two). ``join`` puts the socket in the conversation's room
        before routing can change it, and the conversation returned is read after that: so
        the customer gets every change after it, and none is lost in between."""
        if request.channel not in customer.site.channels:
            raise not_offered(request.channel)
        existing = await self.store.open_conversation_for(customer.site.id, customer.visitor_id)
        if existing is not None:
            await join(existing.id)
            return await self.store.get_conversation(existing.id) or existing
        conversation = await self.store.create_conversation(
            NewConversation(
                site=customer.site,
                visitor_id=customer.visitor_id,
                channel=request.channel,
                language=request.language,
                visitor_name=request.name,
                page_url=request.page_url,
                page_title=request.page_title,
            ),
            self.clock.now(),
        )
        await self.router.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_QUEUED,
                conversation.created_at,
                "customer",
                conversation.id,
                detail={"channel": conversation.channel},
            )
        )
        log.info("conversation %s created on site %s", conversation.id, customer.site.key)
        await join(conversation.id)
        await self.router.enqueue(conversation)
        return await self.store.get_conversation(conversation.id) or conversation

    async def replay(self, conversation: Conversation, last_seq: int) -> ReplayPage:
        """The messages after ``last_seq``, in order, one page at a time."""
        # One row past the page says whether more follow, without a second query.
        found = await self.store.messages_after(conversation.id, last_seq, REPLAY_LIMIT + 1)
        return ReplayPage(found[:REPLAY_LIMIT], more=len(found) > REPLAY_LIMIT)

    async def send_as_customer(
        self, customer: CustomerIdentity, request: SendMessage, sid: str
    ) -> dict[str, Any]:
        """Send for the visitor: only into their own conversation, and only while it is open."""

        def admit(owners: Owners) -> None:
            if not owned_by(customer, owners):
                raise not_found()
            self.writable(owners)

        return await self._send("customer", request, sid, admit)

    async def send_as_staff(
        self, member: StaffMember, request: SendMessage, sid: str
    ) -> dict[str, Any]:
        """Send for the staff member handling the conversation (admins too, only then)."""

        def admit(owners: Owners) -> None:
            if not held_by(member, owners):
                raise not_assigned()
            self.writable(owners)

        return await self._send("staff", request, sid, admit, member)

    async def _send(
        self,
        side: Side,
        request: SendMessage,
        sid: str,
        admit: Callable[[Owners], None],
        author: StaffMember | None = None,
    ) -> dict[str, Any]:
        """Store the message (once per ``client_msg_id``) and publish it to the other side;
        returns its wire view after the commit. The access check runs in the append's own
        transaction, so a message costs one trip to the database. A resend of a stored
        message is answered with the stored copy and published to nobody."""
        try:
            appended = await self.store.append_message(
                NewMessage(
                    conversation_id=request.conversation_id,
                    sender=side,
                    kind="text",
                    body=request.body,
                    client_msg_id=request.client_msg_id,
                    author_id=author.id if author else None,
                    author_name=author.name if author else None,
                ),
                self.clock.now(),
                admit,
            )
        except KeyError:
            raise not_found() from None
        view = message_view(appended.message).to_wire()
        if appended.created:
            log.debug("message %s#%d stored", request.conversation_id, appended.message.seq)
            await self.router.events.publish(
                DomainEvent(
                    EventKind.MESSAGE_STORED,
                    appended.message.created_at,
                    side,
                    request.conversation_id,
                    author.id if author else None,
                    {"seq": appended.message.seq},
                )
            )
            await self.outbound.to_both(
                request.conversation_id,
                appended.owners.assignee_id,
                ServerEvent.MESSAGE_NEW,
                {"message": view},
                skip_sid=sid,
            )
        return view

    async def typing(self, conversation: Conversation, side: Side, typing: bool) -> None:
        """Relay typing to the other side; nothing is stored."""
        self.writable(conversation)
        data = {"conversation_id": conversation.id, "side": side, "typing": typing}
        if side == "customer":
            if conversation.assignee_id is not None:
                await self.outbound.to_staff(conversation.assignee_id, ServerEvent.TYPING, data)
        else:
            await self.outbound.to_customer(conversation.id, ServerEvent.TYPING, data)

    async def read(self, conversation: Conversation, side: Side, seq: int) -> None:
        """Store this side's read marker (capped at the last seq) and tell the other side."""
        seq = min(seq, conversation.last_seq)
        await self.store.set_read(conversation.id, side, seq)
        await self.router.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_READ,
                self.clock.now(),
                side,
                conversation.id,
                conversation.assignee_id if side == "staff" else None,
                {"seq": seq},
            )
        )
        data = {"conversation_id": conversation.id, "side": side, "seq": seq}
        if side == "customer":
            if conversation.assignee_id is not None:
                await self.outbound.to_staff(conversation.assignee_id, ServerEvent.READ, data)
        else:
            await self.outbound.to_customer(conversation.id, ServerEvent.READ, data)

    async def rate(self, conversation: Conversation, score: int, comment: str) -> Conversation:
        """The customer's rating of their ended conversation; a later one replaces it. The
        staff member sees it at once; the event log keeps the score, never the comment."""
        if conversation.status != "ended":
            raise ProtocolError(
                ErrorCode.CONVERSATION_NOT_ENDED, "A conversation can be rated once it has ended."
            )
        updated = await self.store.update_conversation(
            conversation.id,
            Changes(extra={"rating": score, "rating_comment": comment or None}),
            expect_status=("ended",),
        )
        if updated is None:
            raise not_found()
        await self.router.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_RATED,
                self.clock.now(),
                "customer",
                conversation.id,
                conversation.assignee_id,
                {"score": score},
            )
        )
        await self.router.announce(updated)
        return updated

    async def page_view(self, conversation: Conversation, url: str, title: str) -> None:
        """Remember the customer's current page; the assignee sees it change."""
        self.writable(conversation)
        updated = await self.store.update_conversation(
            conversation.id, Changes(page_url=url, page_title=title)
        )
        if updated is not None:
            await self.router.changed(updated)

"""When nobody can answer: a site's hours and offline choice, availability as the loader and
the frame read it, and messages left for later.

A site chooses what a customer gets when no one can answer (nobody available, outside its
hours, or waiting longer than its queue timeout): ``message`` (leave an email and a message,
stored as an ended conversation marked offline, for staff to answer later) or ``hide`` (the
launcher hides). A customer already waiting who leaves a message turns that conversation
into the offline one, so their earlier lines stay with it.

The reply by email is another step: subscribers of ``conversation.offline`` (the email
outbox) read the conversation's ``customer_email`` from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode, ProtocolError
from signaling.events import ServerEvent
from signaling.hours import Hours, Status
from signaling.ports import (
    Changes,
    Clock,
    Conversation,
    CustomerIdentity,
    NewConversation,
    NewMessage,
    Store,
)
from signaling.queueing import WAITING
from signaling.routing import Router

OfflineMode = Literal["message", "hide"]


@dataclass(frozen=True, slots=True)
class SiteHours:
    """A site's hours (None: always open), its offline choice, and the seconds in the queue
    after which a customer is offered the offline path (None: never)."""

    hours: Hours | None = None
    offline: OfflineMode = "message"
    queue_timeout: int | None = None

    def status(self, now: datetime) -> Status:
        return self.hours.status(now) if self.hours else Status(True, None, None)


class OfflineStore(Protocol):
    """Where hours and messages left for later are kept."""

    async def site_hours(self, site_id: int) -> SiteHours:
        """The site's hours and offline choice (defaults when never set)."""
        ...

    async def store_offline(
        self, new: NewConversation, email: str, body: str, client_msg_id: str, now: float
    ) -> Conversation:
        """Insert an ended conversation marked offline with its first message, at once."""
        ...


def iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def availability(site: SiteHours, now: float, serving: int) -> dict[str, Any]:
    """What the loader and the frame need: whether someone can answer now, whether the team
    is within its hours, the next opening (or closing) as an instant, and the offline path."""
    status = site.status(datetime.fromtimestamp(now, UTC))
    return {
        "available": status.open and serving > 0,
        "open": status.open,
        "staffed": serving > 0,
        "next_open": iso(status.next_open),
        "closes_at": iso(status.closes_at),
        "timezone": site.hours.zone if site.hours else None,
        "offline": site.offline,
        "queue_timeout_s": site.queue_timeout,
    }


class OfflineDesk:
    """Messages left for later."""

    def __init__(self, store: Store, hours: OfflineStore, router: Router, clock: Clock) -> None:
        self.store = store
        self.hours = hours
        self.router = router
        self.clock = clock

    async def leave(
        self,
        customer: CustomerIdentity,
        email: str,
        body: str,
        client_msg_id: str,
        page: tuple[str | None, str | None] = (None, None),
        language: str | None = None,
    ) -> Conversation:
        """Store the customer's message for later; raises ``offline.disabled`` when the site
        hides instead. A conversation the customer was waiting in becomes the offline one."""
        site = await self.hours.site_hours(customer.site.id)
        if site.offline != "message":
            raise ProtocolError(ErrorCode.OFFLINE_DISABLED, "This site does not take messages.")
        now = self.clock.now()
        existing = await self.store.open_conversation_for(customer.site.id, customer.visitor_id)
        converted = None
        if existing is not None and existing.status in WAITING:
            converted = await self._convert(existing, email, body, client_msg_id, now)
        conversation = converted or await self.hours.store_offline(
            NewConversation(
                site=customer.site,
                visitor_id=customer.visitor_id,
                language=language,
                page_url=page[0],
                page_title=page[1],
            ),
            email,
            body,
            client_msg_id,
            now,
        )
        await self.router.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_OFFLINE,
                now,
                "customer",
                conversation.id,
                detail={"site_id": customer.site.id},
            )
        )
        return conversation

    async def _convert(
        self, waiting: Conversation, email: str, body: str, client_msg_id: str, now: float
    ) -> Conversation | None:
        closed = await self.store.close_conversation(
            waiting.id,
            Changes(
                status="ended",
                ended_at=now,
                ended_by="customer",
                clear_ringing=True,
                extra={"offline_at": now, "customer_email": email},
            ),
            "conversation_ended",
            now,
            expect_status=WAITING,
        )
        if closed is None:  # taken meanwhile: leave it be, store the message on its own
            return None
        if waiting.ringing_staff_id is not None:
            await self.router.outbound.to_staff(
                waiting.ringing_staff_id,
                ServerEvent.RING_CANCELLED,
                {"conversation_id": waiting.id, "reason": "abandoned"},
            )
        await self.store.append_message(
            NewMessage(
                conversation_id=waiting.id,
                sender="customer",
                kind="text",
                body=body,
                client_msg_id=client_msg_id,
            ),
            now,
        )
        ended = await self.store.get_conversation(waiting.id) or closed.conversation
        await self.router.queue.changed(ended)
        await self.router.announce(ended)
        return ended

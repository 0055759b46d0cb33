"""Who is no longer there: the last available staff member going while customers wait,
and customers whose frames are gone.

A customer's frame closing marks their open conversation ``customer_left_at``: routing rings
nobody for it (``staffing.choose``), the console shows it, and a frame coming back clears
it. A waiting conversation left that way for ``RoutingPolicy.customer_grace`` is abandoned
by the sweeper, so a staff member who comes back later is never rung for someone long gone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ProtocolError
from signaling.events import ServerEvent
from signaling.ports import Changes, Conversation, Status

if TYPE_CHECKING:
    from signaling.routing import Router

log = logging.getLogger(__name__)

OPEN: tuple[Status, ...] = ("queued", "ringing", "active")


class Absence:
    """Absences, for one node's router (all state is in the store)."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def unstaffed(self) -> None:
        """Someone stopped being available. If nobody is left, every waiting customer is told
        at once (not at the next position refresh), so the frame can offer the offline
        path."""
        now = self.router.clock.now()
        if (await self.router.routing.staffing(now)).serving > 0:
            return
        waiting = await self.router.routing.waiting()
        if not waiting:
            return
        log.info("nobody available; %d customers waiting told", len(waiting))
        await self.router.events.publish(
            DomainEvent(EventKind.QUEUE_UNSTAFFED, now, "system", detail={"waiting": len(waiting)})
        )
        for conversation in waiting:
            await self.router.outbound.to_customer(
                conversation.id, ServerEvent.TEAM_AWAY, {"conversation_id": conversation.id}
            )

    async def customer_left(self, conversation_id: str) -> None:
        """The customer's last frame on this conversation closed: nobody is rung for it until
        one comes back; a waiting one is abandoned after the customer grace (``sweep``)."""
        left = await self.router.store.update_conversation(
            conversation_id,
            Changes(extra={"customer_left_at": self.router.clock.now()}),
            expect_status=OPEN,
        )
        if left is not None:
            await self.router.changed(left)

    async def customer_back(self, conversation: Conversation) -> Conversation:
        """A frame of the customer is connected to ``conversation`` again."""
        if conversation.customer_left_at is None or conversation.status == "ended":
            return conversation
        back = await self.router.store.update_conversation(
            conversation.id, Changes(extra={"customer_left_at": None}), expect_status=OPEN
        )
        if back is None:
            return await self.router.store.get_conversation(conversation.id) or conversation
        await self.router.changed(back)
        await self.router.dispatch()
        return back

    async def abandon_left(self, now: float) -> bool:
        """Abandon waiting conversations whose customer has been gone longer than the
        customer grace; whether there were any."""
        gone = await self.router.routing.left_waiting(now - self.router.policy.customer_grace)
        for conversation in gone:
            await self.router.events.publish(
                DomainEvent(EventKind.CUSTOMER_LEFT, now, "system", conversation.id)
            )
            try:
                await self.router.end(conversation, "system")
            except ProtocolError:  # it moved on meanwhile (accepted, ended elsewhere)
                log.info("conversation %s moved on before it was abandoned", conversation.id)
                continue
        return bool(gone)

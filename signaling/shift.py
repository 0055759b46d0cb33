"""The shift: wrap-up after a conversation, its outcome tag, the pause after calls in a row,
and away reasons with their durations.

A wrap-up is a deadline on the staff member's presence row (``RoutingStore.begin_wrapup``):
dispatch skips staff whose wrap-up runs, and any node's sweeper ends it when it is due, as
with rings, so it holds on several nodes and survives the node that started it. This node
also sets a timer at the deadline, only so the next ring comes on time. When a wrap-up ends,
the staff member counts as idle from its end (routing rings the longest idle first).

States of one staff member's wrap-up: none → running (a conversation of theirs ended with a
wrap-up due) → none (``ready``, or its deadline). ``extend`` moves the deadline. Each change
is announced to their consoles with ``wrapup``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from signaling.domain_events import DomainEvent, EventKind
from signaling.errors import ErrorCode, ProtocolError, not_assigned, not_found
from signaling.events import ServerEvent
from signaling.ports import (
    AwayReason,
    Clock,
    Conversation,
    Delivery,
    Presence,
    Publisher,
    RoutingStore,
    ShiftPolicy,
    StaffMember,
    Store,
    WrapUp,
)
from signaling.protocol import WrapUpView

log = logging.getLogger(__name__)

# However often a staff member extends, the next ring is at most this far away: a wrap-up
# is not a way to go away without saying so.
LONGEST_WRAPUP = 600.0


class Shift:
    """Wrap-up, outcome tags and away reasons; ``free`` is called when someone may be rung
    again (the router's dispatch)."""

    def __init__(
        self,
        store: Store,
        routing: RoutingStore,
        clock: Clock,
        outbound: Delivery,
        events: Publisher,
        free: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.routing = routing
        self.clock = clock
        self.outbound = outbound
        self.events = events
        self.free = free

    async def policy(self, site_key: str) -> ShiftPolicy:
        site = await self.store.get_site(site_key)
        return site.shift if site is not None else ShiftPolicy()

    # -- wrap-up --------------------------------------------------------------------------

    async def began(self, wrapup: WrapUp) -> None:
        """A wrap-up began with the end of a conversation (``Store.close_conversation``):
        tell the staff member's consoles, and end it on time here."""
        now = self.clock.now()
        log.info("staff %s wraps up for %.0f s", wrapup.staff_id, wrapup.until - now)
        self.clock.call_later(max(0.0, wrapup.until - now), self.expire)
        await self._announce(wrapup.staff_id, wrapup)

    async def ready(self, member: StaffMember) -> None:
        """The staff member is ready now: their wrap-up ends and they may be rung."""
        now = self.clock.now()
        ended = await self.routing.end_wrapup(member.id, now)
        if ended is not None:
            await self._over(ended, "ready", now)
            await self.free()

    async def extend(self, member: StaffMember, seconds: float) -> WrapUp | None:
        """More time before the next ring (up to ``LONGEST_WRAPUP`` from now)."""
        now = self.clock.now()
        wrapup = await self.routing.extend_wrapup(member.id, now, seconds, LONGEST_WRAPUP)
        if wrapup is not None:
            self.clock.call_later(max(0.0, wrapup.until - now), self.expire)
            await self._announce(member.id, wrapup)
        return wrapup

    async def expire(self) -> bool:
        """End the wrap-ups past their deadline (whichever node gets there first)."""
        now = self.clock.now()
        over = await self.routing.expire_wrapups(now)
        for wrapup in over:
            await self._over(wrapup, "timeout", wrapup.until)
        if over:
            await self.free()
        return bool(over)

    async def _over(self, wrapup: WrapUp, how: str, at: float) -> None:
        detail = {"how": how, "pause": wrapup.pause, "duration_s": round(at - wrapup.began, 1)}
        await self.events.publish(
            DomainEvent(
                EventKind.WRAPUP_ENDED,
                at,
                "staff" if how == "ready" else "system",
                wrapup.conversation_id,
                wrapup.staff_id,
                detail,
            )
        )
        await self.outbound.to_staff(wrapup.staff_id, ServerEvent.WRAPUP, {"wrapup": None})

    async def view(self, staff_id: int) -> dict[str, Any] | None:
        """The staff member's running wrap-up as the console shows it, or None."""
        wrapup = await self.routing.wrapup_of(staff_id, self.clock.now())
        return None if wrapup is None else await self._view(wrapup)

    async def _view(self, wrapup: WrapUp) -> dict[str, Any]:
        conversation = await self.store.get_conversation(wrapup.conversation_id)
        tags: tuple[str, ...] = ()
        if conversation is not None:
            tags = (await self.policy(conversation.site_key)).outcome_tags
        return WrapUpView(
            conversation_id=wrapup.conversation_id,
            remaining_ms=max(0, int((wrapup.until - self.clock.now()) * 1000)),
            pause=wrapup.pause,
            tags=list(tags),
            outcome=conversation.outcome if conversation is not None else None,
        ).to_wire()

    async def _announce(self, staff_id: int, wrapup: WrapUp) -> None:
        view = await self._view(wrapup)
        await self.outbound.to_staff(staff_id, ServerEvent.WRAPUP, {"wrapup": view})

    # -- outcome tags ---------------------------------------------------------------------

    async def tag(self, member: StaffMember, conversation_id: str, tag: str) -> Conversation:
        """Store the outcome of one of the staff member's conversations (open or ended).
        Raises ``tag.unknown`` for a tag outside the site's catalogue and
        ``conversation.not_assigned`` for someone else's conversation."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise not_found()
        if tag not in (await self.policy(conversation.site_key)).outcome_tags:
            raise ProtocolError(ErrorCode.TAG_UNKNOWN, "That outcome is not in this site's list.")
        tagged = await self.routing.tag_conversation(conversation_id, member.id, tag)
        if tagged is None:
            raise not_assigned()
        await self.events.publish(
            DomainEvent(
                EventKind.CONVERSATION_TAGGED,
                self.clock.now(),
                "staff",
                conversation_id,
                member.id,
                {"tag": tag},
            )
        )
        return tagged

    # -- away reasons ---------------------------------------------------------------------

    def presence_detail(self, before: Presence, after: Presence) -> dict[str, Any]:
        """``presence.changed``'s detail: the status shown, the reason while away, and the
        away spell that just ended (its reason and length), if one did."""
        detail: dict[str, Any] = {"status": after.shown}
        if after.status == "away" and after.reason is not None:
            detail["reason"] = after.reason
        spell_over = before.status == "away" and (
            after.status != "away" or after.away_since != before.away_since
        )
        if spell_over and before.away_since is not None and before.reason is not None:
            detail["away_reason"] = before.reason
            detail["away_s"] = round(self.clock.now() - before.away_since, 1)
        return detail


def reason_of(presence: Presence) -> AwayReason | None:
    """The away reason to show, only while away."""
    return presence.reason if presence.status == "away" else None

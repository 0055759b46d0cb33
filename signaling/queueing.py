"""The queue as people see it: each waiting customer's position and an honest estimate, and
the staff consoles' list of waiting conversations.

Fan-out costs O(1) per change. A change to one waiting conversation is one small event to the
staff consoles (that conversation, or its removal), never the whole list again. Positions
move for everyone behind a change, so re-sending each of them a position on every change
would be quadratic in a surge; instead a change marks positions as stale and one refresh,
at most every ``refresh_every`` seconds, reads the queue as it is then and sends each waiting
customer their position only if it moved. Nothing is sent from a snapshot taken before an
await that another change may have overtaken: the refresh reads the store when it runs, and
every view carries its conversation's ``version`` so a client drops an older one.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from signaling.events import ServerEvent
from signaling.ports import (
    Clock,
    Conversation,
    Delivery,
    RoutingStore,
    Staffing,
    Status,
    Store,
    TimerHandle,
)
from signaling.protocol import ConversationView, QueueChange
from signaling.views import StaffHandles, conversation_view

log = logging.getLogger(__name__)

WAITING: tuple[Status, ...] = ("queued", "ringing")


class QueueFeed:
    """Positions, estimates and the staff's queue list."""

    def __init__(
        self,
        store: Store,
        routing: RoutingStore,
        clock: Clock,
        outbound: Delivery,
        names: Callable[[int | None], str | None],
        handles: StaffHandles,
        default_handling: float,
        refresh_every: float = 1.0,
    ) -> None:
        self.store = store
        self.routing = routing
        self.clock = clock
        self.outbound = outbound
        self.names = names
        self.handles = handles
        self.refresh_every = refresh_every
        self.handling = default_handling
        self._sent: dict[str, tuple[int | None, int | None]] = {}
        self._refresh: TimerHandle | None = None
        self._refreshing = asyncio.Lock()
        # Conversations this node saw leave the queue while a refresh walks it: the walk
        # skips them rather than send a view older than the one just sent.
        self._left: set[str] = set()

    # -- views ----------------------------------------------------------------------------

    def estimate(self, position: int, staffing: Staffing) -> int | None:
        """Seconds until a person answers, from recent handling times; None when nobody is
        available, because then no estimate would be honest."""
        if staffing.serving == 0:
            return None
        ahead = max(0, position - staffing.open_slots)
        if ahead == 0:
            return 0
        seconds = ahead * self.handling / (staffing.capacity or 1)
        return int(math.ceil(seconds / 30.0) * 30)

    def view(
        self,
        conversation: Conversation,
        *,
        for_staff: bool,
        position: int | None = None,
        staffing: Staffing | None = None,
    ) -> ConversationView:
        """The conversation for one side, with its position and estimate when given."""
        estimate = None
        if position is not None and staffing is not None:
            estimate = self.estimate(position, staffing)
        return conversation_view(
            conversation,
            assignee_name=self.names(conversation.assignee_id),
            handles=self.handles,
            queue_position=position if conversation.status in WAITING else None,
            estimated_wait_s=estimate if conversation.status in WAITING else None,
            for_staff=for_staff,
        )

    async def current_view(
        self, conversation: Conversation, *, for_staff: bool
    ) -> ConversationView:
        """The view with its position read now (acks of start and resume)."""
        if conversation.status not in WAITING:
            return self.view(conversation, for_staff=for_staff)
        position = await self.routing.queue_position(conversation)
        staffing = await self.routing.staffing(self.clock.now())
        return self.view(conversation, for_staff=for_staff, position=position, staffing=staffing)

    async def staff_list(self) -> list[dict[str, Any]]:
        """The whole queue for a console catching up (``sync``)."""
        waiting = await self.routing.waiting()
        staffing = await self.routing.staffing(self.clock.now())
        return [
            self.view(c, for_staff=True, position=n, staffing=staffing).to_wire()
            for n, c in enumerate(waiting, start=1)
        ]

    # -- changes --------------------------------------------------------------------------

    async def changed(self, conversation: Conversation) -> None:
        """A conversation entered, moved within or left the queue: tell the consoles about it
        alone, and have positions refreshed soon."""
        waiting = conversation.status in WAITING
        if not waiting:
            self._sent.pop(conversation.id, None)
            self._left.add(conversation.id)
        change = QueueChange(
            op="upsert" if waiting else "remove",
            conversation=self.view(conversation, for_staff=True),
        )
        await self.outbound.to_all_staff(ServerEvent.QUEUE_CHANGED, change.to_wire())
        self.stale()

    def stale(self) -> None:
        """Positions or estimates may have moved (the queue or the staffing changed)."""
        if self._refresh is None:
            self._refresh = self.clock.call_later(self.refresh_every, self._run_refresh)

    async def _run_refresh(self) -> None:
        self._refresh = None
        await self.refresh()

    async def refresh(self) -> None:
        """Send each waiting customer their position and estimate if either moved."""
        async with self._refreshing:
            self._left.clear()
            waiting = await self.routing.waiting()
            staffing = await self.routing.staffing(self.clock.now())
            alive = {c.id for c in waiting}
            for gone in self._sent.keys() - alive:
                del self._sent[gone]
            for position, conversation in enumerate(waiting, start=1):
                if conversation.id in self._left:
                    continue
                estimate = self.estimate(position, staffing)
                if self._sent.get(conversation.id) == (position, estimate):
                    continue
                self._sent[conversation.id] = (position, estimate)
                view = self.view(
                    conversation, for_staff=False, position=position, staffing=staffing
                )
                await self.outbound.to_customer(
                    conversation.id,
                    ServerEvent.CONVERSATION_STATE,
                    {"conversation": view.to_wire()},
                )

    def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None

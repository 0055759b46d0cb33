"""The queue: the waiting conversations in order, and telling waiting customers where they
stand.

Positions move without anything happening to a customer's own conversation (someone ahead
was taken, a staff member became available). Re-sending every waiting customer a position on
every change costs O(queue) per change, O(queue²) in a surge; instead a change marks the
positions dirty and one walk, at most every ``interval`` seconds, tells each customer whose
position or estimate differs from what they were last told. The walk reads each
conversation's current state right before its emit, never a snapshot taken before an await,
so it cannot tell an accepted customer that they are still waiting.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Iterator

from signaling.ports import Clock, Conversation, TimerHandle
from signaling.protocol import ConversationView

# What a customer was told: the version of their conversation, their position, the estimate.
Told = tuple[int, int | None, int | None]


def _told(view: ConversationView) -> Told:
    return (view.version, view.queue_position, view.estimated_wait_s)


class Queue:
    """Waiting (``queued`` or ``ringing``) conversations, first come first served by
    ``(queued_at, id)``; a position is a binary search, so views of waiting conversations
    stay cheap in a long queue.

    ``describe(conversation, position)`` gives the customer's view and ``tell(view)`` sends
    it to them; ``moved()`` asks for a position walk (at once if none ran in the last
    ``interval`` seconds, else as soon as one may).
    """

    def __init__(
        self,
        clock: Clock,
        describe: Callable[[Conversation, int], ConversationView],
        tell: Callable[[ConversationView], Awaitable[None]],
        interval: float = 1.0,
    ) -> None:
        self.clock = clock
        self.describe = describe
        self.tell = tell
        self.interval = interval
        self._by_id: dict[str, Conversation] = {}
        self._order: list[tuple[float, str]] = []
        self._told: dict[str, Told] = {}
        self._timer: TimerHandle | None = None
        self._walking = False
        self._dirty = False
        self._last_walk = float("-inf")

    # -- the waiting set ------------------------------------------------------------------

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Conversation]:
        """The waiting conversations in queue order (a copy: the queue may change meanwhile)."""
        return iter([self._by_id[cid] for _, cid in self._order])

    def get(self, conversation_id: str) -> Conversation | None:
        return self._by_id.get(conversation_id)

    def put(self, conversation: Conversation) -> None:
        """Add a waiting conversation, or replace the copy held unless that one is newer (a
        change made elsewhere may be reported after routing's own, later, one)."""
        held = self._by_id.get(conversation.id)
        if held is not None and held.version > conversation.version:
            return
        self._by_id[conversation.id] = conversation
        if held is not None:
            if held.queued_at == conversation.queued_at:
                return
            self._remove_key(held)
        key = (conversation.queued_at, conversation.id)
        index = bisect.bisect_left(self._order, key)
        self._order.insert(index, key)
        if index < len(self._order) - 1:  # in front of someone: their positions moved
            self.moved()

    def refresh(self, conversation: Conversation) -> None:
        """A conversation changed outside routing (a page view): keep the copy current, if it
        is waiting at all."""
        if conversation.id in self._by_id:
            self.put(conversation)

    def pop(self, conversation_id: str) -> Conversation | None:
        """Take a conversation out of the queue (taken, ended, gone)."""
        held = self._by_id.pop(conversation_id, None)
        self._told.pop(conversation_id, None)
        if held is not None:
            if self._remove_key(held) < len(self._order):  # everyone behind moves up
                self.moved()
        return held

    def _remove_key(self, conversation: Conversation) -> int:
        index = bisect.bisect_left(self._order, (conversation.queued_at, conversation.id))
        del self._order[index]
        return index

    def position(self, conversation_id: str) -> int | None:
        """1 for the first in line; None if not waiting."""
        conversation = self._by_id.get(conversation_id)
        if conversation is None:
            return None
        return bisect.bisect_left(self._order, (conversation.queued_at, conversation.id)) + 1

    # -- telling customers ----------------------------------------------------------------

    def told(self, view: ConversationView) -> None:
        """Remember what a waiting customer was just sent, so the walk does not repeat it."""
        if view.id in self._by_id:
            self._told[view.id] = _told(view)

    def moved(self) -> None:
        """Positions or estimates may have changed: walk the queue soon, at most once per
        ``interval``."""
        self._dirty = True
        if self._timer is not None or self._walking:
            return  # the pending walk, or the one running, covers it
        delay = max(0.0, self._last_walk + self.interval - self.clock.now())
        self._timer = self.clock.call_later(delay, self._walk)

    async def _walk(self) -> None:
        self._timer = None
        self._walking = True
        self._dirty = False
        self._last_walk = self.clock.now()
        try:
            for _, conversation_id in list(self._order):
                # Read now, not from the list above: an emit below may have let an accept or
                # a timeout run.
                conversation = self._by_id.get(conversation_id)
                position = self.position(conversation_id)
                if conversation is None or position is None:
                    continue
                view = self.describe(conversation, position)
                if self._told.get(conversation_id) == _told(view):
                    continue
                self._told[conversation_id] = _told(view)
                await self.tell(view)
        finally:
            self._walking = False
            if self._dirty:
                self.moved()

    def close(self) -> None:
        """Cancel a pending walk (shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

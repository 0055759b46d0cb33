"""The queue on a fake clock: order and positions, and the coalesced position walk that reads
each conversation's state when it sends, never from a snapshot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from signaling.ports import Conversation
from signaling.protocol import ConversationView
from signaling.queue import Queue
from signaling.views import StaffHandles, conversation_view


@dataclass
class Timer:
    due: float
    callback: Callable[[], Any]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeClock:
    time: float = 1000.0
    timers: list[Timer] = field(default_factory=list)

    def now(self) -> float:
        return self.time

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Timer:
        timer = Timer(self.time + delay, callback)
        self.timers.append(timer)
        return timer

    async def advance(self, seconds: float) -> None:
        """Move time on and run (awaiting) every timer that fell due."""
        self.time += seconds
        while due := [t for t in self.timers if t.due <= self.time and not t.cancelled]:
            for timer in due:
                self.timers.remove(timer)
                result = timer.callback()
                if result is not None:
                    await result


def waiting(n: int, queued_at: float | None = None, version: int = 1) -> Conversation:
    return Conversation(
        id=f"{n:032x}",
        site_id=1,
        site_key="site",
        visitor_id=f"v{n}",
        status="queued",
        channel="chat",
        language=None,
        assignee_id=None,
        ringing_staff_id=None,
        last_seq=0,
        customer_read_seq=0,
        staff_read_seq=0,
        visitor_name=None,
        page_url=None,
        page_title=None,
        created_at=float(n),
        queued_at=float(n) if queued_at is None else queued_at,
        accepted_at=None,
        ended_at=None,
        ended_by=None,
        version=version,
    )


def describe(conversation: Conversation, position: int) -> ConversationView:
    return conversation_view(
        conversation,
        assignee_name=None,
        queue_position=position,
        estimated_wait_s=None,
        for_staff=False,
        handles=StaffHandles("t" * 40),
    )


class Told:
    """The customers' side: every view the queue sent, in order."""

    def __init__(self) -> None:
        self.views: list[ConversationView] = []
        self.during: Callable[[ConversationView], None] | None = None

    async def __call__(self, view: ConversationView) -> None:
        self.views.append(view)
        if self.during is not None:
            self.during(view)

    def positions(self) -> dict[str, int | None]:
        return {view.id: view.queue_position for view in self.views}


def test_positions_follow_queue_order() -> None:
    queue = Queue(FakeClock(), describe, Told())
    for n in (1, 2, 3):
        queue.put(waiting(n))
    assert [queue.position(waiting(n).id) for n in (1, 2, 3)] == [1, 2, 3]
    queue.put(waiting(4, queued_at=0.5))  # requeued at its original place: in front
    assert [c.id for c in queue] == [waiting(n).id for n in (4, 1, 2, 3)]
    assert queue.pop(waiting(1).id) is not None
    assert queue.position(waiting(3).id) == 3
    assert queue.position(waiting(1).id) is None
    assert len(queue) == 3


def test_an_older_copy_never_replaces_a_newer_one() -> None:
    queue = Queue(FakeClock(), describe, Told())
    ringing = replace(waiting(1), status="ringing", version=3)
    queue.put(ringing)
    queue.put(replace(waiting(1), page_url="https://shop.test/", version=2))
    assert queue.get(ringing.id) == ringing
    queue.refresh(waiting(9))  # not waiting: refresh adds nothing
    assert waiting(9).id not in queue


async def test_positions_are_sent_at_most_once_per_interval_and_only_when_moved() -> None:
    clock = FakeClock()
    told = Told()
    queue = Queue(clock, describe, told, interval=1.0)
    for n in range(1, 11):
        queue.put(waiting(n))
    for view in (describe(c, n) for n, c in enumerate(queue, start=1)):
        queue.told(view)  # what their start acknowledgements said
    queue.pop(waiting(1).id)
    await clock.advance(0)  # the first walk after a quiet spell runs at once
    assert told.positions() == {waiting(n).id: n - 1 for n in range(2, 11)}

    told.views.clear()
    for n in range(2, 6):  # a surge: four taken in a row
        queue.pop(waiting(n).id)
    await clock.advance(0.5)
    assert told.views == []
    await clock.advance(0.5)
    assert told.positions() == {waiting(n).id: n - 5 for n in range(6, 11)}
    assert len(told.views) == 5

    told.views.clear()
    queue.pop(waiting(10).id)  # the last one: nobody behind moved
    await clock.advance(5)
    assert told.views == []


async def test_the_walk_never_sends_a_conversation_taken_during_it() -> None:
    clock = FakeClock()
    told = Told()
    queue = Queue(clock, describe, told)
    for n in range(1, 6):
        queue.put(waiting(n))

    def accept_the_last_one(_view: ConversationView) -> None:
        # An emit yields to the loop: an accept finishes meanwhile.
        told.during = None
        queue.pop(waiting(5).id)

    told.during = accept_the_last_one
    queue.moved()
    await clock.advance(0)
    assert waiting(5).id not in told.positions()
    # Those it did tell were told where they stand now.
    assert told.positions()[waiting(4).id] == 4

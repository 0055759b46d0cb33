"""The ``Publisher`` the domain announces through: each event is appended to the store's
event log (except the kinds whose own tables are their log), then handed to the subscribers
in the order they subscribed. A subscriber's failure is logged and does not undo the change
or stop the others: the event is in the log, and whatever the subscriber derives can be
derived again from it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from signaling.domain_events import NOT_LOGGED, DomainEvent
from signaling.ports import Store

log = logging.getLogger(__name__)

Subscriber = Callable[[DomainEvent], Awaitable[None]]


class EventLog:
    """Stores domain events and fans them out to in-process subscribers."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: DomainEvent) -> None:
        if event.kind not in NOT_LOGGED:
            await self.store.append_event(event)
        for subscriber in self._subscribers:
            try:
                await subscriber(event)
            except Exception:
                log.exception("subscriber failed on %s", event.kind)

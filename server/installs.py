"""The install check: the console shows where a site's snippet last ran ("seen on
https://shop.example at 10:32"), recorded from the loader's availability request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from server.store import SqlStore
from signaling.ports import Site

log = logging.getLogger(__name__)

# Every page view asks for availability: write at most once a minute per site and origin.
EVERY = 60.0
MAX_TRACKED = 10_000


class Installs:
    def __init__(
        self, store: SqlStore, every: float = EVERY, now: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.every = every
        self.now = now
        self._written: dict[tuple[str, str], float] = {}

    async def seen(self, site: Site, origin: str) -> None:
        """Record that the snippet ran on ``origin`` (an allowed one). Never raises: a page's
        availability answer matters more than this note."""
        now = self.now()
        key = (site.key, origin)
        last = self._written.get(key, site.seen_at if site.seen_origin == origin else None)
        if last is not None and now - last < self.every:
            return
        if len(self._written) >= MAX_TRACKED:
            self._written.clear()
        self._written[key] = now
        try:
            await self.store.site_seen(site.key, origin, now)
        except SQLAlchemyError:
            log.warning("could not record where site %s was seen", site.id, exc_info=True)

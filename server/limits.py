"""The domain's ``Limits`` port on the ``limits`` library: a sliding-window counter per kind
and scope (visitor, address, site). The storage is in memory, for one process; pass a shared
storage (``limits.aio.storage.RedisStorage``) for several nodes.

The in-memory storage is ``limits``' own with one change: its sweep of expired keys (a scan
of every key) runs at most once a second. ``MemoryStorage`` starts one after every hit once
the previous one has finished, so a hit cost time in proportion to every key held: with the
per-minute windows and 10,000 visitors seen in the last minute, 1.9 ms a message. Every read
drops an expired key itself, so the sweep only frees memory."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from server.settings import Rates, Settings
from signaling.ports import Counted, LimitKind

log = logging.getLogger(__name__)

SCOPES = ("visitor", "address", "site")
SWEEP_EVERY = 1.0  # seconds between two sweeps of expired keys


class PacedMemoryStorage(MemoryStorage):
    """``MemoryStorage`` sweeping expired keys at most every ``SWEEP_EVERY`` seconds.

    It overrides the storage's private ``__schedule_expiry`` (limits 5): a test checks that the
    hook exists, so a ``limits`` that renames it fails there, not silently slow."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


def rates_from(settings: Settings) -> dict[LimitKind, Rates]:
    """Each kind's (per visitor, per address, per site) rates as configured."""
    return {
        "connection": settings.connection_limits,
        "conversation": settings.conversation_limits,
        "message": settings.message_limits,
        "typing": settings.typing_limits,
        "precheck": settings.precheck_limits,
    }


class RateLimits:
    """``Limits``: one sliding-window counter per (kind, scope, key).

    :param rates: for each kind, its rates per visitor, per address and per site
        (``"60/minute"``).
    :param storage: where the counters live; in this process's memory by default.
    """

    def __init__(self, rates: Mapping[LimitKind, Rates], storage: Storage | None = None) -> None:
        self._items: dict[LimitKind, tuple[RateLimitItem, ...]] = {
            kind: tuple(parse(rate) for rate in triple) for kind, triple in rates.items()
        }
        # The sliding-window counter costs two counters per key: cheap in memory and in Redis.
        self._limiter = SlidingWindowCounterRateLimiter(storage or PacedMemoryStorage())
        self._unreachable = False

    async def hit(self, kind: LimitKind, who: Counted) -> float | None:
        """Seconds to wait, or None when allowed. When the counters cannot be reached (Redis
        is down) the event is allowed: limits protect the service, and refusing every
        message during an outage would be the outage the limits exist to prevent. The
        per-socket flood guard still holds meanwhile."""
        try:
            return await self._hit(kind, who)
        except Exception:
            if not self._unreachable:
                log.warning("rate limit counters unreachable; allowing until they are back")
            self._unreachable = True
            return None

    async def _hit(self, kind: LimitKind, who: Counted) -> float | None:
        keys = (who.visitor, who.address, who.site)
        for scope, key, item in zip(SCOPES, keys, self._items[kind], strict=True):
            if key is None:
                continue
            if not await self._limiter.hit(item, kind, scope, key):
                stats = await self._limiter.get_window_stats(item, kind, scope, key)
                return max(stats.reset_time - time.time(), 0.001)
        if self._unreachable:
            log.info("rate limit counters reachable again")
            self._unreachable = False
        return None

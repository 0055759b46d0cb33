"""The due-work loop every node runs: it calls ``Router.sweep`` every ``every`` seconds, so
ring and grace deadlines fire and dead nodes are noticed even when the node that set them is
gone. A failed sweep (the database restarting, say) is logged once and retried on the next
beat; nothing is lost, because what is due stays due in the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Sweeper:
    """Runs ``sweep`` on a fixed beat until ``stop``."""

    def __init__(self, sweep: Callable[[], Awaitable[None]], every: float = 1.0) -> None:
        self.sweep = sweep
        self.every = every
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="porchlight-sweeper")

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                if not self._failing:
                    log.warning(
                        "due-work sweep failed; retrying every %.1f s", self.every, exc_info=True
                    )
                self._failing = True
            else:
                if self._failing:
                    log.info("due-work sweep recovered")
                self._failing = False
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

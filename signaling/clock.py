"""The event loop's clock, implementing the ``Clock`` port."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class LoopClock:
    """Wall-clock ``now`` and ``call_later`` on the running loop; coroutine callbacks run as
    tasks that are kept referenced until done and whose failures are logged."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()

    def now(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], Any]) -> asyncio.TimerHandle:
        holder: list[asyncio.TimerHandle] = []
        timer = asyncio.get_running_loop().call_later(delay, self._run, holder, callback)
        holder.append(timer)
        self._timers.add(timer)
        return timer

    def _run(self, holder: list[asyncio.TimerHandle], callback: Callable[[], Any]) -> None:
        self._timers.difference_update(holder)
        result = callback()
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("timer callback failed", exc_info=task.exception())

    async def close(self) -> None:
        """Cancel pending timers and the timer tasks still running (shutdown): nothing may
        touch the store after it closes. A restart rebuilds timers from the store."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

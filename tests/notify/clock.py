"""A virtual clock for the notifier: minutes of outage pass in milliseconds, sends stay real.

The notifier sleeps (backoff, breaker reset, rate limit) only through its clock. The test
lets time pass with :meth:`ManualClock.advance`: whenever the notifier is waiting on the
clock, the clock jumps to the next deadline, so every retry and trial happens in the
order and at the virtual times it would in production, against a real server.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from ..waiting import until


class ManualClock:
    def __init__(self) -> None:
        self.t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + max(seconds, 0.0), next(self._order), fut))
        await fut  # cancelled: the entry is dropped at the next jump

    def _live(self) -> list[tuple[float, int, asyncio.Future[None]]]:
        self._sleepers = [s for s in self._sleepers if not s[2].done()]
        heapq.heapify(self._sleepers)
        return self._sleepers

    @property
    def sleeping(self) -> int:
        return len(self._live())

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self.t:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def advance(self, seconds: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Let ``seconds`` of virtual time pass (or until ``stop()``), deadline by deadline.

        Each jump waits (really, up to 30 s, failing loudly) until something sleeps on the
        clock, i.e. until the sends in flight have finished and the notifier waits again.
        """
        end = self.t + seconds
        while not stop():
            await until(lambda: stop() or self.sleeping > 0, timeout=30)
            if stop():
                return
            deadline = self._live()[0][0]
            if deadline > end:
                self.t = end
                return
            self.t = max(self.t, deadline)
            self._wake_due()

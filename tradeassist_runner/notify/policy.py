"""Per-channel flow control: a sliding-window rate limit and a circuit breaker.

Both run on the event loop and sleep with ``asyncio.sleep``; the clock is injectable so
tests can reason about them without wall-clock waits.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``limit`` messages in any ``per`` seconds (sliding window)."""

    def __init__(self, limit: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.per, self.clock = limit, per, clock
        self._sent: deque[float] = deque()

    def _trim(self) -> None:
        now = self.clock()
        while self._sent and self._sent[0] <= now - self.per:
            self._sent.popleft()

    def remaining(self) -> int:
        self._trim()
        return self.limit - len(self._sent)

    async def wait_slot(self) -> None:
        while self.remaining() <= 0:
            await asyncio.sleep(max(0.001, self._sent[0] + self.per - self.clock()))

    def take(self) -> None:
        self._sent.append(self.clock())


class CircuitBreaker:
    """Opens after ``threshold`` failed tries in a row; after ``reset`` s one trial try goes through.

    While open, sends wait instead of failing: the alerts stay ``pending`` and go out when
    the service is back (or at the next start), instead of burning their retries on a
    service known to be down.
    """

    def __init__(self, threshold: int, reset: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.reset, self.clock = threshold, reset, clock
        self.consecutive = 0
        self.open_until: float | None = None
        self._trial = False

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    async def acquire(self) -> None:
        while self.open_until is not None:
            now = self.clock()
            if now >= self.open_until and not self._trial:
                self._trial = True  # half-open: this caller is the trial
                return
            await asyncio.sleep(max(0.01, self.open_until - now) if now < self.open_until else 0.05)

    def success(self) -> None:
        self.consecutive = 0
        self.open_until = None
        self._trial = False

    def failure(self) -> None:
        self.consecutive += 1
        self._trial = False
        if self.consecutive >= self.threshold:
            self.open_until = self.clock() + self.reset


def backoff(attempt: int, initial: float, maximum: float, rng: Callable[[], float] = random.random) -> float:
    """Delay after the ``attempt``-th failed try (1-based): exponential, capped, with jitter.

    Jitter (50-100 % of the step) keeps many runners from retrying a recovering service
    in lockstep.
    """
    step = min(maximum, initial * 2.0 ** (attempt - 1))
    return step * (0.5 + 0.5 * rng())

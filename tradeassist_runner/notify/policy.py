"""Per-channel flow control: a sliding-window rate limit, a circuit breaker, log pacing.

All of them run on the event loop and read time and sleep through a :class:`Clock`, so
a test can drive a five-minute outage in virtual time (``tests/notify/clock.py``)
while the sends still go to a real server.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, Protocol

BreakerState = Literal["closed", "open", "half-open"]


class Clock(Protocol):
    """Monotonic seconds and a sleep on the same time line."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


class RateLimiter:
    """At most ``limit`` messages in any ``per`` seconds (sliding window)."""

    def __init__(self, limit: int, per: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.limit, self.per, self.clock = limit, per, clock
        self._sent: deque[float] = deque()

    def _trim(self) -> None:
        now = self.clock.now()
        while self._sent and self._sent[0] <= now - self.per:
            self._sent.popleft()

    def remaining(self) -> int:
        self._trim()
        return self.limit - len(self._sent)

    async def wait_slot(self) -> None:
        while self.remaining() <= 0:
            await self.clock.sleep(max(0.001, self._sent[0] + self.per - self.clock.now()))

    def take(self) -> None:
        self._sent.append(self.clock.now())


class CircuitBreaker:
    """Opens after ``threshold`` failed tries in a row; after ``reset`` s one trial try goes through.

    While open, sends wait instead of failing: the alerts stay ``pending`` and go out when
    the service is back, instead of burning their retries on a service known to be down.
    The trial is handed out in turn to the sends waiting (first come, first tried; a
    failed trial goes to the back of the line), so one message the service always
    rejects cannot keep the channel closed for the others.

    ``on_change(state)`` is told every transition (for logging and health).
    """

    def __init__(
        self,
        threshold: int,
        reset: float,
        clock: Clock = SYSTEM_CLOCK,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.threshold, self.reset, self.clock = threshold, reset, clock
        self.on_change = on_change
        self.consecutive = 0
        #: Successful sends so far: a message compares it before and after its tries to
        #: tell "this channel is down" (no success since) from "this message fails".
        self.successes = 0
        self.opened = 0  # times it opened
        self.open_until: float | None = None
        self._trial = False
        self._line: deque[object] = deque()  # sends waiting for the channel, oldest first
        self._changed = asyncio.Event()

    @property
    def state(self) -> BreakerState:
        if self.open_until is None:
            return "closed"
        return "half-open" if self._trial or self.clock.now() >= self.open_until else "open"

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, seconds: float | None) -> None:
        """Until ``seconds`` passed on the clock (None: no limit) or the breaker changed."""
        changed = asyncio.ensure_future(self._changed.wait())
        waits: set[asyncio.Future[Any]] = {changed}
        if seconds is not None:
            waits.add(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def acquire(self) -> bool:
        """Wait until a send may go. True when it is the half-open trial.

        A trial's failure says the channel is still down, not that the message is bad, so
        the caller does not count it against the message's retries.
        """
        if self.open_until is None:
            return False
        token = object()
        self._line.append(token)
        try:
            while self.open_until is not None:
                now = self.clock.now()
                if now < self.open_until:
                    await self._wait(self.open_until - now)
                elif self._trial or self._line[0] is not token:
                    await self._wait(None)  # a trial is out, or it is another send's turn
                else:
                    self._trial = True
                    if self.on_change is not None:
                        self.on_change("half-open")
                    return True
            return False
        finally:
            self._line.remove(token)
            self._notify()  # the next in line may be up

    def success(self) -> None:
        self.successes += 1
        self.consecutive = 0
        self._trial = False
        if self.open_until is not None:
            self.open_until = None
            if self.on_change is not None:
                self.on_change("closed")
            self._notify()

    def failure(self) -> None:
        self.consecutive += 1
        was_trial, self._trial = self._trial, False
        if was_trial or self.consecutive >= self.threshold:
            self._open(reopen=was_trial)

    def absolve(self) -> None:
        """A message turned out to be the cause (the channel took another one meanwhile):
        its failures do not count against the channel, which is closed again."""
        self.consecutive = 0
        self._trial = False
        if self.open_until is not None:
            self.open_until = None
            if self.on_change is not None:
                self.on_change("closed")
            self._notify()

    def abandon(self) -> None:
        """The trial send was cancelled (shutdown): let the next one in line try."""
        if self._trial:
            self._trial = False
            self._notify()

    def trip(self) -> None:
        """Open now: a message used up its retries with no success on the channel meanwhile."""
        self._open(reopen=False)

    def _open(self, reopen: bool) -> None:
        was_open = self.open_until is not None
        self.open_until = self.clock.now() + self.reset
        if not was_open:
            self.opened += 1
        if self.on_change is not None and (reopen or not was_open):
            self.on_change("open")
        self._notify()


class Pacer:
    """At most one log line per ``every`` s for a repeating event; the rest are counted.

    ``tick()`` says whether to log now, and how many were held back since the last line.
    """

    def __init__(self, every: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.every, self.clock = every, clock
        self._last: float | None = None
        self._held = 0

    def tick(self) -> tuple[bool, int]:
        now = self.clock.now()
        if self._last is not None and now - self._last < self.every:
            self._held += 1
            return False, 0
        self._last, held, self._held = now, self._held, 0
        return True, held


def backoff(attempt: int, initial: float, maximum: float, rng: Callable[[], float] = random.random) -> float:
    """Delay after the ``attempt``-th failed try (1-based): exponential, capped, with jitter.

    Jitter (50-100 % of the step) keeps many runners from retrying a recovering service
    in lockstep.
    """
    step = min(maximum, initial * 2 ** (attempt - 1))
    return float(step * (0.5 + 0.5 * rng()))

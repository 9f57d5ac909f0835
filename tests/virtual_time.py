"""An asyncio event loop on a virtual clock, for tests of code that paces itself by time.

``loop.time()`` starts at 0 and moves only when the loop has nothing ready to run: it then
jumps straight to the next timer (``asyncio.sleep``, ``call_later``, ``wait(timeout=)``).
Code that reads the loop's clock therefore sees exact, repeatable times whatever the
machine's load, and a 10-minute schedule runs in milliseconds. Work handed to threads
(``asyncio.to_thread``) takes no virtual time: the loop waits for it before moving the
clock, so a slow thread never makes a timer look late.

Only for code that reads time through its event loop; ``time.monotonic()`` stays real.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real file descriptors without blocking; instead of sleeping, moves the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.in_threads = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if self.in_threads or timeout is None:  # a thread's result (or shutdown) wakes the loop
            return super().select(None)
        self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now

    def run_in_executor(self, executor: Executor | None, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._virtual.in_threads += 1

        def done(_: object) -> None:
            self._virtual.in_threads -= 1

        future.add_done_callback(done)
        return future


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a :class:`VirtualTimeLoop`."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)

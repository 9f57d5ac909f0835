"""The virtual event-loop clock the timing tests rely on."""

from __future__ import annotations

import asyncio
import threading

from .virtual_time import run_virtual


def test_timers_fire_in_order_at_their_exact_virtual_times() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        loop.call_later(0.3, lambda: fired.append(("b", loop.time())))
        loop.call_later(0.1, lambda: fired.append(("a", loop.time())))
        await asyncio.sleep(3600)  # an hour, at once
        fired.append(("c", loop.time()))
        return fired

    assert run_virtual(main()) == [("a", 0.1), ("b", 0.3), ("c", 3600.0)]


def test_work_in_threads_takes_no_virtual_time() -> None:
    release = threading.Event()

    async def main() -> tuple[float, bool]:
        loop = asyncio.get_running_loop()
        late = asyncio.ensure_future(asyncio.sleep(0.5))
        loop.call_soon(release.set)
        await asyncio.to_thread(release.wait, 60)  # the timer above must not jump ahead of it
        return loop.time(), late.done()

    assert run_virtual(main()) == (0.0, False)

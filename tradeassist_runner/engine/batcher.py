"""Re-cut a tick stream into micro-batches: big when the feed is busy, prompt when it is not.

The engine is cheapest per tick on large batches, but an alert is only as fast as its
batch: a tick may wait at most ``max_delay`` before it is evaluated, however slowly
the feed trickles. With ``max_delay`` 0 (the default) nothing waits to fill a batch:
whatever arrived while the engine was busy is the next batch, so batches grow with
load by themselves and an idle engine takes each tick at once. Results do not depend
on the cut (docs/semantics.md), so this is purely a latency/throughput trade-off.
When the engine falls behind a fast feed (more than ``max_size`` ticks waiting), a batch
takes up to ``catch_up_size`` of them: a larger batch costs less per tick, so the backlog
shrinks instead of growing by a little every batch.

The source is awaited through one long-lived task rather than ``wait_for(anext())``:
cancelling ``__anext__`` on a timeout would throw into the source generator and lose
the item it was about to produce. A pending task survives the timeout and is simply
awaited again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator

import polars as pl


class _Buffer:
    """Frames waiting to be batched, each with the loop time its rows arrived."""

    def __init__(self) -> None:
        self._frames: deque[tuple[pl.DataFrame, float]] = deque()
        self.rows = 0

    def add(self, frame: pl.DataFrame, at: float) -> None:
        self._frames.append((frame, at))
        self.rows += frame.height

    @property
    def oldest(self) -> float | None:
        return self._frames[0][1] if self._frames else None

    def take(self, n: int) -> pl.DataFrame:
        """Remove and return the first ``n`` rows (or all), keeping arrival order."""
        parts: list[pl.DataFrame] = []
        need = n
        while need > 0 and self._frames:
            frame, at = self._frames.popleft()
            if frame.height > need:
                parts.append(frame.slice(0, need))
                self._frames.appendleft((frame.slice(need), at))
                need = 0
            else:
                parts.append(frame)
                need -= frame.height
        out = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
        self.rows -= out.height
        return out


async def micro_batches(
    source: AsyncIterator[pl.DataFrame], max_size: int, max_delay: float, catch_up_size: int | None = None
) -> AsyncGenerator[pl.DataFrame, None]:
    """Yield frames of at most ``max_size`` rows, in order, never holding a row past ``max_delay`` s.

    With more than ``max_size`` rows waiting, a batch takes all of them, up to
    ``catch_up_size`` (default ``max_size``: never more than ``max_size``).
    Full batches go out as soon as they are full; a partial batch goes out once its
    oldest row has waited ``max_delay``; the rest goes out when the source ends (or
    raises: buffered ticks are delivered before the error propagates). Empty frames
    are dropped. Closing this generator cancels the pending read and closes ``source``.
    """
    if max_size < 1:
        raise ValueError("max_size must be >= 1")
    catch_up = max(max_size, catch_up_size or max_size)
    loop = asyncio.get_running_loop()
    buffer = _Buffer()
    pending: asyncio.Future[pl.DataFrame] | None = None
    try:
        while True:
            while buffer.rows >= max_size:
                yield buffer.take(min(buffer.rows, catch_up))
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            oldest = buffer.oldest
            if oldest is None:
                await asyncio.wait({pending})
            else:
                timeout = oldest + max_delay - loop.time()
                if timeout > 0:
                    await asyncio.wait({pending}, timeout=timeout)
                else:  # one loop turn: a source with data already queued hands it over now
                    await asyncio.sleep(0)
                if not pending.done():
                    yield buffer.take(buffer.rows)
                    continue
            done, pending = pending, None
            try:
                frame = done.result()
            except StopAsyncIteration:
                break
            except Exception:
                if buffer.rows:
                    yield buffer.take(buffer.rows)
                raise
            if frame.height:
                buffer.add(frame, loop.time())
        while buffer.rows:
            yield buffer.take(max_size)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pending
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()

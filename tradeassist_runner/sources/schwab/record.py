"""``tradeassist record``: live ticks -> a Parquet dataset that ``backtest --ticks DIR`` reads.

Files are small and written whole (temporary name, then rename), one per flush, under a
folder per UTC day: ``OUT/2026-01-05/ticks-20260105T143000-000001.parquet``. Names sort
in write order, so reading the folder back gives arrival order, which is what the tick
gate and the engine expect (docs/semantics.md, "Ticks"). A crash loses at most one flush interval.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from ..ticks import TICK_SCHEMA


@dataclass
class RecordStats:
    ticks: int = 0
    files: list[Path] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)


class TickRecorder:
    """Buffers canonical tick frames and writes them out every ``flush_rows`` / ``flush_seconds``."""

    def __init__(self, out_dir: Path, *, flush_rows: int = 10_000, flush_seconds: float = 30.0) -> None:
        self.out_dir = out_dir
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.stats = RecordStats()
        self._buffer: list[pl.DataFrame] = []
        self._rows = 0
        self._last_flush = time.monotonic()
        self._run = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        self._seq = 0

    def add(self, ticks: pl.DataFrame) -> None:
        if ticks.height:
            self._buffer.append(ticks.select(list(TICK_SCHEMA)).cast(TICK_SCHEMA))  # type: ignore[arg-type]
            self._rows += ticks.height

    def due(self) -> bool:
        return self._rows >= self.flush_rows or (
            self._rows > 0 and time.monotonic() - self._last_flush >= self.flush_seconds
        )

    def flush(self) -> list[Path]:
        """Write the buffer, one file per UTC day it spans (blocking: call via a thread)."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return []
        frame = pl.concat(self._buffer)
        self._buffer, self._rows = [], 0
        written: list[Path] = []
        days = frame.get_column("ts").dt.date()
        for day in days.unique(maintain_order=True).to_list():
            part = frame.filter(days == day)
            self._seq += 1
            folder = self.out_dir / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"ticks-{self._run}-{self._seq:06d}.parquet"
            tmp = folder / f".{path.name}.tmp"
            part.write_parquet(tmp)
            os.replace(tmp, path)
            written.append(path)
            self.stats.ticks += part.height
            self.stats.symbols.update(part.get_column("symbol").unique().to_list())
        self.stats.files.extend(written)
        return written


async def record(
    ticks: AsyncIterator[pl.DataFrame],
    recorder: TickRecorder,
    stop: asyncio.Event,
    *,
    duration: float | None = None,
) -> RecordStats:
    """Copy ``ticks`` to ``recorder`` until ``stop`` is set, ``duration`` passes, or the source ends."""
    deadline = None if duration is None else time.monotonic() + duration
    tick_iter = aiter(ticks)
    pending: asyncio.Future[pl.DataFrame] | None = None  # never cancelled mid-frame, only at the end
    try:
        while not stop.is_set():
            timeout = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
            if pending is None:
                pending = asyncio.ensure_future(anext(tick_iter))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait((pending, stopper), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if pending in done:
                task, pending = pending, None
                try:
                    recorder.add(task.result())
                except StopAsyncIteration:
                    break
            if recorder.due():
                await asyncio.to_thread(recorder.flush)
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        close = getattr(tick_iter, "aclose", None)
        if close is not None:
            await close()
        await asyncio.to_thread(recorder.flush)
    return recorder.stats

"""Offline evaluation of a tick file: the same gate and engine as a live run, no notifications.

Synchronous on purpose: nothing here waits on the network, and a CI job that
backtests a rule change wants the simplest possible path from file to alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .config.loaded import LoadedConfig
from .engine.evaluate import Engine
from .engine.plan import compile_plan
from .sources.replay import iter_tick_file
from .sources.ticks import Rejection, TickGate, normalize

#: Rows read from the file at a time; independent of the engine's batch size.
READ_CHUNK = 262_144


@dataclass
class BacktestStats:
    ticks_read: int = 0
    ticks_accepted: int = 0
    unknown_symbol_ticks: int = 0
    unknown_symbols: set[str] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)
    rejected: int = 0
    alerts: int = 0
    #: Rows of the file behind the last evaluated slice (for a progress bar: ``ticks_read``
    #: moves a whole read chunk at a time).
    rows_done: int = 0
    #: What the engine had to say (e.g. a time an exchange calendar cannot cover).
    notes: list[str] = field(default_factory=list)

    #: Kept in memory for the report; the count keeps going past it.
    max_kept_rejections: int = 1000

    def reject(self, rows: list[Rejection]) -> None:
        self.rejected += len(rows)
        room = self.max_kept_rejections - len(self.rejections)
        if room > 0:
            self.rejections.extend(rows[:room])


@dataclass(frozen=True)
class Tap:
    """Callbacks that see what a backtest evaluates: each batch of accepted ticks before
    the engine does, and each frame of alerts it fires (a chart draws from both)."""

    ticks: Callable[[pl.DataFrame], None] | None = None
    alerts: Callable[[pl.DataFrame], None] | None = None


#: Told the counts so far after every evaluated slice (a progress bar).
ProgressHook = Callable[[BacktestStats], None]
#: Starts one pass over a tick file (a label such as ``old``/``new``, the file) and gives its hook.
ProgressStart = Callable[[str, Path], ProgressHook]


def backtest(
    loaded: LoadedConfig, ticks_path: Path, batch_size: int, stats: BacktestStats | None = None,
    tap: Tap | None = None, progress: ProgressHook | None = None,
) -> Iterator[pl.DataFrame]:
    """Yield alert frames in firing order while reading ``ticks_path``.

    Raises TickFileError (before yielding anything) when the file cannot be read at all.
    """
    stats = stats if stats is not None else BacktestStats()
    engine = Engine(compile_plan(loaded.rules, loaded.instruments))
    for accepted in accepted_ticks(loaded, ticks_path, batch_size, stats):
        if tap is not None and tap.ticks is not None:
            tap.ticks(accepted)
        alerts = engine.process(accepted)
        for note in engine.notes[len(stats.notes):]:
            stats.notes.append(note)
        if alerts.height:
            stats.alerts += alerts.height
            if tap is not None and tap.alerts is not None:
                tap.alerts(alerts)
        if progress is not None:
            progress(stats)
        if alerts.height:
            yield alerts
    if progress is not None:
        progress(stats)  # the last chunk's rejected rows, or a file with no accepted tick


def accepted_ticks(
    loaded: LoadedConfig, ticks_path: Path, batch_size: int, stats: BacktestStats
) -> Iterator[pl.DataFrame]:
    """The accepted ticks of ``ticks_path`` in batches of at most ``batch_size``, arrival order.

    Raises TickFileError (before yielding anything) when the file cannot be read at all.
    """
    gate = TickGate(i.symbol for i in loaded.instruments)
    chunk_rows = max(batch_size, min(READ_CHUNK, batch_size * 1024))
    first_row = 1
    for raw in iter_tick_file(ticks_path, chunk_rows):
        stats.ticks_read += raw.height
        ticks, bad = normalize(raw, first_row=first_row)
        first_row += raw.height
        stats.reject(bad)
        admitted = gate.admit(ticks)
        stats.reject(admitted.rejections)
        stats.unknown_symbol_ticks += admitted.unknown_symbols
        stats.unknown_symbols.update(admitted.unknown_symbol_names)
        accepted = admitted.accepted
        stats.ticks_accepted += accepted.height
        for start in range(0, accepted.height, batch_size):
            end = min(start + batch_size, accepted.height)
            stats.rows_done = stats.ticks_read - raw.height + raw.height * end // accepted.height
            yield accepted.slice(start, batch_size)
        stats.rows_done = stats.ticks_read

"""Offline evaluation of a tick file: the same gate and engine as a live run, no notifications.

Synchronous on purpose: nothing here waits on the network, and a CI job that
backtests a rule change wants the simplest possible path from file to alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .config.loaded import LoadedConfig
from .engine.evaluate import Engine
from .engine.plan import compile_plan
from .pipeline import read_ahead
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
    for accepted in accepted_ticks(loaded, ticks_path, batch_size, stats, ahead=True):
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
    loaded: LoadedConfig, ticks_path: Path, batch_size: int, stats: BacktestStats, *, ahead: bool = False
) -> Iterator[pl.DataFrame]:
    """The accepted ticks of ``ticks_path`` in batches of at most ``batch_size``, arrival order.

    With ``ahead``, the file is read and cleaned on a worker thread one read chunk ahead
    of the caller (who evaluates meanwhile); ``stats`` still moves only as the caller
    takes batches, exactly as without it.

    Raises TickFileError (before yielding anything) when the file cannot be read at all.
    """
    chunks = _read_chunks(loaded, ticks_path, batch_size)
    return _taken(read_ahead(chunks, name="tick-read") if ahead else chunks, stats)


@dataclass(frozen=True)
class _Chunk:
    """One read chunk, cleaned and gated: its batches and what it adds to the stats."""

    read: int
    parse_rejections: list[Rejection]
    gate_rejections: list[Rejection]
    unknown_symbol_ticks: int
    unknown_symbols: frozenset[str]
    batches: list[tuple[pl.DataFrame, int]]  # a batch and the file rows behind it (progress)
    accepted: int


def _read_chunks(loaded: LoadedConfig, ticks_path: Path, batch_size: int) -> Iterator[_Chunk]:
    """Not a generator function: the file is checked (TickFileError) when this is called."""
    gate = TickGate(i.symbol for i in loaded.instruments)
    chunk_rows = max(batch_size, min(READ_CHUNK, batch_size * 1024))
    raws = iter_tick_file(ticks_path, chunk_rows)

    def chunks() -> Generator[_Chunk, None, None]:
        first_row, done = 1, 0
        try:
            for raw in raws:
                ticks, bad = normalize(raw, first_row=first_row)
                first_row += raw.height
                admitted = gate.admit(ticks)
                accepted = admitted.accepted
                batches = [
                    (accepted.slice(start, batch_size),
                     done + raw.height * min(start + batch_size, accepted.height) // accepted.height)
                    for start in range(0, accepted.height, batch_size)
                ]
                done += raw.height
                yield _Chunk(raw.height, bad, admitted.rejections, admitted.unknown_symbols,
                             admitted.unknown_symbol_names, batches, accepted.height)
        finally:
            raws.close()

    return chunks()


def _taken(chunks: Iterator[_Chunk], stats: BacktestStats) -> Generator[pl.DataFrame, None, None]:
    """The batches of ``chunks``, moving ``stats`` as each chunk and batch is taken."""
    try:
        for chunk in chunks:
            stats.ticks_read += chunk.read
            stats.reject(chunk.parse_rejections)
            stats.reject(chunk.gate_rejections)
            stats.unknown_symbol_ticks += chunk.unknown_symbol_ticks
            stats.unknown_symbols.update(chunk.unknown_symbols)
            stats.ticks_accepted += chunk.accepted
            for batch, rows_done in chunk.batches:
                stats.rows_done = rows_done
                yield batch
            stats.rows_done = stats.ticks_read
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()

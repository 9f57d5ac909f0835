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
from .engine.evaluate import MAX_SLICE, Engine, prepare
from .engine.pending import PendingAlerts
from .engine.plan import compile_plan
from .pipeline import read_ahead
from .sources.ticks import Rejection
from .tick_reader import READ_CHUNK, TickChunk, TickReader, read_chunks

__all__ = [
    "READ_CHUNK", "BacktestStats", "ProgressHook", "ProgressStart", "Tap", "accepted_ticks", "backtest",
    "backtest_pending", "default_batch_size",
]

#: Ticks per engine call when none is asked for: every call pays each source's and
#: series' fixed cost again (a few dozen numpy calls each), so fewer, larger calls cost
#: less (131,072 instead of 50,000: about 15 % less engine CPU at 1,000 rules). Beyond
#: ``BATCH_RULE_TICKS / BATCH_MOST`` rules they shrink, down to ``BATCH_LEAST``: a batch's
#: alert rows, which grow with rules x ticks, wait in memory for the output thread (at
#: 10,000 rules, 80,000 rows per 50,000 ticks).
BATCH_MOST = MAX_SLICE  # (a batch the engine takes in one slice)
BATCH_LEAST = 50_000
BATCH_RULE_TICKS = 1_000 * BATCH_MOST


def default_batch_size(rules: int) -> int:
    """The batch size a backtest of ``rules`` rules uses unless told one."""
    return max(BATCH_LEAST, min(BATCH_MOST, BATCH_RULE_TICKS // max(rules, 1)))


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
    tap: Tap | None = None, progress: ProgressHook | None = None, reader: TickReader | None = None,
) -> Iterator[pl.DataFrame]:
    """Yield alert frames in firing order while reading ``ticks_path``.

    ``reader`` is one already reading ``ticks_path`` in batches of ``batch_size`` (started
    before ``loaded`` was, to read during start-up); this takes it over and closes it.
    Raises TickFileError (before yielding anything) when the file cannot be read at all.
    """
    pending = backtest_pending(loaded, ticks_path, batch_size, stats, tap, progress, reader)
    try:
        for alerts in pending:
            yield alerts.collect()
    finally:
        pending.close()


def backtest_pending(
    loaded: LoadedConfig, ticks_path: Path, batch_size: int, stats: BacktestStats | None = None,
    tap: Tap | None = None, progress: ProgressHook | None = None, reader: TickReader | None = None,
) -> Generator[PendingAlerts, None, None]:
    """:func:`backtest`'s alerts with their text not yet written: whoever collects a batch's
    writes it (an output thread, beside the evaluation of the next batch)."""
    stats = stats if stats is not None else BacktestStats()
    try:
        ticks: Iterator[pl.DataFrame]
        if reader is not None:
            # The gate's symbols first: the reader gates what it read early while the plan compiles.
            ticks = _taken(reader.start((i.symbol for i in loaded.instruments), batch_size), stats)
            engine = Engine(compile_plan(loaded.rules, loaded.instruments))
            if not reader.ready():  # (a CSV file's first block is still being parsed) build the
                prepare(engine.plan)  # first batch's tables now instead of after the wait
        else:
            engine = Engine(compile_plan(loaded.rules, loaded.instruments))
            ticks = accepted_ticks(loaded, ticks_path, batch_size, stats, ahead=True)
        yield from _evaluated(engine, ticks, stats, tap, progress)
    finally:
        if reader is not None:
            reader.close()


def _evaluated(
    engine: Engine, ticks: Iterator[pl.DataFrame], stats: BacktestStats, tap: Tap | None,
    progress: ProgressHook | None,
) -> Generator[PendingAlerts, None, None]:
    for accepted in ticks:
        if tap is not None and tap.ticks is not None:
            tap.ticks(accepted)
        alerts = engine.process_pending(accepted)
        for note in engine.notes[len(stats.notes):]:
            stats.notes.append(note)
        if alerts.height:
            stats.alerts += alerts.height
            if tap is not None and tap.alerts is not None:
                tap.alerts(alerts.collect())
        if progress is not None:
            progress(stats)
        if alerts.height:
            yield alerts
        del alerts  # (the consumer's to keep: not held here while the next batch is evaluated)
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
    chunks = read_chunks(ticks_path, batch_size, (i.symbol for i in loaded.instruments))
    return _taken(read_ahead(chunks, name="tick-read") if ahead else chunks, stats)


def _taken(chunks: Iterator[TickChunk], stats: BacktestStats) -> Generator[pl.DataFrame, None, None]:
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

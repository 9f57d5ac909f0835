"""A backtest's tick file, read, cleaned and gated a chunk at a time, possibly on a worker thread.

Reading needs polars and numpy only; evaluating needs the validated config, whose models
and rule types take most of a backtest's start-up to import and build, on one core. So a
backtest may start its reader before the config is loaded (:class:`TickReader`): the
first chunks of the file are read and normalized on the other core meanwhile, and only
the ordering gate, which needs the declared symbols, waits for the config. On a file of a
million ticks that is the whole file, read before the engine starts instead of beside it.

This module imports nothing that needs pydantic, so importing it costs only polars.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .pipeline import ReadAhead
from .sources.replay import iter_tick_file
from .sources.ticks import Rejection, TickGate, normalize

#: Rows read from the file at a time; independent of the engine's batch size.
READ_CHUNK = 262_144
#: Chunks a reader started before its symbols are known reads and normalizes ahead (about
#: a million ticks, some 60 MB): enough to fill a start-up, bounded whatever the file's size.
EARLY_CHUNKS = 4


@dataclass(frozen=True)
class TickChunk:
    """One read chunk, cleaned and gated: its batches and what it adds to a run's counts."""

    read: int
    parse_rejections: list[Rejection]
    gate_rejections: list[Rejection]
    unknown_symbol_ticks: int
    unknown_symbols: frozenset[str]
    batches: list[tuple[pl.DataFrame, int]]  # a batch and the file rows behind it (progress)
    accepted: int


def chunk_rows(batch_size: int) -> int:
    """Rows per read chunk: at least a batch, at most :data:`READ_CHUNK` unless batches are larger."""
    return max(batch_size, min(READ_CHUNK, batch_size * 1024))


@dataclass(frozen=True)
class _Normalized:
    read: int
    ticks: pl.DataFrame
    rejections: list[Rejection]


class _Symbols:
    """The gate's symbols and the batch size, handed from the caller's thread to the
    reader's once the config is loaded (the size may depend on the rules)."""

    def __init__(self, batch_size: int | None) -> None:
        self._ready = threading.Event()
        self._symbols: frozenset[str] | None = None
        #: Ticks per batch: the reader's own if it has one, else the one given with the
        #: symbols (else a read chunk's); final once the symbols are known.
        self.batch_size = batch_size or READ_CHUNK
        self._own_size = batch_size is not None

    def give(self, symbols: Iterable[str] | None, batch_size: int | None = None) -> None:
        """``None`` gives up: the reader stops instead of waiting for symbols that never come."""
        if not self._ready.is_set():
            self._symbols = frozenset(symbols) if symbols is not None else None
            if batch_size is not None and not self._own_size:
                self.batch_size = batch_size
            self._ready.set()

    def known(self) -> bool:
        return self._ready.is_set()

    def wait(self) -> frozenset[str] | None:
        self._ready.wait()
        return self._symbols


def _gated_chunks(
    raws: Generator[pl.DataFrame, None, None], symbols: _Symbols, early: int
) -> Generator[TickChunk, None, None]:
    """``raws`` normalized as read and gated once ``symbols`` are known (up to ``early``
    chunks normalized while waiting for them), in batches of the size that comes with
    them. Stops when the symbols are given up."""
    try:
        gate: TickGate | None = None
        waiting: deque[_Normalized] = deque()
        first_row, done = 1, 0
        tail: pl.DataFrame | None = None
        for raw in raws:
            ticks, bad = normalize(raw, first_row=first_row)
            first_row += raw.height
            waiting.append(_Normalized(raw.height, ticks, bad))
            if gate is None and not symbols.known() and len(waiting) < early:
                continue
            gate = gate or _gate_for(symbols)
            if gate is None:
                return
            while waiting:
                chunk, tail = _gated(gate, waiting.popleft(), symbols.batch_size, done, tail)
                done += chunk.read
                yield chunk
        if waiting:  # a file shorter than the chunks read early
            gate = gate or _gate_for(symbols)
            while gate is not None and waiting:
                chunk, tail = _gated(gate, waiting.popleft(), symbols.batch_size, done, tail)
                done += chunk.read
                yield chunk
        if tail is not None and gate is not None:  # the file's last ticks
            yield TickChunk(0, [], [], 0, frozenset(), [(tail, done)], 0)
    finally:
        raws.close()


def _gate_for(symbols: _Symbols) -> TickGate | None:
    known = symbols.wait()
    return TickGate(known) if known is not None else None


def _opened_and_gated(
    path: Path, batch_size: int | None, symbols: _Symbols, early: int
) -> Generator[TickChunk, None, None]:
    """As :func:`_gated_chunks`, opening the file on the first step (on the reader's thread)."""
    rows = chunk_rows(batch_size) if batch_size is not None else READ_CHUNK
    yield from _gated_chunks(iter_tick_file(path, rows), symbols, early)


def _gated(
    gate: TickGate, normalized: _Normalized, batch_size: int, done: int, tail: pl.DataFrame | None
) -> tuple[TickChunk, pl.DataFrame | None]:
    """The chunk gated and cut into batches, after the ``tail`` of accepted ticks the last
    chunk left; and the ticks this one leaves (fewer than a batch), or None.

    Every batch but the first and the last is a full ``batch_size``: a batch costs the
    engine some milliseconds whatever its size, and chunks (read as blocks of bytes) would
    otherwise each end in a short one. The first chunk's ticks all go at once: the engine
    is waiting for them.
    """
    admitted = gate.admit(normalized.ticks)
    read, gated = normalized.read, admitted.accepted.height
    # Accepted ticks are of declared symbols only: as an Enum of them, the engine reads each
    # tick's symbol code off the column instead of looking every string up on its own thread.
    mine = admitted.accepted.with_columns(pl.col("symbol").cast(pl.Enum(sorted(gate.symbols))))
    accepted = mine if tail is None else pl.concat([tail, mine])
    cut = accepted.height if done == 0 else accepted.height - accepted.height % batch_size
    batches = [
        (accepted.slice(start, min(batch_size, cut - start)), done + read * min(start + batch_size, cut) // cut)
        for start in range(0, cut, batch_size)
    ]
    left = accepted.slice(cut) if cut < accepted.height else None
    return TickChunk(read, normalized.rejections, admitted.rejections, admitted.unknown_symbols,
                     admitted.unknown_symbol_names, batches, gated), left


def read_chunks(path: Path, batch_size: int, symbols: Iterable[str]) -> Iterator[TickChunk]:
    """The chunks of ``path`` on the caller's thread, gated for ``symbols``.

    Not a generator function: the file is checked (TickFileError) when this is called.
    """
    given = _Symbols(batch_size)
    given.give(symbols)
    return _gated_chunks(iter_tick_file(path, chunk_rows(batch_size)), given, early=1)


class TickReader:
    """Reads ``path`` on a worker thread from the moment it is made, one chunk ahead of
    the consumer (and up to :data:`EARLY_CHUNKS` until :meth:`start` gives the symbols).

    A TickFileError (missing file, unknown format, a required column absent) is raised by
    the chunks :meth:`start` returns where the sequential code raises it, before any chunk: a caller that
    finds its config invalid first reports that, as without a reader. :meth:`close`
    (also after a failed config) stops the worker and closes the file.
    """

    def __init__(self, path: Path, batch_size: int | None, early: int = EARLY_CHUNKS) -> None:
        """``batch_size`` None: given to :meth:`start` (it may depend on the rules), at most
        :data:`READ_CHUNK` (the chunks are read at that size meanwhile)."""
        self.path = path
        self.batch_size = batch_size
        self._symbols = _Symbols(batch_size)
        self._chunks = ReadAhead(_opened_and_gated(path, batch_size, self._symbols, early), name="tick-read")

    def start(self, symbols: Iterable[str], batch_size: int | None = None) -> Iterator[TickChunk]:
        """The chunks, gated for ``symbols`` (the config's instruments), in file order, in
        batches of the reader's batch size or else of ``batch_size``."""
        self._symbols.give(symbols, batch_size)
        return self._chunks

    def ready(self) -> bool:
        """Whether the first (or next) chunk is read and gated already (or the reading failed)."""
        return self._chunks.ready()

    def close(self) -> None:
        self._symbols.give(None)  # a worker waiting for symbols stops
        self._chunks.close()

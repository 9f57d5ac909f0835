"""Tick files (``--ticks PATH``, ``source: replay``): CSV or Parquet, read in chunks.

A file that cannot be read *at all* (missing, unknown format, a required column
absent, corrupt) raises :class:`TickFileError` up front, because no amount of
skipping rows would make the run meaningful. Everything else is row-level and left to
``ticks.normalize``: CSV columns are read as text so that one bad cell becomes one
rejected row instead of a failed read.

Files are streamed (polars streaming batches), so a 10M-tick backtest does not need
the whole file in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import TickFileError
from .ticks import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, Rejection, normalize

DEFAULT_CHUNK_ROWS = 65_536
CSV_SUFFIXES = frozenset({".csv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_READ_ERRORS = (pl.exceptions.PolarsError, OSError, ValueError)


def _header_name(name: str) -> str:
    """Spreadsheet exports add a BOM and padding to headers; neither is part of the name."""
    return name.strip().lstrip("\ufeff").strip()


def _parquet_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
    )


def _scan(path: Path) -> pl.LazyFrame:
    """A lazy frame over the file's tick columns; raises TickFileError if it is unusable."""
    if not path.exists():
        raise TickFileError(path, "file not found")
    if path.is_dir():
        files = _parquet_files(path)
        if not files:
            raise TickFileError(path, "directory holds no .parquet or .pq files")
        kind = "Parquet"
    else:
        suffix = path.suffix.lower()
        if suffix in CSV_SUFFIXES:
            kind = "CSV"
        elif suffix in PARQUET_SUFFIXES:
            kind = "Parquet"
        else:
            raise TickFileError(
                path, f"unknown tick file format {suffix or '(no extension)'!r}: use .csv, .parquet or .pq"
            )
        files = [path]
    try:
        if kind == "CSV":
            lf = pl.scan_csv(
                path,
                infer_schema=False,  # every column as text: bad cells become rejected rows
                truncate_ragged_lines=True,
                encoding="utf8-lossy",
                with_column_names=lambda names: [_header_name(n) for n in names],
            )
        else:
            lf = pl.scan_parquet(files)
        columns = lf.collect_schema().names()
    except pl.exceptions.NoDataError:
        raise TickFileError(path, "file is empty (a header row ts,symbol,price,volume is required)") from None
    except _READ_ERRORS as exc:
        raise TickFileError(path, f"not a readable {kind} file: {_first_line(exc)}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        s = "s" if len(missing) > 1 else ""
        raise TickFileError(
            path,
            f"missing required column{s} {', '.join(missing)} "
            f"(found: {', '.join(columns) or 'none'}; need {','.join(REQUIRED_COLUMNS)})",
        )
    wanted = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in columns]
    return lf.select(wanted)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_tick_file(path: Path | str) -> pl.DataFrame:
    """The whole file as a raw frame (tick columns only, CSV as text); for small files."""
    p = Path(path)
    lf = _scan(p)
    try:
        return lf.collect()
    except _READ_ERRORS as exc:
        raise TickFileError(p, f"cannot be read: {_first_line(exc)}") from None


def iter_tick_file(
    path: Path | str, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Generator[pl.DataFrame, None, None]:
    """Raw chunks in file order, for the offline backtest.

    Not a generator function on purpose: the file is checked when this is called, so
    a missing column fails before the caller has done anything else.
    """
    p = Path(path)
    lf = _scan(p)
    if p.is_dir() or p.suffix.lower() in PARQUET_SUFFIXES:
        return _parquet_chunks(p, lf, max(int(chunk_rows), 1))
    return _chunks(p, lf, max(int(chunk_rows), 1))


def _parquet_chunks(path: Path, lf: pl.LazyFrame, chunk_rows: int) -> Generator[pl.DataFrame, None, None]:
    """Parquet, one slice at a time, read when asked for.

    ``collect_batches`` reads ahead on its own thread without bound: with a consumer slower
    than the reader (the engine on 10,000 rules) a 10M-tick file ended up in memory (790 MB
    buffered where one slice is 20 MB). A slice of a Parquet scan reads only the row
    groups it needs, so pulling slices keeps memory at one chunk for a little more I/O.
    """
    offset = 0
    while True:
        try:
            chunk = lf.slice(offset, chunk_rows).collect()
        except _READ_ERRORS as exc:
            raise TickFileError(path, f"cannot be read: {_first_line(exc)}") from None
        if chunk.height == 0:
            return
        offset += chunk.height
        yield chunk
        if chunk.height < chunk_rows:
            return


def _chunks(path: Path, lf: pl.LazyFrame, chunk_rows: int) -> Generator[pl.DataFrame, None, None]:
    batches = iter(lf.collect_batches(chunk_size=chunk_rows, maintain_order=True, lazy=True))
    while True:
        try:
            chunk = next(batches)
        except StopIteration:
            return
        except _READ_ERRORS as exc:
            raise TickFileError(path, f"cannot be read: {_first_line(exc)}") from None
        if chunk.height:
            yield chunk


@dataclass(frozen=True)
class ReplayChunk:
    """Normalized ticks (canonical columns + ``row``) and the rows rejected while parsing.

    Parse rejections travel with the ticks because the ordering gate downstream only
    sees good rows, and the run report must still count the bad ones.
    """

    ticks: pl.DataFrame
    rejections: list[Rejection] = field(default_factory=list)


async def replay_batches(
    path: Path | str, chunk_rows: int = DEFAULT_CHUNK_ROWS, speed: float | None = None
) -> AsyncIterator[ReplayChunk]:
    """Replay a tick file: as fast as possible, or paced at ``speed`` x the recorded gaps.

    File reads and parsing run in worker threads, so a long file never stalls the
    loop. Raises TickFileError on the first iteration if the file is unusable.
    """
    if speed is not None and not speed > 0:
        raise ValueError("speed must be > 0")
    chunks = await asyncio.to_thread(iter_tick_file, path, chunk_rows)
    pacer = _Pacer(speed) if speed is not None else None
    first_row = 1
    try:
        while True:
            raw = await asyncio.to_thread(next, chunks, None)
            if raw is None:
                return
            ticks, rejections = await asyncio.to_thread(normalize, raw, first_row)
            first_row += raw.height
            if pacer is None or ticks.height == 0:
                yield ReplayChunk(ticks, rejections)
                continue
            async for part in pacer.pace(ticks):
                yield ReplayChunk(part, rejections)
                rejections = []
    finally:
        # If we were cancelled mid-read the worker thread may still be inside the
        # generator; it then finishes on its own and close() would only complain.
        with contextlib.suppress(ValueError):
            chunks.close()


class _Pacer:
    """Maps tick time to loop time: a tick is released ``(ts - first_ts) / speed`` after start.

    Tick time is the running max of ``ts`` in file order, because file order is only
    non-decreasing per symbol and replay must never wait for time to run backwards.
    """

    def __init__(self, speed: float) -> None:
        self._speed = speed
        self._anchor: tuple[int, float] | None = None  # (tick ms, loop time)
        self._high_ms: int | None = None

    async def pace(self, ticks: pl.DataFrame) -> AsyncIterator[pl.DataFrame]:
        loop = asyncio.get_running_loop()
        ms = ticks["ts"].dt.epoch("ms").to_numpy()
        clock = np.maximum.accumulate(ms)
        if self._high_ms is not None:
            clock = np.maximum(clock, self._high_ms)
        self._high_ms = int(clock[-1])
        if self._anchor is None:
            self._anchor = (int(clock[0]), loop.time())
        anchor_ms, anchor_at = self._anchor
        due = anchor_at + (clock - anchor_ms) / 1000.0 / self._speed
        pos, n = 0, len(due)
        while pos < n:
            now = loop.time()
            end = int(np.searchsorted(due, now, side="right"))
            if end <= pos:
                await asyncio.sleep(float(due[pos]) - now)
                continue
            yield ticks.slice(pos, end - pos)
            pos = end

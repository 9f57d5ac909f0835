"""Tick files (``--ticks PATH``, ``source: replay``): CSV or Parquet, read in chunks.

A file that cannot be read *at all* (missing, unknown format, a required column
absent, corrupt) raises :class:`TickFileError` up front, because no amount of
skipping rows would make the run meaningful. Everything else is row-level and left to
``ticks.normalize``: CSV columns are read as text so that one bad cell becomes one
rejected row instead of a failed read (a clean block has its number columns parsed by
polars' reader, where that gives exactly what the text would, see ``_typed``).

CSV is judged one physical line at a time: a line whose quoting is broken (``"12"x``,
a quote that is never closed) or whose field count differs from the header's is one
rejected row, carried to ``normalize`` in the ``problem`` column with its file ``line``
number. A tick never spans lines, so a stray quote must not swallow the rest of the file.
Clean blocks (no quote character, every line with the header's field count, checked
with numpy) go straight to polars' reader; only blocks that need it take Python's
``csv`` module.

Files are streamed in chunks, so a 10M-tick backtest does not need the whole file in
memory.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import AsyncIterator, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import TickFileError
from .ticks import (
    CANONICAL_LEN,
    LINE,
    OPTIONAL_COLUMNS,
    PROBLEM,
    REQUIRED_COLUMNS,
    ROW,
    Rejection,
    canonical_epoch_ms,
    normalize,
)

DEFAULT_CHUNK_ROWS = 65_536
CSV_SUFFIXES = frozenset({".csv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_READ_ERRORS = (pl.exceptions.PolarsError, OSError, ValueError)
#: Bytes read from a CSV file at a time (a chunk is cut at ``chunk_rows`` lines inside it).
_CSV_BLOCK = 8 << 20
#: The first read is smaller: a backtest's engine waits for it, then the rest is read ahead
#: while it works (``_csv_chunks``), so a big first block would only delay everything.
#: Each later block doubles up to ``_CSV_BLOCK``: the engine's first full batch waits for the
#: second block too (and a reader started before the config gates nothing while it parses one).
_FIRST_CSV_BLOCK = 256 << 10
#: Likewise the first Parquet slice, at most (the rest come ``chunk_rows`` at a time).
_FIRST_PARQUET_ROWS = 65_536
#: A header line longer than this is not a tick file's header.
_MAX_HEADER = 1 << 20
_NEWLINE, _COMMA, _QUOTE = ord("\n"), ord(","), ord('"')


def _header_name(name: str) -> str:
    """Spreadsheet exports add a BOM and padding to headers; neither is part of the name."""
    return name.strip().lstrip("\ufeff").strip()


def _parquet_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
    )


@dataclass(frozen=True)
class _CsvHeader:
    """What the header line says: the field count every line must have, and where our columns are."""

    width: int
    names: list[str]  # every header name, in file order
    keep: list[int]  # positions of the tick columns we read
    body_offset: int  # bytes of the header line, where data lines start

    @property
    def kept(self) -> list[str]:
        return [self.names[i] for i in self.keep]


def _csv_header(path: Path) -> _CsvHeader:
    try:
        with path.open("rb") as f:
            first = f.readline(_MAX_HEADER)
    except OSError as exc:
        raise TickFileError(path, f"not a readable CSV file: {exc.strerror or exc}") from None
    text = first.decode("utf-8", "replace").rstrip("\r\n")
    if not text.strip():
        raise TickFileError(path, "file is empty (a header row ts,symbol,price,volume is required)")
    try:
        fields = next(csv.reader([text.lstrip("\ufeff")], strict=True))
    except csv.Error as exc:
        raise TickFileError(path, f"not a readable CSV file: line 1 (header): {exc}") from None
    names = [_header_name(n) for n in fields]
    seen: set[str] = set()
    for name in names:
        if name in seen and name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
            raise TickFileError(path, f"not a readable CSV file: line 1 (header): column {name!r} appears twice")
        seen.add(name)
    _check_columns(path, names)
    wanted = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in names]
    return _CsvHeader(len(names), names, [names.index(c) for c in wanted], len(first))


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        s = "s" if len(missing) > 1 else ""
        raise TickFileError(
            path,
            f"missing required column{s} {', '.join(missing)} "
            f"(found: {', '.join(columns) or 'none'}; need {','.join(REQUIRED_COLUMNS)})",
        )


def _kind(path: Path) -> str:
    """``CSV`` or ``Parquet``; raises TickFileError for a missing file or an unknown format."""
    if not path.exists():
        raise TickFileError(path, "file not found")
    if path.is_dir():
        return "Parquet"
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "CSV"
    if suffix in PARQUET_SUFFIXES:
        return "Parquet"
    raise TickFileError(
        path, f"unknown tick file format {suffix or '(no extension)'!r}: use .csv, .parquet or .pq"
    )


def _scan(path: Path) -> pl.LazyFrame:
    """A lazy frame over a Parquet file's (or directory's) tick columns; TickFileError if unusable."""
    lf, wanted = _scan_all(path)
    return lf.select(wanted)


def _scan_all(path: Path) -> tuple[pl.LazyFrame, list[str]]:
    """A lazy frame over every column of a Parquet file (or directory), and its tick columns."""
    files = _parquet_sources(path)
    try:
        lf = pl.scan_parquet(files)
        columns = lf.collect_schema().names()
    except _READ_ERRORS as exc:
        raise TickFileError(path, f"not a readable Parquet file: {_first_line(exc)}") from None
    _check_columns(path, columns)
    return lf, [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in columns]


def _parquet_sources(path: Path) -> list[Path]:
    """The Parquet files behind ``path`` (itself, or a directory's); TickFileError if there are none."""
    _kind(path)
    if path.is_dir():
        files = _parquet_files(path)
        if not files:
            raise TickFileError(path, "directory holds no .parquet or .pq files")
    else:
        files = [path]
    return files


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_tick_file(path: Path | str) -> pl.DataFrame:
    """The whole file as a raw frame (tick columns; CSV as text plus ``line``/``problem``); for small files."""
    p = Path(path)
    if _kind(p) == "CSV":
        # text throughout: one frame from pieces that a typed read could split into two kinds
        chunks = list(_csv_chunks(p, _csv_header(p), DEFAULT_CHUNK_ROWS, typed=False))
        return pl.concat(chunks) if chunks else pl.DataFrame()
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
    rows = max(int(chunk_rows), 1)
    if _kind(p) == "CSV":
        return _csv_chunks(p, _csv_header(p), rows)
    return _parquet_chunks(p, _scan(p), rows)


def _parquet_chunks(path: Path, lf: pl.LazyFrame, chunk_rows: int) -> Generator[pl.DataFrame, None, None]:
    """Parquet, one slice at a time, read when asked for.

    ``collect_batches`` reads ahead on its own thread without bound: with a consumer slower
    than the reader (the engine on 10,000 rules) a 10M-tick file ended up in memory (790 MB
    buffered where one slice is 20 MB). A slice of a Parquet scan reads only the row
    groups it needs, so pulling slices keeps memory at one chunk for a little more I/O.
    """
    offset, rows = 0, min(chunk_rows, _FIRST_PARQUET_ROWS)
    while True:
        try:
            chunk = lf.slice(offset, rows).collect()
        except _READ_ERRORS as exc:
            raise TickFileError(path, f"cannot be read: {_first_line(exc)}") from None
        if chunk.height == 0:
            return
        offset += chunk.height
        yield chunk
        if chunk.height < rows:
            return
        rows = chunk_rows


def is_parquet(path: Path | str) -> bool:
    """Whether ``path`` is read as Parquet (a file or a directory); TickFileError as ``iter_tick_file``."""
    return _kind(Path(path)) == "Parquet"


#: Row groups up to this many rows are read with the selection pushed into the reader;
#: a larger one would be decoded again for every range cut from it, so it is read in
#: ``chunk_rows`` slices and filtered after decoding instead.
_MAX_SELECTED_GROUP = 1 << 21


def iter_parquet_selection(
    path: Path | str, keep: pl.Expr, chunk_rows: int = DEFAULT_CHUNK_ROWS, row_name: str = "_row_",
    max_selected_group: int = _MAX_SELECTED_GROUP,
) -> Generator[tuple[int, pl.DataFrame], None, None]:
    """The rows of a Parquet tick file that ``keep`` selects, numbered, in the chunks
    ``iter_tick_file(path, chunk_rows)`` would have read them in: ``(chunk index, rows)``
    for every chunk holding any, the 1-based row number of each in column ``row_name``.

    For one partition of a distributed backtest: the selection is evaluated by the reader
    on ``keep``'s columns, a row group at a time, and only the selected rows of the other
    columns are decoded, where reading every chunk and filtering it decodes them all.

    Not a generator function: the file is checked (TickFileError) when this is called.
    """
    p = Path(path)
    _, wanted = _scan_all(p)  # the checks of the single run, and its columns
    # A scan of its own, and the columns chosen after the selection: on a scan whose
    # schema was asked for, or under a projection, polars evaluates ``keep`` only after
    # decoding every column (measured: 15 times the CPU).
    numbered = pl.scan_parquet(_parquet_sources(p)).with_row_index(row_name, offset=1)
    rows = max(int(chunk_rows), 1)
    ranges = _selection_ranges(p, rows, max_selected_group)
    return _selected_chunks(p, numbered, keep, wanted, ranges, rows, row_name)


def _selection_ranges(path: Path, chunk_rows: int, max_selected_group: int) -> list[tuple[int, int, bool]]:
    """``(first row, end row, pushed down)`` (0-based, end exclusive) covering the file:
    its row groups, those too large for one selection cut into ``chunk_rows`` slices."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # no stubs: the footer only

    files = _parquet_sources(path)
    ranges: list[tuple[int, int, bool]] = []
    start = 0
    try:
        for f in files:
            meta = pq.ParquetFile(f).metadata
            for i in range(meta.num_row_groups):
                n = meta.row_group(i).num_rows
                if n <= max_selected_group:
                    ranges.append((start, start + n, True))
                else:
                    ranges += [(a, min(a + chunk_rows, start + n), False) for a in range(start, start + n, chunk_rows)]
                start += n
    except (OSError, ValueError) as exc:  # pyarrow's errors are OSError/ArrowInvalid (a ValueError)
        raise TickFileError(path, f"not a readable Parquet file: {_first_line(exc)}") from None
    return [r for r in ranges if r[1] > r[0]]


def _selected_chunks(
    path: Path, numbered: pl.LazyFrame, keep: pl.Expr, columns: list[str], ranges: list[tuple[int, int, bool]],
    chunk_rows: int, row_name: str,
) -> Generator[tuple[int, pl.DataFrame], None, None]:
    first = min(chunk_rows, _FIRST_PARQUET_ROWS)  # _parquet_chunks' first slice
    pending: tuple[int, list[pl.DataFrame]] | None = None  # a chunk that may go on in the next range
    for start, end, pushed in ranges:
        row = pl.col(row_name)
        try:
            picked = (
                numbered.filter(row.is_between(start + 1, end) & keep)
                if pushed
                else numbered.slice(start, end - start).collect().lazy().filter(keep)
            )
            got = picked.select(*columns, row.cast(pl.Int64)).collect()
        except _READ_ERRORS as exc:
            raise TickFileError(path, f"cannot be read: {_first_line(exc)}") from None
        if got.height == 0:
            continue
        index = got[row_name].to_numpy() - 1
        chunk = np.where(index < first, 0, 1 + (index - first) // chunk_rows)
        cuts = np.flatnonzero(np.diff(chunk)) + 1
        bounds = [0, *cuts.tolist(), got.height]
        for a, b in zip(bounds, bounds[1:]):
            c, piece = int(chunk[a]), got.slice(a, b - a)
            if pending is not None and pending[0] == c:
                pending[1].append(piece)
                continue
            if pending is not None:
                yield pending[0], pl.concat(pending[1])
            pending = (c, [piece])
    if pending is not None:
        yield pending[0], pl.concat(pending[1])


class _CsvBlocks:
    """Reads and parses a CSV file a block of whole lines at a time, in file order."""

    def __init__(self, path: Path, header: _CsvHeader, typed: bool) -> None:
        self._typed = typed
        self._file = path.open("rb")
        self._file.seek(header.body_offset)
        self._header = header
        self._carry = b""
        self._line = 2
        self._done = False
        self._size = _FIRST_CSV_BLOCK

    def next(self) -> pl.DataFrame | None:
        """The next block's raw frame (possibly empty), or None at the end of the file."""
        while not self._done:
            data = self._file.read(self._size)
            self._size = min(2 * self._size, _CSV_BLOCK)
            if data:
                block = self._carry + data
                cut = block.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: keep reading
                    self._carry = block
                    continue
                piece, self._carry = block[:cut], block[cut:]
            else:  # end of file: the rest, with or without a final newline
                piece, self._carry, self._done = self._carry, b"", True
            frame, lines = _parse_csv_piece(piece, self._header, self._line, self._typed)
            self._line += lines
            return frame
        return None

    def close(self) -> None:
        self._file.close()


def _csv_chunks(
    path: Path, header: _CsvHeader, chunk_rows: int, typed: bool = True
) -> Generator[pl.DataFrame, None, None]:
    """Raw CSV chunks of at most ``chunk_rows`` rows, in file order.

    The file is parsed a block of whole lines at a time (one numpy and one polars pass per
    block, whatever ``chunk_rows`` is), and the next block is parsed on a worker thread
    while the caller works on this one (numpy and polars release the GIL): one block
    ahead, never more, so memory stays at two blocks.
    """
    try:
        blocks = _CsvBlocks(path, header, typed)
    except OSError as exc:
        raise TickFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-read")
    ahead: Future[pl.DataFrame | None] = pool.submit(blocks.next)
    try:
        while True:
            try:
                frame = ahead.result()
            except OSError as exc:
                raise TickFileError(path, f"cannot be read: {exc.strerror or exc}") from None
            if frame is None:
                return
            ahead = pool.submit(blocks.next)
            for start in range(0, frame.height, chunk_rows):
                yield frame.slice(start, chunk_rows)
    finally:
        ahead.cancel()
        pool.shutdown(wait=True)  # the worker must be out of the file before it closes
        blocks.close()


def _line_fields(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (exclusive, before ``\\r\\n``) and field count (unquoted) of every line of a piece.

    One pass finds every comma and newline; the number of delimiters between two
    newlines is the line's field count.
    """
    n = len(buf)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    delims = np.flatnonzero((buf == _COMMA) | (buf == _NEWLINE))
    at_newline = np.flatnonzero(buf[delims] == _NEWLINE)
    ends = delims[at_newline]
    fields = np.diff(at_newline, prepend=-1)
    if buf[-1] != _NEWLINE:  # a last line without a newline
        last = int(at_newline[-1]) if len(at_newline) else -1
        ends = np.append(ends, n)
        fields = np.append(fields, len(delims) - last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    crlf = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == ord("\r"))
    return starts, ends - crlf, fields


def _quoting(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Field count, well-formed quoting, and 'has a quote' per line of a piece with quotes.

    The state machine of a CSV reader, vectorized over the piece's events (every comma,
    quote and newline, in order): within a line, a quote with an even number of quotes
    before it opens a field (so it must start the field, or follow the quote it escapes),
    and one with an odd number closes it (so a delimiter, the line's end or an escaping
    quote must follow). A line with an odd count never closes. A comma with an odd number
    of quotes before it on its line is inside a field, not a delimiter.
    """
    n, lines = len(buf), len(starts)
    events = np.flatnonzero((buf == _COMMA) | (buf == _NEWLINE) | (buf == _QUOTE))
    kind = buf[events]
    is_quote, is_newline = kind == _QUOTE, kind == _NEWLINE
    line = np.cumsum(is_newline) - is_newline  # a newline belongs to the line it ends
    quotes_before = np.cumsum(is_quote) - is_quote
    # Quotes before the line's start: carried forward from the newline that ended the last line.
    at_newline = np.where(is_newline, np.cumsum(is_quote), 0)
    line_start_quotes = np.concatenate(([0], np.maximum.accumulate(at_newline)[:-1]))
    inside = (quotes_before - line_start_quotes) % 2 == 1
    count = np.bincount(line[is_quote], minlength=lines)
    well = count % 2 == 0
    q, q_line = events[is_quote], line[is_quote]
    before = buf[np.maximum(q - 1, 0)]
    after = buf[np.minimum(q + 1, n - 1)]
    open_ok = (q == starts[q_line]) | (before == _COMMA) | (before == _QUOTE)
    close_ok = (q + 1 >= ends[q_line]) | (after == _COMMA) | (after == _QUOTE)
    well[q_line[np.where(inside[is_quote], ~close_ok, ~open_ok)]] = False
    delimiter = (kind == _COMMA) & ~inside
    fields = np.bincount(line[delimiter], minlength=lines) + 1
    return fields, well, count > 0


def _parse_csv_piece(
    piece: bytes, header: _CsvHeader, first_line: int, typed: bool = True
) -> tuple[pl.DataFrame, int]:
    """One piece of whole lines -> (raw chunk, number of lines in it). Blank lines are skipped.

    Lines that numpy finds well-formed go to polars in one read; the rare others are
    judged one by one, by the field count, or by the ``csv`` module when they hold a quote
    (its message says what is wrong with the quoting). With ``typed``, a piece without a
    quote or a bad line has its number columns parsed by the reader (:func:`_typed`).
    """
    buf = np.frombuffer(piece, np.uint8)
    starts, ends, fields = _line_fields(buf)
    if not len(starts):
        return _raw_frame(header, {}, [], []), 0
    quoted = b'"' in piece
    blank = ends == starts
    good = (fields == header.width) & ~blank
    has_quote = np.zeros(len(starts), bool)
    if quoted:
        fields, well, has_quote = _quoting(buf, starts, ends)
        good = (fields == header.width) & ~blank & well
    numbers = np.arange(first_line, first_line + len(starts))
    frame: pl.DataFrame | None = None
    if good.all():
        data = piece
        if typed and not quoted:
            frame = _typed(data, header, len(starts), _leading_times(buf, starts, ends, header))
    else:  # the good lines, copied as runs of consecutive lines (bad lines are rare)
        idx = np.flatnonzero(good)
        gaps = np.flatnonzero(np.diff(idx) != 1)
        firsts = np.concatenate((idx[:1], idx[gaps + 1]))
        lasts = np.concatenate((idx[gaps], idx[-1:]))
        data = b"\n".join(piece[starts[a]:ends[b]] for a, b in zip(firsts.tolist(), lasts.tolist()))
    if frame is None:
        frame = _fast(data, header, int(good.sum()), quoted)
    if frame is None:  # polars read something else than numpy counted: let csv judge each line
        return _careful(piece, header, first_line), len(starts)
    frames = [frame.with_columns(pl.Series(LINE, numbers[good], pl.Int64), pl.lit(None, pl.String).alias(PROBLEM))]
    wrong = ~good & ~blank
    if not wrong.any():
        return frames[0], len(starts)
    counted = wrong & ~has_quote
    if counted.any():
        frames.append(_raw_frame(
            header, {}, numbers[counted].tolist(),
            [f"{n} field{'' if n == 1 else 's'} where the header has {header.width}" for n in fields[counted].tolist()],
        ))
    frames += [
        _careful(piece[starts[i]:ends[i]], header, int(numbers[i]))
        for i in np.flatnonzero(wrong & has_quote).tolist()
    ]
    return pl.concat(frames).sort(LINE), len(starts)


#: The number columns a clean piece has parsed by polars' reader, and how.
_NUMBER_COLUMNS: dict[str, pl.DataType] = {
    "price": pl.Float64(), "bid": pl.Float64(), "ask": pl.Float64(),
    "volume": pl.Int64(), "bid_size": pl.Int64(), "ask_size": pl.Int64(),
}


def _leading_times(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, header: _CsvHeader) -> pl.Series | None:
    """The ``ts`` column read from the piece's bytes, when it is the first column and every
    line spells it ``2026-12-01T14:40:47.571Z`` (then ``normalize`` takes it as it is);
    None otherwise. Read as text, that column was most of what the reader and
    ``normalize`` spent on a tick file: a string per line, trimmed, tried as an integer,
    joined and decoded again by ``normalize``'s own fixed-width reader.
    """
    if header.names[0] != "ts" or not len(starts):
        return None
    if not bool((ends - starts > CANONICAL_LEN).all()) or not bool((buf[starts + CANONICAL_LEN] == _COMMA).all()):
        return None  # a shorter or longer first field (another spelling, padding)
    # each line's first bytes gathered as one row (a copy of 24 bytes a line)
    epoch, ok = canonical_epoch_ms(np.lib.stride_tricks.sliding_window_view(buf, CANONICAL_LEN)[starts])
    if not ok.all():
        return None
    return pl.Series("ts", epoch, pl.Int64).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def _typed(data: bytes, header: _CsvHeader, expected: int, times: pl.Series | None = None) -> pl.DataFrame | None:
    """The piece with its number columns parsed by polars' reader, when that reads exactly
    what ``normalize`` would make of the text; None otherwise (the caller reads text).

    Reading ``price`` as text and casting it afterwards costs a third of a CSV backtest's
    reading. The reader's number parser takes what the cast takes, to the same values
    (a blank cell is null in both), and fails on the rest (a trailing space, ``12.0`` as
    a volume), which then goes the text way. A piece with a number ``normalize`` rejects
    for what it is (not finite, negative) goes the text way as well, so that the message
    quotes the cell as it was written.
    """
    kept = header.kept
    overrides = {name: dtype for name, dtype in _NUMBER_COLUMNS.items() if name in kept}
    read = header.keep if times is None else [i for i in header.keep if i != 0]  # ts is column 0 then
    try:
        frame = pl.read_csv(
            io.BytesIO(data), has_header=False, new_columns=header.names, columns=read,
            infer_schema=False, schema_overrides=overrides, quote_char=None, encoding="utf8-lossy",
        )
    except _READ_ERRORS:
        return None
    if frame.height != expected:
        return None
    if times is not None:
        frame = frame.with_columns(times)
    suspect = [
        ~pl.col(name).is_finite() if dtype == pl.Float64 else pl.col(name) < 0
        for name, dtype in overrides.items()
    ]
    if frame.select(pl.any_horizontal(suspect).any()).item():
        return None
    return frame.select(kept)


def _fast(data: bytes, header: _CsvHeader, expected: int, quoted: bool) -> pl.DataFrame | None:
    """polars' reader on lines already known to be clean; None if it disagrees on the row count."""
    if expected == 0:
        return _raw_frame(header, {}, [], []).drop(LINE, PROBLEM)
    try:
        frame = pl.read_csv(
            io.BytesIO(data), has_header=False, new_columns=header.names, columns=header.keep,
            infer_schema=False, quote_char='"' if quoted else None, encoding="utf8-lossy",
        )
    except _READ_ERRORS:
        return None
    return frame.select(header.kept) if frame.height == expected else None


def _careful(piece: bytes, header: _CsvHeader, first_line: int) -> pl.DataFrame:
    """Python's csv module, strict, one physical line per row; a bad line is one rejection.

    A reader runs over the lines until a row fails or spans more than one line (a quote
    never closed on its line); that line is rejected and a new reader starts on the next.
    """
    lines = piece.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    columns: dict[str, list[str | None]] = {name: [] for name in header.kept}
    numbers: list[int] = []
    problems: list[str | None] = []

    def reject(index: int, why: str) -> None:
        numbers.append(first_line + index)
        problems.append(why)
        for values in columns.values():
            values.append(None)

    start, total = 0, len(lines)
    while start < total:
        reader = csv.reader((lines[i] for i in range(start, total)), strict=True)
        consumed = 0  # lines this reader had used up before the current row
        restart: int | None = None
        try:
            for row in reader:
                at, span, consumed = start + consumed, reader.line_num - consumed, reader.line_num
                if span > 1:
                    reject(at, "a quoted field is not closed on its line")
                    restart = at + 1
                    break
                if not row:  # a blank line
                    continue
                if len(row) != header.width:
                    n = len(row)
                    reject(at, f"{n} field{'' if n == 1 else 's'} where the header has {header.width}")
                    continue
                numbers.append(first_line + at)
                problems.append(None)
                for name, i in zip(header.kept, header.keep):
                    columns[name].append(row[i])
        except csv.Error as exc:
            at = start + consumed
            # Failing after running past the line's end means the quote was never closed on it.
            unclosed = "end of data" in str(exc) or reader.line_num - consumed > 1
            reject(at, "a quoted field is not closed on its line" if unclosed else f"bad quoting: {exc}")
            restart = at + 1
        if restart is None:
            break
        start = restart
    return _raw_frame(header, columns, numbers, problems)


def _raw_frame(
    header: _CsvHeader, columns: dict[str, list[str | None]], numbers: list[int], problems: list[str | None]
) -> pl.DataFrame:
    data: dict[str, pl.Series] = {
        name: pl.Series(name, columns.get(name) or [None] * len(numbers), pl.String) for name in header.kept
    }
    data[LINE] = pl.Series(LINE, numbers, pl.Int64)
    data[PROBLEM] = pl.Series(PROBLEM, problems, pl.String)
    return pl.DataFrame(data)


@dataclass(frozen=True)
class ReplayChunk:
    """Normalized ticks (canonical columns + ``row``) and the rows rejected while parsing.

    Parse rejections travel with the ticks because the ordering gate downstream only
    sees good rows, and the run report must still count the bad ones.
    """

    ticks: pl.DataFrame
    rejections: list[Rejection] = field(default_factory=list)


async def replay_batches(
    path: Path | str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    speed: float | None = None,
    resume_after: int = 0,
) -> AsyncIterator[ReplayChunk]:
    """Replay a tick file: as fast as possible, or paced at ``speed`` x the recorded gaps.

    Rows up to ``resume_after`` (a restart's position) are read for numbering but
    neither yielded nor reported, and pacing starts at the first row after it: a
    restart must not wait again through ticks it already processed.

    File reads and parsing run in worker threads, so a long file never stalls the
    loop. Raises TickFileError on the first iteration if the file is unusable.
    """
    import asyncio  # here: an offline backtest reads files without an event loop

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
            if resume_after >= first_row - 1:
                continue
            if resume_after:
                ticks = ticks.filter(pl.col(ROW) > resume_after)
                rejections = [r for r in rejections if r.row > resume_after]
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
        import asyncio

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

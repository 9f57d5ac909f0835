"""Tick hygiene: raw rows -> canonical ticks, and the per-run ordering gate (docs/semantics.md, "Ticks").

Two stages because they fail for different reasons. :func:`normalize` judges each row
on its own (is the price a number?), so it can run on any chunk in isolation.
:class:`TickGate` judges a row against the rows accepted before it (is its ``ts``
going backwards?), so it carries state across batches and must see every batch of a
run, in arrival order. Neither raises on bad data: one bad row must never stop a feed.

Both are vectorized; Python only touches rejected rows, which are expected to be rare.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from ..timefmt import from_epoch_ms, iso_ms_expr, to_epoch_ms

TS_DTYPE = pl.Datetime("ms", "UTC")
#: Batches up to this many rows are judged row by row in Python first (a live batch): a few
#: microseconds per row against the ~1 ms fixed cost of the polars queries, which judge
#: larger batches and any batch that has something to reject or report.
GATE_ROWS_IN_PYTHON = 1024

#: The canonical tick frame the engine consumes, in column order.
TICK_SCHEMA: dict[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "symbol": pl.String(),
    "price": pl.Float64(),
    "volume": pl.Int64(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_size": pl.Int64(),
    "ask_size": pl.Int64(),
}
_TICK_COLUMNS = list(TICK_SCHEMA)
REQUIRED_COLUMNS: tuple[str, ...] = ("ts", "symbol", "price", "volume")
OPTIONAL_COLUMNS: tuple[str, ...] = ("bid", "ask", "bid_size", "ask_size")
#: 1-based data row number (header excluded), kept next to normalized ticks: the resume position.
ROW = "row"
#: The file line a CSV row is on (header = line 1), what an editor shows; CSV chunks only.
LINE = "line"
#: Why the CSV reader could not split a line into cells (quoting, field count); null if it could.
PROBLEM = "problem"

# Status codes of one parsed cell; 0 is fine. Codes, not messages, are computed for
# every row so that the happy path never formats a string.
_OK, _MISSING, _NOT_NUMBER, _NOT_FINITE, _NEGATIVE, _NOT_WHOLE, _NOT_TIME, _OUT_OF_RANGE = range(8)
_SHOWN_CHARS = 40
# chrono formats; ``%.f`` makes the fraction optional, ``%z`` takes +00:00 and +0000.
_ISO_Z = "%Y-%m-%dT%H:%M:%S%.fZ"
_ISO_WITH_OFFSET = "%Y-%m-%dT%H:%M:%S%.f%z"
_ISO_NAIVE = "%Y-%m-%dT%H:%M:%S%.f"


@dataclass(frozen=True, order=True)
class Rejection:
    """One rejected tick row; ``row`` is the 1-based data row (or arrival number).

    ``line`` is the file line for CSV, shown instead of the row because that is what an
    editor jumps to (the header, blank lines and CRLF make the two differ).
    """

    row: int
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"row {self.row}"
        return f"{where}: {self.reason}"


def empty_ticks() -> pl.DataFrame:
    """A canonical frame with no rows, so callers never special-case 'nothing yet'."""
    return pl.DataFrame(schema=TICK_SCHEMA)


def _empty_normalized() -> pl.DataFrame:
    return pl.DataFrame(schema={**TICK_SCHEMA, ROW: pl.Int64()})


# --------------------------------------------------------------------------- parsing
#
# Parsing runs in stages so that each cast is computed once per column and reused:
#   1. text columns are trimmed (blank -> null, so 'missing' has one spelling);
#   2. casts (``_f_x`` float, ``_i_x`` int) from the trimmed text;
#   3. values (``_v_x``) from the casts;   4. status codes (``_c_x``) from the values.
# ISO-8601 parsing of ``ts`` is the expensive part and only runs when some ``ts`` is
# not an epoch-ms integer.


@dataclass(frozen=True)
class _Steps:
    """How one column becomes a value and a status code (see the stages above)."""

    casts: list[pl.Expr]
    value: pl.Expr
    code: pl.Expr


def _ok() -> pl.Expr:
    return pl.lit(_OK, pl.UInt8)


def _flag(code: int) -> pl.Expr:
    return pl.lit(code, pl.UInt8)


def _is_textual(name: str, dtype: pl.DataType) -> bool:
    """Columns parsed from text: CSV strings, any symbol, anything not numeric/temporal."""
    if dtype == pl.Null:
        return False
    return name == "symbol" or not (dtype.is_numeric() or dtype.is_temporal())


def _trim(name: str) -> pl.Expr:
    t = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(t.str.len_bytes() > 0).then(t).alias(name)


def _trimmed(column: pl.Series) -> bool:
    """Whether a text column is as :func:`_trim` leaves it (no blank, no padding). Asked of
    the symbol column only: it holds a few distinct values, so looking at those costs a
    quarter of trimming every row, which was most of ``normalize``'s time on a clean file."""
    if column.dtype != pl.String:
        return False
    distinct = column.unique()
    return bool(((distinct.str.strip_chars() == distinct) & (distinct.str.len_bytes() > 0)).all())


def _past_int64(f: pl.Expr, sign: int) -> pl.Expr:
    """A whole number that an Int64 cannot hold, above (``sign`` 1) or below (-1) its range."""
    whole = f.is_finite() & (f == f.floor())
    return whole & ((f >= 2.0**63) if sign > 0 else (f < -(2.0**63)))


def _whole_from_float(f: pl.Expr) -> pl.Expr:
    # 2**63 is exactly representable; anything at or past it cannot be an Int64.
    ok = f.is_finite() & (f == f.floor()) & (f.abs() < 2.0**63)
    return pl.when(ok).then(f).cast(pl.Int64)


def _float_steps(name: str, dtype: pl.DataType) -> _Steps:
    """price/bid/ask: a finite number."""
    col, v = pl.col(name), pl.col(f"_v_{name}")
    if dtype == pl.Null:
        return _Steps([], pl.lit(None, pl.Float64), _flag(_MISSING))
    if dtype.is_numeric():
        code = pl.when(v.is_null()).then(_flag(_MISSING)).when(~v.is_finite()).then(
            _flag(_NOT_FINITE)
        ).otherwise(_ok())
        return _Steps([], col.cast(pl.Float64), code)
    code = (
        pl.when(col.is_null()).then(_flag(_MISSING))
        .when(v.is_null()).then(_flag(_NOT_NUMBER))
        .when(~v.is_finite()).then(_flag(_NOT_FINITE))
        .otherwise(_ok())
    )
    return _Steps([col.cast(pl.Float64, strict=False).alias(f"_f_{name}")], pl.col(f"_f_{name}"), code)


def _int_steps(name: str, dtype: pl.DataType) -> _Steps:
    """volume/sizes: empty, or a whole number >= 0.

    ``12.0`` is accepted as 12 because Parquet written by pandas stores an integer
    column with gaps as floats; NaN in such a float column means 'no value', as there.
    """
    col, v = pl.col(name), pl.col(f"_v_{name}")
    if dtype == pl.Null:
        return _Steps([], pl.lit(None, pl.Int64), _ok())
    negative = pl.when(v < 0).then(_flag(_NEGATIVE)).otherwise(_ok())
    if dtype.is_integer():
        return _Steps([], col.cast(pl.Int64, strict=False), negative)
    if dtype.is_numeric():
        f = col.cast(pl.Float64)
        absent = f.is_null() | f.is_nan()
        code = (
            pl.when(absent).then(_ok())
            .when(_past_int64(f, 1)).then(_flag(_OUT_OF_RANGE))
            .when(_past_int64(f, -1)).then(_flag(_NEGATIVE))
            .when(v.is_null()).then(_flag(_NOT_WHOLE))
            .otherwise(negative)
        )
        return _Steps([], pl.when(~absent).then(_whole_from_float(f)), code)
    f, i = pl.col(f"_f_{name}"), pl.col(f"_i_{name}")
    code = (
        pl.when(col.is_null()).then(_ok())
        .when(f.is_null() & i.is_null()).then(_flag(_NOT_NUMBER))
        .when(i.is_null() & _past_int64(f, 1)).then(_flag(_OUT_OF_RANGE))
        .when(i.is_null() & _past_int64(f, -1)).then(_flag(_NEGATIVE))
        .when(v.is_null()).then(_flag(_NOT_WHOLE))
        .otherwise(negative)
    )
    casts = [
        col.cast(pl.Int64, strict=False).alias(f"_i_{name}"),
        col.cast(pl.Float64, strict=False).alias(f"_f_{name}"),
    ]
    return _Steps(casts, pl.coalesce(i, _whole_from_float(f)), code)


def _epoch_ms(ms: pl.Expr) -> pl.Expr:
    return ms.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def _ts_steps(dtype: pl.DataType) -> _Steps:
    """ts: ISO-8601 text or epoch ms (text or int), or a native datetime in any zone/unit."""
    col, v = pl.col("ts"), pl.col("_v_ts")
    if dtype == pl.Null:
        return _Steps([], pl.lit(None, TS_DTYPE), _flag(_MISSING))
    if isinstance(dtype, pl.Datetime):
        utc = col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col.dt.convert_time_zone("UTC")
        return _Steps([], utc.cast(TS_DTYPE), pl.when(v.is_null()).then(_flag(_MISSING)).otherwise(_ok()))
    if dtype.is_temporal():  # Date; a bare Time cannot be placed on a day
        value = col.cast(pl.Datetime("ms"), strict=False).dt.replace_time_zone("UTC")
        code = pl.when(col.is_null()).then(_flag(_MISSING)).when(v.is_null()).then(
            _flag(_NOT_TIME)
        ).otherwise(_ok())
        return _Steps([], value, code)
    code = pl.when(col.is_null()).then(_flag(_MISSING)).when(v.is_null()).then(
        _flag(_NOT_TIME)
    ).otherwise(_ok())
    if dtype.is_integer():
        return _Steps([], _epoch_ms(col.cast(pl.Int64, strict=False)), code)
    if dtype.is_numeric():
        return _Steps([], _epoch_ms(_whole_from_float(col.cast(pl.Float64))), code)
    value = pl.coalesce(_epoch_ms(pl.col("_i_ts")), pl.col("_iso_ts"))
    return _Steps([pl.col("ts").cast(pl.Int64, strict=False).alias("_i_ts")], value, code)


def _with_iso_ts(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``_iso_ts``: text parsing is the slow part, so it is spent only where needed.

    Epoch-ms rows are skipped entirely, the canonical ``...125Z`` spelling is parsed in
    one pass, and only the rows left over take the general (offset/naive) path.
    """
    text, epoch = frame["ts"], frame["_i_ts"]
    todo = text.is_not_null() & epoch.is_null()
    if not todo.any():
        return frame.with_columns(pl.lit(None, TS_DTYPE).alias("_iso_ts"))
    iso = _canonical_iso(text)
    rest = todo & iso.is_null()
    if rest.any():  # any other spelling: chrono's parser, general but three times slower
        idx = rest.arg_true()
        iso = iso.scatter(idx, _parse_iso_z(text.gather(idx)))
        rest = todo & iso.is_null()
        if rest.any():
            idx = rest.arg_true()
            iso = iso.scatter(idx, _parse_iso_any(text.gather(idx)))
    return frame.with_columns(iso.alias("_iso_ts"))


def _parse_iso_z(text: pl.Series) -> pl.Series:
    return text.str.to_datetime(_ISO_Z, strict=False, time_unit="us", time_zone="UTC").cast(TS_DTYPE)


#: ``2026-12-01T14:40:47.571Z``: the spelling tick files are usually written in (ours included).
CANONICAL_LEN = 24
#: Rows read at a time: the text is copied three times on the way to numpy; keep that small.
_CANONICAL_SLICE = 32_768
_CANONICAL_SEPARATORS = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", 19: b".", 23: b"Z"}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int32)


def _canonical_iso(text: pl.Series) -> pl.Series:
    """The times spelled exactly ``YYYY-MM-DDTHH:MM:SS.fffZ`` (1970 onwards); null for the rest.

    That one fixed-width spelling is read with numpy, a column of characters at a time:
    a third of the cost of chrono's parser, which the rows left null here still go
    through. A row is only taken when chrono would read it to the same instant (a real
    calendar day, a second below 60), so the result does not depend on the path.
    """
    n = len(text)
    fixed = (text.str.len_bytes() == CANONICAL_LEN).fill_null(False)
    if not fixed.any():
        return pl.Series("ts", [None] * n, TS_DTYPE)
    idx = None if fixed.all() else fixed.arg_true()
    taken = text if idx is None else text.gather(idx)
    values = pl.concat([
        _canonical_epoch_ms(taken.slice(start, _CANONICAL_SLICE))
        for start in range(0, len(taken), _CANONICAL_SLICE)
    ])
    if idx is not None:
        values = pl.Series("ts", [None] * n, pl.Int64).scatter(idx, values)
    return values.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def _canonical_epoch_ms(taken: pl.Series) -> pl.Series:
    """Epoch ms of times of exactly ``CANONICAL_LEN`` bytes; null where chrono must judge."""
    chars = np.frombuffer(taken.str.join("").item().encode(), np.uint8).reshape(-1, CANONICAL_LEN)
    epoch, ok = canonical_epoch_ms(chars)
    return pl.Series("ts", epoch, pl.Int64).set(pl.Series(~ok), None)


def _word_masks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per 8-byte word of a canonical time (little-endian lanes): the bits that must match,
    what they must be, the digits' low nibbles, and 6 in every digit lane."""
    must, want, low, six = (np.zeros(CANONICAL_LEN, np.uint8) for _ in range(4))
    for i in range(CANONICAL_LEN):
        sep = _CANONICAL_SEPARATORS.get(i)
        must[i], want[i] = (0xFF, sep[0]) if sep else (0xF0, 0x30)
        low[i], six[i] = (0, 0) if sep else (0x0F, 6)
    words = [m.view("<u8") for m in (must, want, low, six)]
    return words[0], words[1], words[2], words[3]


_MUST, _WANT, _LOW, _SIX = _word_masks()
_NIBBLE_CARRY = np.uint64(0x1010101010101010)
_BYTE = np.uint64(0xFF)


def canonical_epoch_ms(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch ms of times spelled ``YYYY-MM-DDTHH:MM:SS.fffZ``, and where that is what chrono
    would read (a real calendar day from 1970, a second below 60); elsewhere the ms are junk.

    ``rows`` holds one time per row, ``CANONICAL_LEN`` bytes (uint8): a column of a block
    of fixed-width texts, or the first bytes of each line of a CSV file. Each row is read
    as three 8-byte words, a character per lane, so a check costs a few operations on
    words instead of one array operation per character: the separators and the digits'
    high nibbles are compared in one masked test, the low nibbles are digits when adding 6
    carries out of none of them, and ``10 * d + (d >> 8)`` puts the value of each
    two-digit pair in the lane of its first digit.
    """
    words: np.ndarray = np.ascontiguousarray(rows, dtype=np.uint8).view("<u8")
    d = words & _LOW
    ok = (((words & _MUST) == _WANT) & (((d + _SIX) & _NIBBLE_CARRY) == 0)).all(axis=1)
    pairs: np.ndarray = d * np.uint64(10) + (d >> np.uint64(8))

    def lane(word: int, at: int, rows: slice = slice(None)) -> np.ndarray:
        return ((pairs[rows, word] >> np.uint64(8 * at)) & _BYTE).astype(np.int64)

    hour, minute, second, day = lane(1, 3), lane(1, 6), lane(2, 1), lane(1, 0)
    ms = lane(2, 4) * 10 + ((d[:, 2] >> np.uint64(48)) & _BYTE).astype(np.int64)
    ok &= (hour < 24) & (minute < 60) & (second < 60) & (day >= 1)
    if len(words) and bool((words[:, 0] == words[0, 0]).all()):
        # One year and month on every row (a block of a file in time order): the calendar
        # is worked out once.
        one = slice(0, 1)
        first, days_in, month_ok = _days_from_civil(lane(0, 0, one) * 100 + lane(0, 2, one), lane(0, 5, one),
                                                    np.ones(1, np.int64))
        days = day + (int(first[0]) - 1)
        ok &= bool(month_ok[0]) & (day <= int(days_in[0]))
    else:
        days, days_in, month_ok = _days_from_civil(lane(0, 0) * 100 + lane(0, 2), lane(0, 5), day)
        ok &= month_ok & (day <= days_in)
    epoch = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms
    return epoch, ok


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 of proleptic Gregorian dates (March-based years, 400-year
    eras), the days of each month, and whether the year and month are ones chrono reads."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12) & (year >= 1970)
    days_in = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468, days_in, month_ok


def _parse_iso_any(text: pl.Series) -> pl.Series:
    """``Z``/``z``/``+hh:mm``/``+hhmm`` offsets, a space for ``T``, or no zone (= UTC)."""
    iso = text.str.replace(r"[Zz]$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2})[ t]", "${1}T")
    with_offset = iso.str.to_datetime(_ISO_WITH_OFFSET, strict=False, time_unit="us", time_zone="UTC")
    naive = iso.str.to_datetime(_ISO_NAIVE, strict=False, time_unit="us").dt.replace_time_zone("UTC")
    return pl.select(pl.coalesce(pl.lit(with_offset), pl.lit(naive))).to_series().cast(TS_DTYPE)


def _symbol_steps(dtype: pl.DataType) -> _Steps:
    if dtype == pl.Null:
        return _Steps([], pl.lit(None, pl.String), _flag(_MISSING))
    col = pl.col("symbol")
    return _Steps([], col, pl.when(col.is_null()).then(_flag(_MISSING)).otherwise(_ok()))


def _shown(name: str) -> pl.Expr:
    """The offending cell as users typed it (trimmed), quoted and cut short for one line."""
    t = pl.col(name).cast(pl.String)
    cut = pl.when(t.str.len_chars() > _SHOWN_CHARS).then(
        t.str.slice(0, _SHOWN_CHARS - 3) + pl.lit("...")
    ).otherwise(t)
    return pl.lit("'") + cut + pl.lit("'")


def _message(name: str, code: pl.Expr) -> pl.Expr:
    shown = _shown(name)
    return (
        pl.when(code == _MISSING).then(pl.lit(f"{name} is missing"))
        .when(code == _NOT_NUMBER).then(pl.format(f"{name} {{}} is not a number", shown))
        .when(code == _NOT_FINITE).then(pl.format(f"{name} {{}} is not finite", shown))
        .when(code == _NEGATIVE).then(pl.format(f"{name} {{}} is negative", shown))
        .when(code == _NOT_WHOLE).then(pl.format(f"{name} {{}} is not a whole number", shown))
        .when(code == _OUT_OF_RANGE).then(pl.format(f"{name} {{}} is out of range", shown))
        .when(code == _NOT_TIME).then(
            pl.format(f"{name} {{}} is not an ISO-8601 time or epoch milliseconds", shown)
        )
    )


def _rejections(frame: pl.DataFrame, reason: str = "reason") -> list[Rejection]:
    rows, reasons = frame[ROW].to_list(), frame[reason].to_list()
    if LINE not in frame.columns:
        return [Rejection(r, m) for r, m in zip(rows, reasons)]
    return [Rejection(r, m, ln) for r, m, ln in zip(rows, reasons, frame[LINE].to_list())]


def normalize(
    raw: pl.DataFrame, first_row: int = 1, rows: pl.Series | None = None
) -> tuple[pl.DataFrame, list[Rejection]]:
    """Turn a raw chunk (CSV strings or native Parquet types) into canonical ticks.

    Returns the good rows (canonical columns plus ``row``) and one :class:`Rejection`
    per bad row, with every problem of the row in its reason. ``first_row`` is the
    number of the chunk's first row, so rows are numbered across a chunked file.
    A required column that is absent counts as missing in every row (callers that
    read files check columns up front, see ``replay.read_tick_file``). CSV chunks carry
    ``line`` (kept on the good rows too, for the gate's reports) and ``problem`` (a line
    the reader could not split: rejected for that reason alone). ``rows`` numbers the
    rows explicitly instead, for a chunk that holds only some of a file's rows (one
    partition of a distributed backtest), so reports still name the file's rows.
    """
    if raw.height == 0:
        return _empty_normalized(), []
    src = raw.with_columns(
        [pl.lit(None, pl.Null).alias(c) for c in TICK_SCHEMA if c not in raw.columns]
    ).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).add(first_row).alias(ROW)
        if rows is None
        else pl.lit(rows.cast(pl.Int64)).alias(ROW)
    )
    schema = src.schema
    src = src.with_columns(
        _trim(c) for c in TICK_SCHEMA if _is_textual(c, schema[c]) and not (c == "symbol" and _trimmed(src[c]))
    )
    schema = src.schema

    steps: dict[str, _Steps] = {}
    for name in TICK_SCHEMA:  # column order, so a row's problems read left to right
        dtype = schema[name]
        if name == "ts":
            steps[name] = _ts_steps(dtype)
        elif name == "symbol":
            steps[name] = _symbol_steps(dtype)
        elif TICK_SCHEMA[name] == pl.Float64:
            step = _float_steps(name, dtype)
            if name != "price":  # a quote is optional: absent is fine, garbage is not
                code = pl.when(step.code == _MISSING).then(_ok()).otherwise(step.code)
                step = _Steps(step.casts, step.value, code)
            steps[name] = step
        else:
            steps[name] = _int_steps(name, dtype)

    work = src.with_columns(e for s in steps.values() for e in s.casts)
    if "_i_ts" in work.columns:
        work = _with_iso_ts(work)
    work = work.with_columns(s.value.alias(f"_v_{n}") for n, s in steps.items())
    unsplit = [pl.col(PROBLEM).is_not_null()] if PROBLEM in raw.columns else []
    parsed = work.with_columns(s.code.alias(f"_c_{n}") for n, s in steps.items()).with_columns(
        pl.any_horizontal([pl.col(f"_c_{n}") != _OK for n in steps] + unsplit).alias("_bad")
    )
    carried = [ROW, LINE] if LINE in raw.columns else [ROW]

    good = parsed.filter(~pl.col("_bad")).select(
        *[pl.col(f"_v_{name}").cast(dtype).alias(name) for name, dtype in TICK_SCHEMA.items()],
        *carried,
    )
    bad = parsed.filter(pl.col("_bad"))
    if bad.height == 0:
        return good, []
    reason = pl.concat_str(
        [_message(n, pl.col(f"_c_{n}")) for n in steps], separator="; ", ignore_nulls=True
    )
    if unsplit:
        reason = pl.coalesce(pl.col(PROBLEM), reason)
    reasons = bad.select(*carried, reason.alias("reason"))
    return good, _rejections(reasons)


# --------------------------------------------------------------------------- the gate


@dataclass(frozen=True)
class GateResult:
    """What the gate let through (canonical columns, arrival order) and what it did not."""

    accepted: pl.DataFrame
    rejections: list[Rejection]
    unknown_symbols: int
    unknown_symbol_names: frozenset[str]


class TickGate:
    """Per-run ordering filter: a tick older than its symbol's last accepted tick is rejected.

    The rule is 'ts >= max ts of earlier *accepted* ticks', which sounds sequential but
    is not: a rejected tick is by definition below the running maximum, so it never
    raises it, and the max over accepted ticks equals the running max over all ticks.
    That makes the gate one ``cum_max`` per symbol, seeded with the carried marks.

    Ticks of undeclared symbols are ignored and counted, not rejected: a feed may carry
    more symbols than the config watches, and that is not a data error.
    """

    def __init__(self, symbols: Iterable[str]) -> None:
        self._symbols: frozenset[str] = frozenset(symbols)
        self._marks: dict[str, int] = {}  # symbol -> last accepted ts (epoch ms)
        self._arrivals = 0

    @property
    def symbols(self) -> frozenset[str]:
        return self._symbols

    def marks(self) -> dict[str, datetime]:
        """Last accepted ts per symbol, for engine-state snapshots."""
        return {symbol: from_epoch_ms(ms) for symbol, ms in self._marks.items()}

    def restore_marks(self, marks: dict[str, datetime]) -> None:
        """Resume ordering checks after a restart from a snapshot."""
        self._marks.update((symbol, to_epoch_ms(ts)) for symbol, ts in marks.items())

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """Replace the watched symbols (hot reload); marks are kept so order still holds."""
        self._symbols = frozenset(symbols)

    def admit(self, ticks: pl.DataFrame) -> GateResult:
        """Filter one batch of normalized ticks; state carries to the next call.

        Rows are reported by their ``row`` column when present (replay files), else by
        arrival number in this gate (live feeds).
        """
        n = ticks.height
        if n > 0:
            fast = self._admit_in_order(ticks) if n <= GATE_ROWS_IN_PYTHON else self._admit_in_time_order(ticks)
            if fast is not None:
                self._arrivals += n
                return fast
        frame = _conform(ticks, self._arrivals)
        self._arrivals += n
        if n == 0:
            return GateResult(empty_ticks(), [], 0, frozenset())

        is_known = pl.col("symbol").is_in(list(self._symbols))
        unknown = frame.filter(~is_known)["symbol"]
        known = frame.filter(is_known)

        carried = pl.DataFrame(
            {"symbol": list(self._marks), "_carried": list(self._marks.values())},
            schema={"symbol": pl.String, "_carried": pl.Int64},
        ).with_columns(pl.col("_carried").cast(TS_DTYPE))
        judged = known.join(carried, on="symbol", how="left", maintain_order="left").with_columns(
            pl.max_horizontal(
                pl.col("ts").cum_max().shift(1).over("symbol"), pl.col("_carried")
            ).alias("_floor")
        ).with_columns(
            (pl.col("_floor").is_null() | (pl.col("ts") >= pl.col("_floor"))).alias("_ok")
        )
        for symbol, last in (
            judged.group_by("symbol")
            .agg(pl.max_horizontal(pl.col("ts").max(), pl.col("_carried").first()).alias("m"))
            .iter_rows()
        ):
            if last is not None:
                self._marks[symbol] = to_epoch_ms(last)

        accepted = judged.filter(pl.col("_ok")).select(list(TICK_SCHEMA))
        late = judged.filter(~pl.col("_ok"))
        rejections: list[Rejection] = []
        if late.height:
            rejections = _rejections(
                late.select(
                    ROW,
                    *([LINE] if LINE in late.columns else []),
                    pl.format(
                        "ts {} is earlier than the previous accepted {} tick ({})",
                        iso_ms_expr("ts"),
                        pl.col("symbol"),
                        iso_ms_expr("_floor"),
                    ).alias("reason"),
                )
            )
        return GateResult(
            accepted, rejections, unknown.len(), frozenset(unknown.unique().to_list())
        )

    def _admit_in_time_order(self, ticks: pl.DataFrame) -> GateResult | None:
        """A file's chunk, as tick files are usually written: canonical, of watched symbols
        only, and in time order across all symbols, starting no earlier than any of its
        symbols' marks. No tick of it can then be late, so all of it is accepted as it is,
        with one pass over ``ts`` and one small group-by where the full path joins, ranks
        and filters (a fifth of a CSV backtest's reading). None (nothing changed) when
        anything is to be rejected, reported or converted, for the full path to say so.
        """
        ts_col = _canonical_ts(ticks)
        if ts_col is None or ticks.get_column("symbol").null_count():
            return None
        stamps = ts_col.to_numpy().view(np.int64)
        if bool((stamps[1:] < stamps[:-1]).any()):
            return None
        last = ticks.group_by("symbol").agg(pl.col("ts").max().dt.epoch("ms"))
        symbols, highs = last.get_column("symbol").to_list(), last.get_column("ts").to_list()
        watched, marks = self._symbols, self._marks
        first = int(stamps[0])
        for symbol in symbols:
            if symbol not in watched:
                return None
            floor = marks.get(symbol)
            if floor is not None and first < floor:
                return None
        marks.update(zip(symbols, highs))
        accepted = ticks if ticks.columns == _TICK_COLUMNS else ticks.select(_TICK_COLUMNS)
        return GateResult(accepted, [], 0, frozenset())

    def _admit_in_order(self, ticks: pl.DataFrame) -> GateResult | None:
        """The usual live batch, judged row by row: every tick canonical, of a watched symbol and
        in order. Then all of it is accepted as it is; None (nothing changed) when anything
        is to be rejected, reported or converted, for the full path to say so.
        """
        ts_col = _canonical_ts(ticks)
        if ts_col is None:
            return None
        symbols = ticks.get_column("symbol").to_list()
        stamps = ts_col.to_numpy().view(np.int64).tolist()
        watched, marks = self._symbols, self._marks
        last: dict[str, int] = {}
        for symbol, ts in zip(symbols, stamps):
            floor = last.get(symbol)
            if floor is None:
                if symbol not in watched:
                    return None
                floor = marks.get(symbol)
            if floor is not None and ts < floor:
                return None
            last[symbol] = ts
        marks.update(last)
        accepted = ticks if ticks.columns == _TICK_COLUMNS else pl.DataFrame([ticks.get_column(c) for c in TICK_SCHEMA])
        return GateResult(accepted, [], 0, frozenset())


def _canonical_ts(ticks: pl.DataFrame) -> pl.Series | None:
    """The ``ts`` column of a frame the fast paths may take as it is (every column of the
    canonical dtype, no missing time); None sends the frame down the full path."""
    columns = ticks.schema
    if any(columns.get(c) != dtype for c, dtype in TICK_SCHEMA.items()):
        return None
    ts_col = ticks.get_column("ts")
    return None if ts_col.null_count() else ts_col


def _conform(ticks: pl.DataFrame, arrivals: int) -> pl.DataFrame:
    """Canonical columns (absent optional ones as null) plus ``row`` (and ``line``) for reports."""
    cols = ticks.columns
    exprs = [
        (pl.col(c) if c in cols else pl.lit(None)).cast(dtype).alias(c)
        for c, dtype in TICK_SCHEMA.items()
    ]
    row = (
        pl.col(ROW).cast(pl.Int64)
        if ROW in cols
        else pl.int_range(pl.len(), dtype=pl.Int64).add(arrivals + 1)
    )
    line = [pl.col(LINE).cast(pl.Int64)] if LINE in cols else []
    return ticks.select(*exprs, row.alias(ROW), *line)


# --------------------------------------------------------------------------- reporting


def format_rejections(
    rejections: Sequence[Rejection], limit: int = 5, total: int | None = None
) -> list[str]:
    """The first ``limit`` rejections by row, then one summary line for the rest.

    ``total`` is the true count when the caller kept only some of the rejections
    (a 10M-row file of garbage must not hold 10M messages in memory).
    """
    shown = sorted(rejections)[: max(limit, 0)]
    lines = [str(r) for r in shown]
    total = max(len(rejections), total if total is not None else 0)
    more = total - len(shown)
    if more > 0:
        lines.append(f"... and {more} more rejected row{'' if more == 1 else 's'}")
    return lines

"""Turning logged alerts into what ``tradeassist alerts`` prints; no I/O here.

Kept pure (text in, text out) so the CLI stays a thin shell and the output format,
which scripts and CI pipelines parse, is pinned by plain unit tests.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, BinaryIO

import polars as pl

from ..config.durations import parse_duration
from ..timefmt import as_utc, iso_ms, iso_ms_expr, parse_iso

# JSON keys in print order: the contract's keys first, the rest after.
_JSON_KEYS = (
    "rule_id", "symbol", "ts", "value", "threshold", "condition", "type", "severity",
    "message", "delivery_status", "alert_id", "rule_name", "price", "volume",
    "prev_value", "evaluated_at", "bar_start", "values",
)  # fmt: skip
_REQUIRED = ("rule_id", "symbol", "ts", "value", "threshold")
_TIME_KEYS = frozenset({"ts", "evaluated_at", "bar_start"})

# (header, column, right-aligned) of the table, in order.
_TABLE = (
    ("ts", "ts", False),
    ("rule_id", "rule_id", False),
    ("symbol", "symbol", False),
    ("type", "type", False),
    ("condition", "condition", False),
    ("value", "value", True),
    ("threshold", "threshold", True),
    ("severity", "severity", False),
    ("delivery", "delivery_status", False),
    ("message", "message", False),
)


def parse_since(text: str, now: datetime) -> datetime:
    """Parse ``--since`` / ``--until``: ISO-8601 date or datetime, or a duration back from now.

    ``15m``, ``2h``, ``1d``, ``1h30m`` mean ``now`` minus that long. A date or a
    datetime without offset is UTC. Returns aware UTC; ``ValueError`` names the input.
    """
    s = text.strip()
    try:
        return as_utc(now) - parse_duration(s)
    except ValueError:
        pass
    try:
        return parse_iso(s)
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use ISO-8601 (2026-01-05, 2026-01-05T14:30:00Z) "
            "or a duration back from now (15m, 2h, 1d)"
        ) from None


def _json_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in _TIME_KEYS:
        return iso_ms(value)
    if key == "values" and isinstance(value, str):
        try:
            return [None if v is None or not math.isfinite(v) else v for v in json.loads(value)]
        except (ValueError, TypeError):
            return None
    if key == "delivery_status":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/inf are not JSON; an undefined value reads as null
    return value


def jsonl_columns(columns: Iterable[str]) -> list[str]:
    """Of a frame's ``columns``, the ones its JSONL writes: an alert frame still to be built
    (a backtest batch) then never has its ``inputs`` JSON made, a third of its building."""
    present = set(columns)
    return [k for k in _JSON_KEYS if k in present]


def _check_columns(df: pl.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"alerts frame lacks column(s): {', '.join(missing)}")


def _row_lines(df: pl.DataFrame, keys: list[str]) -> Iterator[str]:
    """The per-row spelling: for frames whose JSON-text columns do not decode column-wise."""
    for row in df.select(keys).iter_rows(named=True):
        yield json.dumps({k: _json_value(k, row[k]) for k in keys}, allow_nan=False)


def _column_exprs(df: pl.DataFrame, keys: list[str]) -> list[pl.Expr] | None:
    """One expression per key giving its JSON value, or None when a column needs the
    per-row path (a delivery status is free-form JSON text from the log)."""
    exprs: list[pl.Expr] = []
    for k in keys:
        dtype = df.schema[k]
        if k in _TIME_KEYS:
            if not isinstance(dtype, pl.Datetime):
                return None  # epoch ms or text: iso_ms per row spells them
            col = pl.col(k) if dtype.time_zone else pl.col(k).dt.replace_time_zone("UTC")  # naive is UTC
            exprs.append(_once_if_constant(df, k, iso_ms_expr(col).alias(k)))
        elif k == "values" and dtype == pl.String:
            exprs.append(pl.col(k).str.json_decode(pl.List(pl.Float64)).alias(k))
        elif k == "delivery_status" or dtype == pl.Object:
            return None
        else:
            exprs.append(pl.col(k))  # polars writes NaN and inf as null, as _json_value does
    return exprs


def _once_if_constant(df: pl.DataFrame, key: str, spelled: pl.Expr) -> pl.Expr:
    """``spelled``, or its text of the first row when every row holds that same instant (a
    backtest batch's ``evaluated_at``): formatting a time costs some 150 ns a row."""
    column = df[key]
    if df.height > 1 and column.null_count() == 0 and column.min() == column.max():
        return pl.lit(df.head(1).select(spelled).item(), pl.String).alias(key)
    return spelled


def escape_line_breaks(text: bytes) -> bytes:
    """``text`` (UTF-8 JSON) with U+0085, U+2028 and U+2029 escaped as json.dumps does: a
    reader's str.splitlines() breaks lines at these too, and polars writes them raw.

    All three are non-ASCII, so ASCII text (a backtest's usual output) is returned as it
    is after one quick pass; each replace is a search of its own, three times slower.
    """
    if text.isascii():
        return text
    return text.replace(b"\xc2\x85", b"\\u0085").replace(b"\xe2\x80\xa8", b"\\u2028") \
        .replace(b"\xe2\x80\xa9", b"\\u2029")


#: Rows whose JSON lines are encoded at a time. A backtest batch at 10,000 rules holds some
#: 80,000 alerts; its text whole (about 50 MB, copied out of the buffer polars wrote it to)
#: added a sixth to the run's peak memory, a slice of this many rows a few MB.
JSONL_ROWS_PER_PART = 16_384


def jsonl_parts(df: pl.DataFrame) -> Iterator[bytes]:
    """The JSONL of ``df`` (one object per alert, each line ending in a newline) in pieces
    of whole lines, built column-wise: a backtest writes hundreds of thousands of alerts,
    and a dict plus a ``json.dumps`` per row was most of its run time.  Same keys, order and
    values as :func:`format_jsonl`."""
    _check_columns(df)
    if df.height == 0:
        return
    keys = [k for k in _JSON_KEYS if k in df.columns]
    exprs = _column_exprs(df, keys)
    if exprs is not None:
        try:
            frame = df.select(exprs)
        except pl.exceptions.PolarsError:  # a values text that is not plain JSON numbers
            frame = None
        if frame is not None:
            for start in range(0, frame.height, JSONL_ROWS_PER_PART):
                buf = io.BytesIO()
                frame.slice(start, JSONL_ROWS_PER_PART).write_ndjson(buf)
                yield escape_line_breaks(buf.getvalue())
            return
    yield "".join(line + "\n" for line in _row_lines(df, keys)).encode()


def jsonl_text(df: pl.DataFrame) -> bytes:
    """The JSONL of ``df`` as one text (see :func:`jsonl_parts`)."""
    return b"".join(jsonl_parts(df))


def write_jsonl(out: BinaryIO, df: pl.DataFrame) -> None:
    """Write the JSONL of ``df`` to ``out`` a piece at a time, never the whole text at once."""
    for part in jsonl_parts(df):
        out.write(part)


def format_jsonl(df: pl.DataFrame) -> Iterator[str]:
    """One JSON object per alert (no newline), in the frame's order.

    Keys: ``rule_id, symbol, ts, value, threshold`` always; ``condition, type,
    severity, message, delivery_status`` and the other alert columns when present.
    ``ts`` is ``2026-01-05T14:30:00.125Z``; ``delivery_status`` is an object.
    """
    yield from jsonl_text(df).decode().splitlines()


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _delivery(value: str | Mapping[str, Any] | None) -> str:
    """``slack:sent desktop:failed``: one glance tells whether people were told."""
    if value is None:
        return "-"
    try:
        status = json.loads(value) if isinstance(value, str) else dict(value)
    except ValueError:
        return str(value)
    if not isinstance(status, dict) or not status:
        return "-"
    parts = []
    for channel in sorted(status):
        entry = status[channel]
        state = entry.get("status", "?") if isinstance(entry, dict) else str(entry)
        parts.append(f"{channel}:{state}")
    return " ".join(parts)


def _cell(column: str, value: Any, max_message: int) -> str:
    if column == "ts":
        return iso_ms(value) if value is not None else "-"
    if column in ("value", "threshold"):
        return _number(value)
    if column == "delivery_status":
        return _delivery(value)
    text = "-" if value is None else " ".join(str(value).split())  # one line per alert
    if column == "message" and len(text) > max_message:
        text = text[: max_message - 1] + "…"
    return text


def format_table(df: pl.DataFrame, *, max_message: int = 60) -> str:
    """A fixed-width table for people: one line per alert, columns padded to fit.

    Numbers are right-aligned with up to 4 decimals; long messages are cut to
    ``max_message`` characters. An empty frame gives ``no alerts``.
    """
    _check_columns(df)
    if df.height == 0:
        return "no alerts"
    columns = [(h, c, right) for h, c, right in _TABLE if c in df.columns]
    rows = [
        [_cell(c, row[c], max_message) for _, c, _ in columns]
        for row in df.select([c for _, c, _ in columns]).iter_rows(named=True)
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (h, _, _) in enumerate(columns)]

    def line(cells: list[str]) -> str:
        padded = (
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w, (_, _, right) in zip(cells, widths, columns)
        )
        return "  ".join(padded).rstrip()

    header = line([h for h, _, _ in columns])
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([header, rule, *(line(r) for r in rows)])

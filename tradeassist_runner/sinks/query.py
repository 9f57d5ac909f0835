"""Turning logged alerts into what ``tradeassist alerts`` prints; no I/O here.

Kept pure (text in, text out) so the CLI stays a thin shell and the output format,
which scripts and CI pipelines parse, is pinned by plain unit tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from ..config.durations import parse_duration
from ..timefmt import as_utc, iso_ms, parse_iso

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


def _check_columns(df: pl.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"alerts frame lacks column(s): {', '.join(missing)}")


def format_jsonl(df: pl.DataFrame) -> Iterator[str]:
    """One JSON object per alert (no newline), in the frame's order.

    Keys: ``rule_id, symbol, ts, value, threshold`` always; ``condition, type,
    severity, message, delivery_status`` and the other alert columns when present.
    ``ts`` is ``2026-01-05T14:30:00.125Z``; ``delivery_status`` is an object.
    """
    _check_columns(df)
    keys = [k for k in _JSON_KEYS if k in df.columns]
    for row in df.select(keys).iter_rows(named=True):
        yield json.dumps({k: _json_value(k, row[k]) for k in keys}, allow_nan=False)


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

"""The one timestamp spelling users see: ISO-8601 UTC, milliseconds, ``Z``.

``2026-01-05T14:30:00.125Z`` is what the CLI prints, what tick CSVs accept and what the
alert log stores as text. Keeping the scalar and the polars-expression forms side by
side means a row written by SQLite and a line printed by the CLI can never disagree.
Naive datetimes are taken as UTC, because every time in the runner is UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the scalar forms are used by commands that never touch a frame (validate)
    import polars as pl

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# chrono's format; ``%.3f`` prints the dot and exactly three digits.
POLARS_ISO_MS = "%Y-%m-%dT%H:%M:%S%.3fZ"


def as_utc(value: datetime) -> datetime:
    """Return an aware UTC datetime; naive input is UTC by convention, not local time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def to_epoch_ms(value: datetime) -> int:
    """Whole epoch milliseconds, floored, like the engine's ``Datetime("ms")``."""
    delta = as_utc(value) - _EPOCH
    return delta // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    """Aware UTC datetime for epoch milliseconds (negative values allowed)."""
    return _EPOCH + timedelta(milliseconds=int(ms))


def iso_ms(value: datetime | int) -> str:
    """Format a datetime or epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    Sub-millisecond digits are dropped (floored) so the text matches the stored epoch ms.
    """
    if isinstance(value, bool):  # bool is an int; a True timestamp is a bug upstream
        raise TypeError("iso_ms() needs a datetime or epoch milliseconds, not a bool")
    if isinstance(value, int):
        dt = from_epoch_ms(value)
    elif isinstance(value, datetime):
        dt = as_utc(value)
    else:
        raise TypeError(f"iso_ms() needs a datetime or epoch milliseconds, not {type(value).__name__}")
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


def iso_ms_expr(column: str | pl.Expr) -> pl.Expr:
    """The vectorised twin of :func:`iso_ms` for a UTC ``Datetime`` column."""
    import polars as pl

    expr = pl.col(column) if isinstance(column, str) else column
    return expr.dt.convert_time_zone("UTC").dt.strftime(POLARS_ISO_MS)


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 date or datetime (``Z`` or offset) into aware UTC.

    A bare date means midnight UTC of that day. Raises ``ValueError`` with the input
    quoted so a CLI can show it as is.
    """
    s = text.strip()
    try:
        if len(s) == 10 and s[4:5] == "-":
            d = date.fromisoformat(s)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        return as_utc(datetime.fromisoformat(s))
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use ISO-8601, e.g. 2026-01-05 or 2026-01-05T14:30:00.125Z"
        ) from None

"""Pixel columns: a series of any length reduced to what a chart of fixed width can show.

Time is cut into at most ``columns`` equal columns and each column keeps four points of
the series: its first, lowest, highest and last (the "M4" reduction).  Drawn as a line,
those four points give exactly the pixels the full series would, so a 10-million-tick
day draws as sharply as its raw ticks while the chart holds a few thousand points.  The
same four numbers are a column's open, low, high and close, so candles come from the
same reduction (with columns a whole number of bars wide).

Memory is bounded while the series streams in: columns start one ``base_ms`` wide and
double in width whenever the time covered would need more than ``columns`` of them;
columns are aligned to multiples of their width from the epoch, so doubling merges
neighbours exactly (first of firsts, lowest of lows, ...) and the result does not depend
on how the series was cut into batches.

Undefined values (NaN) never become points; a column holding only undefined values
breaks the line there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_BIG = np.iinfo(np.int64).max
_SMALL = np.iinfo(np.int64).min


@dataclass
class _Parts:
    """Partial aggregates, one row per column (or per sample, before combining)."""

    key: I64
    first_t: I64  # _BIG where the row has no defined value
    first_y: F64
    last_t: I64  # _SMALL where none
    last_y: F64
    min_t: I64
    min_y: F64  # +inf where none
    max_t: I64
    max_y: F64  # -inf where none
    defined: I64  # how many defined values
    undefined: I64

    @classmethod
    def empty(cls) -> _Parts:
        i, f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return cls(i, i, f, i, f, i, f, i, f, i, i)

    @classmethod
    def of_samples(cls, key: I64, t: I64, y: F64) -> _Parts:
        ok = ~np.isnan(y)
        return cls(
            key=key,
            first_t=np.where(ok, t, _BIG), first_y=y,
            last_t=np.where(ok, t, _SMALL), last_y=y,
            min_t=t, min_y=np.where(ok, y, np.inf),
            max_t=t, max_y=np.where(ok, y, -np.inf),
            defined=ok.astype(np.int64), undefined=(~ok).astype(np.int64),
        )

    def concat(self, other: _Parts) -> _Parts:
        return _Parts(*(np.concatenate((a, b)) for a, b in zip(self._fields(), other._fields())))

    def take(self, order: I64) -> _Parts:
        return _Parts(*(a[order] for a in self._fields()))

    def _fields(self) -> tuple[Any, ...]:
        return (self.key, self.first_t, self.first_y, self.last_t, self.last_y, self.min_t, self.min_y,
                self.max_t, self.max_y, self.defined, self.undefined)

    def __len__(self) -> int:
        return len(self.key)


def _first_hit(starts: I64, n: int, hit: npt.NDArray[np.bool_]) -> I64:
    """Per group (rows ``starts[g]`` .. next start), the first row where ``hit``; every
    group must have one."""
    return np.minimum.reduceat(np.where(hit, np.arange(n), n), starts)


def _last_hit(starts: I64, n: int, hit: npt.NDArray[np.bool_]) -> I64:
    return np.maximum.reduceat(np.where(hit, np.arange(n), -1), starts)


def _combine(parts: _Parts) -> _Parts:
    """One row per key: rows are sorted by key (stably, so ties keep arrival order) and merged."""
    if len(parts) == 0:
        return parts
    key = parts.key
    if len(key) > 1 and bool(np.any(key[1:] < key[:-1])):
        parts = parts.take(np.argsort(key, kind="stable"))
        key = parts.key
    n = len(key)
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    lengths = np.diff(np.concatenate((starts, [n])))
    if len(starts) == n:
        return parts

    def spread(per_group: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return np.repeat(per_group, lengths)

    first_t = np.minimum.reduceat(parts.first_t, starts)
    i_first = _first_hit(starts, n, parts.first_t == spread(first_t))
    last_t = np.maximum.reduceat(parts.last_t, starts)
    i_last = _last_hit(starts, n, parts.last_t == spread(last_t))
    min_y = np.minimum.reduceat(parts.min_y, starts)
    i_min = _first_hit(starts, n, parts.min_y == spread(min_y))
    max_y = np.maximum.reduceat(parts.max_y, starts)
    i_max = _first_hit(starts, n, parts.max_y == spread(max_y))
    return _Parts(
        key=key[starts],
        first_t=first_t, first_y=parts.first_y[i_first],
        last_t=last_t, last_y=parts.last_y[i_last],
        min_t=parts.min_t[i_min], min_y=min_y,
        max_t=parts.max_t[i_max], max_y=max_y,
        defined=np.add.reduceat(parts.defined, starts),
        undefined=np.add.reduceat(parts.undefined, starts),
    )


class Columns:
    """A streamed (t, value) series reduced to at most ``columns`` pixel columns.

    ``base_ms``: the narrowest column (1 ms for ticks, the bar length for candles, so a
    candle is always whole bars).  Samples may arrive in any time order.
    """

    def __init__(self, columns: int, base_ms: int = 1) -> None:
        if columns < 2 or base_ms < 1:
            raise ValueError("columns must be >= 2 and base_ms >= 1")
        self.columns = columns
        self.base_ms = base_ms
        self.width = base_ms
        self.samples = 0
        self._lo: int | None = None
        self._hi: int | None = None
        self._parts = _Parts.empty()

    def add(self, t: I64, y: F64) -> None:
        t = np.asarray(t, np.int64)
        y = np.asarray(y, np.float64)
        if len(t) == 0:
            return
        self.samples += len(t)
        lo, hi = int(t.min()), int(t.max())
        self._lo = lo if self._lo is None else min(self._lo, lo)
        self._hi = hi if self._hi is None else max(self._hi, hi)
        self._widen()
        fresh = _combine(_Parts.of_samples(np.floor_divide(t, self.width), t, y))
        self._parts = _combine(self._parts.concat(fresh))

    def _widen(self) -> None:
        assert self._lo is not None and self._hi is not None
        width = self.width
        while self._hi // width - self._lo // width + 1 > self.columns:
            width *= 2
        if width != self.width:
            factor = width // self.width
            self.width = width
            if len(self._parts):
                self._parts.key = np.floor_divide(self._parts.key, factor)
                self._parts = _combine(self._parts)

    def __len__(self) -> int:
        """Columns in use (at most ``columns``)."""
        return len(self._parts)

    def line(self) -> tuple[I64, F64]:
        """Points to draw, in time order: each column's first, lowest, highest and last
        defined value (fewer when they coincide); a column of only undefined values is one
        NaN point at its start, which breaks the line."""
        p = self._parts
        has = p.defined > 0
        t = np.stack([p.first_t, p.min_t, p.max_t, p.last_t], axis=1)
        y = np.stack([p.first_y, p.min_y, p.max_y, p.last_y], axis=1)
        gap_t = p.key * self.width
        t = np.where(has[:, None], t, gap_t[:, None])
        y = np.where(has[:, None], y, np.nan)
        order = np.argsort(t, axis=1, kind="stable")
        t = np.take_along_axis(t, order, axis=1)
        y = np.take_along_axis(y, order, axis=1)
        keep = np.ones(t.shape, bool)
        keep[:, 1:] = (t[:, 1:] != t[:, :-1]) | (y[:, 1:] != y[:, :-1])
        keep[~has, 1:] = False
        return t[keep].astype(np.int64), y[keep].astype(np.float64)

    def candles(self) -> Candles:
        """Each column with a defined value as one candle: open = first, high, low, close = last."""
        p = self._parts
        has = p.defined > 0
        return Candles(
            start=(p.key[has] * self.width).astype(np.int64), width_ms=self.width,
            open=p.first_y[has], high=p.max_y[has], low=p.min_y[has], close=p.last_y[has],
        )

    def time_span(self) -> tuple[int, int] | None:
        """Earliest and latest sample time seen (epoch ms), or None before any sample."""
        if self._lo is None or self._hi is None:
            return None
        return self._lo, self._hi

    def extent(self) -> tuple[float, float] | None:
        """Lowest and highest defined value, or None."""
        p = self._parts
        has = p.defined > 0
        if not has.any():
            return None
        return float(p.min_y[has].min()), float(p.max_y[has].max())


@dataclass(frozen=True)
class Candles:
    start: I64  # epoch ms of each candle's first instant
    width_ms: int
    open: F64
    high: F64
    low: F64
    close: F64

    def __len__(self) -> int:
        return len(self.start)

"""Samples, built once per source and shared by every series on it.

A source is the ticks of one symbol, its closed time bars of one length, or the merged
ticks of two symbols (a spread).  Besides the samples, each source tells for every
sample the batch row it is evaluated at and ``K``, the number of earlier samples with
the same ``ts`` (the ``#K`` of the alert id), both carried across batches so neither
depends on where a stream was cut.

Carried state is plain JSON (see ``rules/seam.State``):
``{"bar": [k, open, high, low, close, volume_sum, has_volume] | None,
"same": [[ts, n], ...], "latest": [ts | None, ...]}``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..rules.seam import F64, I64, Samples
from .plan import SourceSpec

#: Without a tick of every symbol of a two-symbol source, equal-ts counts cannot be pruned
#: exactly (the missing symbol's first tick may have any ts); beyond this many distinct
#: timestamps the oldest are dropped.
MAX_SAME_TS = 100_000
#: Up to this many samples, a source's equal-ts counts are found in plain Python: a live
#: batch of a hundred to a thousand ticks over a dozen symbols gives each source from a
#: handful to about eighty, for which a dozen small numpy calls cost more than the loop.
FEW = 96
#: From this many ticks on, a batch's rows are grouped by symbol with one stable sort,
#: which every one-symbol source then slices: a comparison and a ``flatnonzero`` over
#: the whole batch per source cost about twice as much on a dozen symbols.
GROUP_ROWS = 1024


@dataclass(frozen=True)
class Ticks:
    """One batch of accepted ticks of the plan's symbols, in arrival order."""

    ts: I64
    sym: I64  # position in Plan.symbol_list
    price: F64
    volume: F64  # NaN where null

    def rows_of(self, code: int) -> I64:
        """The rows of the ticks of symbol ``code``, ascending."""
        if len(self.sym) < GROUP_ROWS:
            return np.flatnonzero(self.sym == code)
        order, sorted_sym = self._by_symbol
        lo, hi = np.searchsorted(sorted_sym, (code, code + 1)).tolist()
        out: I64 = order[lo:hi]
        return out

    @cached_property
    def _by_symbol(self) -> tuple[I64, I64]:
        """The rows ordered by symbol (a stable sort: ascending within one), and their
        symbols in that order."""
        sym = self.sym
        # codes (-1 and up) as 16-bit numbers sort by radix, one pass per byte
        order = np.argsort(sym.astype(np.int16) if int(sym.max()) < 2**15 else sym, kind="stable")
        return order, sym[order]


@dataclass(frozen=True)
class SourceBatch:
    samples: Samples
    row: I64  # batch row of the tick each sample is evaluated at
    #: K per sample; None: samples in ``ts`` order, whose K is found where it is read
    #: (``k_at``: a batch reads it at its fires only)
    counted: I64 | None
    #: The rule instrument's own latest price at each sample (a spread's sample may be a
    #: tick of the other symbol; the alert still shows the instrument's price). NaN: none yet.
    own_price: F64
    base: int = 0  # with ``counted`` None: the carried count at the first ``ts``

    @cached_property
    def k(self) -> I64:
        """K of every sample."""
        if self.counted is not None:
            return self.counted
        return self.k_at(np.arange(len(self.samples), dtype=np.int64))

    def k_at(self, s: I64) -> I64:
        """K of the samples at ``s``: in ``ts`` order, the samples before ``s`` at its
        ``ts`` (one binary search for the first of them), plus the carried count at the
        first ``ts``."""
        if self.counted is not None:
            out: I64 = self.counted[s]
            return out
        ts = self.samples.ts
        at = ts[s]
        k: I64 = s - np.searchsorted(ts, at)
        if self.base:
            k = k + np.where(at == ts[0], self.base, 0)
        return k


def build_source(
    spec: SourceSpec, codes: tuple[int, ...], ticks: Ticks, state: dict[str, Any] | None
) -> tuple[SourceBatch, dict[str, Any]]:
    """The source's samples in this batch (``codes``: its symbols' codes, in order)."""
    state = state or {"bar": None, "same": [], "latest": [None] * len(codes)}
    if len(codes) == 1:
        rows = ticks.rows_of(codes[0])
        source = np.zeros(len(rows), np.int64)
    else:
        mine = np.isin(ticks.sym, np.asarray(codes, np.int64))
        rows = np.flatnonzero(mine)
        source = (ticks.sym[rows] == codes[1]).astype(np.int64)
    latest = list(state["latest"])
    if len(codes) == 1:
        if len(rows):
            latest[0] = int(ticks.ts[rows[-1]])
    else:
        for i in range(len(codes)):
            of_i = rows[source == i]
            if len(of_i):
                latest[i] = int(ticks.ts[of_i[-1]])
    bar = state["bar"]
    if spec.bar_ms is None:
        ts = ticks.ts[rows]
        price = ticks.price[rows]
        samples = Samples(ts, price, price, price, ticks.volume[rows], ts, source)
        at = rows
    else:
        samples, at, bar = _bars(spec.bar_ms, ticks, rows, bar)
    counted: I64 | None = None
    sorted_counts = _sorted_counts(samples.ts, state["same"], latest)
    if sorted_counts is None:
        counted, same = _same_ts(samples.ts, state["same"], latest)
        base = 0
    else:
        base, same = sorted_counts
    own_price = samples.price
    own_last = state.get("own")
    if len(codes) > 1:
        mine_now = samples.source == 0
        idx = np.where(mine_now, np.arange(len(samples)), -1)
        last_idx = np.maximum.accumulate(idx) if len(idx) else idx
        carried = np.nan if own_last is None else float(own_last)
        own_price = np.where(last_idx >= 0, samples.price[np.maximum(last_idx, 0)], carried)
        if mine_now.any():
            own_last = float(samples.price[np.flatnonzero(mine_now)[-1]])
    out_state = {"bar": bar, "same": same, "latest": latest}
    if own_last is not None:
        out_state["own"] = own_last
    return SourceBatch(samples, at.astype(np.int64), counted, own_price, base), out_state


def _bars(
    d: int, ticks: Ticks, rows: I64, bar: list[Any] | None
) -> tuple[Samples, I64, list[Any] | None]:
    """Closed bars: a bar closes at the first tick of a later bar (its evaluation tick)."""
    empty = np.zeros(0, np.int64), np.zeros(0, np.float64)
    if len(rows) == 0:
        z, f = empty
        return Samples(z, f, f, f, f, z, z), z, bar
    ts = ticks.ts[rows]
    price = ticks.price[rows]
    vol = ticks.volume[rows]
    k = np.floor_divide(ts, d)
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    has_v = ~np.isnan(vol)
    g_k = k[starts]
    g_open = price[starts]
    g_close = price[np.concatenate((starts[1:], [len(ts)])) - 1]
    g_high = np.maximum.reduceat(price, starts)
    g_low = np.minimum.reduceat(price, starts)
    g_vol = np.add.reduceat(np.where(has_v, vol, 0.0), starts)
    g_hasv = np.logical_or.reduceat(has_v, starts)
    close_at = [starts[1:]]  # group g (but the last) closes at the first tick of group g+1
    closed = np.arange(len(starts) - 1)
    c_k, c_open, c_high, c_low, c_close = g_k[closed], g_open[closed], g_high[closed], g_low[closed], g_close[closed]
    c_vol, c_hasv = g_vol[closed], g_hasv[closed]
    if bar is not None:
        bk, bo, bh, bl, bc, bv, bhv = bar
        if bk == g_k[0]:  # the carried open bar continues in this batch: merge into group 0
            g_open, g_high, g_low = g_open.copy(), g_high.copy(), g_low.copy()
            g_vol, g_hasv = g_vol.copy(), g_hasv.copy()
            g_open[0] = bo
            g_high[0] = max(float(bh), float(g_high[0]))
            g_low[0] = min(float(bl), float(g_low[0]))
            g_vol[0] = float(bv) + float(g_vol[0])
            g_hasv[0] = bool(bhv) or bool(g_hasv[0])
            c_open, c_high, c_low = g_open[closed], g_high[closed], g_low[closed]
            c_vol, c_hasv = g_vol[closed], g_hasv[closed]
        else:  # it closes at this batch's first tick
            close_at.insert(0, np.zeros(1, np.int64))
            c_k, c_open = np.concatenate(([bk], c_k)), np.concatenate(([bo], c_open))
            c_high, c_low = np.concatenate(([bh], c_high)), np.concatenate(([bl], c_low))
            c_close, c_vol = np.concatenate(([bc], c_close)), np.concatenate(([bv], c_vol))
            c_hasv = np.concatenate(([bhv], c_hasv))
    last = len(starts) - 1
    new_bar = [int(g_k[last]), float(g_open[last]), float(g_high[last]), float(g_low[last]),
               float(g_close[last]), float(g_vol[last]), bool(g_hasv[last])]
    at_local = np.concatenate(close_at).astype(np.int64)
    t = (np.asarray(c_k, np.int64) * d).astype(np.int64)
    volume = np.where(np.asarray(c_hasv, bool), np.asarray(c_vol, np.float64), np.nan)
    samples = Samples(
        t, np.asarray(c_close, np.float64), np.asarray(c_high, np.float64), np.asarray(c_low, np.float64),
        volume, ts[at_local], np.zeros(len(t), np.int64),
    )
    return samples, rows[at_local], new_bar


#: At most this many samples at or after the oldest latest ``ts`` are counted in Python
#: (``_sorted_counts``); past it the arrays count every sample.
TAIL_COUNTS = 256


def _sorted_counts(ts: I64, carried: list[list[int]], latest: list[int | None]) -> tuple[int, list[list[int]]] | None:
    """For many samples in ``ts`` order that none of the carried counts follows, with the
    latest ``ts`` of every symbol known: the carried count at the first ``ts`` and the
    counts later samples need (``_same_ts``'s), without K per sample (``SourceBatch.k_at``
    finds it where it is read).  Only the timestamps at or after the oldest latest one are
    carried, and those are the last few samples: they are counted in plain Python.
    None: ``_same_ts`` applies."""
    n = len(ts)
    if n <= FEW or any(x is None for x in latest) or (carried and carried[-1][0] > int(ts[0])):
        return None
    floor = min(int(x) for x in latest if x is not None)
    start = int(np.searchsorted(ts, floor))
    if n - start > TAIL_COUNTS or not bool((ts[1:] >= ts[:-1]).all()):
        return None
    first = int(ts[0])
    base = carried[-1][1] if carried and carried[-1][0] == first else 0
    older = carried[:-1] if base else carried
    items = [[int(t), int(c)] for t, c in older if t >= floor]
    tail: list[list[int]] = []
    for x in ts[start:].tolist():
        if tail and tail[-1][0] == x:
            tail[-1][1] += 1
        else:
            tail.append([x, base + 1 if x == first else 1])
    return base, items + tail


def _same_ts(ts: I64, carried: list[list[int]], latest: list[int | None]) -> tuple[I64, list[list[int]]]:
    """K per sample (earlier samples with the same ts) and the counts later samples need."""
    if 1 < len(ts) <= FEW:
        ts_list = ts.tolist()
        if (not carried or carried[-1][0] <= ts_list[0]) and all(a <= b for a, b in zip(ts_list, ts_list[1:])):
            return _same_ts_sorted(ts, carried, latest, ts_list)
    elif len(ts) and (not carried or carried[-1][0] <= ts[0]) and (len(ts) == 1 or bool((ts[1:] >= ts[:-1]).all())):
        return _same_ts_sorted(ts, carried, latest)
    c_ts = np.asarray([c[0] for c in carried], np.int64)
    c_n = np.asarray([c[1] for c in carried], np.int64)
    if len(ts) == 0:
        return np.zeros(0, np.int64), carried
    order = np.argsort(ts, kind="stable")
    sts = ts[order]
    first = np.concatenate(([True], sts[1:] != sts[:-1]))
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(sts)), 0))
    rank = np.arange(len(sts)) - group_start
    base = np.zeros(len(sts), np.int64)
    if len(c_ts):
        j = np.searchsorted(c_ts, sts)
        hit = (j < len(c_ts)) & (c_ts[np.minimum(j, len(c_ts) - 1)] == sts)
        base = np.where(hit, c_n[np.minimum(j, len(c_ts) - 1)], 0)
    k = np.empty(len(ts), np.int64)
    k[order] = rank + base
    u_ts = sts[first]
    u_n = np.diff(np.concatenate((np.flatnonzero(first), [len(sts)])))
    u_base = base[first]
    merged = dict(zip(c_ts.tolist(), c_n.tolist()))
    merged.update(zip(u_ts.tolist(), (u_base + u_n).tolist()))
    if all(x is not None for x in latest):
        floor = min(int(x) for x in latest if x is not None)
        items = sorted((t, n) for t, n in merged.items() if t >= floor)
    else:
        items = sorted(merged.items())[-MAX_SAME_TS:]
    return k, [[int(t), int(n)] for t, n in items]


def _same_ts_sorted(ts: I64, carried: list[list[int]], latest: list[int | None],
                    ts_list: list[int] | None = None) -> tuple[I64, list[list[int]]]:
    """``_same_ts`` of samples in ``ts`` order that none of the carried counts follows
    (always so for one symbol, whose ticks never go back in time): no sort, and only
    the carried count at the first ``ts`` can add to a ``K``.  ``ts_list``: ``ts`` as a
    list, for a few samples counted in plain Python."""
    n = len(ts)
    base = carried[-1][1] if carried and carried[-1][0] == int(ts[0]) else 0
    if ts_list is not None:
        k_list: list[int] = []
        u_ts: list[int] = []
        u_n: list[int] = []
        for x in ts_list:
            if u_ts and u_ts[-1] == x:
                k_list.append(u_n[-1])
                u_n[-1] += 1
            else:
                k_list.append(base if not u_ts else 0)
                u_ts.append(x)
                u_n.append(k_list[-1] + 1)
        k = np.array(k_list, np.int64)
    elif n == 1:
        k = np.asarray([base], np.int64)
        u_ts, u_n = [int(ts[0])], [base + 1]
    else:
        first = np.empty(n, np.bool_)
        first[0] = True
        np.not_equal(ts[1:], ts[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        k = np.arange(n, dtype=np.int64) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
        counts = np.diff(np.append(starts, n))
        counts[0] += base
        k[: counts[0] - base] += base
        firsts = ts[starts]
        # only the newest timestamps can be carried: the rest never reach Python lists
        keep = MAX_SAME_TS
        if all(x is not None for x in latest):
            keep = len(firsts) - int(np.searchsorted(firsts, min(int(x) for x in latest if x is not None)))
        u_ts, u_n = firsts[len(firsts) - keep:].tolist(), counts[len(counts) - keep:].tolist()
    older = carried[:-1] if base else carried
    if all(x is not None for x in latest):
        floor = min(int(x) for x in latest if x is not None)
        kept_old = [c for c in older if c[0] >= floor]
        at = bisect_left(u_ts, floor)
        u_ts, u_n = u_ts[at:], u_n[at:]
        items = [[int(t), int(c)] for t, c in kept_old] + [[t, c] for t, c in zip(u_ts, u_n)]
    else:
        items = [[int(t), int(c)] for t, c in older] + [[t, c] for t, c in zip(u_ts, u_n)]
        items = items[-MAX_SAME_TS:]
    return k, items

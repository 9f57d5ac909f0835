"""Which (rule, tick) pairs fire in one batch, from the value series and the threshold index.

Input rows are one per (value series, tick), sorted by (series code, arrival), so each
series is a contiguous segment with non-decreasing tick time (the tick gate guarantees
per-symbol order).  Work is proportional to what can fire, not to ticks x rules:

* crossings and cooldown-free level rules: each row finds its contiguous run of
  satisfied rules by binary search (``engine/index.py``); only those pairs are listed,
  then the cooldown pass (``engine/cooldown.py``) runs over them;
* level rules with a cooldown: per rule, "the first row at or after my cooldown whose
  value is beyond my threshold" is a binary-lifting descent over a sparse table of
  running maxima, so the cost is per *fire*, not per tick that satisfies the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .cooldown import resolve_cooldowns
from .index import (
    ABOVE_COOLDOWN,
    ABOVE_FREE,
    BELOW_COOLDOWN,
    BELOW_FREE,
    CROSSES_ABOVE,
    CROSSES_BELOW,
    KINDS,
    ThresholdIndex,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rows:
    """The batch's value rows, sorted by (code, arrival); NaN stands for an undefined value."""

    code: I64
    ts: I64
    value: F64
    prev: F64


def find_fires(index: ThresholdIndex, rows: Rows, last_fire: I64, has_last_fire: B) -> tuple[I64, I64]:
    """``(slot, row)`` of every fire; ``last_fire``/``has_last_fire`` are per plan-table slot."""
    n = len(rows.code)
    empty = np.zeros(0, dtype=np.int64)
    if n == 0 or len(index.slot) == 0:
        return empty, empty
    n_codes = index.n_groups // KINDS
    seg = np.searchsorted(rows.code, np.arange(n_codes + 1, dtype=np.int64), side="left")
    tmin, tmax = int(rows.ts.min()), int(rows.ts.max())
    span = tmax - tmin + 2
    time_key = rows.code * span + (rows.ts - tmin)

    def first_row_at(code: I64, not_before: I64) -> I64:
        """First row of each code's segment whose tick time is >= ``not_before``."""
        target = code * span + np.clip(not_before - tmin, 0, span - 1)
        return np.searchsorted(time_key, target, side="left").astype(np.int64)

    slots: list[I64] = []
    fire_rows: list[I64] = []

    # -- level rules with a cooldown: per-rule search -------------------------------------
    for kind, sign in ((ABOVE_COOLDOWN, 1.0), (BELOW_COOLDOWN, -1.0)):
        entries = np.flatnonzero(index.kind == kind)
        if len(entries) == 0:
            continue
        code = index.code[entries]
        end = seg[code + 1]
        start = seg[code]
        s = index.slot[entries]
        cd = index.cooldown_ms[entries]
        p = np.where(has_last_fire[s], first_row_at(code, last_fire[s] + cd), start)
        # v > t  (above)  or  -v > -t  (below): one "first row beyond" search for both.
        levels = _BlockMax(np.where(np.isnan(rows.value), -np.inf, sign * rows.value))
        t = sign * index.threshold[entries]
        # Queries still searching: int columns (slot, pointer, segment end, code, cooldown).
        ints = np.stack((s, p, end, code, cd))[:, p < end]
        t = t[p < end]
        while ints.shape[1]:
            s, p, end, code, cd = ints
            q = levels.first_beyond(p, t, end)
            hit = q < end
            slots.append(s[hit])
            fire_rows.append(q[hit])
            nxt = first_row_at(code[hit], rows.ts[q[hit]] + cd[hit])
            ints = np.stack((s[hit], nxt, end[hit], code[hit], cd[hit]))
            t = t[hit]
            live = nxt < end[hit]
            ints, t = ints[:, live], t[live]

    # -- everything else: list the satisfied (row, rule) pairs -----------------------------
    defined = ~np.isnan(rows.value)
    both = defined & ~np.isnan(rows.prev)
    # Ranks among the distinct thresholds, once per row: ``t < x`` iff rank(t) < left(x),
    # ``t <= x`` iff rank(t) < right(x).  prev is the row above within a series, so its
    # ranks are the row above's, except at the first row of each series (carried value).
    left = np.searchsorted(index.distinct, rows.value, side="left").astype(np.int64)
    right = np.searchsorted(index.distinct, rows.value, side="right").astype(np.int64)
    first = np.concatenate(([True], rows.code[1:] != rows.code[:-1]))
    prev_left, prev_right = np.empty_like(left), np.empty_like(right)
    prev_left[1:], prev_right[1:] = left[:-1], right[:-1]
    prev_left[first] = np.searchsorted(index.distinct, rows.prev[first], side="left")
    prev_right[first] = np.searchsorted(index.distinct, rows.prev[first], side="right")
    crossing: list[tuple[I64, I64]] = []
    for kind in (ABOVE_FREE, BELOW_FREE, CROSSES_ABOVE, CROSSES_BELOW):
        group = rows.code * KINDS + kind
        present = index.group_start[group + 1] > index.group_start[group]
        # A crossing needs a distinct threshold between prev and value: most ticks have none.
        if kind == CROSSES_ABOVE:
            present &= both & (prev_left < left)
        elif kind == CROSSES_BELOW:
            present &= both & (right < prev_right)
        else:
            present &= defined
        r = np.flatnonzero(present)
        if len(r) == 0:
            continue
        g = group[r]
        if kind == ABOVE_FREE:
            lo, hi = index.group_start[g], index.locate(g, left[r])
        elif kind == BELOW_FREE:
            lo, hi = index.locate(g, right[r]), index.group_start[g + 1]
        elif kind == CROSSES_ABOVE:
            lo, hi = index.locate(g, prev_left[r]), index.locate(g, left[r])
        else:
            lo, hi = index.locate(g, right[r]), index.locate(g, prev_right[r])
        pair_row, entry = _expand(r, lo, hi)
        if kind in (ABOVE_FREE, BELOW_FREE):  # cooldown 0: every satisfied tick fires
            slots.append(index.slot[entry])
            fire_rows.append(pair_row)
        else:
            crossing.append((pair_row, entry))

    if crossing:
        pair_row = np.concatenate([c[0] for c in crossing])
        entry = np.concatenate([c[1] for c in crossing])
        s = index.slot[entry]
        order = np.lexsort((pair_row, s))
        s, pair_row, entry = s[order], pair_row[order], entry[order]
        fired = resolve_cooldowns(
            s, rows.ts[pair_row], index.cooldown_ms[entry], last_fire[s], has_last_fire[s]
        )
        slots.append(s[fired])
        fire_rows.append(pair_row[fired])

    if not slots:
        return empty, empty
    return np.concatenate(slots).astype(np.int64), np.concatenate(fire_rows).astype(np.int64)


def _expand(rows: I64, lo: I64, hi: I64) -> tuple[I64, I64]:
    """Every (row, entry) with ``lo[i] <= entry < hi[i]``."""
    length = np.maximum(hi - lo, 0)
    total = int(length.sum())
    if total == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e
    pair_row = np.repeat(rows, length)
    first = np.cumsum(length) - length
    entry = np.repeat(lo - first, length) + np.arange(total, dtype=np.int64)
    return pair_row.astype(np.int64), entry.astype(np.int64)


def _max_table(w: F64) -> list[F64]:
    """``levels[j][i] = max(w[i : i + 2**j])`` for every window that fits."""
    levels = [w]
    step = 1
    while 2 * step <= len(w):
        prev = levels[-1]
        levels.append(np.maximum(prev[:-step], prev[step:]))
        step *= 2
    return levels


class _BlockMax:
    """"First index >= p with w > t" for many (p, t) at once.

    A sparse table over the whole array would cost log2(n) passes over n rows per
    batch; over maxima of 64-row blocks it costs one pass, and a query scans at most
    two blocks row by row (64 lanes, vectorized across queries) around one descent.
    """

    BLOCK = 64

    def __init__(self, w: F64) -> None:
        self.w = w
        n_blocks = -(-len(w) // self.BLOCK)
        padded = np.full(n_blocks * self.BLOCK, -np.inf)
        padded[: len(w)] = w
        self.levels = _max_table(padded.reshape(n_blocks, self.BLOCK).max(axis=1))

    def _scan(self, start: I64, t: F64, stop: I64) -> I64:
        """First index in [start, stop) with w > t (stop - start <= BLOCK), else stop."""
        idx = start[:, None] + np.arange(self.BLOCK, dtype=np.int64)[None, :]
        inside = idx < stop[:, None]
        vals = self.w[np.minimum(idx, len(self.w) - 1)]
        hit = inside & (vals > t[:, None])
        return np.where(hit.any(axis=1), start + hit.argmax(axis=1), stop)

    def first_beyond(self, p: I64, t: F64, end: I64) -> I64:
        b = self.BLOCK
        head_stop = np.minimum(end, (p // b + 1) * b)
        q = self._scan(p, t, head_stop)
        todo = (q == head_stop) & (head_stop < end)
        if todo.any():
            i = np.flatnonzero(todo)
            full_end = end[i] // b
            blk = _first_beyond(self.levels, p[i] // b + 1, t[i], full_end)
            start = np.maximum(blk * b, p[i])
            q[i] = self._scan(start, t[i], np.minimum(end[i], blk * b + b))
        return q


def _first_beyond(levels: list[F64], p: I64, t: F64, end: I64) -> I64:
    """Smallest ``q >= p`` with ``w[q] > t`` (or ``end``): skip the longest prefix whose max <= t."""
    p = p.copy()
    for j in range(len(levels) - 1, -1, -1):
        step = 1 << j
        table = levels[j]
        fits = p + step <= end
        at = np.minimum(p, len(table) - 1)
        p += step * (fits & (table[at] <= t))
    return p

"""Fires of single-condition rules without modifiers, found from events, not a matrix.

Such a rule (one condition; no ``for``, ``rearm`` or gate) on a one-symbol source holds
on a union of *runs* of consecutive samples, and a run begins or ends only where the
value crosses the rule's threshold.  With the distinct thresholds of one (series,
condition) sorted once per plan, the thresholds that change state between two samples
are a contiguous range of that array (two binary searches per sample), so every
threshold's runs are listed for the cost of the crossings, not of rules x samples:

- ``crosses_*``: the range crossed between ``prev`` and the value; every event is a
  run of one sample;
- ``above`` / ``below``: the thresholds held at a sample are a prefix (a suffix) of
  the sorted array; where its length grows runs begin, where it shrinks they end.

Rules that share a threshold share its runs.  The cooldown is then a walk from fire to
fire, every rule at once: the earliest admissible sample is one binary search over
``t`` (sample time is monotone on one symbol), the fire is the first sample of the
rule's runs at or after it (one binary search over the run ends).  A rule fires at
most once per cooldown, so the rounds are as many as the most fires of one rule.  A
rule without cooldown fires on every sample of its runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..rules.seam import F64, I64
from .plan import CompiledRule

NEVER = np.iinfo(np.int64).min // 4


def eligible(rule: CompiledRule) -> bool:
    """Whether the event path covers ``rule`` (on a one-symbol source)."""
    return len(rule.conditions) == 1 and rule.for_ms is None and rule.rearm is None and rule.gate is None


class LevelTable:
    """Per plan and source: the eligible rules' thresholds, distinct and sorted per
    series, and each rule's *level*: a number for its (series, condition, threshold)."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.size = len(rules)
        by: dict[int, list[int]] = {}
        for i, r in enumerate(rules):
            by.setdefault(r.conditions[0].series, []).append(i)
        level = np.zeros(len(rules), np.int64)
        #: series, first level, distinct thresholds, condition codes present
        self.series: list[tuple[int, int, F64, frozenset[int]]] = []
        base = 0
        for series, members in sorted(by.items()):
            thr = np.asarray([rules[i].conditions[0].threshold for i in members], np.float64)
            distinct, where = np.unique(thr, return_inverse=True)
            codes = np.asarray([rules[i].conditions[0].cond for i in members], np.int64)
            level[members] = base + codes * len(distinct) + where.reshape(-1)
            self.series.append((series, base, distinct, frozenset(codes.tolist())))
            base += 4 * len(distinct)
        self.levels = base
        self.level = level
        self.cooldown = np.fromiter((r.cooldown_ms for r in rules), np.int64, len(rules))
        self.timed = np.flatnonzero(self.cooldown > 0)
        self.free = np.flatnonzero(self.cooldown == 0)


def runs(table: LevelTable, values: dict[int, tuple[F64, F64]], n: int) -> tuple[I64, I64]:
    """Every level's runs over the ``n`` samples: (level * (n + 1) + first sample, end)
    sorted, ``end`` one past the run's last sample."""
    stride = n + 1
    ar = np.arange(n + 1, dtype=np.int64)
    # ranges [lo, hi) of levels, per sample: runs that begin there, end there (n: at the
    # batch's end), and single-sample runs (crossings)
    begin: tuple[list[I64], list[I64], list[I64]] = ([], [], [])
    finish: tuple[list[I64], list[I64], list[I64]] = ([], [], [])
    point: tuple[list[I64], list[I64], list[I64]] = ([], [], [])

    def add(to: tuple[list[I64], list[I64], list[I64]], lo: I64, hi: I64, at: I64) -> None:
        to[0].append(lo)
        to[1].append(hi)
        to[2].append(at)

    for series, base, thr, codes in table.series:
        u = len(thr)
        val, prv = values[series]
        if 0 in codes or 2 in codes:
            v_left = np.searchsorted(thr, val, "left") + base
        if 1 in codes or 3 in codes:
            v_right = np.searchsorted(thr, val, "right") + base
        if 0 in codes:  # held: [0, h) (NaN holds none)
            h = np.empty(n + 2, np.int64)
            h[0] = h[-1] = base
            h[1:-1] = np.where(np.isnan(val), base, v_left)
            add(begin, h[:n], h[1:n + 1], ar[:n])
            add(finish, h[1:], h[:-1], ar)
        if 1 in codes:  # held: [l, u)
            top = base + 2 * u
            h = np.empty(n + 2, np.int64)
            h[0] = h[-1] = top
            h[1:-1] = v_right + u
            add(begin, h[1:n + 1], h[:n], ar[:n])
            add(finish, h[:-1], h[1:], ar)
        if 2 in codes:  # prev <= thr < value
            lo = np.searchsorted(thr, prv, "left") + base
            add(point, lo + 2 * u, np.where(prv < val, v_left, lo) + 2 * u, ar[:n])
        if 3 in codes:  # value < thr <= prev
            hi = np.where(val < prv, np.searchsorted(thr, prv, "right") + base, v_right)
            add(point, v_right + 3 * u, hi + 3 * u, ar[:n])
    starts: list[I64] = []
    ends: list[I64] = []
    for to, is_start, is_end in ((begin, True, False), (finish, False, True), (point, True, True)):
        if not to[0]:
            continue
        e, k = _expand(np.concatenate(to[0]), np.concatenate(to[1]))
        key = k * stride + np.concatenate(to[2])[e]
        if is_start:
            starts.append(key)
        if is_end:
            ends.append(key + 1 if is_start else key)
    if not starts:
        z = np.zeros(0, np.int64)
        return z, z
    key = np.sort(np.concatenate(starts)) if len(starts) > 1 else np.sort(starts[0])
    end = np.sort(np.concatenate(ends)) if len(ends) > 1 else np.sort(ends[0])
    return key, end % stride


def _expand(lo: I64, hi: I64) -> tuple[I64, I64]:
    """(i, k) for every i and every k in [lo[i], hi[i]) (empty where hi <= lo)."""
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    if not total:
        z = np.zeros(0, np.int64)
        return z, z
    i = np.repeat(np.arange(len(lo), dtype=np.int64), count)
    first = np.cumsum(count) - count
    k = np.arange(total, dtype=np.int64) - first[i] + lo[i]
    return i, k


def sparse_fires(
    table: LevelTable, t: I64, values: dict[int, tuple[F64, F64]], last0: I64,
) -> tuple[I64, I64, I64]:
    """(rule, sample, t of the rule's fire before) of every fire, in no particular order.

    ``last0``: per rule, t of its last fire before the batch (``NEVER``: none).
    """
    n = len(t)
    stride = n + 1
    key, end = runs(table, values, n)
    m = len(key)
    out_r: list[I64] = []
    out_s: list[I64] = []
    out_l: list[I64] = []
    if not m:
        z = np.zeros(0, np.int64)
        return z, z, z
    lvl_of = key // stride
    start = key - lvl_of * stride
    end_key = lvl_of * stride + end
    if len(table.free):
        # no cooldown: every sample of every run fires
        rule = table.free
        lv = table.level[rule]
        a = np.searchsorted(key, lv * stride)
        b = np.searchsorted(key, (lv + 1) * stride)
        j, run = _expand(a, b)
        if len(j):
            s_i, off = _expand(start[run], end[run])
            r = rule[j[s_i]]
            out_r.append(r)
            out_s.append(off)
            prev_t = np.empty(len(off), np.int64)
            prev_t[1:] = t[off[:-1]]
            first = np.ones(len(r), np.bool_)
            first[1:] = r[1:] != r[:-1]
            prev_t[first] = last0[r[first]]
            out_l.append(prev_t)
    if len(table.timed):
        rule = table.timed
        lv = table.level[rule]
        cool = table.cooldown[rule]
        last = last0[rule]
        never = last == NEVER
        p = np.searchsorted(t, np.where(never, 0, last + cool), "left")
        p[never] = 0
        while len(rule):
            q = np.searchsorted(end_key, lv * stride + p, "right")
            qq = np.minimum(q, m - 1)
            ok = (q < m) & (lvl_of[qq] == lv)
            if not ok.all():
                rule, lv, cool, last, p, qq = rule[ok], lv[ok], cool[ok], last[ok], p[ok], qq[ok]
                if not len(rule):
                    break
            f = np.maximum(p, start[qq])
            out_r.append(rule)
            out_s.append(f)
            out_l.append(last)
            last = t[f]
            p = np.searchsorted(t, last + cool, "left")
    if not out_r:
        z = np.zeros(0, np.int64)
        return z, z, z
    return np.concatenate(out_r), np.concatenate(out_s), np.concatenate(out_l)

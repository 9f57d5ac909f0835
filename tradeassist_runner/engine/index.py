"""The threshold index: every active rule's threshold, sorted, so a value finds the
rules it satisfies by binary search instead of being compared with each rule.

Rules are grouped by (value series, kind) and kept sorted by threshold inside a group.
A value ``v`` then satisfies a *contiguous* run of each group:

    above          t < v            [start, L(v))
    below          t > v            [R(v), end)
    crosses_above  prev <= t < v    [L(prev), L(v))
    crosses_below  v < t <= prev    [R(v), R(prev))

with ``L(x)`` the first rule of the group whose threshold is >= x and ``R(x)`` the first
whose threshold is > x.  To answer that for every (tick, group) pair with a single
``np.searchsorted`` (no Python loop over groups), thresholds are replaced by their rank
among all distinct thresholds and each rule gets the integer key
``group * stride + rank``; since ``t < x`` iff ``rank(t) < #distinct thresholds < x``,
comparing ranks gives exactly the float comparison, with no rounding anywhere.

Level conditions (``above``/``below``) with a cooldown get groups of their own: they
hold for long stretches, so listing every (tick, rule) pair that satisfies them would
cost ticks x rules; the engine instead asks, per rule, for the next tick after its
cooldown that satisfies it (see ``engine/fires.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Kinds of group; the order is part of the group id.
ABOVE_COOLDOWN, BELOW_COOLDOWN, CROSSES_ABOVE, CROSSES_BELOW, ABOVE_FREE, BELOW_FREE = range(6)
KINDS = 6


@dataclass(frozen=True)
class ThresholdIndex:
    """Entries sorted by (group, threshold, declaration); ``slot`` is the row of the plan table."""

    stride: int
    distinct: F64  # every distinct threshold, ascending
    sort_key: I64  # group * stride + rank(threshold), ascending
    slot: I64
    threshold: F64
    cooldown_ms: I64
    group_start: I64  # len n_groups + 1: entries of group g are [group_start[g], group_start[g+1])
    code: I64  # value-series code of each entry
    kind: I64  # group kind of each entry

    @property
    def n_groups(self) -> int:
        return len(self.group_start) - 1

    def locate(self, group: I64, rank: I64) -> I64:
        """First entry of ``group`` whose threshold rank is >= ``rank``."""
        return np.searchsorted(self.sort_key, group * self.stride + rank, side="left").astype(np.int64)


def build_index(table: pl.DataFrame, key_codes: dict[str, int]) -> ThresholdIndex:
    """From the plan's active-rule table (rule_index, key, cond, threshold, cooldown_ms)."""
    n_codes = max(len(key_codes), 1)
    code = np.array([key_codes[k] for k in table["key"].to_list()], dtype=np.int64)
    cond = table["cond"].to_numpy().astype(np.int64)
    thr = table["threshold"].to_numpy().astype(np.float64)
    cd = table["cooldown_ms"].to_numpy().astype(np.int64)
    kind = np.select(
        [cond == 0, cond == 1, cond == 2, cond == 3],
        [np.where(cd > 0, ABOVE_COOLDOWN, ABOVE_FREE), np.where(cd > 0, BELOW_COOLDOWN, BELOW_FREE),
         CROSSES_ABOVE, CROSSES_BELOW],
    ).astype(np.int64)
    distinct = np.unique(thr)
    stride = len(distinct) + 1
    group = code * KINDS + kind
    key = group * stride + np.searchsorted(distinct, thr, side="left")
    order = np.lexsort((table["rule_index"].to_numpy(), key))
    n_groups = n_codes * KINDS
    sort_key = key[order]
    group_start = np.searchsorted(sort_key, np.arange(n_groups + 1, dtype=np.int64) * stride, side="left")
    return ThresholdIndex(
        stride=stride,
        distinct=distinct,
        sort_key=sort_key.astype(np.int64),
        slot=order.astype(np.int64),
        threshold=thr[order],
        cooldown_ms=cd[order],
        group_start=group_start.astype(np.int64),
        code=code[order],
        kind=kind[order],
    )

"""Cooldown: the one inherently sequential step, run over candidates only.

Candidates are sorted by (rule, arrival).  For every rule at once, the next fire is the
first candidate at or after ``last_fire + cooldown``: one vectorized binary search per
round, and the number of rounds is the largest number of fires of a single rule in the
batch, so the cost grows with fires, not with ticks or rules.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


def resolve_cooldowns(
    rule: I64, ts: I64, cooldown: I64, last_fire: I64, has_last_fire: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Which candidates fire.

    All arrays are per candidate, sorted by (rule, arrival) so ``ts`` is non-decreasing
    within a rule; ``cooldown``, ``last_fire`` and ``has_last_fire`` repeat the rule's
    values on each of its candidates.
    """
    n = len(rule)
    fired = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return fired
    blocked_by_past = has_last_fire & (ts - last_fire < cooldown)
    free = cooldown == 0
    fired[free & ~blocked_by_past] = True
    rest = np.flatnonzero(~free)
    if len(rest) == 0:
        return fired
    r, t, cd = rule[rest], ts[rest], cooldown[rest]
    lf, has = last_fire[rest], has_last_fire[rest]
    tmin, tmax = int(t.min()), int(t.max())
    span = tmax - tmin + 2
    # Composite key: rule-major, time-minor; sorted because t is sorted within a rule.
    ranks = np.concatenate(([0], np.cumsum(r[1:] != r[:-1])))
    key = ranks * span + (t - tmin)
    starts = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
    ends = np.append(starts[1:], len(r))
    group_rank = ranks[starts]
    first_allowed = np.where(has[starts], lf[starts] + cd[starts], tmin)

    def seek(group: I64, not_before: I64) -> I64:
        target = group_rank[group] * span + (np.clip(not_before, tmin, tmax + 1) - tmin)
        return np.searchsorted(key, target, side="left").astype(np.int64)

    groups = np.arange(len(starts), dtype=np.int64)
    ptr = seek(groups, first_allowed)
    while len(groups):
        live = ptr < ends[groups]
        groups, ptr = groups[live], ptr[live]
        if not len(groups):
            break
        fired[rest[ptr]] = True
        ptr = seek(groups, t[ptr] + cd[ptr])
    return fired

"""Cooldown resolution over candidates matches the obvious sequential loop."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tradeassist_runner.engine.cooldown import resolve_cooldowns


def sequential(cands: list[tuple[int, int]], cooldown: dict[int, int], last: dict[int, int]) -> list[bool]:
    last = dict(last)
    out = []
    for rule, ts in cands:
        ok = rule not in last or ts - last[rule] >= cooldown[rule]
        if ok:
            last[rule] = ts
        out.append(ok)
    return out


@st.composite
def candidate_sets(draw: Any) -> tuple[list[tuple[int, int]], dict[int, int], dict[int, int]]:
    n_rules = draw(st.integers(1, 5))
    cooldown = {r: draw(st.sampled_from([0, 1, 5, 10, 1000])) for r in range(n_rules)}
    last = {r: draw(st.integers(-20, 50)) for r in range(n_rules) if draw(st.booleans())}
    cands = []
    for r in range(n_rules):
        t = draw(st.integers(0, 10))
        for _ in range(draw(st.integers(0, 12))):
            t += draw(st.sampled_from([0, 0, 1, 3, 7]))
            cands.append((r, t))
    return cands, cooldown, last


@given(candidate_sets())
def test_matches_sequential_loop(case: tuple[list[tuple[int, int]], dict[int, int], dict[int, int]]) -> None:
    cands, cooldown, last = case
    rule = np.array([c[0] for c in cands], dtype=np.int64)
    ts = np.array([c[1] for c in cands], dtype=np.int64)
    got = resolve_cooldowns(
        rule,
        ts,
        np.array([cooldown[r] for r in rule], dtype=np.int64),
        np.array([last.get(int(r), 0) for r in rule], dtype=np.int64),
        np.array([int(r) in last for r in rule], dtype=np.bool_),
    )
    assert got.tolist() == sequential(cands, cooldown, last)


def test_cooldown_counts_from_the_last_fire_not_the_last_candidate() -> None:
    # cooldown 10: fires at 0, suppressed at 5 and 9, fires at 10 (10 - 0 >= 10), not at 15.
    ts = np.array([0, 5, 9, 10, 15, 20], dtype=np.int64)
    got = resolve_cooldowns(
        np.zeros(6, dtype=np.int64), ts, np.full(6, 10, dtype=np.int64),
        np.zeros(6, dtype=np.int64), np.zeros(6, dtype=np.bool_),
    )
    assert got.tolist() == [True, False, False, True, False, True]

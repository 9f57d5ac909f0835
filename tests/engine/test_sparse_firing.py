"""The event path of the firing agrees with the matrix path on random inputs.

Values are drawn from the thresholds themselves and their neighbours (crossings exactly
at a level), with undefined runs and infinities; sample times repeat and jump around the
cooldowns; several sources go in one call, with carried last fires and previous values.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine import firing
from tradeassist_runner.engine.firing import FireInput, RuleTable, find_fires_many, fresh_state
from tradeassist_runner.engine.plan import CompiledRule, ConditionSpec

LEVELS = [-1.0, 0.0, 0.5, 2.0]
VALUES = [*LEVELS, -3.0, 0.25, 1.0, 5.0, float("nan"), float("inf"), float("-inf")]
COOLDOWNS = [0, 1, 2, 5, 40]


def rule(i: int, series: int, cond: int, threshold: float, cooldown: int) -> CompiledRule:
    cs = ConditionSpec(series, cond, "", threshold, "threshold", cast(Any, ()))
    return CompiledRule(index=i, rule=cast(Any, None), state_key=f"r{i}", location="", source=0,
                        conditions=(cs,), cooldown_ms=cooldown, for_ms=None, rearm=None, gate=None)


@st.composite
def sources(draw: Any, first_series: int) -> tuple[FireInput, list[int]]:
    n = draw(st.integers(1, 30))
    steps = draw(st.lists(st.sampled_from([0, 0, 1, 2, 3, 7, 40]), min_size=n, max_size=n))
    t = 1_000 + np.cumsum(np.asarray(steps, np.int64))
    series = list(range(first_series, first_series + draw(st.integers(1, 3))))
    values: dict[int, tuple[Any, Any]] = {}
    for sid in series:
        val = np.asarray(draw(st.lists(st.sampled_from(VALUES), min_size=n, max_size=n)), np.float64)
        prv = np.empty(n)
        prv[0] = draw(st.sampled_from(VALUES))
        prv[1:] = val[:-1]
        values[sid] = (val, prv)
    k = draw(st.integers(1, 12))
    rules = [rule(i, draw(st.sampled_from(series)), draw(st.integers(0, 3)), draw(st.sampled_from(LEVELS)),
                  draw(st.sampled_from(COOLDOWNS))) for i in range(k)]
    states = []
    for _ in rules:
        s = fresh_state()
        last = draw(st.sampled_from([None, 900, 995, 1_000, 1_003]))
        s["last"] = last
        states.append(s)
    return FireInput(rules, t, np.zeros(n, np.int64), values, {}, states, True, RuleTable(rules)), series


@st.composite
def batches(draw: Any) -> list[FireInput]:
    out: list[FireInput] = []
    next_series = 0
    for _ in range(draw(st.integers(1, 4))):
        inp, series = draw(sources(next_series))
        next_series = series[-1] + 1
        out.append(inp)
    return out


def _run(inputs: list[FireInput], sparse: bool) -> list[Any]:
    saved = firing.SPARSE
    firing.SPARSE = sparse
    try:
        results = find_fires_many(inputs)
    finally:
        firing.SPARSE = saved
    return [(f.rule.tolist(), f.sample.tolist(), f.last_fire.tolist(), f.run_start.tolist(),
             [s["last"] for s in states]) for f, states in results]


@settings(deadline=None, max_examples=100)
@given(inputs=batches())
def test_event_path_matches_matrix_path(inputs: list[FireInput]) -> None:
    assert _run(inputs, True) == _run(inputs, False)

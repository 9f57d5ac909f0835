"""A two-symbol source whose batch is in time order takes the one-symbol paths (the event
path, the jumps) and fires as the general two-symbol path does.

Samples come from either symbol; sample times are in order, with repeats, or (some
draws) step back once, and the carried last fires sit before, at or after the batch's
first sample, so both sides of every check of the order are drawn.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine import firing
from tradeassist_runner.engine.firing import FireInput, RuleTable, find_fires_many, fresh_state

from .test_sparse_firing import COOLDOWNS, LEVELS, REARMS, VALUES, rule


@st.composite
def pairs(draw: Any) -> list[FireInput]:
    out: list[FireInput] = []
    next_series = 0
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 30))
        steps = draw(st.lists(st.sampled_from([0, 0, 1, 2, 3, 7, 40]), min_size=n, max_size=n))
        t = 1_000 + np.cumsum(np.asarray(steps, np.int64))
        if n > 1 and draw(st.booleans()):
            at = draw(st.integers(1, n - 1))
            t[at:] -= t[at] - t[at - 1] + draw(st.sampled_from([1, 2, 5, 20]))  # one symbol lags: time steps back
        source = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.int64)
        series = list(range(next_series, next_series + draw(st.integers(1, 2))))
        next_series = series[-1] + 1
        values: dict[int, tuple[Any, Any]] = {}
        for sid in series:
            val = np.asarray(draw(st.lists(st.sampled_from(VALUES), min_size=n, max_size=n)), np.float64)
            prv = np.empty(n)
            prv[0] = draw(st.sampled_from(VALUES))
            prv[1:] = val[:-1]
            values[sid] = (val, prv)
        k = draw(st.integers(1, 10))
        rules = [rule(i, draw(st.sampled_from(series)), draw(st.integers(0, 3)), draw(st.sampled_from(LEVELS)),
                      draw(st.sampled_from([0, 0, *COOLDOWNS])), draw(st.sampled_from([None, None, 0])),
                      draw(st.sampled_from([None, None, 0, 3, 50])), draw(st.sampled_from(REARMS)))
                 for i in range(k)]
        if draw(st.booleans()):  # a second condition: the matrices alone
            second = rule(0, draw(st.sampled_from(series)), draw(st.integers(0, 3)), draw(st.sampled_from(LEVELS)),
                          0, None, None)
            rules[0] = replace(rules[0], conditions=(*rules[0].conditions, *second.conditions), rearm=None)
        gates = {0: np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_)}
        states = []
        for r in rules:
            s = fresh_state()
            s["last"] = draw(st.sampled_from([None, 900, 995, 1_000, int(t[0]), int(t[0]) + 1, 1_200]))
            s["run"] = draw(st.sampled_from([None, 990, 1_000]))
            s["armed"] = draw(st.booleans()) if r.rearm is not None else True
            states.append(s)
        out.append(FireInput(rules, t, source, values, gates, states, False, RuleTable(rules)))
    return out


def _run(inputs: list[FireInput], in_order: bool) -> list[Any]:
    saved = firing.IN_ORDER
    firing.IN_ORDER = in_order
    try:
        results = find_fires_many(inputs)
    finally:
        firing.IN_ORDER = saved
    return [(f.rule.tolist(), f.sample.tolist(), f.last_fire.tolist(), f.run_start.tolist(),
             [(s["last"], s["run"], s["armed"]) for s in states]) for f, states in results]


@settings(deadline=None, max_examples=150)
@given(inputs=pairs())
def test_in_order_pairs_fire_as_the_general_path(inputs: list[FireInput]) -> None:
    assert _run(inputs, True) == _run(inputs, False)

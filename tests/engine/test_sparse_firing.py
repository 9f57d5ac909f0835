"""The event path of the firing agrees with the matrix path on random inputs.

Values are drawn from the thresholds themselves and their neighbours (crossings exactly
at a level), with undefined runs and infinities; sample times repeat and jump around the
cooldowns; gates shut random samples; ``for`` from 0 to longer than the stream, with
carried runs; ``rearm`` from 0 to wider than the levels' spread, carried in armed or
not, and on levels next to one another; several sources go in one call, with carried last
fires and previous values.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine import firing
from tradeassist_runner.engine import sparse as sparse_module
from tradeassist_runner.engine.firing import FireInput, RuleTable, find_fires_many, fresh_state
from tradeassist_runner.engine.plan import CompiledRule, ConditionSpec

LEVELS = [-1.0, 0.0, 0.5, 2.0]
VALUES = [*LEVELS, -3.0, 0.25, 1.0, 5.0, float("nan"), float("inf"), float("-inf")]
COOLDOWNS = [0, 1, 2, 5, 40]
#: with the levels, re-arm levels land on other levels, on values, between them and beyond
REARMS = [None, None, 0.0, 0.5, 1.0, 1.5, 3.0, 10.0]


def rule(i: int, series: int, cond: int, threshold: float, cooldown: int, gate: int | None,
         for_ms: int | None, rearm: float | None = None) -> CompiledRule:
    cs = ConditionSpec(series, cond, "", threshold, "threshold", cast(Any, ()))
    return CompiledRule(index=i, rule=cast(Any, None), state_key=f"r{i}", location="", source=0,
                        conditions=(cs,), cooldown_ms=cooldown, for_ms=for_ms if cond < 2 else None, rearm=rearm,
                        gate=gate)


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
                  draw(st.sampled_from(COOLDOWNS)), draw(st.sampled_from([None, None, 0, 1])),
                  draw(st.sampled_from([None, None, 0, 1, 3, 50])), draw(st.sampled_from(REARMS)))
             for i in range(k)]
    gates = {g: np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_) for g in (0, 1)}
    states = []
    for r in rules:
        s = fresh_state()
        last = draw(st.sampled_from([None, 900, 995, 1_000, 1_003]))
        s["last"] = last
        s["run"] = draw(st.sampled_from([None, 990, 1_000]))
        s["armed"] = draw(st.booleans()) if r.rearm is not None else True  # only ``rearm`` disarms
        states.append(s)
    return FireInput(rules, t, np.zeros(n, np.int64), values, gates, states, True, RuleTable(rules)), series


@st.composite
def batches(draw: Any) -> list[FireInput]:
    out: list[FireInput] = []
    next_series = 0
    for _ in range(draw(st.integers(1, 4))):
        inp, series = draw(sources(next_series))
        next_series = series[-1] + 1
        out.append(inp)
    return out


def _run(inputs: list[FireInput], sparse: bool, events_per_cell: float = float("inf")) -> list[Any]:
    saved = firing.SPARSE, sparse_module.EVENTS_PER_CELL
    firing.SPARSE, sparse_module.EVENTS_PER_CELL = sparse, events_per_cell
    try:
        results = find_fires_many(inputs)
    finally:
        firing.SPARSE, sparse_module.EVENTS_PER_CELL = saved
    return [(f.rule.tolist(), f.sample.tolist(), f.last_fire.tolist(), f.run_start.tolist(),
             [(s["last"], s["run"], s["armed"]) for s in states]) for f, states in results]


@pytest.mark.parametrize("events_per_cell", [float("inf"), 0.3, 0.0])
@settings(deadline=None, max_examples=40)
@given(inputs=batches())
def test_event_path_matches_matrix_path(events_per_cell: float, inputs: list[FireInput]) -> None:
    """Also with the sources whose values cross their levels most often handed to the matrices."""
    assert _run(inputs, True, events_per_cell) == _run(inputs, False)


def test_a_batch_of_one_sample_takes_the_event_path() -> None:
    """Every level held at a batch's first or last sample has a run there whatever the
    values do; counted as crossings, a live batch of a few ticks on a source with many
    rules would always be handed to the matrices (a fixed cost per source, per batch)."""
    rules = [rule(i, 0, 0, float(i), 10, None, None) for i in range(100)]  # above 0..99
    t = np.asarray([1_000], np.int64)
    values = {0: (np.asarray([500.0]), np.asarray([500.0]))}
    inp = FireInput(rules, t, np.zeros(1, np.int64), values, {}, [fresh_state() for _ in rules], True,
                    RuleTable(rules))
    table = inp.table
    assert table is not None
    job = sparse_module.Job(table.levels, t, values, {}, np.full(100, sparse_module.NEVER, np.int64),
                            np.full(100, sparse_module.NEVER, np.int64))
    (got,) = sparse_module.sparse_fires([job])
    assert got is not None
    assert got.sample.tolist() == [0] * 100
    # and a source whose values cross every level back and forth still goes to the matrices
    n = 50
    t2 = 1_000 + np.arange(n, dtype=np.int64)
    v = np.where(np.arange(n) % 2 == 0, -1.0, 500.0)
    prv = np.concatenate(([500.0], v[:-1]))
    job2 = sparse_module.Job(table.levels, t2, {0: (v, prv)}, {}, np.full(100, sparse_module.NEVER, np.int64),
                             np.full(100, sparse_module.NEVER, np.int64))
    assert sparse_module.sparse_fires([job2]) == [None]

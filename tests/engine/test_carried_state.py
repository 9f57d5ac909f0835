"""The firing state carried as arrays from one batch to the next (engine/carried.py)
gives what reading it back from the state dicts gives: the same alerts and the same
dicts, key order included, batch after batch, for random rules of every type and
modifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.evaluate import evaluate
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.engine.state import EngineState

from .reference import Tick
from .test_equivalence import frame, load, rule_sets, streams

NOW = datetime(2026, 3, 7, tzinfo=UTC)


@settings(deadline=None, max_examples=60)
@given(rules=rule_sets(), ticks=streams(), batch_size=st.sampled_from([1, 3, 7, 100_000]))
def test_carried_arrays_give_what_the_dicts_give(rules: list[dict[str, Any]], ticks: list[Tick],
                                                 batch_size: int) -> None:
    loaded = load(rules)
    plan = compile_plan(loaded.rules, loaded.instruments)
    df = frame(ticks)
    state = EngineState()
    for start in range(0, df.height, batch_size):
        piece = df.slice(start, batch_size)
        # the same state without its arrays: every dict is read again
        read = EngineState(state.next_seq, state.sources, state.series, dict(state.rules), state.plan_version)
        carried = evaluate(plan, state, piece, NOW)
        fresh = evaluate(plan, read, piece, NOW)
        assert carried.alerts.equals(fresh.alerts)
        assert json.dumps(carried.state.rules) == json.dumps(fresh.state.rules)
        assert carried.state.firing is not None and carried.state.firing.valid_for(plan, carried.state.rules)
        state = carried.state

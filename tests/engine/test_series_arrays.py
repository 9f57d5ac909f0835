"""Batches large enough for the types' arrays paths (more than a hundred samples per
source), with what a type keeps beside its state (``EngineState.series_arrays``) handed
back from batch to batch: the reference's alerts, and the same alerts and state as when
nothing is handed back (a state restored from a snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.evaluate import evaluate
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.engine.snapshot import dump_state
from tradeassist_runner.engine.state import EngineState

from .reference import Tick, reference_alerts
from .test_equivalence import frame, load, rule_sets, run_engine, same, show, streams

NOW = datetime(2026, 3, 7, tzinfo=UTC)


@settings(deadline=None, max_examples=40)
@given(rules=rule_sets(), ticks=streams(max_size=500), batch_size=st.sampled_from([230, 100_000]))
def test_big_batches_match_reference(rules: list[dict[str, Any]], ticks: list[Tick], batch_size: int) -> None:
    loaded = load(rules)
    want = reference_alerts([r.rule for r in loaded.rules], ticks)
    got = run_engine(loaded, ticks, batch_size)
    assert same(got, want), f"engine:\n{show(got)}\nreference:\n{show(want)}"


@settings(deadline=None, max_examples=40)
@given(rules=rule_sets(), ticks=streams(max_size=500), batch_size=st.sampled_from([1, 230]))
def test_kept_arrays_give_what_the_state_alone_gives(rules: list[dict[str, Any]], ticks: list[Tick],
                                                     batch_size: int) -> None:
    loaded = load(rules)
    plan = compile_plan(loaded.rules, loaded.instruments)
    df = frame(ticks)
    state = EngineState()
    for start in range(0, df.height, batch_size):
        piece = df.slice(start, batch_size)
        alone = EngineState(state.next_seq, state.sources, state.series, state.rules, state.plan_version)
        kept = evaluate(plan, state, piece, NOW)
        fresh = evaluate(plan, alone, piece, NOW)
        assert kept.alerts.equals(fresh.alerts)
        assert dump_state(kept.state) == dump_state(fresh.state)
        # what is kept is kept beside the very state it mirrors
        assert all(held is kept.state.series[key]["type"] for key, (held, _) in kept.state.series_arrays.items())
        state = kept.state

"""Every path of the firing resolution agrees with the per-tick reference.

Cooldown-only rules that hold on many samples are resolved by jumping from fire to fire
(and listed once a chain outgrows the jump rounds); the rest by successor chains.  The
random streams of the equivalence tests are short, so here the thresholds that pick a
path are set to take the jumps (and their hand-over to listing) on every rule.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine import firing

from .reference import reference_alerts
from .test_equivalence import load, rule_sets, run_engine, same, show, streams


@pytest.mark.parametrize("rounds", [1, 3])
@settings(deadline=None, max_examples=60)
@given(rules=rule_sets(), ticks=streams(), batch_size=st.sampled_from([1, 7, 100_000]))
def test_jumps_and_their_hand_over_match_reference(
    rounds: int, rules: list[dict[str, Any]], ticks: list[Any], batch_size: int
) -> None:
    loaded = load(rules)
    want = reference_alerts([r.rule for r in loaded.rules], ticks)
    saved = firing.DENSE, firing.JUMP_ROUNDS
    firing.DENSE, firing.JUMP_ROUNDS = 0, rounds
    try:
        got = run_engine(loaded, ticks, batch_size)
    finally:
        firing.DENSE, firing.JUMP_ROUNDS = saved
    assert same(got, want), f"engine:\n{show(got)}\nreference:\n{show(want)}"

"""Rules limited by their cooldown alone (no ``for``, gate or ``rearm`` anywhere in the
call) take a walk of their own on the event path: it agrees with the matrix path.

The random inputs of ``test_sparse_firing`` rarely leave a whole call without those, so
here they are taken off every rule, keeping the values, times, cooldowns and carried
last fires.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.firing import FireInput, RuleTable

from .test_sparse_firing import _run, batches


def _cooldown_only(inp: FireInput) -> FireInput:
    rules = [replace(r, for_ms=None, gate=None, rearm=None) for r in inp.rules]
    states = [{**s, "run": None, "armed": True} for s in inp.states]
    return replace(inp, rules=rules, states=states, table=RuleTable(rules))


@st.composite
def cooldown_batches(draw: Any) -> list[FireInput]:
    return [_cooldown_only(inp) for inp in draw(batches())]


@settings(deadline=None, max_examples=80)
@given(inputs=cooldown_batches())
def test_rules_with_a_cooldown_alone_match_matrix_path(inputs: list[FireInput]) -> None:
    assert _run(inputs, True) == _run(inputs, False)

"""Shared checks for rule types: values computed in pieces (state through JSON) must be
bit-identical to one call over everything, and ``replay`` must redo each value exactly."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tradeassist_runner.rules.seam import F64, Params, RuleType, Samples, Values


def bits_equal(a: Any, b: Any) -> bool:
    """Same float64 bit patterns (every NaN counts as the same undefined)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        return False
    nx, ny = np.isnan(x), np.isnan(y)
    return bool(np.array_equal(nx, ny) and np.array_equal(x[~nx].view(np.int64), y[~ny].view(np.int64)))


def same_float(a: float, b: float) -> bool:
    return bits_equal(np.array([a]), np.array([b]))


def in_pieces(rule_type: RuleType, params: Params, samples: Samples, cuts: list[int]) -> Values:
    """``values`` over ``samples`` cut at ``cuts`` (empty pieces allowed), the state
    going through ``json.dumps``/``json.loads`` between pieces as a snapshot would."""
    bounds = [0, *sorted(min(max(c, 0), len(samples)) for c in cuts), len(samples)]
    state: Any = None
    parts: list[Values] = []
    for start, stop in itertools.pairwise(bounds):
        values, state = rule_type.values(params, samples.slice(start, stop), state)
        text = json.dumps(state, allow_nan=False)
        restored = json.loads(text)
        assert json.dumps(restored, allow_nan=False) == text
        state = restored
        parts.append(values)
    value: F64 = np.concatenate([p.value for p in parts])
    inputs = {k: np.concatenate([p.inputs[k] for p in parts]) for k in rule_type.input_names}
    return Values(value, inputs)


def check_cut_independent(rule_type: RuleType, params: Params, samples: Samples, cuts: list[int]) -> Values:
    """Assert pieces == whole (values and inputs, bit for bit); return the whole."""
    whole, _ = rule_type.values(params, samples, None)
    assert set(whole.inputs) == set(rule_type.input_names)
    assert len(whole.value) == len(samples)
    pieces = in_pieces(rule_type, params, samples, cuts)
    assert bits_equal(pieces.value, whole.value), (pieces.value, whole.value)
    for name in rule_type.input_names:
        assert bits_equal(pieces.inputs[name], whole.inputs[name]), name
    return whole


def check_replay(rule_type: RuleType, params: Params, values: Values) -> None:
    """``replay`` of every sample's inputs == its value, bit for bit; ``explain`` speaks."""
    for i in range(len(values.value)):
        inputs = {k: float(values.inputs[k][i]) for k in rule_type.input_names}
        again = rule_type.replay(params, inputs)
        assert same_float(again, float(values.value[i])), (i, inputs, again, values.value[i])
        sentence = rule_type.explain(params, inputs, float(values.value[i]))
        assert sentence.endswith(".") and "nan" not in sentence.lower()


def cuts_strategy(max_cuts: int = 6) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(min_value=0, max_value=60), max_size=max_cuts)

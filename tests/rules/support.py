"""What every indicator type's tests share: price strategies, batch cuts, bit comparison.

The naive references live in each test module, written per sample straight from the
rule vocabulary's definitions (plain means, literal recursions, two-pass std).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tradeassist_runner.rules.seam import F64, Params, RuleType, Samples, State, Values

NAN = float("nan")


def ticks(prices: Sequence[float]) -> Samples:
    n = len(prices)
    return Samples.of_ticks(np.arange(n, dtype=np.int64) * 1000, np.asarray(prices, np.float64), np.ones(n))


def bars(prices: Sequence[float], highs: Sequence[float], lows: Sequence[float]) -> Samples:
    n = len(prices)
    t = np.arange(n, dtype=np.int64) * 60_000
    return Samples(
        t, np.asarray(prices, np.float64), np.asarray(highs, np.float64), np.asarray(lows, np.float64),
        np.ones(n), t + 60_000, np.zeros(n, np.int64),
    )


def bits(a: F64 | Sequence[float]) -> list[int]:
    """The exact bit patterns (every NaN the same), for bit-for-bit comparison."""
    arr = np.where(np.isnan(a), np.nan, np.asarray(a, np.float64))
    return [int(v) for v in arr.view(np.int64).tolist()]


def assert_plain_json(state: Any) -> None:
    """State is made of Python's own JSON types (no numpy scalars) and round-trips exactly."""

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                assert type(k) is str
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        else:
            assert x is None or type(x) in (int, float, str, bool), f"{type(x).__name__} in state"
            if type(x) is float:
                assert math.isfinite(x)

    walk(state)
    assert json.loads(json.dumps(state, allow_nan=False)) == state


def run_in_pieces(rt: RuleType, params: Params, samples: Samples, cuts: Sequence[int]) -> tuple[Values, State]:
    """The batches between consecutive cuts fed one after another, the state carried through
    a JSON round trip, the values concatenated."""
    edges = [0, *sorted({c for c in cuts if 0 < c < len(samples)}), len(samples)]
    state: State | None = None
    parts: list[Values] = []
    for start, stop in itertools.pairwise(edges):
        v, state = rt.values(params, samples.slice(start, stop), state)
        assert len(v.value) == stop - start
        assert set(v.inputs) == set(rt.input_names)
        assert_plain_json(state)
        state = json.loads(json.dumps(state))
        parts.append(v)
    if not parts:
        v, state = rt.values(params, samples, None)
        parts.append(v)
    value = np.concatenate([p.value for p in parts])
    inputs = {k: np.concatenate([p.inputs[k] for p in parts]) for k in rt.input_names}
    return Values(value, inputs), state


def assert_cut_independent(rt: RuleType, params: Params, samples: Samples, cuts: Sequence[int]) -> Values:
    whole, _ = rt.values(params, samples, None)
    pieces, _ = run_in_pieces(rt, params, samples, cuts)
    assert bits(pieces.value) == bits(whole.value)
    for name in rt.input_names:
        assert bits(pieces.inputs[name]) == bits(whole.inputs[name]), name
    return whole


def assert_replays(rt: RuleType, params: Params, values: Values) -> None:
    """replay(inputs at i) is value[i] bit for bit, undefined included."""
    for i in range(len(values.value)):
        inputs = {k: float(values.inputs[k][i]) for k in rt.input_names}
        assert bits(np.array([rt.replay(params, inputs)])) == bits(values.value[i:i + 1]), (i, inputs)
        assert rt.explain(params, inputs, float(values.value[i]))


def close(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


# --- prices -------------------------------------------------------------------------

#: /ES-like: near 6000 in 0.25 ticks (exact in binary, so every sum is exact).
es_prices = st.lists(st.integers(-400, 400).map(lambda k: 6000.0 + 0.25 * k), max_size=60)
#: $TICK-like: whole numbers of both signs, zero included.
tick_index = st.lists(st.integers(-1500, 1500).map(float), max_size=60)
#: few distinct values, so runs of equal prices and flat windows are common.
repeats = st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.5, 2.0, 6000.0]), max_size=60)
#: dyadic values of any sign: sums stay exact, so the reference and the type agree on
#: every zero test.
dyadic = st.lists(st.integers(-(2**20), 2**20).map(lambda k: k / 64.0), max_size=60)
#: anything finite of moderate size (cut independence only: inexact sums may decide a
#: near-zero differently from another summation order).
wild = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False), max_size=60
)
#: non-dyadic equal prices (flat windows whose rounded mean is not the price).
flat_inexact = st.tuples(st.sampled_from([5.1, 0.1, 6000.3, -1.7]), st.integers(0, 40)).map(
    lambda t: [t[0]] * t[1]
)

exact_prices = st.one_of(es_prices, tick_index, repeats, dyadic)
any_prices = st.one_of(exact_prices, wild, flat_inexact)
cuts = st.lists(st.integers(0, 60), max_size=8)


def messy_cases(seed: int = 5) -> list[tuple[list[float], list[int]]]:
    """Inexact prices (every sum rounds) with many cut layouts, including one sample per
    batch: what exposes a window sum or a recursion that depends on where a batch began."""
    rng = np.random.default_rng(seed)
    cases = []
    for scale in (1.0, 1e-3, 1e4):
        prices = (rng.normal(6000.0, 7.0, 300) * scale).tolist()
        cases.append((prices, list(range(1, 300))))
        cases.append((prices, sorted(rng.choice(np.arange(1, 300), 25, replace=False).tolist())))
    dollar_tick = rng.normal(0.0, 400.0, 300).tolist()  # both signs, near 0
    cases.append((dollar_tick, list(range(3, 300, 7))))
    return cases

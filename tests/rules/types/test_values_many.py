"""``values_many`` (several series of a type over the same samples in one pass) gives,
bit for bit, the values and states of ``values`` called per series, across cuts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.rules.registry import REGISTRY
from tradeassist_runner.rules.seam import Params, Samples

from .cutting import bits_equal

PARAMS: dict[str, list[Params]] = {
    "moving_average": [("sma", 1), ("ema", 1), ("sma", 3), ("ema", 3), ("ema", 5), ("sma", 5)],
    "ma_cross": [("sma", 1, 2), ("ema", 1, 2), ("ema", 2, 5), ("sma", 3, 4), ("ema", 3, 4)],
    "rsi": [(1,), (2,), (3,), (5,), (9,)],
    "bollinger": [(2,), (3,), (5,), (9,), (20,)],
}


@pytest.mark.parametrize("name", sorted(PARAMS))
@settings(deadline=None, max_examples=40)
@given(prices=st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 1.5, 6000.25, 6001.0]), max_size=30),
       cuts=st.lists(st.integers(0, 30), max_size=3), data=st.data())
def test_values_many_equals_values_per_series(name: str, prices: list[float], cuts: list[int], data: Any) -> None:
    rule_type: Any = REGISTRY[name]
    params = data.draw(st.lists(st.sampled_from(PARAMS[name]), min_size=1, max_size=5, unique=True))
    ts = np.arange(len(prices), dtype=np.int64) * 1000
    samples = Samples.of_ticks(ts, np.asarray(prices, np.float64), np.ones(len(prices)))
    assert_many_equals_one(rule_type, params, samples, cuts, skip_empty=False)


#: Types whose values depend on sample time and volume too: drawn with repeated and
#: jumping times, missing and huge volumes.
TIMED: dict[str, list[Params]] = {
    "rate_of_change": [(1,), (1000,), (2500,), (5000,), (60_000,)],
    "volume_spike": [(1,), (2,), (3,), (10,), (50,)],
}


@pytest.mark.parametrize("name", sorted(TIMED))
@settings(deadline=None, max_examples=60)
@given(ticks=st.lists(st.tuples(st.sampled_from([0, 0, 1, 400, 1000, 3000, 70_000]),
                                st.sampled_from([-2.0, 0.0, 0.25, 1.0, 6000.25, 6001.0]),
                                st.sampled_from([float("nan"), 0.0, 1.0, 7.0, 1e6, 2.0**60])), max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=4), data=st.data())
def test_values_many_of_timed_types_equals_values_per_series(
    name: str, ticks: list[tuple[int, float, float]], cuts: list[int], data: Any
) -> None:
    rule_type: Any = REGISTRY[name]
    params = data.draw(st.lists(st.sampled_from(TIMED[name]), min_size=1, max_size=5, unique=True))
    ts = 1_000_000 + np.cumsum(np.asarray([s for s, _, _ in ticks], np.int64))
    samples = Samples.of_ticks(ts, np.asarray([p for _, p, _ in ticks], np.float64),
                               np.asarray([v for _, _, v in ticks], np.float64))
    assert_many_equals_one(rule_type, params, samples, cuts, skip_empty=True)


def assert_many_equals_one(rule_type: Any, params: list[Any], samples: Any, cuts: list[int], skip_empty: bool) -> None:
    """Feed ``samples`` cut at ``cuts`` to ``values_many`` for every params together and to
    ``values`` for each alone, carrying each one's state: values, inputs and states agree."""
    bounds = [0, *sorted(min(c, len(samples)) for c in cuts), len(samples)]
    one: list[Any] = [None] * len(params)
    many: list[Any] = [None] * len(params)
    for lo, hi in zip(bounds, bounds[1:]):
        piece = samples.slice(lo, hi)
        if skip_empty and not len(piece):
            continue
        together = rule_type.values_many(list(zip(params, many)), piece)
        for k, p in enumerate(params):
            alone, one[k] = rule_type.values(p, piece, one[k])
            vals, many[k] = together[k]
            assert bits_equal(vals.value, alone.value), (p, lo, hi)
            for key in rule_type.input_names:
                assert bits_equal(vals.inputs[key], alone.inputs[key]), (p, key)
            assert json.dumps(many[k]) == json.dumps(one[k]), p


@pytest.mark.parametrize("name", sorted(PARAMS))
@settings(deadline=None, max_examples=40)
@given(prices=st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 6000.25, 6001.0]), max_size=20), data=st.data())
def test_values_many_of_series_with_their_own_histories(name: str, prices: list[float], data: Any) -> None:
    """Series that reach the batch with different carried states (different last prices,
    counts, seeds) still get their own values: nothing is shared that differs."""
    rule_type: Any = REGISTRY[name]
    params = data.draw(st.lists(st.sampled_from(PARAMS[name]), min_size=1, max_size=5))
    states = []
    for p in params:
        history = data.draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 3.0, 6000.0]), max_size=12))
        warm = Samples.of_ticks(np.arange(len(history), dtype=np.int64), np.asarray(history, np.float64),
                                np.ones(len(history)))
        states.append(json.loads(json.dumps(rule_type.values(p, warm, None)[1])))
    ts = 100 + np.arange(len(prices), dtype=np.int64)
    samples = Samples.of_ticks(ts, np.asarray(prices, np.float64), np.ones(len(prices)))
    together = rule_type.values_many(list(zip(params, [json.loads(json.dumps(s)) for s in states])), samples)
    for p, st_k, (vals, state) in zip(params, states, together):
        alone, alone_state = rule_type.values(p, samples, st_k)
        assert bits_equal(vals.value, alone.value), p
        for key in rule_type.input_names:
            assert bits_equal(vals.inputs[key], alone.inputs[key]), (p, key)
        assert json.dumps(state) == json.dumps(alone_state), p


SPREADS: list[Params] = [("$SPX", "difference", 1.0, None), ("$SPX", "ratio", 10.0, None),
                         ("$SPX", "difference", 0.5, 1_000), ("$SPX", "ratio", 1.0, 500)]
PAIR_TICKS = st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0, 0, 1, 400, 3000]),
                                st.sampled_from([-2.0, 0.0, 0.25, 1.0, 6000.25, float("inf")])), max_size=12)


def pair_samples(rows: list[tuple[int, int, float]], start: int) -> Samples:
    """(source, ts step, price) rows of both symbols in arrival order."""
    ts = start + np.cumsum(np.asarray([s for _, s, _ in rows], np.int64))
    return Samples.of_ticks(ts, np.asarray([p for _, _, p in rows], np.float64), np.full(len(rows), np.nan),
                            np.asarray([src for src, _, _ in rows], np.int64))


@settings(deadline=None, max_examples=60)
@given(rows=PAIR_TICKS, cuts=st.lists(st.integers(0, 12), max_size=3), data=st.data())
def test_values_many_of_spreads_equals_values_per_series(rows: list[tuple[int, int, float]], cuts: list[int],
                                                          data: Any) -> None:
    params = data.draw(st.lists(st.sampled_from(SPREADS), min_size=1, max_size=4, unique=True))
    assert_many_equals_one(REGISTRY["spread"], params, pair_samples(rows, 1_000_000), cuts, skip_empty=False)


@settings(deadline=None, max_examples=60)
@given(rows=PAIR_TICKS, histories=st.lists(PAIR_TICKS, min_size=1, max_size=3), data=st.data())
def test_values_many_of_spreads_with_their_own_histories(rows: list[tuple[int, int, float]],
                                                         histories: list[list[tuple[int, int, float]]],
                                                         data: Any) -> None:
    """Series of one pair that reach the batch with different latest ticks (or the same:
    then they share them) each get their own values."""
    rule_type: Any = REGISTRY["spread"]
    items = data.draw(st.lists(st.tuples(st.sampled_from(SPREADS), st.integers(0, len(histories) - 1)),
                               min_size=1, max_size=5))
    states = [json.loads(json.dumps(rule_type.values(p, pair_samples(histories[h], 0), None)[1])) for p, h in items]
    samples = pair_samples(rows, 100_000)
    together = rule_type.values_many([(p, json.loads(json.dumps(s))) for (p, _), s in zip(items, states)], samples)
    for (p, _), st_k, (vals, state) in zip(items, states, together):
        alone, alone_state = rule_type.values(p, samples, st_k)
        assert bits_equal(vals.value, alone.value), p
        for key in rule_type.input_names:
            assert bits_equal(vals.inputs[key], alone.inputs[key]), (p, key)
        assert json.dumps(state) == json.dumps(alone_state), p

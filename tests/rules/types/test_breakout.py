from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.types.breakout import RULE_TYPE, Body
from tradeassist_runner.rules.seam import RuleType

from ..support import (
    NAN,
    any_prices,
    assert_cut_independent,
    assert_replays,
    bars,
    bits,
    cuts,
    messy_cases,
    ticks,
)

RT: RuleType = RULE_TYPE


def body(**kw: object) -> Body:
    return Body.model_validate({"type": "breakout", "condition": "crosses_above", "threshold": 0, **kw})


def naive_breakout(prices: list[float], highs: list[float], lows: list[float], n: int, side: str) -> list[float]:
    out = []
    for i, p in enumerate(prices):
        if i < n:
            out.append(NAN)
        elif side == "high":
            out.append(p - max(highs[i - n : i]))
        else:
            out.append(min(lows[i - n : i]) - p)
    return out


def test_params_and_defaults() -> None:
    assert body(period=20).side == "high"
    assert RT.params(body(period=20), "UTC") == ("high", 20)
    assert RT.params(body(period=5, side="low"), "UTC") == ("low", 5)


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"period": 0}, ("period",), "greater_than_equal"),
        ({}, ("period",), "missing"),
        ({"period": 3, "side": "up"}, ("side",), "literal_error"),
        ({"period": 3, "average": "sma"}, ("average",), "extra_forbidden"),
    ],
)
def test_body_rejects(fields: dict[str, object], loc: tuple[str, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        body(**fields)
    [err] = info.value.errors()
    assert (err["loc"], err["type"]) == (loc, kind)


def test_tick_breakouts_by_hand() -> None:
    # N = 2 over 5, 4, 6, 3: high side 6 - max(5,4) = 1, 3 - max(4,6) = -3;
    # low side min(5,4) - 6 = -2, min(4,6) - 3 = 1
    high, _ = RT.values(("high", 2), ticks([5, 4, 6, 3]), None)
    low, _ = RT.values(("low", 2), ticks([5, 4, 6, 3]), None)
    assert bits(high.value) == bits([NAN, NAN, 1.0, -3.0])
    assert bits(low.value) == bits([NAN, NAN, -2.0, 1.0])
    assert low.inputs["level"].tolist()[2:] == [4.0, 4.0]


def test_bars_use_their_highs_and_lows_not_their_closes() -> None:
    # closes 10, 10, 11; highs 12, 10.5, 11.5; lows 9, 9.5, 10.75
    samples = bars([10, 10, 11], [12, 10.5, 11.5], [9, 9.5, 10.75])
    high, _ = RT.values(("high", 2), samples, None)
    low, _ = RT.values(("low", 2), samples, None)
    assert high.value[2] == 11 - 12 and low.value[2] == 9 - 11


def test_above_zero_only_beyond_the_range() -> None:
    v, _ = RT.values(("high", 3), ticks([1, 3, 2, 3, 3.25, 3.25]), None)
    assert v.value[3:].tolist() == [0.0, 0.25, 0.0]


@given(
    prices=any_prices, n=st.integers(1, 12), side=st.sampled_from(["high", "low"]), cut=cuts,
    spread=st.lists(st.tuples(st.sampled_from([0.0, 0.25, 1.5]), st.sampled_from([0.0, 0.5, 2.0])), max_size=60),
)
def test_any_cut_gives_the_same_bits_and_the_definition(
    prices: list[float], n: int, side: str, cut: list[int], spread: list[tuple[float, float]]
) -> None:
    spread = (spread + [(0.0, 0.0)] * len(prices))[: len(prices)]
    highs = [p + up for p, (up, _) in zip(prices, spread)]
    lows = [p - down for p, (_, down) in zip(prices, spread)]
    for samples in (ticks(prices), bars(prices, highs, lows)):
        whole = assert_cut_independent(RT, (side, n), samples, cut)
        assert_replays(RT, (side, n), whole)
    assert bits(whole.value) == bits(naive_breakout(prices, highs, lows, n, side))  # max/min are exact


def test_words() -> None:
    assert RT.describe(("high", 20)) == "20-sample high breakout"
    assert RT.describe(("low", 5)) == "5-sample low breakout"
    assert RT.placeholders(("low", 5)) == {"period": 5, "side": "low"}
    assert RT.explain(("high", 20), {"price": 6010.0, "level": 6008.5}, 1.5) == (
        "price 6010 - highest high of the previous 20 samples 6008.5 = 1.5 points."
    )
    assert RT.explain(("low", 20), {"price": 6000.0, "level": 6001.0}, 1.0) == (
        "lowest low of the previous 20 samples 6001 - price 6000 = 1 point."
    )
    assert "undefined" in RT.explain(("low", 20), {"price": 1.0, "level": NAN}, NAN)
    assert math.isnan(RT.replay(("low", 20), {"price": 1.0, "level": NAN}))


@pytest.mark.parametrize("params", [("high", 1), ("high", 20), ("low", 20)])
def test_inexact_prices_give_the_same_bits_whatever_the_cut(params: tuple[str, int]) -> None:
    for prices, cut in messy_cases():
        highs = [p + 0.5 for p in prices]
        lows = [p - 0.75 for p in prices]
        samples = bars(prices, highs, lows)
        assert_replays(RT, params, assert_cut_independent(RT, params, samples, cut))

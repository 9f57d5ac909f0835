from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.types.rsi import RULE_TYPE, Body
from tradeassist_runner.rules.seam import RuleType

from ..support import (
    NAN,
    any_prices,
    assert_cut_independent,
    assert_replays,
    close,
    cuts,
    exact_prices,
    messy_cases,
    ticks,
)

RT: RuleType = RULE_TYPE


def body(**kw: object) -> Body:
    return Body.model_validate({"type": "rsi", "condition": "below", "threshold": 30, **kw})


def naive_rsi(prices: list[float], n: int) -> tuple[list[float], list[float], list[float]]:
    """Wilder's RSI per sample, literally: plain means at i = N, then
    AG_i = (AG_{i-1}*(N-1) + gain_i) / N."""
    rsi, ags, als = [], [], []
    ag = al = NAN
    for i in range(len(prices)):
        if i >= n:
            if i == n:
                d = [prices[j] - prices[j - 1] for j in range(1, n + 1)]
                ag = sum(max(x, 0.0) for x in d) / n
                al = sum(max(-x, 0.0) for x in d) / n
            else:
                d_i = prices[i] - prices[i - 1]
                ag = (ag * (n - 1) + max(d_i, 0.0)) / n
                al = (al * (n - 1) + max(-d_i, 0.0)) / n
            if al == 0:
                rsi.append(100.0 if ag > 0 else 50.0)
            else:
                rsi.append(100 - 100 / (1 + ag / al))
        else:
            rsi.append(NAN)
        ags.append(ag if i >= n else NAN)
        als.append(al if i >= n else NAN)
    return rsi, ags, als


def test_params_and_default_period() -> None:
    assert body().period == 14
    assert RT.params(body(), "UTC") == (14,)
    assert RT.params(body(period=2), "UTC") == (2,)


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"period": 0}, ("period",), "greater_than_equal"),
        ({"period": "14"}, ("period",), "int_type"),
        ({"side": "high"}, ("side",), "extra_forbidden"),
    ],
)
def test_body_rejects(fields: dict[str, object], loc: tuple[str, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        body(**fields)
    [err] = info.value.errors()
    assert (err["loc"], err["type"]) == (loc, kind)


def test_rsi_by_hand() -> None:
    # N = 3, prices 10, 11, 10.5, 12, 11.5, 13: moves +1, -0.5, +1.5, -0.5, +1.5
    # i=3: AG = 2.5/3, AL = 0.5/3, RS = 5 -> 100 - 100/6 = 83.33
    # i=4: AG = (2.5/3*2 + 0)/3 = 5/9, AL = (0.5/3*2 + 0.5)/3 = 5/18, RS = 2 -> 66.67
    # i=5: AG = (10/9 + 1.5)/3 = 23.5/27, AL = (10/18)/3 = 5/27, RS = 4.7 -> 100 - 100/5.7
    v, _ = RT.values((3,), ticks([10, 11, 10.5, 12, 11.5, 13]), None)
    assert [math.isnan(x) for x in v.value[:3]] == [True, True, True]
    for got, want in zip(v.value[3:].tolist(), [100 - 100 / 6, 100 - 100 / 3, 100 - 100 / 5.7]):
        assert close(got, want, 1e-12)
    assert close(float(v.inputs["avg_gain"][5]), 23.5 / 27, 1e-15)
    assert close(float(v.inputs["avg_loss"][5]), 5 / 27, 1e-15)


def test_no_loss_is_100_no_move_is_50_no_gain_is_0() -> None:
    up, _ = RT.values((2,), ticks([1, 2, 3, 3]), None)
    assert up.value[2:].tolist() == [100.0, 100.0]
    flat, _ = RT.values((2,), ticks([5, 5, 5, 5]), None)
    assert flat.value[2:].tolist() == [50.0, 50.0]
    down, _ = RT.values((2,), ticks([3, 2, 1]), None)
    assert down.value[2] == 0.0


def test_period_one_is_the_last_move_alone() -> None:
    v, _ = RT.values((1,), ticks([1, 3, 2, 2]), None)
    assert v.value.tolist()[1:] == [100.0, 0.0, 50.0]


def test_undefined_until_sample_n_even_one_sample_at_a_time() -> None:
    state = None
    seen = []
    for p in [1.0, 2.0, 1.5, 2.5]:
        v, state = RT.values((3,), ticks([p]), state)
        seen.append(float(v.value[0]))
    assert [math.isnan(x) for x in seen] == [True, True, True, False]


@given(prices=any_prices, n=st.integers(1, 12), cut=cuts)
def test_any_cut_gives_the_same_bits(prices: list[float], n: int, cut: list[int]) -> None:
    assert_replays(RT, (n,), assert_cut_independent(RT, (n,), ticks(prices), cut))


@given(prices=exact_prices, n=st.integers(1, 12))
def test_matches_the_definition(prices: list[float], n: int) -> None:
    v, _ = RT.values((n,), ticks(prices), None)
    rsi, ags, als = naive_rsi(prices, n)
    for i in range(len(prices)):
        assert close(float(v.inputs["avg_gain"][i]), ags[i], 1e-9 * max(abs(ags[i]), 1e-300)), i
        assert close(float(v.inputs["avg_loss"][i]), als[i], 1e-9 * max(abs(als[i]), 1e-300)), i
        assert close(float(v.value[i]), rsi[i], 1e-9 * 100), (i, float(v.value[i]), rsi[i])


def test_long_series_stays_close_to_the_literal_recursion() -> None:
    rng = np.random.default_rng(3)
    prices = (6000 + 0.25 * np.cumsum(rng.integers(-4, 5, 5000))).tolist()
    for n in (14, 500):
        v, _ = RT.values((n,), ticks(prices), None)
        rsi, ags, _ = naive_rsi(prices, n)
        assert max(abs(a - b) for a, b in zip(v.value[n:].tolist(), rsi[n:])) < 1e-10
        assert max(abs(a - b) / b for a, b in zip(v.inputs["avg_gain"][n:].tolist(), ags[n:]) if b) < 1e-12


def test_words() -> None:
    assert RT.describe((14,)) == "RSI(14)"
    assert RT.placeholders((14,)) == {"period": 14}
    assert RT.explain((3,), {"avg_gain": 1.0, "avg_loss": 0.25}, 80.0) == (
        "RSI(3) = 100 - 100 / (1 + 1 / 0.25) = 80 (average gain 1, average loss 0.25)."
    )
    assert "100" in RT.explain((3,), {"avg_gain": 1.0, "avg_loss": 0.0}, 100.0)
    assert "undefined until 4 samples" in RT.explain((3,), {"avg_gain": NAN, "avg_loss": NAN}, NAN)


@pytest.mark.parametrize("n", [1, 2, 14, 40])
def test_inexact_prices_give_the_same_bits_whatever_the_cut(n: int) -> None:
    for prices, cut in messy_cases():
        assert_replays(RT, (n,), assert_cut_independent(RT, (n,), ticks(prices), cut))


@pytest.mark.parametrize("n", [1, 2, 14, 40])
def test_inexact_prices_match_the_definition(n: int) -> None:
    for prices, _ in messy_cases():
        v, _ = RT.values((n,), ticks(prices), None)
        rsi, ags, als = naive_rsi(prices, n)
        for i in range(len(prices)):
            assert close(float(v.inputs["avg_gain"][i]), ags[i], 1e-9 * abs(ags[i])), i
            assert close(float(v.inputs["avg_loss"][i]), als[i], 1e-9 * abs(als[i])), i
            assert close(float(v.value[i]), rsi[i], 1e-9 * 100), i

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.types.bollinger import RULE_TYPE, Body
from tradeassist_runner.rules.seam import RuleType

from ..support import (
    NAN,
    any_prices,
    assert_cut_independent,
    assert_replays,
    bits,
    close,
    cuts,
    exact_prices,
    flat_inexact,
    messy_cases,
    ticks,
)

RT: RuleType = RULE_TYPE


def body(**kw: object) -> Body:
    return Body.model_validate({"type": "bollinger", "condition": "above", "threshold": 2, **kw})


def naive_bollinger(prices: list[float], n: int) -> list[tuple[float, float, float]]:
    """(value, mean, std) per sample: plain mean, then the mean of squared deviations."""
    out = []
    for i, p in enumerate(prices):
        if i < n - 1:
            out.append((NAN, NAN, NAN))
            continue
        w = prices[i - n + 1 : i + 1]
        m = sum(w) / n
        s = math.sqrt(sum((x - m) ** 2 for x in w) / n)
        if max(w) == min(w) or s == 0:
            out.append((NAN, w[0], 0.0))
        else:
            out.append(((p - m) / s, m, s))
    return out


def test_params() -> None:
    assert RT.params(body(period=20), "UTC") == (20,)


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"period": 1}, ("period",), "greater_than_equal"),
        ({"period": 0}, ("period",), "greater_than_equal"),
        ({}, ("period",), "missing"),
        ({"period": 20, "width": 2}, ("width",), "extra_forbidden"),
    ],
)
def test_body_rejects(fields: dict[str, object], loc: tuple[str, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        body(**fields)
    [err] = info.value.errors()
    assert (err["loc"], err["type"]) == (loc, kind)


def test_tiny_windows_by_hand() -> None:
    # N = 2 over 1, 3: m = 2, s = sqrt((1 + 1)/2) = 1 -> (3 - 2)/1 = 1
    v, _ = RT.values((2,), ticks([1, 3]), None)
    assert bits(v.value) == bits([NAN, 1.0])
    assert (v.inputs["mean"][1], v.inputs["std"][1]) == (2.0, 1.0)
    # N = 3 over 1, 2, 3: m = 2, s = sqrt(2/3) -> 1/sqrt(2/3) = 1.2247...
    v, _ = RT.values((3,), ticks([1, 2, 3, 0]), None)
    assert close(float(v.value[2]), 1 / math.sqrt(2 / 3), 1e-15)
    # window 2, 3, 0: m = 5/3, s = sqrt(((1/3)^2 + (4/3)^2 + (5/3)^2)/3) = sqrt(14/9)
    assert close(float(v.value[3]), (0 - 5 / 3) / math.sqrt(14 / 9), 1e-15)


def test_a_flat_window_is_undefined_even_when_rounding_says_otherwise() -> None:
    price = 0.1
    window = np.full(3, price)
    m = np.add.reduce(window) / 3
    assert np.sqrt(np.add.reduce((window - m) ** 2) / 3) > 0  # rounding: s is not 0 ...
    v, _ = RT.values((3,), ticks([price] * 4), None)
    assert np.isnan(v.value).all()  # ... but the prices are all equal
    assert v.inputs["std"][2:].tolist() == [0.0, 0.0] and v.inputs["mean"][2:].tolist() == [price, price]


@given(prices=any_prices, n=st.integers(2, 12), cut=cuts)
def test_any_cut_gives_the_same_bits(prices: list[float], n: int, cut: list[int]) -> None:
    assert_replays(RT, (n,), assert_cut_independent(RT, (n,), ticks(prices), cut))


@given(prices=st.one_of(exact_prices, flat_inexact), n=st.integers(2, 12))
def test_matches_the_definition(prices: list[float], n: int) -> None:
    v, _ = RT.values((n,), ticks(prices), None)
    for i, (want, m, s) in enumerate(naive_bollinger(prices, n)):
        assert close(float(v.inputs["mean"][i]), m, 1e-9 * max(abs(m), 1.0)), i
        assert close(float(v.inputs["std"][i]), s, 1e-9 * max(s, 1e-300)), i
        assert close(float(v.value[i]), want, 1e-9 * max(abs(want), 1.0)), (i, float(v.value[i]), want)


def test_two_pass_std_survives_prices_near_6000() -> None:
    prices = [6000.0 + 0.25 * k for k in (0, 1, 0, 1)] * 5
    v, _ = RT.values((20,), ticks(prices), None)
    assert v.inputs["std"][-1] == 0.125 and v.value[-1] == 1.0
    # E[x^2] - E[x]^2 keeps about 6 digits of this std; two passes keep them all
    prices = [6000.1, 6000.3, 6000.2, 6000.25, 6000.15]
    v, _ = RT.values((5,), ticks(prices), None)
    assert close(float(v.inputs["std"][-1]), math.sqrt(0.005), 1e-12)


def test_inexact_prices_match_the_definition() -> None:
    for prices, _ in messy_cases():
        for n in (2, 20):
            v, _ = RT.values((n,), ticks(prices), None)
            for i, (want, m, s) in enumerate(naive_bollinger(prices, n)):
                assert close(float(v.inputs["std"][i]), s, 1e-9 * s), i
                tol = 1e-9 * (abs(want) + (abs(prices[i]) + abs(m)) / s) if s else 0.0
                assert close(float(v.value[i]), want, tol), (i, float(v.value[i]), want)


def test_large_period_in_many_small_batches() -> None:
    rng = np.random.default_rng(11)
    prices = (6000 + 0.25 * np.cumsum(rng.integers(-4, 5, 3000))).tolist()
    assert_cut_independent(RT, (1000,), ticks(prices), list(range(0, 3000, 37)))


def test_words() -> None:
    assert RT.describe((20,)) == "Bollinger(20)"
    assert RT.placeholders((20,)) == {"period": 20}
    assert RT.explain((2,), {"price": 3.0, "mean": 2.0, "std": 1.0}, 1.0) == (
        "price 3 is 1 standard deviation above the 2-sample mean 2: (3 - 2) / 1 = 1."
    )
    assert RT.explain((2,), {"price": 1.0, "mean": 2.0, "std": 0.5}, -2.0) == (
        "price 1 is 2 standard deviations below the 2-sample mean 2: (1 - 2) / 0.5 = -2."
    )
    assert "all 5" in RT.explain((2,), {"price": 5.0, "mean": 5.0, "std": 0.0}, NAN)
    assert math.isnan(RT.replay((2,), {"price": 5.0, "mean": 5.0, "std": 0.0}))


@pytest.mark.parametrize("n", [2, 9, 20, 64])
def test_inexact_prices_give_the_same_bits_whatever_the_cut(n: int) -> None:
    for prices, cut in messy_cases():
        assert_replays(RT, (n,), assert_cut_independent(RT, (n,), ticks(prices), cut))

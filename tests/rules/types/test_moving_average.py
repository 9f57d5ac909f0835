from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.types.moving_average import RULE_TYPE, Body
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
    return Body.model_validate({"type": "moving_average", "condition": "above", "threshold": 0, **kw})


def naive_ma(prices: list[float], average: str, n: int) -> list[float]:
    """MA_i straight from the definition: plain means; the EMA's literal recursion."""
    out: list[float] = []
    ema = NAN
    alpha = 2 / (n + 1)
    for i in range(len(prices)):
        if i < n - 1:
            out.append(NAN)
        elif average == "sma":
            out.append(sum(prices[i - n + 1 : i + 1]) / n)
        else:
            ema = sum(prices[:n]) / n if i == n - 1 else alpha * prices[i] + (1 - alpha) * ema
            out.append(ema)
    return out


def naive_value(price: float, ma: float) -> float:
    if math.isnan(ma) or ma == 0:
        return NAN
    return (price - ma) / abs(ma) * 100


def value_of(prices: list[float], **kw: object) -> list[float]:
    params = RT.params(body(**kw), "America/New_York")
    v, _ = RT.values(params, ticks(prices), None)
    return [float(x) for x in v.value]


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(close(x, y, 1e-12 * max(1.0, abs(y))) for x, y in zip(a, b))


# --- the model -------------------------------------------------------------------------


def test_body_defaults_and_params() -> None:
    assert body(period=20).average == "sma"
    assert RT.params(body(period=20), "UTC") == ("sma", 20)
    assert RT.params(body(period=21, average="ema"), "UTC") == ("ema", 21)
    assert RT.other_symbols(body(period=3)) == ()


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"period": 0}, ("period",), "greater_than_equal"),
        ({"period": 100_001}, ("period",), "less_than_equal"),
        ({"period": 2.0}, ("period",), "int_type"),
        ({"period": True}, ("period",), "int_type"),
        ({}, ("period",), "missing"),
        ({"period": 5, "average": "wma"}, ("average",), "literal_error"),
        ({"period": 5, "window": "5m"}, ("window",), "extra_forbidden"),
    ],
)
def test_body_rejects(fields: dict[str, object], loc: tuple[str, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        body(**fields)
    [err] = info.value.errors()
    assert (err["loc"], err["type"]) == (loc, kind)


def test_schema_describes_every_parameter() -> None:
    props = Body.model_json_schema()["properties"]
    assert props["period"]["minimum"] == 1 and props["period"]["description"]
    assert props["average"]["enum"] == ["sma", "ema"] and props["average"]["description"]


# --- values ------------------------------------------------------------------------------


def test_sma_by_hand() -> None:
    # SMA(3) of 1,2,3,4,8: -, -, 2, 3, 5 -> (3-2)/2, (4-3)/3, (8-5)/5
    assert same(value_of([1, 2, 3, 4, 8], period=3), [NAN, NAN, 50.0, 100 / 3, 60.0])


def test_ema_seed_is_the_sma_then_the_recursion() -> None:
    # EMA(3), alpha = 1/2: seed SMA(1,2,3) = 2, then 0.5*4 + 0.5*2 = 3, then 0.5*5 + 0.5*3 = 4
    v, _ = RT.values(("ema", 3), ticks([1, 2, 3, 4, 5]), None)
    assert v.inputs["ma"][2:].tolist() == [2.0, 3.0, 4.0]
    assert same([float(x) for x in v.value], [NAN, NAN, 50.0, 100 / 3, 25.0])


def test_period_one_is_the_price_itself() -> None:
    for average in ("sma", "ema"):
        v, _ = RT.values((average, 1), ticks([1e16, 1.0, -3.5]), None)
        assert v.inputs["ma"].tolist() == [1e16, 1.0, -3.5]
        assert v.value.tolist() == [0.0, 0.0, 0.0]


def test_percent_of_a_negative_average_rises_with_the_price() -> None:
    # $TICK-like: SMA(2) of -10, -6 = -8; -6 is above it: (-6 - -8) / |-8| * 100 = 25
    assert same(value_of([-10, -6], period=2), [NAN, 25.0])


def test_zero_average_is_undefined() -> None:
    # SMA(2): 0 at i=1 (-3, 3) and at i=3 (-5, 5); 4 at i=2
    assert same(value_of([-3, 3, 5, -5], period=2), [NAN, NAN, 25.0, NAN])
    assert same(value_of([0, 0, 0], period=2, average="ema"), [NAN, NAN, NAN])


def test_flat_prices_are_exactly_zero() -> None:
    assert value_of([6000.25] * 5, period=3)[2:] == [0.0, 0.0, 0.0]


def test_empty_batch_keeps_the_state() -> None:
    _, state = RT.values(("ema", 3), ticks([1, 2]), None)
    v, same_state = RT.values(("ema", 3), ticks([]), state)
    assert len(v.value) == 0 and same_state == state


@given(prices=any_prices, average=st.sampled_from(["sma", "ema"]), n=st.integers(1, 12), cut=cuts)
def test_any_cut_gives_the_same_bits(prices: list[float], average: str, n: int, cut: list[int]) -> None:
    whole = assert_cut_independent(RT, (average, n), ticks(prices), cut)
    assert_replays(RT, (average, n), whole)


@given(prices=exact_prices, average=st.sampled_from(["sma", "ema"]), n=st.integers(1, 12))
def test_matches_the_definition(prices: list[float], average: str, n: int) -> None:
    v, _ = RT.values((average, n), ticks(prices), None)
    ref = naive_ma(prices, average, n)
    scale = max((abs(p) for p in prices), default=1.0)
    for i, (p, ma, r) in enumerate(zip(prices, v.inputs["ma"].tolist(), ref)):
        assert close(ma, r, 1e-9 * scale), (i, ma, r)
        if average == "sma":
            assert ma == r or math.isnan(r)  # exact sums: the same single rounding
        got, want = float(v.value[i]), naive_value(p, r)
        if abs(r) <= 1e-9 * scale:
            continue  # MA is 0 within rounding: undefined or any value (e.g. EMA(2) of -2, 0, 0.5)
        if math.isnan(want) or math.isnan(got):
            assert math.isnan(want) and math.isnan(got), (i, got, want)
        else:  # relative to the operands: p - MA cancels
            assert close(got, want, 1e-9 * (abs(want) + 100 * (abs(p) + abs(r)) / abs(r))), (i, got, want)


def test_long_ema_stays_close_to_the_literal_recursion() -> None:
    rng = np.random.default_rng(7)
    prices = (6000 + 0.25 * np.cumsum(rng.integers(-4, 5, 5000))).tolist()
    for n in (9, 200, 1000):
        v, _ = RT.values(("ema", n), ticks(prices), None)
        ref = naive_ma(prices, "ema", n)
        worst = max(abs(a - b) / abs(b) for a, b in zip(v.inputs["ma"][n - 1:].tolist(), ref[n - 1:]))
        assert worst < 1e-12


def test_words() -> None:
    assert RT.describe(("sma", 20)) == "SMA(20) distance %"
    assert RT.describe(("ema", 9)) == "EMA(9) distance %"
    assert RT.placeholders(("ema", 9)) == {"period": 9, "average": "ema"}
    assert RT.explain(("sma", 2), {"price": 5.0, "ma": 4.0}, 25.0) == (
        "price 5 is 25% above SMA(2) 4: (5 - 4) / |4| * 100 = 25."
    )
    assert "undefined" in RT.explain(("sma", 20), {"price": 5.0, "ma": NAN}, NAN)
    assert "is 0" in RT.explain(("sma", 2), {"price": 5.0, "ma": 0.0}, NAN)


def test_an_ema_that_is_exactly_zero_is_undefined() -> None:
    # EMA(2), alpha 2/3: seed (-2 + 0)/2 = -1, then 2/3*0.5 + 1/3*(-1) = 0 exactly (the
    # literal float recursion rounds it to 1.1e-16 and would report a distance of 9e17 %)
    v, _ = RT.values(("ema", 2), ticks([-2, 0, 0.5]), None)
    assert v.inputs["ma"][2] == 0.0 and math.isnan(v.value[2])


@pytest.mark.parametrize("params", [("sma", 1), ("sma", 7), ("sma", 40), ("ema", 7), ("ema", 40)])
def test_inexact_prices_give_the_same_bits_whatever_the_cut(params: tuple[str, int]) -> None:
    for prices, cut in messy_cases():
        assert_replays(RT, params, assert_cut_independent(RT, params, ticks(prices), cut))


@pytest.mark.parametrize("params", [("sma", 7), ("sma", 40), ("ema", 7), ("ema", 40)])
def test_inexact_prices_match_the_definition(params: tuple[str, int]) -> None:
    average, n = params
    for prices, _ in messy_cases():
        v, _ = RT.values(params, ticks(prices), None)
        scale = max(abs(p) for p in prices)
        for i, (p, r) in enumerate(zip(prices, naive_ma(prices, average, n))):
            assert close(float(v.inputs["ma"][i]), r, 1e-9 * abs(r) if not math.isnan(r) else 0.0), i
            if not math.isnan(r) and abs(r) > 1e-9 * scale:
                want = naive_value(p, r)
                tol = 1e-9 * (abs(want) + 100 * (abs(p) + abs(r)) / abs(r))
                assert close(float(v.value[i]), want, tol), (i, float(v.value[i]), want)

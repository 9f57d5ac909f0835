from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.types.ma_cross import RULE_TYPE, Body
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
from .test_moving_average import naive_ma

RT: RuleType = RULE_TYPE


def body(**kw: object) -> Body:
    return Body.model_validate({"type": "ma_cross", "condition": "crosses_above", "threshold": 0, **kw})


def test_params() -> None:
    assert RT.params(body(fast=9, slow=21), "UTC") == ("sma", 9, 21)
    assert RT.params(body(fast=9, slow=21, average="ema"), "UTC") == ("ema", 9, 21)


@pytest.mark.parametrize(("fast", "slow"), [(9, 5), (5, 5)])
def test_fast_must_be_less_than_slow_located_on_fast(fast: int, slow: int) -> None:
    with pytest.raises(ValidationError) as info:
        body(fast=fast, slow=slow)
    [err] = info.value.errors()
    assert err["loc"] == ("fast",)
    assert err["type"] == "value_error"
    assert err["msg"] == f"must be less than slow ({slow}), got {fast}"


def test_fast_slow_error_is_located_inside_a_list() -> None:
    from pydantic import BaseModel

    class Holder(BaseModel):
        conditions: list[Body]

    with pytest.raises(ValidationError) as info:
        Holder.model_validate({"conditions": [{"type": "ma_cross", "condition": "above", "threshold": 0,
                                               "fast": 9, "slow": 5}]})
    assert [e["loc"] for e in info.value.errors()] == [("conditions", 0, "fast")]


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"fast": 0, "slow": 5}, ("fast",), "greater_than_equal"),
        ({"fast": 3}, ("slow",), "missing"),
        ({"fast": 3, "slow": 5, "period": 3}, ("period",), "extra_forbidden"),
    ],
)
def test_body_rejects(fields: dict[str, object], loc: tuple[str, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        body(**fields)
    [err] = info.value.errors()
    assert (err["loc"], err["type"]) == (loc, kind)


def test_sma_cross_by_hand() -> None:
    # SMA(2) vs SMA(3) of 1,2,3,4: i=2: 2.5 vs 2 -> 25%; i=3: 3.5 vs 3 -> 16.67%
    v, _ = RT.values(("sma", 2, 3), ticks([1, 2, 3, 4]), None)
    assert math.isnan(v.value[0]) and math.isnan(v.value[1])
    assert v.value[2] == 25.0 and close(float(v.value[3]), 50 / 3, 1e-12)
    assert math.isnan(v.inputs["fast_ma"][0]) and v.inputs["fast_ma"][1] == 1.5  # fast defined earlier


def test_each_ema_is_seeded_at_its_own_period() -> None:
    # EMA(1) is the price; EMA(3) seeds at i=2 with SMA = 2, then alpha 1/2
    v, _ = RT.values(("ema", 1, 3), ticks([1, 2, 3, 5]), None)
    assert v.inputs["fast_ma"].tolist() == [1, 2, 3, 5]
    assert v.inputs["slow_ma"][2:].tolist() == [2.0, 3.5]
    assert v.value[2] == 50.0 and close(float(v.value[3]), 1.5 / 3.5 * 100, 1e-12)


def test_zero_slow_average_is_undefined() -> None:
    v, _ = RT.values(("sma", 1, 2), ticks([-1, 1, 3]), None)
    assert math.isnan(v.value[1]) and v.value[2] == 50.0


@given(
    prices=any_prices, average=st.sampled_from(["sma", "ema"]), fast=st.integers(1, 6),
    extra=st.integers(1, 6), cut=cuts,
)
def test_any_cut_gives_the_same_bits(prices: list[float], average: str, fast: int, extra: int,
                                     cut: list[int]) -> None:
    params = (average, fast, fast + extra)
    assert_replays(RT, params, assert_cut_independent(RT, params, ticks(prices), cut))


@given(prices=exact_prices, average=st.sampled_from(["sma", "ema"]), fast=st.integers(1, 6),
       extra=st.integers(1, 6))
def test_matches_the_definition(prices: list[float], average: str, fast: int, extra: int) -> None:
    slow = fast + extra
    v, _ = RT.values((average, fast, slow), ticks(prices), None)
    f_ref, s_ref = naive_ma(prices, average, fast), naive_ma(prices, average, slow)
    scale = max((abs(p) for p in prices), default=1.0)
    for i in range(len(prices)):
        f, s = f_ref[i], s_ref[i]
        assert close(float(v.inputs["fast_ma"][i]), f, 1e-9 * scale)
        assert close(float(v.inputs["slow_ma"][i]), s, 1e-9 * scale)
        want = NAN if math.isnan(s) or s == 0 else (f - s) / abs(s) * 100
        got = float(v.value[i])
        if abs(s) <= 1e-9 * scale:
            continue  # the slow MA is 0 within rounding: undefined or any value
        if math.isnan(want) or math.isnan(got):
            assert math.isnan(want) and math.isnan(got), (i, got, want)
        else:
            assert close(got, want, 1e-9 * (abs(want) + 100 * (abs(f) + abs(s)) / abs(s))), (i, got, want)


def test_words() -> None:
    assert RT.describe(("ema", 9, 21)) == "EMA(9)/EMA(21) cross"
    assert RT.describe(("sma", 50, 200)) == "SMA(50)/SMA(200) cross"
    assert RT.placeholders(("ema", 9, 21)) == {"fast": 9, "slow": 21, "average": "ema"}
    assert RT.explain(("sma", 2, 3), {"fast_ma": 2.5, "slow_ma": 2.0}, 25.0) == (
        "SMA(2) 2.5 is 25% above SMA(3) 2: (2.5 - 2) / |2| * 100 = 25."
    )
    assert "undefined" in RT.explain(("sma", 2, 3), {"fast_ma": 1.5, "slow_ma": NAN}, NAN)


def test_the_user_sees_a_located_fast_slow_problem() -> None:
    from pydantic import BaseModel

    from tradeassist_runner.config.explain import explain
    from tradeassist_runner.config.yaml_source import parse_yaml

    class Holder(BaseModel):
        conditions: list[Body]

    text = (
        "conditions:\n"
        "  - type: ma_cross\n"
        "    condition: above\n"
        "    threshold: 0\n"
        "    fast: 9\n"
        "    slow: 5\n"
    )
    doc = parse_yaml(text, "rules.yaml")
    with pytest.raises(ValidationError) as info:
        Holder.model_validate(doc.data)
    [problem] = explain(info.value, doc, Holder)
    assert str(problem) == "rules.yaml:5:11: fast: must be less than slow (5), got 9"


@pytest.mark.parametrize("params", [("sma", 3, 8), ("sma", 10, 40), ("ema", 3, 8), ("ema", 12, 26)])
def test_inexact_prices_give_the_same_bits_whatever_the_cut(params: tuple[str, int, int]) -> None:
    for prices, cut in messy_cases():
        assert_replays(RT, params, assert_cut_independent(RT, params, ticks(prices), cut))


@pytest.mark.parametrize("params", [("sma", 3, 8), ("ema", 12, 26)])
def test_inexact_prices_match_the_definition(params: tuple[str, int, int]) -> None:
    average, fast, slow = params
    for prices, _ in messy_cases():
        v, _ = RT.values(params, ticks(prices), None)
        scale = max(abs(p) for p in prices)
        for i, (f, s) in enumerate(zip(naive_ma(prices, average, fast), naive_ma(prices, average, slow))):
            if not math.isnan(s) and abs(s) > 1e-9 * scale:
                want = (f - s) / abs(s) * 100
                tol = 1e-9 * (abs(want) + 100 * (abs(f) + abs(s)) / abs(s))
                assert close(float(v.value[i]), want, tol), (i, float(v.value[i]), want)

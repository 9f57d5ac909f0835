"""``spread``: a - factor*b or a / (factor*b) over both symbols' ticks in arrival order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.seam import Params, RuleType, Samples
from tradeassist_runner.rules.types.spread import RULE_TYPE, Body

from .cutting import bits_equal, check_cut_independent, check_replay, cuts_strategy

NAN = math.nan


def body(**fields: object) -> Body:
    return Body.model_validate(
        {"type": "spread", "condition": "above", "threshold": 10, "other": "$SPX", **fields}
    )


def ticks(rows: list[tuple[int, int, float]]) -> Samples:
    """(source, ts, price) rows in arrival order."""
    src = np.array([r[0] for r in rows], dtype=np.int64)
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    price = np.array([r[2] for r in rows], dtype=np.float64)
    return Samples.of_ticks(ts, price, np.full(len(rows), NAN), src)


def naive(params: Params, rows: list[tuple[int, int, float]]) -> list[float]:
    """Straight from the rule text, one sample at a time."""
    _, mode, factor, max_age = params
    assert isinstance(factor, float) and (max_age is None or isinstance(max_age, int))
    latest: dict[int, tuple[int, float]] = {}
    out = []
    for source, ts, price in rows:
        latest[source] = (ts, price)
        if 0 not in latest or 1 not in latest:
            out.append(NAN)
            continue
        (a_ts, a), (b_ts, b) = latest[0], latest[1]
        if max_age is not None and abs(a_ts - b_ts) > max_age:
            out.append(NAN)
        elif mode == "difference":
            out.append(a - factor * b)
        else:
            out.append(NAN if b == 0 else a / (factor * b))
    return out


def test_satisfies_the_protocol() -> None:
    rule_type: RuleType = RULE_TYPE
    assert (rule_type.name, rule_type.bars, rule_type.in_conjunctions) == ("spread", False, False)
    assert rule_type.input_names == ("a", "b", "a_ts", "b_ts", "factor")
    b = body()
    params = rule_type.params(b, "America/New_York")
    assert params == ("$SPX", "difference", 1.0, None)
    assert rule_type.other_symbols(b) == ("$SPX",)
    assert rule_type.describe(params) == "price - 1×$SPX"
    assert rule_type.placeholders(params) == {"other": "$SPX", "mode": "difference", "factor": 1.0, "max_age": "none"}
    ratio = rule_type.params(body(mode="ratio", factor=0.1, max_age="5s"), "UTC")
    assert ratio == ("$SPX", "ratio", 0.1, 5000)
    assert rule_type.describe(ratio) == "price / (0.1×$SPX) (max age 5s)"
    assert rule_type.placeholders(ratio)["max_age"] == "5s"


def test_difference_forward_fills_and_goes_stale_with_max_age() -> None:
    params = ("$SPX", "difference", 1.0, 1500)
    rows = [
        (0, 0, 6010.0),  # no $SPX yet
        (1, 1000, 6000.0),  # 6010 - 6000 = 10
        (0, 2000, 6012.0),  # 6012 - 6000 = 12 (ticks 1000 ms apart)
        (0, 3000, 6013.0),  # $SPX's latest is 2000 ms older: stale, undefined
        (0, 3000, 6014.0),  # still stale
        (1, 3500, 6001.0),  # 6014 - 6001 = 13 (500 ms apart)
    ]
    values, state = RULE_TYPE.values(params, ticks(rows), None)
    assert bits_equal(values.value, [NAN, 10.0, 12.0, NAN, NAN, 13.0])
    assert bits_equal(values.inputs["a_ts"], [0, 0, 2000, 3000, 3000, 3000])
    assert bits_equal(values.inputs["b_ts"], [NAN, 1000, 1000, 1000, 1000, 3500])
    assert state == {"a": 6014.0, "a_ts": 3000, "b": 6001.0, "b_ts": 3500}
    stale = {k: float(values.inputs[k][3]) for k in RULE_TYPE.input_names}
    assert RULE_TYPE.explain(params, stale, NAN) == (
        "The latest ticks were 2000 ms apart, more than the max age 1500ms: no spread."
    )
    fresh = {k: float(values.inputs[k][5]) for k in RULE_TYPE.input_names}
    assert RULE_TYPE.explain(params, fresh, 13.0) == "The price was 6014 and $SPX 6001: 6014 - 1 × 6001 = 13."
    # Exactly max_age apart is not stale.
    values, _ = RULE_TYPE.values(("$SPX", "difference", 1.0, 2000), ticks(rows), None)
    assert bits_equal(values.value, [NAN, 10.0, 12.0, 13.0, 14.0, 13.0])
    # Without max_age the stale samples are defined.
    values, _ = RULE_TYPE.values(("$SPX", "difference", 1.0, None), ticks(rows), None)
    assert bits_equal(values.value, [NAN, 10.0, 12.0, 13.0, 14.0, 13.0])


def test_ratio_is_undefined_when_b_is_zero() -> None:
    params = ("$TICK", "ratio", 2.0, None)
    rows = [(1, 0, 0.0), (0, 1, 5.0), (1, 2, -2.0), (1, 3, 0.0), (0, 4, 6.0)]
    values, _ = RULE_TYPE.values(params, ticks(rows), None)
    # 5 / (2 * 0): undefined; 5 / (2 * -2) = -1.25; b = 0 again: undefined.
    assert bits_equal(values.value, [NAN, NAN, -1.25, NAN, NAN])
    zero = {k: float(values.inputs[k][1]) for k in RULE_TYPE.input_names}
    assert RULE_TYPE.explain(params, zero, NAN) == "The price was 5 and $TICK 0: no ratio to 0."
    assert RULE_TYPE.explain(params, {"a": NAN, "b": 1.0, "a_ts": NAN, "b_ts": 0.0, "factor": 2.0}, NAN) == (
        "No tick of this instrument yet, so there is no spread."
    )


def test_a_value_beyond_float_range_is_undefined() -> None:
    params = ("B", "ratio", 1e-300, None)
    values, _ = RULE_TYPE.values(params, ticks([(1, 0, 1e-300), (0, 1, 1e300)]), None)
    assert bits_equal(values.value, [NAN, NAN])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"factor": 0}, "factor must not be 0"),
        ({"factor": "x"}, "must be a number"),
        ({"max_age": "0s"}, "max_age must be greater than 0"),
        ({"mode": "product"}, "'difference' or 'ratio'"),
        ({"other": ""}, "at least 1 character"),
        ({"bar": "5m"}, "Extra inputs are not permitted"),
    ],
)
def test_body_rejects(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        body(**fields)


def test_body_requires_other() -> None:
    with pytest.raises(ValidationError, match="other\n  Field required"):
        Body.model_validate({"type": "spread", "condition": "above", "threshold": 1})


@st.composite
def streams(draw: st.DrawFn) -> tuple[Params, list[tuple[int, int, float]]]:
    n = draw(st.integers(0, 40))
    sources = draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n))
    prices = draw(st.lists(st.sampled_from([0.0, -3.0, 1.5, 6000.25, 1e-3, 7.0]), min_size=n, max_size=n))
    # Each symbol's ts is non-decreasing; across the two, t may step back.
    clock = {0: 0, 1: draw(st.sampled_from([0, 1, -1, 1000, -2000, 2999]))}
    rows = []
    for s, p in zip(sources, prices):
        clock[s] += draw(st.sampled_from([0, 1, 400, 1000, 2500]))
        rows.append((s, clock[s], p))
    mode = draw(st.sampled_from(["difference", "ratio"]))
    factor = draw(st.sampled_from([1.0, -0.5, 0.1, 10.0, 3.0]))
    max_age = draw(st.sampled_from([None, 1, 1000, 2000]))
    return ("OTHER", mode, factor, max_age), rows


@given(streams(), cuts_strategy())
def test_cut_independent_naive_and_replayable(s: tuple[Params, list[tuple[int, int, float]]], cuts: list[int]) -> None:
    params, rows = s
    whole = check_cut_independent(RULE_TYPE, params, ticks(rows), cuts)
    assert bits_equal(whole.value, naive(params, rows))
    check_replay(RULE_TYPE, params, whole)

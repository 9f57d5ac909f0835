"""``volume_spike``: volume / mean of the last ``period`` earlier non-null volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.seam import RuleType, Samples
from tradeassist_runner.rules.types.volume_spike import RULE_TYPE, Body

from .cutting import bits_equal, check_cut_independent, check_replay, cuts_strategy

NAN = math.nan


def body(**fields: object) -> Body:
    return Body.model_validate({"type": "volume_spike", "condition": "above", "threshold": 3, **fields})


def naive(period: int, volume: list[int | None]) -> list[float]:
    """Straight from the rule text, one sample at a time (Python integers: exact sums)."""
    out = []
    seen: list[int] = []
    for v in volume:
        if v is None or len(seen) < period:
            out.append(NAN)
        else:
            mean = sum(seen[-period:]) / period
            out.append(NAN if mean == 0 else v / mean)
        if v is not None:
            seen.append(v)
    return out


def samples_of(volume: list[int | None]) -> Samples:
    n = len(volume)
    vol = np.array([NAN if v is None else float(v) for v in volume], dtype=np.float64)
    return Samples.of_ticks(np.arange(n, dtype=np.int64), np.full(n, 10.0), vol)


def test_satisfies_the_protocol() -> None:
    rule_type: RuleType = RULE_TYPE
    assert (rule_type.name, rule_type.bars, rule_type.in_conjunctions) == ("volume_spike", True, True)
    assert rule_type.input_names == ("volume", "mean")
    params = rule_type.params(body(period=20), "America/New_York")
    assert params == (20,)
    assert rule_type.describe(params) == "volume / mean of 20"
    assert rule_type.placeholders(params) == {"period": 20}


def test_nulls_are_skipped_and_zero_counts() -> None:
    volume: list[int | None] = [10, None, 20, 30, None, 0, 60, 0, 0, 5]
    values, state = RULE_TYPE.values((2,), samples_of(volume), None)
    # i3: mean(10, 20) = 15 -> 2; i5: mean(20, 30) = 25 -> 0; i6: mean(30, 0) = 15 -> 4;
    # i7: mean(0, 60) = 30 -> 0; i8: mean(60, 0) -> 0; i9: mean(0, 0) = 0 -> undefined.
    assert bits_equal(values.value, [NAN, NAN, NAN, 2.0, NAN, 0.0, 4.0, 0.0, 0.0, NAN])
    assert bits_equal(values.inputs["mean"], [NAN, NAN, NAN, 15.0, 25.0, 25.0, 15.0, 30.0, 30.0, 0.0])
    assert state == {"volumes": [0, 5]}
    inputs = {k: float(values.inputs[k][6]) for k in RULE_TYPE.input_names}
    assert RULE_TYPE.explain((2,), inputs, 4.0) == (
        "The volume was 60 against a mean of 15 over the last 2 volumes: 60 / 15 = 4."
    )
    assert RULE_TYPE.explain((2,), {"volume": NAN, "mean": 25.0}, NAN) == "The sample had no volume."


def test_large_volumes_sum_exactly() -> None:
    big = 2**52 - 1
    values, _ = RULE_TYPE.values((3,), samples_of([big, 1, 2, 3]), None)
    assert values.inputs["mean"][3] == (big + 3) / 3


@pytest.mark.parametrize(
    ("period", "message"),
    [
        (0, "greater than or equal to 1"),
        (100_001, "less than or equal to 100000"),
        (2.5, "valid integer"),
        ("20", "valid integer"),
        (True, "valid integer"),
    ],
)
def test_body_rejects_a_bad_period(period: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        body(period=period)


@st.composite
def volumes(draw: st.DrawFn) -> list[int | None]:
    return draw(st.lists(st.one_of(st.none(), st.sampled_from([0, 0, 1, 2, 7, 1000, 2**40 + 1])), max_size=40))


@given(st.integers(1, 6), volumes(), cuts_strategy())
def test_cut_independent_naive_and_replayable(period: int, volume: list[int | None], cuts: list[int]) -> None:
    samples = samples_of(volume)
    whole = check_cut_independent(RULE_TYPE, (period,), samples, cuts)
    assert bits_equal(whole.value, naive(period, volume))
    check_replay(RULE_TYPE, (period,), whole)

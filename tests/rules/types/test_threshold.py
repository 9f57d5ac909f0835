"""``threshold``: the value is the sample's price."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.seam import RuleType, Samples
from tradeassist_runner.rules.types.threshold import RULE_TYPE, Body

from .cutting import bits_equal, check_cut_independent, check_replay, cuts_strategy


def test_satisfies_the_protocol() -> None:
    rule_type: RuleType = RULE_TYPE
    assert rule_type.name == "threshold" and rule_type.bars and rule_type.in_conjunctions
    assert rule_type.input_names == ("price",)
    body = Body.model_validate({"type": "threshold", "condition": "above", "threshold": 6000})
    assert rule_type.params(body, "America/New_York") == ()
    assert rule_type.other_symbols(body) == ()
    assert rule_type.describe(()) == "price"
    assert rule_type.placeholders(()) == {}


def test_value_is_the_price() -> None:
    samples = Samples.of_ticks(np.array([0, 1, 1]), np.array([6000.0, -5.5, 0.0]), np.array([1.0, np.nan, 2.0]))
    values, _ = RULE_TYPE.values((), samples, None)
    assert bits_equal(values.value, [6000.0, -5.5, 0.0])
    assert RULE_TYPE.explain((), {"price": 6000.25}, 6000.25) == "The price was 6000.25."


def test_body_rejects_a_non_number_threshold_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="must be a number"):
        Body.model_validate({"type": "threshold", "condition": "above", "threshold": "high"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Body.model_validate({"type": "threshold", "condition": "above", "threshold": 1, "window": "5m"})


@given(
    prices=st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40),
    cuts=cuts_strategy(),
)
def test_cut_independent_and_replayable(prices: list[float], cuts: list[int]) -> None:
    samples = Samples.of_ticks(np.arange(len(prices)), np.array(prices), np.full(len(prices), np.nan))
    whole = check_cut_independent(RULE_TYPE, (), samples, cuts)
    assert bits_equal(whole.value, prices)
    check_replay(RULE_TYPE, (), whole)

"""``finite_ratio`` and ``finite_percent`` (fewer passes, for the types' batch arithmetic)
give ``exact_ratio`` and ``percent_of`` bit for bit, every NaN being the same undefined."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.rules.seam import exact_ratio, finite_percent, finite_ratio, percent_of

from .types.cutting import bits_equal

#: Zeros of both signs, NaN, infinities, the extremes of float64 and everyday prices.
SPECIAL = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 1.7976931348623157e308,
           5e-324, -5e-324, 1e-300, 2.2250738585072014e-308, 1.0, -3.0, 0.1, 6000.25, 2.0**53 + 2]
floats = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True))
pairs = st.lists(st.tuples(floats, floats), max_size=40)


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_finite_ratio_is_exact_ratio(xs: list[tuple[float, float]]) -> None:
    num = np.asarray([a for a, _ in xs], np.float64)
    den = np.asarray([b for _, b in xs], np.float64)
    with np.errstate(all="ignore"):
        want = exact_ratio(num, den)
    assert bits_equal(finite_ratio(num, den), want)


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_finite_percent_is_percent_of(xs: list[tuple[float, float]]) -> None:
    x = np.asarray([a for a, _ in xs], np.float64)
    base = np.asarray([b for _, b in xs], np.float64)
    with np.errstate(all="ignore"):
        want = percent_of(x, base)
    assert bits_equal(finite_percent(x, base), want)

"""Window extremes taken blockwise equal the extreme of every window reduced on its own
(NaN included), at every window length around the block cut-over."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from tradeassist_runner.rules.indicators import window_max, window_min


@settings(deadline=None, max_examples=60)
@given(x=st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 6000.25, float("nan")]), max_size=60),
       n=st.integers(1, 25))
def test_blockwise_extremes_equal_each_window_reduced(x: list[float], n: int) -> None:
    a = np.asarray(x, np.float64)
    if len(a) < n:
        assert len(window_max(a, n)) == 0 and len(window_min(a, n)) == 0
        return
    windows = sliding_window_view(a, n)
    assert np.array_equal(window_max(a, n), np.max(windows, axis=1), equal_nan=True)
    assert np.array_equal(window_min(a, n), np.min(windows, axis=1), equal_nan=True)

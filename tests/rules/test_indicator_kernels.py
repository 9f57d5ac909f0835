"""The indicator kernels' fast paths equal, bit for bit, the straightforward computations
they replace: one polars call for every recursion against one call per recursion, the
reused-buffer deviation pass and the change-count flatness against reducing each window's
temporaries and comparing its max with its min, and the ratios of many rows at once
against ``exact_ratio`` and ``percent_of`` of each row."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from tradeassist_runner.rules import indicators
from tradeassist_runner.rules.indicators import smooth_many, window_flat, window_mean_std
from tradeassist_runner.rules.seam import exact_ratio, percent_of

VALUES = [-2.0, -0.5, -0.0, 0.0, 0.25, 1.0, 1.5, 6000.25, 6001.0, float("nan"), float("inf")]


def bits(x: Any) -> bytes:
    return np.asarray(x, np.float64).tobytes()


def mean_std_each_window(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two passes over fresh temporaries, flatness as max == min."""
    windows = sliding_window_view(x, n)
    mean = np.add.reduce(windows, axis=1) / float(n)
    flat = np.max(windows, axis=1) == np.min(windows, axis=1)
    dev = windows - mean[:, None]
    std = np.sqrt(np.add.reduce(dev * dev, axis=1) / float(n))
    return np.where(flat, windows[:, 0], mean), np.where(flat, 0.0, std), flat


@settings(deadline=None, max_examples=80)
@given(x=st.lists(st.sampled_from(VALUES), max_size=80), n=st.integers(1, 30), chunk=st.sampled_from([1, 7, 64, 1 << 15]))
def test_mean_std_equals_each_window_reduced(x: list[float], n: int, chunk: int) -> None:
    a = np.asarray(x, np.float64)
    saved = indicators._CHUNK_ELEMENTS
    indicators._CHUNK_ELEMENTS = chunk  # chunks of one window up to all of them
    try:
        with np.errstate(all="ignore"):
            got = window_mean_std(a, n)
            if len(a) < n:
                assert all(len(part) == 0 for part in got)
                return
            want = mean_std_each_window(a, n)
    finally:
        indicators._CHUNK_ELEMENTS = saved
    assert bits(got[0]) == bits(want[0])
    assert bits(got[1]) == bits(want[1])
    assert np.array_equal(got[2], want[2])


@settings(deadline=None, max_examples=80)
@given(x=st.lists(st.sampled_from(VALUES), max_size=40), n=st.integers(1, 12))
def test_flat_equals_max_equals_min(x: list[float], n: int) -> None:
    a = np.asarray(x, np.float64)
    got = window_flat(a, n)
    if len(a) < n:
        assert len(got) == 0
        return
    windows = sliding_window_view(a, n)
    assert np.array_equal(got, np.max(windows, axis=1) == np.min(windows, axis=1))


def smooth_alone(seed: float, x: np.ndarray, alpha: float) -> np.ndarray:
    """One recursion in a polars call of its own."""
    if len(x) == 0:
        return np.zeros(0)
    if alpha == 1.0:
        return np.array(x, np.float64)
    column = pl.Series(np.concatenate(([seed], x)))
    return np.asarray(column.ewm_mean(alpha=alpha, adjust=False, min_samples=1).to_numpy()[1:], np.float64)


@settings(deadline=None, max_examples=80)
@given(jobs=st.lists(st.tuples(st.sampled_from(VALUES), st.lists(st.sampled_from(VALUES), max_size=12),
                               st.sampled_from([1.0, 0.5, 0.2, 2.0 / 22.0, 1.0 / 14.0])), max_size=6))
def test_smoothing_together_equals_each_alone(jobs: list[tuple[float, list[float], float]]) -> None:
    arrays = [(seed, np.asarray(x, np.float64), alpha) for seed, x, alpha in jobs]
    together = smooth_many(arrays)
    assert len(together) == len(arrays)
    for (seed, x, alpha), got in zip(arrays, together):
        assert bits(got) == bits(smooth_alone(seed, x, alpha))


EXTREMES = [-0.0, 0.0, 1e-308, -1e-308, 5e-324, 1.0, -3.5, 6000.25, 1e308, -1e308, float("inf"), float("nan")]


@settings(deadline=None, max_examples=100)
@given(rows=st.integers(1, 4), data=st.data())
def test_ratios_of_rows_equal_each_row_alone(rows: int, data: Any) -> None:
    n = data.draw(st.integers(0, 8))
    draw = st.lists(st.sampled_from(EXTREMES), min_size=n, max_size=n)
    x = np.asarray(data.draw(draw), np.float64)
    a = np.asarray([data.draw(draw) for _ in range(rows)], np.float64).reshape(rows, n)
    b = np.asarray([data.draw(draw) for _ in range(rows)], np.float64).reshape(rows, n)
    with np.errstate(all="ignore"):
        ratios, percents, of_x = indicators.ratio_rows(a, b), indicators.percent_rows(a, b), indicators.percent_rows(x, b)
        for k in range(rows):
            assert bits(ratios[k]) == bits(exact_ratio(a[k], b[k]))
            assert bits(percents[k]) == bits(percent_of(a[k], b[k]))
            assert bits(of_x[k]) == bits(percent_of(x, b[k]))

"""Pixel columns: bounded points, the exact first/low/high/last of every column, any cut."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.charts.columns import Columns


def _walk(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(0, 400, n)).astype(np.int64) + 1_767_623_400_000
    y = 6000 + np.cumsum(rng.normal(0, 0.5, n))
    return t, y


def _reference(t: np.ndarray, y: np.ndarray, width: int) -> dict[int, tuple[float, float, float, float]]:
    """Per column (first, low, high, last), straight from the definition."""
    out: dict[int, list[float]] = {}
    for ti, yi in zip(t.tolist(), y.tolist()):
        if yi != yi:
            continue
        k = ti // width
        if k not in out:
            out[k] = [yi, yi, yi, yi]
        else:
            c = out[k]
            c[1], c[2], c[3] = min(c[1], yi), max(c[2], yi), yi
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def test_a_long_series_is_bounded_and_keeps_every_columns_extremes() -> None:
    t, y = _walk(200_000)
    cols = Columns(500)
    for start in range(0, len(t), 30_000):
        cols.add(t[start:start + 30_000], y[start:start + 30_000])
    assert len(cols) <= 500
    lt, ly = cols.line()
    assert len(lt) <= 4 * 500 < len(t)
    assert np.all(np.diff(lt) >= 0)
    ref = _reference(t, y, cols.width)
    candles = cols.candles()
    got = {int(s) // cols.width: (o, lo, hi, c) for s, o, lo, hi, c in zip(
        candles.start.tolist(), candles.open.tolist(), candles.low.tolist(), candles.high.tolist(),
        candles.close.tolist())}
    assert got == ref
    # the drawn line reaches every column's high and low: nothing a pixel would show is lost
    assert ly.max() == y.max() and ly.min() == y.min()


@settings(max_examples=40)
@given(st.lists(st.integers(1, 4000), min_size=0, max_size=6), st.integers(2, 64))
def test_the_result_does_not_depend_on_where_the_stream_was_cut(cuts: list[int], columns: int) -> None:
    t, y = _walk(3000, seed=columns)
    y[100:180] = np.nan
    whole = Columns(columns)
    whole.add(t, y)
    parts = Columns(columns)
    edges = sorted({0, len(t), *(c % len(t) for c in cuts)})
    for a, b in zip(edges, edges[1:]):
        parts.add(t[a:b], y[a:b])
    assert whole.width == parts.width
    for x, z in zip(whole.line(), parts.line()):
        np.testing.assert_array_equal(x, z)


def test_undefined_values_break_the_line_and_never_become_points() -> None:
    t = np.arange(0, 100, dtype=np.int64)
    y = np.where((t >= 30) & (t < 70), np.nan, t.astype(np.float64))
    cols = Columns(10)
    cols.add(t, y)
    lt, ly = cols.line()
    gaps = lt[np.isnan(ly)]
    assert len(gaps) >= 1 and all(30 <= g < 70 for g in gaps)
    assert np.nanmin(ly) == 0 and np.nanmax(ly) == 99


def test_candle_columns_are_whole_bars() -> None:
    minute = 60_000
    t = np.arange(0, 90 * minute, 1000, dtype=np.int64)
    y = np.sin(t / 1e6)
    cols = Columns(20, base_ms=minute)
    cols.add(t, y)
    assert cols.width % minute == 0 and len(cols) <= 20
    candles = cols.candles()
    assert np.all(candles.start % minute == 0)
    assert np.all(candles.low <= np.minimum(candles.open, candles.close))
    assert np.all(candles.high >= np.maximum(candles.open, candles.close))

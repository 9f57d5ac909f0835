"""A large batch's rows are grouped by symbol with one sort (``Ticks.rows_of``): each
symbol's rows must be exactly those a comparison finds, in arrival order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.samples import GROUP_ROWS, Ticks


def _ticks(sym: np.ndarray) -> Ticks:
    n = len(sym)
    return Ticks(ts=np.arange(n, dtype=np.int64), sym=sym.astype(np.int64), price=np.ones(n), volume=np.ones(n))


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), symbols=st.sampled_from([1, 3, 12, 40_000]),
       extra=st.integers(0, 3 * GROUP_ROWS))
def test_rows_of_a_symbol_are_the_rows_a_comparison_finds(seed: int, symbols: int, extra: int) -> None:
    rng = np.random.default_rng(seed)
    n = GROUP_ROWS + extra
    sym = rng.integers(-1, symbols, n)  # -1: a symbol the plan does not have
    ticks = _ticks(sym)
    for code in [-1, *range(min(symbols, 15)), symbols, symbols - 1]:
        got = ticks.rows_of(code)
        assert got.dtype == np.int64
        assert np.array_equal(got, np.flatnonzero(sym == code))


@pytest.mark.parametrize("n", [1, GROUP_ROWS - 1, GROUP_ROWS, 5 * GROUP_ROWS])
def test_a_batch_of_one_symbol_gives_every_row(n: int) -> None:
    assert np.array_equal(_ticks(np.full(n, 4)).rows_of(4), np.arange(n))
    assert len(_ticks(np.full(n, 4)).rows_of(3)) == 0

"""Alert rows are ordered by tick, then by rule declaration, exactly as
``np.lexsort((rule, seq))`` orders them (``fire_order`` folds the pair into one key)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.alert_rows import fire_order


@settings(deadline=None, max_examples=200)
@given(
    size=st.integers(0, 3000),
    seq_span=st.sampled_from([1, 5, 1_000, 1 << 40, 1 << 62]),
    rules=st.integers(1, 2_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_fire_order_is_lexsort(size: int, seq_span: int, rules: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    seq = rng.integers(0, seq_span, size, dtype=np.int64) + rng.integers(-(1 << 40), 1 << 40)
    rule = rng.integers(0, rules, size, dtype=np.int64)
    assert np.array_equal(fire_order(seq, rule), np.lexsort((rule, seq)))


def test_repeated_pairs_keep_their_order() -> None:
    # the same (seq, rule) many times: only a stable order is lexsort's
    rng = np.random.default_rng(3)
    seq = rng.integers(0, 4, 5_000, dtype=np.int64)
    rule = rng.integers(0, 3, 5_000, dtype=np.int64)
    assert np.array_equal(fire_order(seq, rule), np.lexsort((rule, seq)))

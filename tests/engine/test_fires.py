"""The per-rule search of engine/fires.py against a brute-force scan, on arrays long enough
to cross many 64-row blocks and sparse-table levels (the equivalence tests use short streams)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.fires import _BlockMax


def brute(w: np.ndarray, p: int, t: float, end: int) -> int:
    for i in range(p, end):
        if w[i] > t:
            return i
    return end


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5000), n_queries=st.integers(1, 200))
def test_first_beyond_matches_a_scan(seed: int, n: int, n_queries: int) -> None:
    rng = np.random.default_rng(seed)
    w = np.round(rng.normal(size=n) * 3).astype(np.float64)  # many ties with thresholds
    w[rng.random(n) < 0.05] = -np.inf  # undefined values never satisfy
    ends = np.sort(rng.integers(0, n + 1, size=4))
    p = rng.integers(0, n + 1, size=n_queries)
    end = rng.choice(np.append(ends, n), size=n_queries)
    p = np.minimum(p, end)
    t = np.round(rng.normal(size=n_queries) * 4)
    got = _BlockMax(w).first_beyond(p.astype(np.int64), t, end.astype(np.int64))
    want = [brute(w, int(a), float(b), int(c)) for a, b, c in zip(p, t, end)]
    assert got.tolist() == want

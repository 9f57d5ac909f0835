"""The plain-Python paths a live batch of a few ticks takes through the sources (equal-ts
counts) and the tick columns (symbol codes) give what the numpy and polars paths give."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine import evaluate, samples
from tradeassist_runner.engine.plan import SourceSpec

T0 = 1_700_000_000_000


def counts(ts: list[int], carried: list[list[int]], latest: list[int | None], few: bool) -> tuple[Any, str]:
    with pytest.MonkeyPatch.context() as patch:
        if not few:
            patch.setattr(samples, "FEW", 0)
        k, same = samples._same_ts(np.asarray(ts, np.int64), [list(c) for c in carried], latest)
    return k.tolist(), json.dumps(same)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.sampled_from([0, 0, 0, 1, 3, 50]), min_size=1, max_size=samples.FEW + 2),
       back=st.sampled_from([0, 0, 1, 2]), carried_steps=st.lists(st.sampled_from([1, 2, 5]), max_size=5),
       carried_n=st.lists(st.integers(1, 4), min_size=5, max_size=5),
       latest=st.lists(st.one_of(st.none(), st.integers(-10, 400)), min_size=1, max_size=2))
def test_few_equal_ts_counts_are_the_arrays_path(
    steps: list[int], back: int, carried_steps: list[int], carried_n: list[int], latest: list[int | None]
) -> None:
    """Batches that continue the carried counts' last ts, jump past it, or (with ``back``)
    go back before it (the general path), with and without every symbol's latest ts."""
    carried = [[T0 + int(t), n] for t, n in zip(np.cumsum(carried_steps).tolist(), carried_n)]
    start = (carried[-1][0] if carried else T0) - back
    ts = [start + int(x) for x in np.cumsum(steps).tolist()]
    latest_ts = [None if x is None else T0 + x for x in latest]
    assert counts(ts, carried, latest_ts, few=True) == counts(ts, carried, latest_ts, few=False)


def test_few_equal_ts_counts_take_the_plain_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above only compares two paths if a few samples do not reach the numpy one."""
    real = samples._same_ts_sorted
    seen: list[bool] = []

    def spy(ts: Any, carried: Any, latest: Any, ts_list: Any = None) -> Any:
        seen.append(ts_list is not None)
        return real(ts, carried, latest, ts_list)

    monkeypatch.setattr(samples, "_same_ts_sorted", spy)
    samples._same_ts(np.asarray([T0, T0, T0 + 1], np.int64), [[T0, 2]], [T0 + 1])
    assert seen == [True]


@settings(max_examples=100, deadline=None)
@given(codes=st.lists(st.sampled_from(["/ES", "/NQ", "$TICK", "AAPL", "nope"]), min_size=1, max_size=120),
       bar=st.sampled_from([None, 3]), data=st.data())
def test_a_source_of_a_few_ticks_is_the_same_whatever_the_path(
    codes: list[str], bar: int | None, data: Any
) -> None:
    """``build_source`` over a stream of few-tick batches, once with the plain-Python counts
    and symbol codes and once with the numpy and polars ones: same samples, rows, K and
    carried state, batch after batch."""
    code_of = {"/ES": 0, "/NQ": 1, "$TICK": 2, "AAPL": 3}
    n = len(codes)
    ts = T0 + np.cumsum(data.draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=n, max_size=n)))
    frame = pl.DataFrame({
        "ts": pl.Series(ts.tolist(), dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
        "symbol": codes,
        "price": [float(i % 7) for i in range(n)],
        "volume": [None if i % 5 == 0 else i for i in range(n)],
    })
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n), max_size=8))) | {n})
    for symbols in (("/ES",), ("/ES", "/NQ")):
        spec = SourceSpec(key="s", symbols=symbols, bar_ms=bar)
        states: dict[bool, Any] = {True: None, False: None}
        lo = 0
        for hi in cuts:
            piece = frame.slice(lo, hi - lo)
            got = {}
            for few in (True, False):
                with pytest.MonkeyPatch.context() as patch:
                    if not few:
                        patch.setattr(samples, "FEW", 0)
                        patch.setattr(evaluate, "SMALL_BATCH", 0)
                    batch = evaluate._ticks(piece, code_of)
                    sb, states[few] = samples.build_source(spec, tuple(code_of[s] for s in symbols), batch,
                                                           states[few])
                got[few] = (batch, sb, json.dumps(states[few]))
            (b1, s1, j1), (b0, s0, j0) = got[True], got[False]
            for name in ("ts", "sym", "price", "volume"):
                assert np.array_equal(getattr(b1, name), getattr(b0, name), equal_nan=True), name
            assert j1 == j0
            assert s1.row.tolist() == s0.row.tolist() and s1.k.tolist() == s0.k.tolist()
            assert np.array_equal(s1.own_price, s0.own_price, equal_nan=True)
            for name in ("t", "price", "high", "low", "volume", "ts", "source"):
                assert np.array_equal(getattr(s1.samples, name), getattr(s0.samples, name), equal_nan=True), name
            lo = hi

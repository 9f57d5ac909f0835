"""A large batch's symbol codes looked up by a cast to an ``Enum`` equal the general
``replace_strict`` look-up: unknown symbols and nulls are -1, codes as ``code_of`` says."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.evaluate import _symbol_codes

names = st.sampled_from(["/ES", "/NQ", "$TICK", "", "es", "/es", "ÄB", "x" * 40])


@settings(deadline=None, max_examples=60)
@given(known=st.lists(names, unique=True, max_size=6), column=st.lists(st.one_of(st.none(), names), max_size=30))
def test_enum_codes_are_replace_strict(known: list[str], column: list[str | None]) -> None:
    code_of = {s: i for i, s in enumerate(sorted(known))}
    symbol = pl.Series("symbol", column, dtype=pl.String)
    want = symbol.replace_strict(code_of, default=-1, return_dtype=pl.Int64).to_numpy()
    got = _symbol_codes(symbol, code_of)
    assert got.dtype == np.int64
    assert got.tolist() == want.tolist()


@settings(deadline=None, max_examples=60)
@given(known=st.lists(names, unique=True, max_size=6), declared=st.lists(names, unique=True, min_size=1, max_size=6),
       picks=st.lists(st.one_of(st.none(), st.integers(0, 5)), max_size=30))
def test_an_enum_column_gives_the_same_codes(known: list[str], declared: list[str],
                                             picks: list[int | None]) -> None:
    # a backtest's ticks come as an Enum of the declared symbols, some of which may have no rule
    code_of = {s: i for i, s in enumerate(sorted(known))}
    column = [None if p is None else sorted(declared)[p % len(declared)] for p in picks]
    plain = pl.Series("symbol", column, dtype=pl.String)
    enum = plain.cast(pl.Enum(sorted(declared)))
    want = plain.replace_strict(code_of, default=-1, return_dtype=pl.Int64).to_numpy()
    got = _symbol_codes(enum, code_of)
    assert got.dtype == np.int64
    assert got.tolist() == want.tolist()

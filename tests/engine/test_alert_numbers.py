"""The column-wise alert rows write a message's numbers as ``messages.num`` does, byte for
byte, whichever of their two ways a number takes (polars' text of the rounded float, or
``num`` itself for the doubtful ones)."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.alert_rows import _millionths, _num_expr
from tradeassist_runner.engine.messages import num


def rendered(values: list[float]) -> list[str]:
    x = np.asarray(values, np.float64)
    rounded, slow = _millionths(x)
    text = pl.DataFrame({"r": rounded}).select(_num_expr("r"))["r"].to_list()
    for i in slow.tolist():
        text[i] = num(values[i])
    return [str(t) for t in text]


#: Halves of a millionth (exact in binary: k/128), one unit in the last place either side of
#: them, integers, the 1e-4 and 1e7 edges, tiny and huge numbers, signed zeros, NaN, inf.
EDGES = [
    0.0, -0.0, 1.0, -1.0, 100.0, 0.5, -0.5, 1 / 128, -1 / 128, 3 / 128, 12345 / 128, 0.0000005, 0.0000015,
    -0.0000005, 1e-4, -1e-4, 9.9999e-5, 1.00005e-4, 4.9e-7, 5.1e-7, 1e-6, -1e-6, 1e-7, 1e-300, 9_999_999.9999995,
    1e7, -1e7, 12_345_678.123, 1e16, 1e300, float("nan"), float("inf"), float("-inf"), 6001.25, 0.1 + 0.2,
    2.675, 1.0000005, 106.87617076375413, -232.68764767070144,
]
EDGES += [float(np.nextafter(x, np.inf)) for x in EDGES] + [float(np.nextafter(x, -np.inf)) for x in EDGES]


def test_edges_render_as_num() -> None:
    assert rendered(EDGES) == [num(x) for x in EDGES]


def test_half_millionths_render_as_num() -> None:
    # k/128 are exact halves of a millionth (or 6-decimal numbers), (k + 0.5)/1e6 the floats
    # nearest to halves, on either side of them: with their neighbours, where rounding x * 1e6
    # can land on the wrong side
    near = [k / 128 for k in range(-3000, 3000)] + [(k + 0.5) / 1e6 for k in range(-30000, 30000, 7)]
    near += [(k + 0.5) / 1e6 for k in range(10**12, 10**12 + 3000)]
    values = [y for x in near for y in (x, float(np.nextafter(x, np.inf)), float(np.nextafter(x, -np.inf)))]
    assert rendered(values) == [num(x) for x in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e8, max_value=1e8),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.integers(-10**13, 10**13).map(lambda k: k / 1e6),
    st.integers(-10**13, 10**13).map(lambda k: (k + 0.5) / 1e6),
), min_size=1, max_size=50))
def test_any_float_renders_as_num(values: list[float]) -> None:
    assert rendered(values) == [num(x) for x in values]

"""Types with a plain-Python path for a batch of one sample: it must give the arrays'
path's value, inputs and carried state exactly, at every step of a stream."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.rules.types import rate_of_change, volume_spike

from .cutting import bits_equal

#: Tick times that repeat, jump and cross chunk boundaries of the carried tail.
steps = st.lists(st.tuples(st.sampled_from([0, 0, 1, 7, 400, 5_000, 61_000]),
                           st.sampled_from([6000.0, 6000.25, 5999.5, 0.0, -3.0, 1e-300, 0.1])),
                 min_size=1, max_size=300)


@settings(max_examples=40, deadline=None)
@given(steps=steps, window=st.sampled_from([1, 5, 1_000, 60_000]), chunk=st.sampled_from([2, 3, 256]))
def test_rate_of_change_one_sample_is_the_arrays_path(steps: list[tuple[int, float]], window: int, chunk: int) -> None:
    with pytest.MonkeyPatch.context() as patch:  # small chunks: the tail spans many
        patch.setattr(rate_of_change, "CHUNK", chunk)
        walk(steps, window)


def walk(steps: list[tuple[int, float]], window: int) -> None:
    chunks: list[Any] = []
    t = 1_700_000_000_000
    for dt, price in steps:
        t += dt
        one, one_state = rate_of_change._one(window, t, price, [*chunks])
        arr, arr_state = rate_of_change._arrays(window, np.asarray([t], np.int64), np.asarray([price]), [*chunks])
        assert bits_equal(one.value, arr.value)
        for name in arr.inputs:
            assert bits_equal(one.inputs[name], arr.inputs[name]), name
        assert json.dumps(one_state) == json.dumps(arr_state)
        chunks = one_state["chunks"]


@settings(max_examples=40, deadline=None)
@given(volumes=st.lists(st.one_of(st.none(), st.integers(0, 50), st.sampled_from([2**53 + 2, 2**61])),
                        min_size=1, max_size=120),
       period=st.sampled_from([1, 3, 10]))
def test_volume_spike_one_sample_is_the_arrays_path(volumes: list[int | None], period: int) -> None:
    carried: list[int] = []
    for v in volumes:
        volume = float("nan") if v is None else float(v)
        arr, arr_state = volume_spike._arrays(period, np.asarray([volume]), [*carried])
        got = volume_spike._one(period, volume, [*carried])
        if got is None:  # too large for the exact integer sum: the arrays' path is taken
            carried = arr_state["volumes"]
            continue
        one, one_state = got
        assert bits_equal(one.value, arr.value)
        for name in arr.inputs:
            assert bits_equal(one.inputs[name], arr.inputs[name]), name
        assert json.dumps(one_state) == json.dumps(arr_state)
        carried = one_state["volumes"]

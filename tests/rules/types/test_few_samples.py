"""Types with a plain-Python path for a batch of a few samples: through ``values`` and
``values_many``, at every step of a stream cut into batches of a few samples, it must
give the arrays' path's value, inputs and carried state exactly (state also restored
from JSON, as a snapshot would give it)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.rules.seam import Samples
from tradeassist_runner.rules.types import rate_of_change, volume_spike

from .cutting import bits_equal

#: Tick times that repeat, jump and cross chunk boundaries of the carried tail.
steps = st.lists(st.tuples(st.sampled_from([0, 0, 1, 7, 400, 5_000, 61_000]),
                           st.sampled_from([6000.0, 6000.25, 5999.5, 0.0, -3.0, 1e-300, 0.1, 1e300])),
                 min_size=1, max_size=300)
#: Batch lengths: one sample (its own path), a few, and past the plain-Python bound.
sizes = st.lists(st.sampled_from(sorted({1, 2, 3, 5, 8, 17, rate_of_change.FEW, rate_of_change.FEW + 1,
                                         volume_spike.FEW, volume_spike.FEW + 1})), min_size=1, max_size=12)


def assert_same(got: Any, want: Any) -> None:
    (g_vals, g_state), (w_vals, w_state) = got, want
    assert bits_equal(g_vals.value, w_vals.value)
    assert set(g_vals.inputs) == set(w_vals.inputs)
    for name in w_vals.inputs:
        assert bits_equal(g_vals.inputs[name], w_vals.inputs[name]), name
    assert json.dumps(g_state) == json.dumps(w_state)


def batches(n: int, lengths: list[int]) -> list[tuple[int, int]]:
    out, lo, k = [], 0, 0
    while lo < n:
        hi = min(n, lo + lengths[k % len(lengths)])
        out.append((lo, hi))
        lo, k = hi, k + 1
    return out


@settings(max_examples=60, deadline=None)
@given(steps=steps, lengths=sizes, windows=st.lists(st.sampled_from([1, 5, 400, 1_000, 60_000]), min_size=1,
                                                      max_size=3, unique=True),
       chunk=st.sampled_from([2, 3, 256]), restore=st.booleans())
def test_rate_of_change_few_samples_are_the_arrays_path(
    steps: list[tuple[int, float]], lengths: list[int], windows: list[int], chunk: int, restore: bool
) -> None:
    t = 1_700_000_000_000 + np.cumsum(np.asarray([dt for dt, _ in steps], np.int64))
    price = np.asarray([p for _, p in steps], np.float64)
    rt = rate_of_change.RULE_TYPE
    with pytest.MonkeyPatch.context() as patch:  # small chunks: the tail spans many
        patch.setattr(rate_of_change, "CHUNK", chunk)
        states: list[Any] = [None] * len(windows)
        for lo, hi in batches(len(t), lengths):
            samples = Samples.of_ticks(t[lo:hi], price[lo:hi], np.ones(hi - lo))
            many = rt.values_many([((w,), s) for w, s in zip(windows, states)], samples)
            for k, w in enumerate(windows):
                chunks = list(states[k]["chunks"]) if states[k] else []
                want = rate_of_change._arrays(w, samples.t, samples.price, [*chunks])
                assert_same(rt.values((w,), samples, states[k]), want)
                assert_same(many[k], want)
                states[k] = json.loads(json.dumps(want[1])) if restore else want[1]


@settings(max_examples=60, deadline=None)
@given(volumes=st.lists(st.one_of(st.none(), st.integers(0, 50), st.sampled_from([2**53 + 2, 2**61])),
                        min_size=1, max_size=300),
       lengths=sizes, periods=st.lists(st.sampled_from([1, 2, 3, 10, 50]), min_size=1, max_size=3, unique=True),
       restore=st.booleans())
def test_volume_spike_few_samples_are_the_arrays_path(
    volumes: list[int | None], lengths: list[int], periods: list[int], restore: bool
) -> None:
    volume = np.asarray([np.nan if v is None else float(v) for v in volumes], np.float64)
    ts = np.arange(len(volume), dtype=np.int64) * 1000
    rt = volume_spike.RULE_TYPE
    states: list[Any] = [None] * len(periods)
    for lo, hi in batches(len(volume), lengths):
        samples = Samples.of_ticks(ts[lo:hi], np.ones(hi - lo), volume[lo:hi])
        many = rt.values_many([((p,), s) for p, s in zip(periods, states)], samples)
        for k, p in enumerate(periods):
            carried = states[k]["volumes"] if states[k] else []
            want = volume_spike._arrays(p, samples.volume, [*carried])
            assert_same(rt.values((p,), samples, states[k]), want)
            assert_same(many[k], want)
            if hi - lo > 1:  # the plain-Python path itself, wherever it applies
                few = volume_spike._few(p, samples.volume, volume_spike._FewVolumes.of(samples.volume.tolist()),
                                        [*carried])
                if few is not None:
                    assert_same(few, want)
            states[k] = json.loads(json.dumps(want[1])) if restore else want[1]


def test_the_plain_python_paths_are_taken_for_a_few_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property tests above compare ``values`` with ``_arrays``: they only test the
    plain-Python paths if a few samples do not reach ``_arrays``."""

    def no_arrays(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the arrays' path was taken")

    monkeypatch.setattr(rate_of_change, "_arrays", no_arrays)
    monkeypatch.setattr(volume_spike, "_arrays", no_arrays)
    samples = Samples.of_ticks(np.arange(5, dtype=np.int64) * 1000, np.arange(5.0) + 1, np.arange(5.0))
    state = None
    for _ in range(3):
        _, state = rate_of_change.RULE_TYPE.values((2000,), samples, state)
        rate_of_change.RULE_TYPE.values_many([((1000,), None), ((2000,), state)], samples)
        samples = Samples.of_ticks(samples.t + 5000, samples.price, samples.volume)
    v_state = None
    for _ in range(3):
        _, v_state = volume_spike.RULE_TYPE.values((3,), samples, v_state)
        volume_spike.RULE_TYPE.values_many([((2,), None), ((3,), v_state)], samples)

"""``values_all`` (every source's series of a type in one call, each state handed back
with what the type kept beside it) gives, bit for bit, the values and states of
``values`` per series, whether or not what was kept comes back, across cuts and with
batches small enough for the plain-Python paths."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.rules.registry import REGISTRY
from tradeassist_runner.rules.seam import Samples
from tradeassist_runner.rules.types import rate_of_change, volume_spike

from .cutting import bits_equal

TYPES = sorted(name for name, rt in REGISTRY.items() if hasattr(rt, "values_all"))
PARAMS: dict[str, list[tuple[Any, ...]]] = {
    "rate_of_change": [(1,), (1000,), (2500,), (60_000,)],
    "ma_cross": [("sma", 1, 2), ("ema", 1, 2), ("ema", 2, 5), ("sma", 3, 4), ("ema", 3, 20)],
    "moving_average": [("sma", 1), ("ema", 1), ("ema", 3), ("sma", 5), ("ema", 5), ("ema", 20)],
    "volume_spike": [(1,), (2,), (3,), (10,), (50,)],
    "rsi": [(1,), (2,), (3,), (5,), (14,)],
}

ticks = st.lists(st.tuples(st.sampled_from([0, 0, 1, 400, 1000, 3000, 70_000]),
                           st.sampled_from([-2.0, 0.0, 0.25, 1.0, 6000.25, 6001.0]),
                           st.sampled_from([float("nan"), 0.0, 1.0, 7.0, 1e6, 2.0**60])), min_size=1, max_size=160)


def test_every_type_with_values_all_is_drawn() -> None:
    assert TYPES and set(TYPES) <= set(PARAMS)


@pytest.mark.parametrize("name", TYPES)
@settings(deadline=None, max_examples=40)
@given(sources=st.lists(ticks, min_size=1, max_size=3), cuts=st.lists(st.integers(0, 160), max_size=4),
       forget=st.lists(st.booleans(), min_size=4, max_size=4), chunk=st.sampled_from([2, 5, 256]), data=st.data())
def test_values_all_equals_values_per_series(name: str, sources: list[list[tuple[int, float, float]]], cuts: list[int],
                                            forget: list[bool], chunk: int, data: Any) -> None:
    rule_type: Any = REGISTRY[name]
    params = data.draw(st.lists(st.sampled_from(PARAMS[name]), min_size=1, max_size=3, unique=True))
    streams = []
    for rows in sources:
        ts = 1_000_000 + np.cumsum(np.asarray([s for s, _, _ in rows], np.int64))
        streams.append(Samples.of_ticks(ts, np.asarray([p for _, p, _ in rows], np.float64),
                                        np.asarray([v for _, _, v in rows], np.float64)))
    bounds = [0, *sorted(set(cuts)), 160]
    one: list[list[Any]] = [[None] * len(params) for _ in streams]
    many: list[list[Any]] = [[None] * len(params) for _ in streams]
    kept: list[list[Any]] = [[None] * len(params) for _ in streams]
    with pytest.MonkeyPatch.context() as patch:  # small chunks: a tail spans many
        patch.setattr(rate_of_change, "CHUNK", chunk)
        # sources this small go end to end too, not only to their plain-Python path
        patch.setattr(volume_spike, "ALONE", data.draw(st.sampled_from([0, 1, 3, volume_spike.ALONE])))
        for step, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            pieces = [(src, s.slice(lo, hi)) for src, s in enumerate(streams) if len(s.slice(lo, hi))]
            if not pieces:
                continue
            groups = [([(p, many[src][k], kept[src][k]) for k, p in enumerate(params)], piece) for src, piece in pieces]
            together = rule_type.values_all(groups)
            assert len(together) == len(pieces)
            for (src, piece), results in zip(pieces, together):
                for k, p in enumerate(params):
                    alone, one[src][k] = rule_type.values(p, piece, one[src][k])
                    vals, many[src][k], kept[src][k] = results[k]
                    assert bits_equal(vals.value, alone.value), (p, lo, hi)
                    for key in rule_type.input_names:
                        assert bits_equal(vals.inputs[key], alone.inputs[key]), (p, key)
                    assert json.dumps(many[src][k]) == json.dumps(one[src][k]), p
                    if forget[step % len(forget)]:  # a state restored from a snapshot: nothing kept
                        many[src][k] = json.loads(json.dumps(many[src][k]))
                        kept[src][k] = None


def test_rate_of_change_keeps_its_tail_as_arrays_after_a_big_batch() -> None:
    """What a batch of the arrays' path keeps is the new tail end to end, so the next batch
    reads it instead of converting the chunks."""
    t = np.arange(0, 400_000, 100, dtype=np.int64)
    samples = Samples.of_ticks(t, t.astype(np.float64) / 7.0, np.ones(len(t)))
    first, second = samples.slice(0, 2000), samples.slice(2000, 4000)
    [[(_, state, tail)]] = rate_of_change.RULE_TYPE.values_all([([((60_000,), None, None)], first)])
    assert tail is not None and not tail[0].flags.writeable
    assert tail[0].tolist() == [x for c in state["chunks"] for x in c[0]]
    assert tail[1].tolist() == [x for c in state["chunks"] for x in c[1]]
    [[(vals, _, _)]] = rate_of_change.RULE_TYPE.values_all([([((60_000,), state, tail)], second)])
    alone, _ = rate_of_change.RULE_TYPE.values((60_000,), second, state)
    assert bits_equal(vals.value, alone.value) and bits_equal(vals.inputs["ref_t"], alone.inputs["ref_t"])


def test_volume_spike_lays_mid_sized_sources_end_to_end() -> None:
    """Sources of a few hundred samples, some without a volume, one with too few samples
    for its own path and one with too many, each period on some of them: every result is
    what ``values`` gives that series alone."""
    rng = np.random.default_rng(5)
    sizes = [400, 3, 700, 2000, 250]
    streams = []
    for size in sizes:
        volume = rng.integers(0, 50, size).astype(np.float64)
        volume[rng.random(size) < 0.2] = np.nan
        streams.append(Samples.of_ticks(np.arange(size, dtype=np.int64), np.ones(size), volume))
    periods = [[(10,), (20,)], [(10,)], [(20,), (50,)], [(50,)], [(10,), (50,)]]
    states: list[list[Any]] = [[None] * len(p) for p in periods]
    for lo, hi in ((0, 120), (120, 2000)):
        pieces = [s.slice(lo, hi) for s in streams]
        groups = [([(p, st, None) for p, st in zip(ps, sts)], piece) for ps, sts, piece in zip(periods, states, pieces)]
        for src, results in enumerate(volume_spike.RULE_TYPE.values_all(groups)):
            for k, (vals, state, _) in enumerate(results):
                alone, states[src][k] = volume_spike.RULE_TYPE.values(periods[src][k], pieces[src], states[src][k])
                assert bits_equal(vals.value, alone.value) and bits_equal(vals.inputs["mean"], alone.inputs["mean"])
                assert json.dumps(state) == json.dumps(states[src][k])

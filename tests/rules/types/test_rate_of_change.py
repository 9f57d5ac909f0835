"""``rate_of_change``: (price - ref) / |ref| * 100 against the price ``window`` earlier."""

from __future__ import annotations

import gc
import json
import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.seam import RuleType, Samples
from tradeassist_runner.rules.types import rate_of_change
from tradeassist_runner.rules.types.rate_of_change import CHUNK, RULE_TYPE, Body

from .cutting import bits_equal, check_cut_independent, check_replay, cuts_strategy

NAN = math.nan


def body(**fields: object) -> Body:
    return Body.model_validate({"type": "rate_of_change", "condition": "above", "threshold": 0.5, **fields})


def naive(window: int, t: list[int], price: list[float]) -> list[float]:
    """Straight from the rule text, one sample at a time."""
    out = []
    for i in range(len(t)):
        ref = None
        for j in range(i):  # the most recent earlier sample with t <= t(s) - window; the last at its t
            if t[j] <= t[i] - window:
                ref = price[j]
        if ref is None or ref == 0:
            out.append(NAN)
        else:
            change = (price[i] - ref) / abs(ref) * 100
            out.append(change if math.isfinite(change) else NAN)  # beyond float range: undefined
    return out


def test_satisfies_the_protocol() -> None:
    rule_type: RuleType = RULE_TYPE
    assert (rule_type.name, rule_type.bars, rule_type.in_conjunctions) == ("rate_of_change", True, True)
    assert rule_type.input_names == ("price", "ref", "ref_t")
    params = rule_type.params(body(window="5m"), "America/New_York")
    assert params == (300_000,)
    assert rule_type.describe(params) == "5m change %"
    assert rule_type.placeholders(params) == {"window": "5m"}
    assert rule_type.placeholders((1500,)) == {"window": "1500ms"}


def test_hand_computed_with_warm_up_same_ts_and_zero_ref() -> None:
    # window 1s; two samples at t=0 (the last wins), one at 500, a zero price at 1000.
    t = [0, 0, 500, 1000, 1500, 2000, 2600]
    p = [100.0, 101.0, 50.0, 0.0, 102.0, 103.0, 104.0]
    values, _ = RULE_TYPE.values((1000,), Samples.of_ticks(np.array(t), np.array(p), np.full(7, NAN)), None)
    assert bits_equal(values.inputs["ref"], [NAN, NAN, NAN, 101.0, 50.0, 0.0, 102.0])
    assert bits_equal(values.inputs["ref_t"], [NAN, NAN, NAN, 0.0, 500.0, 1000.0, 1500.0])
    # 0 vs 101 -> -100 %; 102 vs 50 -> +104 %; ref 0 -> undefined; 104 vs 102.
    assert bits_equal(values.value, [NAN, NAN, NAN, -100.0, 104.0, NAN, (104.0 - 102.0) / 102.0 * 100])


def test_a_batch_that_continues_the_last_t_replaces_its_price() -> None:
    t = np.array([0, 0, 0, 1000, 1000, 2000])
    p = np.array([1.0, 2.0, 4.0, 5.0, 6.0, 8.0])
    samples = Samples.of_ticks(t, p, np.full(6, NAN))
    # ref of t=1000 is the last price at t=0 (4); of t=2000 the last at t=1000 (6).
    expected = [NAN, NAN, NAN, 25.0, 50.0, (8.0 - 6.0) / 6.0 * 100]
    for cuts in ([1], [2], [1, 2], [4], [1, 2, 3, 4, 5]):
        values = check_cut_independent(RULE_TYPE, (1000,), samples, cuts)
        assert bits_equal(values.value, expected)


def test_a_rise_from_a_negative_ref_is_positive() -> None:
    # $TICK from -500 to -400 is a rise: (-400 - -500) / |-500| * 100 = +20 %.
    samples = Samples.of_ticks(np.array([0, 60_000]), np.array([-500.0, -400.0]), np.full(2, NAN))
    values, _ = RULE_TYPE.values((60_000,), samples, None)
    assert values.value[1] == 20.0
    inputs = {k: float(values.inputs[k][1]) for k in RULE_TYPE.input_names}
    assert RULE_TYPE.explain((60_000,), inputs, 20.0) == (
        "The price was -400 against -500 at 1970-01-01T00:00:00.000Z (1m or more earlier): "
        "(-400 - -500) / |-500| * 100 = 20 %."
    )


def test_a_change_beyond_float_range_is_undefined_not_infinite() -> None:
    samples = Samples.of_ticks(np.array([0, 1]), np.array([2.2250738585072014e-308, -2.5]), np.full(2, NAN))
    values, _ = RULE_TYPE.values((1,), samples, None)
    assert bits_equal(values.value, [NAN, NAN])
    inputs = {k: float(values.inputs[k][1]) for k in RULE_TYPE.input_names}
    assert math.isnan(RULE_TYPE.replay((1,), inputs))


def test_state_keeps_only_the_look_back_tail() -> None:
    t = np.arange(0, 100_000, 100)
    samples = Samples.of_ticks(t, t.astype(np.float64) + 1.0, np.full(len(t), NAN))
    _, state = RULE_TYPE.values((1000,), samples, None)
    # last t = 99900: every t > 98900, plus 98900 itself (the newest at or before the cutoff).
    carried = [x for chunk in state["chunks"] for x in chunk[0]]
    assert carried == list(range(98900, 100_000, 100))
    assert [x for chunk in state["chunks"] for x in chunk[1]] == [float(x + 1) for x in carried]


def test_a_long_window_in_small_batches_keeps_chunks_bounded_and_never_mutates_its_input() -> None:
    t = np.arange(0, 3_000_000, 1000, dtype=np.int64)  # 3000 samples, 1 per second
    price = 6000.0 + np.sin(t / 7e4)
    samples = Samples.of_ticks(t, price, np.full(len(t), NAN))
    window = 600_000  # 10m: 600 pairs carried, in 3 chunks
    whole, _ = RULE_TYPE.values((window,), samples, None)
    state = None
    got = []
    for i in range(0, len(t), 7):
        before = json.dumps(state)
        values, new_state = RULE_TYPE.values((window,), samples.slice(i, i + 7), state)
        assert json.dumps(state) == before
        state = json.loads(json.dumps(new_state))
        got.append(values.value)
    assert bits_equal(np.concatenate(got), whole.value)
    assert state is not None
    sizes = [len(chunk[0]) for chunk in state["chunks"]]
    assert sum(sizes) <= window // 1000 + 1 + CHUNK and max(sizes) <= CHUNK
    assert len(sizes) <= window // 1000 // CHUNK + 2


@pytest.mark.parametrize("step", [1, 5, 150])
def test_a_tail_of_many_chunks_is_searched_like_a_short_one(step: int) -> None:
    # a 1h window at one pair per second: 3600 pairs carried, past the few chunks that a
    # list of their first t's searches; batches of one, a few and many samples
    t = np.arange(0, 5_000_000, 1000, dtype=np.int64)
    price = 6000.0 + np.sin(t / 7e4) + (t % 7000 == 0)
    samples = Samples.of_ticks(t, price, np.full(len(t), NAN))
    window = 3_600_000
    state = None
    got = []
    most = 0
    for i in range(0, len(t), step):
        values, state = RULE_TYPE.values((window,), samples.slice(i, i + step), state)
        got.append(values.value)
        most = max(most, len(state["chunks"]))
    assert most > 12
    assert bits_equal(np.concatenate(got), np.asarray(naive_sorted(window, t.tolist(), price.tolist())))


def naive_sorted(window: int, t: list[int], price: list[float]) -> list[float]:
    """``naive`` for increasing ``t`` (one binary search per sample, not a scan)."""
    from bisect import bisect_right

    out = []
    for ti, pi in zip(t, price):
        j = bisect_right(t, ti - window) - 1
        ref = price[j] if j >= 0 else None
        out.append(NAN if ref is None or ref == 0 else (pi - ref) / abs(ref) * 100)
    return out


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("0s", "window must be greater than 0"),
        ("367d", "must be at most 366d"),
        ("5", "invalid duration '5'"),
        (5, "write it as a string with a unit"),
    ],
)
def test_body_rejects_a_bad_window(window: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        body(window=window)


def test_body_requires_a_window() -> None:
    with pytest.raises(ValidationError, match="window\n  Field required"):
        Body.model_validate({"type": "rate_of_change", "condition": "above", "threshold": 1})
    assert body(window="366d").window.days == 366


@st.composite
def series(draw: st.DrawFn) -> tuple[int, list[int], list[float]]:
    gaps = draw(st.lists(st.sampled_from([0, 0, 1, 250, 500, 999, 1000, 1001, 3000]), max_size=40))
    t = list(np.cumsum([1_700_000_000_000, *gaps]).tolist())
    price = draw(st.lists(
        st.one_of(st.sampled_from([0.0, -2.5, -1.0, 1.0, 3.0, 0.1, 7.25, 1e-300]), st.floats(-1e4, 1e4)),
        min_size=len(t), max_size=len(t),
    ))
    window = draw(st.sampled_from([1, 500, 1000, 2500, 86_400_000]))
    return window, t, price


@given(series(), cuts_strategy(), st.sampled_from([1, 2, 3, 256]))
def test_cut_independent_naive_and_replayable(
    s: tuple[int, list[int], list[float]], cuts: list[int], chunk: int
) -> None:
    window, t, price = s
    samples = Samples.of_ticks(np.array(t, dtype=np.int64), np.array(price), np.full(len(t), NAN))
    with mock.patch.object(rate_of_change, "CHUNK", chunk):  # many chunks in a short stream
        whole = check_cut_independent(RULE_TYPE, (window,), samples, cuts)
    assert bits_equal(whole.value, naive(window, t, price))
    check_replay(RULE_TYPE, (window,), whole)


def test_the_carried_tail_is_not_walked_by_the_garbage_collector() -> None:
    """A one-minute window at thousands of ticks/s carries tens of thousands of pairs; held in
    lists, every full collection of a live runner walked all of them (tens of ms)."""
    t = np.arange(1_000, 1_000 + 3 * CHUNK * 10, 10, dtype=np.int64)
    batch = Samples.of_ticks(t, np.linspace(100.0, 101.0, len(t)), np.ones(len(t)))
    _, state = RULE_TYPE.values((60_000,), batch, None)  # the arrays path
    one = Samples.of_ticks(t[-1:] + 10, np.array([99.0]), np.ones(1))
    _, state = RULE_TYPE.values((60_000,), one, state)  # the one-sample path
    gc.collect()
    gc.collect()  # (a tuple holding tuples is dropped at the collection after theirs)
    chunks = state["chunks"]
    assert len(chunks) >= 3
    assert not any(gc.is_tracked(x) for chunk in chunks for x in (chunk, *chunk))

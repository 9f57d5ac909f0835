"""The polars engine fires exactly what the per-tick reference fires, however the stream is cut."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.config.loaded import LoadedRule, Location
from tradeassist_runner.config.models import RateOfChangeRule, ThresholdRule, VolumeSpikeRule
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.plan import compile_plan

from .reference import Tick, reference_alerts

SYMBOLS = ["/ES", "$TICK"]
CONDITIONS = ["above", "below", "crosses_above", "crosses_below"]
HERE = Location("rules.yaml", 1, 1)

# Few distinct prices/times so that equal timestamps and prices exactly on a threshold are common.
prices = st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0, 2.5, 3.0, 10.0])
volumes = st.one_of(st.none(), st.integers(min_value=0, max_value=5))


@st.composite
def tick_streams(draw: Any) -> list[Tick]:
    n = draw(st.integers(min_value=0, max_value=40))
    clock = {s: 0 for s in SYMBOLS}
    ticks = []
    for _ in range(n):
        sym = draw(st.sampled_from(SYMBOLS))
        clock[sym] += draw(st.sampled_from([0, 0, 1, 2, 500, 1000, 3000]))
        ticks.append(Tick(clock[sym], sym, draw(prices), draw(volumes)))
    return ticks


@st.composite
def rule_sets(draw: Any) -> list[Any]:
    rules: list[Any] = []
    for i in range(draw(st.integers(min_value=1, max_value=8))):
        common = dict(
            id=f"r{i}",
            instrument=draw(st.sampled_from(SYMBOLS)),
            condition=draw(st.sampled_from(CONDITIONS)),
            threshold=draw(st.sampled_from([-1.0, 0.0, 1.0, 2.0, 2.5, 50.0, -50.0, 0.5, 1.5])),
            cooldown=draw(st.sampled_from(["0s", "1ms", "1s", "2s", "60s"])),
            active=draw(st.sampled_from([True, True, True, False])),
        )
        kind = draw(st.sampled_from(["threshold", "rate_of_change", "volume_spike"]))
        if kind == "threshold":
            rules.append(ThresholdRule(type="threshold", **common))
        elif kind == "rate_of_change":
            window = draw(st.sampled_from(["1ms", "1s", "2s", "3500ms"]))
            rules.append(RateOfChangeRule(type="rate_of_change", window=window, **common))
        else:
            period = draw(st.integers(min_value=1, max_value=4))
            rules.append(VolumeSpikeRule(type="volume_spike", period=period, **common))
    return rules


def to_frame(ticks: list[Tick]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [t.ts_ms for t in ticks],
            "symbol": [t.symbol for t in ticks],
            "price": [t.price for t in ticks],
            "volume": [t.volume for t in ticks],
        },
        schema={"ts": pl.Int64, "symbol": pl.String, "price": pl.Float64, "volume": pl.Int64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def run_engine(rules: list[Any], ticks: list[Tick], batch_size: int) -> list[tuple[str, str, int, float]]:
    engine = Engine(compile_plan([LoadedRule(r, HERE) for r in rules]))
    frame = to_frame(ticks)
    out: list[tuple[str, str, int, float]] = []
    for start in range(0, max(frame.height, 1), batch_size):
        alerts = engine.process(frame.slice(start, batch_size))
        out.extend(
            alerts.select("rule_id", "symbol", pl.col("ts").dt.epoch("ms"), "value").iter_rows()
        )
    return out


@settings(max_examples=int(os.environ.get("EQUIVALENCE_EXAMPLES", "150")))
@given(rules=rule_sets(), ticks=tick_streams(), batch_size=st.sampled_from([1, 2, 3, 7, 100_000]))
def test_engine_matches_reference(rules: list[Any], ticks: list[Tick], batch_size: int) -> None:
    assert run_engine(rules, ticks, batch_size) == reference_alerts(rules, ticks)


def test_known_stream_fires_what_the_spec_says() -> None:
    """A hand-checked example, so a bug shared by engine and reference cannot hide."""
    rules = [
        ThresholdRule(id="x", instrument="/ES", type="threshold", condition="crosses_above", threshold=100, cooldown=timedelta(0)),
        RateOfChangeRule(id="roc", instrument="/ES", type="rate_of_change", condition="above", threshold=1, window="2s", cooldown="0s"),
        VolumeSpikeRule(id="vol", instrument="/ES", type="volume_spike", condition="above", threshold=2, period=2, cooldown="5s"),
    ]
    ticks = [
        Tick(0, "/ES", 99.0, 1),
        Tick(1000, "/ES", 100.0, 1),
        Tick(2000, "/ES", 101.0, 5),  # crosses 100; +2.02% vs 99 two seconds ago; 5 / mean(1,1) = 5
        Tick(3000, "/ES", 102.0, None),  # +2% vs 100; no volume -> no spike value
        Tick(4000, "/ES", 99.0, 10),  # spike 10/mean(1,5)=3.33 but cooldown 5s since 2000
        Tick(5000, "/ES", 103.0, 1),  # crosses again from 99; +0.99% vs 102: below 1%
    ]
    expected = [
        ("x", "/ES", 2000, 101.0),
        ("roc", "/ES", 2000, (101.0 - 99.0) / 99.0 * 100),
        ("vol", "/ES", 2000, 5.0),
        ("roc", "/ES", 3000, 2.0),
        ("x", "/ES", 5000, 103.0),
    ]
    assert reference_alerts(rules, ticks) == expected
    for batch_size in (1, 2, 7):
        assert run_engine(rules, ticks, batch_size) == expected


@st.composite
def long_streams(draw: Any) -> list[Tick]:
    """Hundreds of ticks: long enough that the per-rule search skips over many levels."""
    n = draw(st.integers(min_value=50, max_value=400))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = __import__("random").Random(seed)
    clock = {s: 0 for s in SYMBOLS}
    level = {s: 1.0 for s in SYMBOLS}
    ticks = []
    for _ in range(n):
        sym = rng.choice(SYMBOLS)
        clock[sym] += rng.choice([0, 1, 2, 500, 1000, 3000])
        level[sym] = rng.choice([level[sym], level[sym] + 0.5, level[sym] - 0.5, rng.choice([-2.0, 0.0, 2.0])])
        ticks.append(Tick(clock[sym], sym, level[sym], rng.choice([None, 0, 1, 2, 3, 9])))
    return ticks


@st.composite
def many_rules(draw: Any) -> list[Any]:
    """Dozens of rules on few series, so the threshold index groups hold many thresholds."""
    rules = draw(st.lists(rule_sets(), min_size=3, max_size=6))
    flat = [r for group in rules for r in group]
    return [r.model_copy(update={"id": f"r{i}"}) for i, r in enumerate(flat)]


@settings(max_examples=int(os.environ.get("EQUIVALENCE_EXAMPLES", "150")) // 5, deadline=None)
@given(rules=many_rules(), ticks=long_streams(), batch_size=st.sampled_from([37, 100_000]),
       max_slice=st.sampled_from([5, 64, 65_536]))
def test_engine_matches_reference_on_long_streams(
    rules: list[Any], ticks: list[Tick], batch_size: int, max_slice: int
) -> None:
    """Also cuts big batches into small internal slices, as the engine does past MAX_SLICE."""
    from tradeassist_runner.engine import evaluate as evaluate_module

    saved = evaluate_module.MAX_SLICE
    evaluate_module.MAX_SLICE = max_slice
    try:
        assert run_engine(rules, ticks, batch_size) == reference_alerts(rules, ticks)
    finally:
        evaluate_module.MAX_SLICE = saved

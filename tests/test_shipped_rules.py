"""The shipped example rules (rules.d/indicators.yaml) really fire on the shipped feed.

A user who runs ``tradeassist run config/config.yaml`` with the synthetic source should
see every example rule fire within its warm-up plus a short margin; an example that is
never met (a threshold out of the feed's range, a warm-up longer than anyone waits)
teaches nothing. Everything runs offline on simulated time from a fixed NYSE-session
start, with the config's seeded feed, so the first-fire times are reproducible.

Rules whose warm-up is long (5m and 15m bars, a 200-bar average) run on a feed of their
own instrument only (same seed, rate and volatility): the bars then cost a fraction of
the full twelve-instrument stream. Where even that would be a long wait for a rare
condition, the test shows the value becomes defined at the documented warm-up by
evaluating the same rule with a condition that holds whenever the value is defined.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradeassist_runner.config.loaded import LoadedConfig, LoadedRule
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.config.models import SyntheticSource
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.rules.catalog import AllRule, AnyRule
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.sources.synthetic import SyntheticFeed

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "config.yaml"
EXAMPLES = ROOT / "rules.d" / "indicators.yaml"
#: Monday 2026-01-05 09:30 New York: the NYSE open, so calendar/hours gates are open.
START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
#: The feed is drawn in fixed chunks: its random stream depends on how it is called.
CHUNK = 24_000

#: Minutes of simulated time within which each example must first fire on the full feed.
#: Tick-sample and short-warm-up 1m-bar rules: 10 minutes. Measured first fires (minutes):
#: rsi.ticks 0.27, ema.ticks 0.32, vix.sma 0.46, bollinger 0.04, cl.breakout 1.03,
#: es.vwap 0.002, spx.vwap 5.93, basis 0.015, ratio 0.005, tick.high 1.23, tick.low 3.70,
#: dip.ticks 0.48, roc.1m 8.0, volume.1m 6.0.
FULL_FEED_DEADLINE_MIN: dict[str, float] = {
    "es.rsi.ticks.overbought": 10,
    "nq.ema.ticks.cross_down": 10,
    "vix.above.sma": 10,
    "gc.bollinger.upper": 10,
    "cl.breakout.high": 10,  # 600 ticks of /CL at 20 a second: 30 s of warm-up
    "es.vwap.reclaim": 10,
    "spx.vwap.rth.stretch": 10,
    "es.spx.basis.rich": 10,
    "nq.ndx.ratio.cheap": 10,
    "tick.nyse.extreme.high": 10,
    "tick.nyse.extreme.low": 10,
    "es.dip_in_uptrend.ticks": 10,
    "nq.roc.5m.on.1m": 10,  # needs a bar 5m back: first value at the 14:35 bar, closed 14:36
    # 5 bars of history: first value on the 14:35 bar (closed 14:36). The synthetic 1m
    # volumes are sums of ~1,200 ticks, so a 5% excess is a tail event (another draw of
    # this feed first met it at 11 minutes): allowed a little longer
    "es.volume.1m.spike": 15,
}
FULL_FEED_MINUTES = 15

#: Long warm-ups, on a feed of the rule's instrument alone: (symbol, simulated minutes,
#: minutes by which the value is defined, minutes by which the real rule fires or None).
OWN_FEED: dict[str, tuple[str, int, float, float | None]] = {
    # EMA(21) of 1m bars: the bar starting 14:50 (the 21st) is the first with a value,
    # closed at 14:51; a bullish cross then needs the fast average to be below first:
    # measured first fire 48 minutes in
    "nq.ema.9_21.1m": ("/NQ", 90, 21, 90),
    # RSI(14) on 5m bars: the bar starting 15:40 (the 15th) is the first with a value,
    # evaluated when it closes at 15:45, 75 minutes in; crossing under 30 is rare on a
    # random walk: measured 500 minutes in
    "es.rsi.5m.oversold": ("/ES", 1100, 75, 1100),
    # lowest low of the 4 prior 15m bars: the bar starting 15:30 is the first with a value,
    # closed at 15:45 (75 minutes); measured first fire 105 minutes in
    "ym.breakdown.15m": ("/YM", 150, 75, 150),
    # SMA(200) of 5m bars: the bar starting 995 minutes in (the 200th) closes at 1000; RSI
    # under 30 above the 200-bar mean did not occur in 1100 simulated minutes, so only the
    # value becoming defined is asserted
    "es.oversold_in_uptrend": ("/ES", 1100, 1000, None),
}


@pytest.fixture(scope="module")
def loaded() -> LoadedConfig:
    return load_config(CONFIG)


def _source(loaded: LoadedConfig) -> SyntheticSource:
    src = loaded.config.source
    assert isinstance(src, SyntheticSource), "the shipped config uses the synthetic feed"
    return src


def _first_fires(loaded: LoadedConfig, rules: Iterable[LoadedRule], symbols: set[str] | None, minutes: float) -> dict[str, tuple[datetime, Any]]:
    """rule id -> (ts, bar_start) of its first alert over ``minutes`` of simulated time."""
    instruments = [i for i in loaded.instruments if symbols is None or i.symbol in symbols]
    feed = SyntheticFeed(instruments, _source(loaded), start=START)
    engine = Engine(compile_plan(tuple(rules), loaded.instruments))
    end = START + timedelta(minutes=minutes)
    first: dict[str, tuple[datetime, Any]] = {}
    while True:
        ticks = feed.generate(CHUNK)
        alerts = engine.process(ticks)
        for rule_id, ts, bar_start in alerts.select("rule_id", "ts", "bar_start").iter_rows():
            first.setdefault(rule_id, (ts, bar_start))
        if ticks["ts"].max() >= end:  # type: ignore[operator]
            return first


def _example_ids() -> list[str]:
    return re.findall(r"^  - id: (\S+)", EXAMPLES.read_text(encoding="utf-8"), re.MULTILINE)


def _always_when_defined(rule: LoadedRule) -> LoadedRule:
    """The same rule (series, bar, parameters) firing at every sample with a defined value."""
    body = rule.rule
    hold: dict[str, Any] = {"condition": "above", "threshold": -math.inf}
    changed: AnyRule
    if isinstance(body, AllRule):
        changed = body.model_copy(update={
            "conditions": [c.model_copy(update=hold) for c in body.conditions], "cooldown": timedelta(0)})
    else:
        changed = body.model_copy(update={**hold, "cooldown": timedelta(0), "rearm": None, "for_": None})
    return dataclasses.replace(rule, rule=changed)


def test_every_example_has_a_deadline() -> None:
    assert sorted(_example_ids()) == sorted([*FULL_FEED_DEADLINE_MIN, *OWN_FEED])


def test_examples_fire_on_the_shipped_feed(loaded: LoadedConfig) -> None:
    first = _first_fires(loaded, loaded.rules, None, FULL_FEED_MINUTES)
    late = {}
    for rule_id, deadline in FULL_FEED_DEADLINE_MIN.items():
        when = first.get(rule_id)
        minutes = None if when is None else (when[0] - START) / timedelta(minutes=1)
        if minutes is None or minutes > deadline:
            late[rule_id] = (minutes, deadline)
    assert not late, f"(first fire in minutes, deadline): {late}"


@pytest.mark.parametrize("rule_id", sorted(OWN_FEED))
def test_long_warm_up_examples(loaded: LoadedConfig, rule_id: str) -> None:
    symbol, minutes, defined_by, fires_by = OWN_FEED[rule_id]
    (rule,) = [r for r in loaded.rules if r.rule.id == rule_id]
    bar = rule.rule.bar
    assert bar is not None
    probe = _always_when_defined(rule)
    probe = dataclasses.replace(probe, rule=probe.rule.model_copy(update={"id": "probe"}))
    first = _first_fires(loaded, [rule, probe], {symbol}, minutes)
    # the first value is on the bar that starts one bar before `defined_by`, evaluated at
    # the first tick of the next bar (within a second of its start at 20 ticks a second)
    ts, bar_start = first["probe"]
    assert bar_start == START + timedelta(minutes=defined_by) - bar
    assert timedelta(0) <= ts - (START + timedelta(minutes=defined_by)) < timedelta(seconds=1)
    if fires_by is not None:
        assert rule_id in first, f"{rule_id} did not fire within {minutes} simulated minutes"
        assert first[rule_id][0] <= START + timedelta(minutes=fires_by)


def test_the_run_is_reproducible(loaded: LoadedConfig) -> None:
    """Same seed, same chunks -> same first fires: the deadlines above are not luck of a run."""
    ticks = [SyntheticFeed(loaded.instruments, _source(loaded), start=START).generate(CHUNK) for _ in range(2)]
    assert ticks[0].equals(ticks[1])
    assert isinstance(ticks[0], pl.DataFrame)

"""``backtest_pending``: the batches ``backtest`` yields, their text written when collected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import given, settings
from polars.testing import assert_frame_equal

from tradeassist_runner.backtest import BacktestStats, Tap, backtest, backtest_pending
from tradeassist_runner.config.loader import load_config

from .engine.reference import Tick
from .engine.test_equivalence import rule_sets, streams
from .test_cli_backtest import write_project


@settings(max_examples=15, deadline=None)
@given(rules=rule_sets(), ticks=streams(max_size=40))
def test_pending_batches_collect_to_the_frames_backtest_yields(
    tmp_path_factory: Any, rules: list[dict[str, Any]], ticks: list[Tick]
) -> None:
    config, csv = write_project(tmp_path_factory.mktemp("p"), rules, ticks)
    loaded = load_config(Path(config))
    direct_stats, pending_stats = BacktestStats(), BacktestStats()
    tapped: list[pl.DataFrame] = []
    direct = list(backtest(loaded, csv, 5, direct_stats))
    pending = list(backtest_pending(loaded, csv, 5, pending_stats, tap=Tap(alerts=tapped.append)))
    assert [p.height for p in pending] == [f.height for f in direct]
    for p, f, seen in zip(pending, direct, tapped):
        assert seen is p.collect()  # the tap's frame is the one collected, built once
        assert_frame_equal(p.collect().drop("evaluated_at"), f.drop("evaluated_at"))
    assert (pending_stats.alerts, pending_stats.ticks_accepted) == (direct_stats.alerts, direct_stats.ticks_accepted)


def test_big_batches_give_the_alerts_of_small_ones_with_a_symbol_that_has_no_rule(tmp_path: Path) -> None:
    # Above a few thousand ticks a batch's symbols are read off the reader's Enum of the
    # declared symbols, below it tick by tick: both must give the same alerts, for the
    # symbols with rules between one declared without any and one not declared at all.
    rules = [
        {"id": "es_up", "instrument": "/ES", "type": "threshold", "condition": "crosses_above", "threshold": 100.5},
        {"id": "tick_low", "instrument": "$TICK", "type": "threshold", "condition": "below", "threshold": -200,
         "cooldown": "30s"},
    ]
    ticks = []
    for i in range(12_000):
        symbol = ("/ES", "$TICK", "/CL", "/NQ")[i % 4]  # /CL: declared, no rule; /NQ: not declared
        price = 100.0 + (i % 37) / 18 if symbol != "$TICK" else -300.0 + (i % 50) * 10
        ticks.append(Tick(1_767_225_600_000 + i * 250, symbol, price, 1.0))
    config, csv = write_project(tmp_path, rules, ticks)
    instruments = json.loads(config.read_text())
    instruments["instruments"].append({"symbol": "/CL", "type": "future"})
    config.write_text(json.dumps(instruments))
    loaded = load_config(config)
    big_stats = BacktestStats()
    big = pl.concat(list(backtest(loaded, csv, 10_000, big_stats)))
    small = pl.concat(list(backtest(loaded, csv, 500, BacktestStats())))
    assert big.height > 100 and set(big["symbol"]) == {"/ES", "$TICK"}
    assert_frame_equal(big.drop("evaluated_at"), small.drop("evaluated_at"))
    assert big_stats.unknown_symbol_ticks == 3_000

"""``backtest_pending``: the batches ``backtest`` yields, their text written when collected."""

from __future__ import annotations

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

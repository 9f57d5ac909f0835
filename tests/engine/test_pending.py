"""A batch's pending alerts, collected, are the frame ``Engine.process`` returns (every
column, every byte of text), and a selection of some columns is those columns of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tradeassist_runner.engine import alert_rows, evaluate
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.pending import PendingAlerts, RowsQuery
from tradeassist_runner.engine.plan import compile_plan

from .reference import Tick
from .test_alert_row_paths import TEMPLATES
from .test_equivalence import frame, load, rule_sets, streams

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@settings(deadline=None, max_examples=25)
@given(rules=rule_sets(), ticks=streams(), data=st.data(), sliced=st.booleans())
def test_collected_pending_alerts_equal_processed_alerts(
    rules: list[dict[str, Any]], ticks: list[Tick], data: Any, sliced: bool
) -> None:
    for r in rules:
        template = data.draw(st.sampled_from(TEMPLATES))
        if template:
            r["message"] = template
    loaded = load(rules)
    df = frame(ticks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alert_rows, "FEW_ROWS", 0)  # every batch with alerts is a query
        if sliced:  # a batch evaluated in slices of a few ticks, their alerts concatenated
            patch.setattr(evaluate, "MAX_SLICE", 3)
            patch.setattr(evaluate, "MIN_SLICE", 3)
        plan = compile_plan(loaded.rules, loaded.instruments)
        direct, deferred = Engine(plan), Engine(plan)
        for start in range(0, df.height, 7):
            batch = df.slice(start, 7)
            want = direct.process(batch, NOW)
            pending = deferred.process_pending(batch, NOW)
            assert pending.height == want.height
            assert_frame_equal(pending.select(["rule_id", "ts", "seq"]), want.select(["rule_id", "ts", "seq"]))
            assert_frame_equal(pending.collect(), want)
            assert pending.collect() is pending.collect()  # built once
        assert deferred.state.next_seq == direct.state.next_seq


def _query(finish: Any = None) -> RowsQuery:
    table = pl.DataFrame({"name": ["a", "b", "c"]})
    return RowsQuery({"x": np.array([1, 2, 3])}, table, np.array([2, 0, 1]), [{"y": pl.col("x") * 10}],
                     {"x": pl.col("x"), "name": pl.col("name"), "message": pl.col("name") + pl.col("y").cast(pl.String),
                      "evaluated_at": pl.lit(None, pl.Datetime("ms", "UTC"))}, NOW, finish)


def test_a_selection_without_the_message_skips_the_per_row_fix_up() -> None:
    def finish(frame: pl.DataFrame) -> pl.DataFrame:
        raise AssertionError("the message was not asked for")

    pending = PendingAlerts(_query(finish), 3)
    assert pending.select(["name", "x"]).to_dict(as_series=False) == {"name": ["c", "a", "b"], "x": [1, 2, 3]}


def test_a_selection_with_the_message_reads_the_fixed_up_frame() -> None:
    def finish(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.col("message").str.to_uppercase())

    pending = PendingAlerts(_query(finish), 3)
    assert pending.select(["message"])["message"].to_list() == ["C10", "A20", "B30"]
    assert pending.collect()["evaluated_at"].to_list() == [NOW] * 3

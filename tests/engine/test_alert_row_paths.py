"""Alert rows are written column-wise by polars for large batches and row by row in
Python for small ones: both must give the same frame, every column and every byte of
text (``inputs``, messages, ``values``) included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tradeassist_runner.engine import alert_rows
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.plan import compile_plan

from .reference import Tick
from .test_equivalence import frame, load, rule_sets, streams

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TEMPLATES = [None, None, "{symbol} at {price}: {value} vs {threshold} ({alert_id})", "{value:.2f} {volume} {bar_start}"]


@settings(deadline=None, max_examples=25)
@given(rules=rule_sets(), ticks=streams(), data=st.data())
def test_column_wise_rows_equal_python_rows(rules: list[dict[str, Any]], ticks: list[Tick], data: Any) -> None:
    for r in rules:
        template = data.draw(st.sampled_from(TEMPLATES))
        if template:
            r["message"] = template
    loaded = load(rules)
    df = frame(ticks)
    got = []
    for few in (0, 1_000_000):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(alert_rows, "FEW_ROWS", few)
            got.append(Engine(compile_plan(loaded.rules, loaded.instruments)).process(df, NOW))
    assert_frame_equal(got[0], got[1])

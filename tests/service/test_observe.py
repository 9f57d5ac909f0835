"""What the observer keeps per instrument for the dashboard: the first price and a bounded sparkline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from tradeassist_runner.service import observe
from tradeassist_runner.service.observe import SPARKLINE_POINTS, SPARKLINE_STEP_MS, Observer

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)


def _batch(rows: list[tuple[str, float, datetime]]) -> pl.DataFrame:
    return pl.DataFrame({"symbol": [r[0] for r in rows], "price": [r[1] for r in rows], "ts": [r[2] for r in rows]})


def test_one_sparkline_point_per_step_of_tick_time_holds_its_last_price() -> None:
    observer = Observer()
    step = timedelta(milliseconds=SPARKLINE_STEP_MS)
    observer.on_batch(_batch([("/ES", 100.0, T0), ("/ES", 101.0, T0 + step / 4)]), 0, 0, 0.001)
    observer.on_batch(_batch([("/ES", 102.0, T0 + step / 2)]), 0, 0, 0.001)  # same step: replaces
    observer.on_batch(_batch([("/ES", 99.0, T0 + step), ("/NQ", 7.0, T0)]), 0, 0, 0.001)  # next step: appends
    es = observer.instruments["/ES"]
    assert [p for _, p in es.recent] == [102.0, 99.0]
    assert es.first_price == 100.0 and es.last_price == 99.0 and es.ticks == 4
    assert [p for _, p in observer.instruments["/NQ"].recent] == [7.0]


def test_the_sparkline_keeps_only_the_newest_points() -> None:
    observer = Observer()
    n = SPARKLINE_POINTS + 25
    for i in range(n):
        observer.on_batch(_batch([("/ES", float(i), T0 + timedelta(milliseconds=SPARKLINE_STEP_MS * i))]), 0, 0, 0.001)
    es = observer.instruments["/ES"]
    assert [p for _, p in es.recent] == [float(i) for i in range(25, n)]
    assert es.first_price == 0.0


def test_small_and_large_batches_give_the_same_per_instrument_state() -> None:
    """Small batches are summed up in Python, large ones by polars: the dashboard sees the same."""
    rows = [(("/ES", "/NQ", "$TICK")[i % 3 if i % 5 else 0], 100.0 + i, T0 + timedelta(milliseconds=10 * i))
            for i in range(40)]
    seen: dict[str, list[tuple[str, dict[str, object]]]] = {}
    for name, threshold in (("python", 10_000), ("polars", 0)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(observe, "PER_SYMBOL_IN_PYTHON", threshold)
            observer = Observer()
            observer.subscribe(lambda kind, payload, name=name: seen.setdefault(name, []).append((kind, payload)))
            observer.on_batch(_batch(rows[:25]), 0, 0, 0.001)
            observer.on_batch(_batch(rows[25:]), 0, 0, 0.001)
            state = {s: (st.first_price, st.last_price, st.last_ts, st.ticks, list(st.recent))
                     for s, st in observer.instruments.items()}
            seen.setdefault(name + "-state", []).append(("state", state))
    key = lambda item: str(item[1].get("symbol"))  # noqa: E731 - group order is not part of the contract
    assert sorted(seen["python"], key=key) == sorted(seen["polars"], key=key)
    assert seen["python-state"] == seen["polars-state"]

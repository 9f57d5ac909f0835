"""Warming a plan builds its calendars and tables before the first live tick, and changes
nothing a stream of batches then fires."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.warm import warm

from .test_cases import engine, ms, run

RULES = """rules:
  - {id: open.above, instrument: /ES, type: threshold, condition: crosses_above, threshold: 10,
     calendar: XNYS, cooldown: 0s}
  - {id: spx.up, instrument: $SPX, type: rate_of_change, window: 1m, condition: above, threshold: 0.01,
     hours: ["09:30-16:00"], cooldown: 30s}
  - {id: es.ema, instrument: /ES, type: moving_average, average: ema, period: 3, condition: above,
     threshold: 0, cooldown: 0s}
"""

ROWS = [
    ("2026-01-05T14:31:00", "/ES", 9.0, 1),
    ("2026-01-05T14:31:01", "$SPX", 100.0, 1),
    ("2026-01-05T14:31:02", "/ES", 11.0, 2),
    ("2026-01-05T14:32:30", "$SPX", 101.0, 1),
    ("2026-01-05T14:33:00", "/ES", 9.5, 3),
    ("2026-01-05T14:33:01", "/ES", 12.0, 1),
    ("2026-01-05T22:00:00", "/ES", 9.0, 1),  # after the close: XNYS shut
    ("2026-01-05T22:00:01", "/ES", 13.0, 1),
]


@pytest.mark.parametrize("cuts", [(), (3,), (1, 2, 5, 7)])
def test_a_warmed_plan_fires_what_a_cold_one_does(tmp_path: Path, cuts: tuple[int, ...]) -> None:
    (tmp_path / "cold").mkdir()
    (tmp_path / "warm").mkdir()
    cold = engine(tmp_path / "cold", RULES)
    warmed = engine(tmp_path / "warm", RULES)
    warm(warmed.plan, ms("2026-01-05T14:30:00"))
    assert warmed.state == cold.state  # the runner's state is untouched
    want = run(cold, ROWS, cuts)
    got = run(warmed, ROWS, cuts)
    for rows in (want, got):
        for row in rows:
            row.pop("evaluated_at")
    assert [(a["rule_id"], a["ts"]) for a in want] == [
        ("open.above", ms("2026-01-05T14:31:02")), ("spx.up", ms("2026-01-05T14:32:30")),
        ("open.above", ms("2026-01-05T14:33:01")), ("es.ema", ms("2026-01-05T14:33:01")),
        ("es.ema", ms("2026-01-05T22:00:01")),  # the crossing after the close is gated out
    ]
    assert got == want


def test_the_first_tick_after_warming_builds_no_calendar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import exchange_calendars  # type: ignore[import-untyped]

    built: list[Any] = []
    real = exchange_calendars.get_calendar

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(exchange_calendars, "get_calendar", counted)
    eng: Engine = engine(tmp_path, RULES)
    warm(eng.plan, ms("2026-01-05T14:30:00"))
    assert [a[0] for a in built] == ["XNYS"]
    run(eng, ROWS)
    assert [a[0] for a in built] == ["XNYS"]  # the live ticks found it built


def test_a_plan_without_symbols_warms_without_error(tmp_path: Path) -> None:
    eng = engine(tmp_path, "rules: []\n")
    warm(eng.plan, ms("2026-01-05T14:30:00"))
    assert run(eng, ROWS) == []

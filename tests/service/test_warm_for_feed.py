"""A runner warms its plan before the first tick only when the feed is stamped with the
wall clock: a replay's ticks can be from any year."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.service.runner import warm_for_feed

RULE = """rules:
  - {id: open.above, instrument: /ES, type: threshold, condition: above, threshold: 10, calendar: XNYS}
"""


@pytest.mark.parametrize(("source", "builds"), [
    ("{type: synthetic}", ["XNYS"]),
    ("{type: replay, path: ticks.csv}", []),
    ("{type: redis, url: 'redis://127.0.0.1:6379/0', shards: 2, feed: {type: synthetic}}", ["XNYS"]),
    ("{type: redis, url: 'redis://127.0.0.1:6379/0', shards: 2, feed: {type: replay, path: ticks.csv}}", []),
])
def test_only_a_wall_clock_feed_warms_the_calendars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, builds: list[str]
) -> None:
    import exchange_calendars  # type: ignore[import-untyped]

    built: list[str] = []
    real = exchange_calendars.get_calendar

    def counted(name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(exchange_calendars, "get_calendar", counted)
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(RULE)
    (tmp_path / "ticks.csv").write_text("ts,symbol,price\n")
    (tmp_path / "config.yaml").write_text(
        f"instruments:\n  - {{symbol: /ES, type: future}}\nrules_dir: rules.d\nsource: {source}\n")
    loaded = load_config(tmp_path / "config.yaml")
    warm_for_feed(compile_plan(loaded.rules, loaded.instruments), loaded)
    assert built == builds

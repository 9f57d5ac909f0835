"""The chart's numbers are the engine's: the lines pass through every fired value, no alert
is ever dropped by downsampling, and the symbol drawn by default is the busiest one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from tradeassist_runner.backtest import BacktestStats, backtest
from tradeassist_runner.charts.draw import BacktestChart, prepare
from tradeassist_runner.charts.model import Figure
from tradeassist_runner.config.loader import load_config

from .project import write_project


def _run(tmp_path: Path, symbol: str | None, columns: int, rules: tuple[str, ...] = ()) -> tuple[Figure, pl.DataFrame]:
    config, ticks = write_project(tmp_path)
    loaded = load_config(config)
    chart = BacktestChart(loaded, prepare([loaded], str(tmp_path / "c.html"), symbol, rules), ticks, 700, columns)
    frames = list(backtest(loaded, ticks, 700, BacktestStats(), tap=chart.tap()))
    return chart.figure(), pl.concat(frames)


def test_every_fired_value_lies_on_the_drawn_line(tmp_path: Path) -> None:
    figure, alerts = _run(tmp_path, "/ES", columns=10_000_000)  # 1 ms columns: every sample drawn
    es = alerts.filter(pl.col("symbol") == "/ES")
    assert figure.alerts == es.height
    checked = 0
    for panel in figure.panels[1:]:
        (line,) = [ln for ln in panel.lines if ln.name == panel.title]
        points = {(int(t), float(y)) for t, y in zip(line.t.tolist(), line.y.tolist()) if y == y}
        for markers in panel.markers:
            assert markers.role == "values"
            for t, y in zip(markers.t.tolist(), markers.y.tolist()):
                assert (int(t), float(y)) in points, (panel.title, t, y)
                checked += 1
    assert checked >= es.height  # each alert at least once (a conjunction on two panels)
    price = figure.panels[0]
    ticks = {(int(t), float(y)) for ln in price.lines if ln.name == "/ES" for t, y in zip(ln.t.tolist(), ln.y.tolist())}
    for markers in price.markers:
        if markers.name == "es.basis alerts":
            continue  # a spread also fires on ticks of $SPX, at /ES's latest price
        for t, y, hover in zip(markers.t.tolist(), markers.y.tolist(), markers.hover):
            if "bar from" not in hover:  # a tick rule's marker sits on the tick it fired at
                assert (int(t), float(y)) in ticks


def test_downsampling_bounds_the_points_and_keeps_every_alert(tmp_path: Path) -> None:
    figure, alerts = _run(tmp_path, "/ES", columns=40)
    assert figure.alerts == alerts.filter(pl.col("symbol") == "/ES").height
    drawn = {m.hover[i].split("<i>")[1] for p in figure.panels for m in p.markers if m.role == "alerts"
             for i in range(len(m.t))}
    assert drawn == set(alerts.filter(pl.col("symbol") == "/ES")["alert_id"].map_elements(lambda a: f"{a}</i>", pl.String))
    for panel in figure.panels:
        for line in panel.lines:
            assert len(line.t) <= 4 * 40, (panel.title, line.name)
        if panel.candles is not None:
            assert len(panel.candles) <= 40
    assert "per column of" in figure.notes[0]


def test_without_symbol_the_busiest_symbol_is_drawn_in_a_second_pass(tmp_path: Path) -> None:
    figure, alerts = _run(tmp_path, None, columns=500)
    per_symbol = alerts.group_by("symbol").len().sort("len", descending=True)
    busiest = per_symbol["symbol"][0]
    assert figure.panels[0].title == busiest
    assert figure.alerts == per_symbol["len"][0]
    others = per_symbol["symbol"][1:].to_list()
    assert any(f"also fired: {others[0]}" in n for n in figure.notes)
    lines = [ln for ln in figure.panels[0].lines if ln.name == busiest]
    assert lines and np.isfinite(lines[0].y).sum() > 100  # the second pass drew its price


def test_rule_selection_draws_only_those_rules(tmp_path: Path) -> None:
    figure, _ = _run(tmp_path, None, columns=500, rules=("es.rsi", "es.held"))
    names = {m.name for m in figure.panels[0].markers}
    assert names == {"es.rsi alerts", "es.held alerts"}
    assert [p.title for p in figure.panels[1:]] == ["RSI(14)"]
    assert any(lv.name == "es.rsi: re-arms at 55" for lv in figure.panels[1].levels)


def test_a_diff_without_symbol_draws_the_busiest_symbol_with_both_versions(tmp_path: Path) -> None:
    from tradeassist_runner.charts.draw import DiffChart
    from tradeassist_runner.gitops.diff import build_report

    from .project import RULES

    config, ticks = write_project(tmp_path)
    changed = [dict(r) for r in RULES]
    changed[1]["threshold"] = 70
    new_config, _ = write_project(tmp_path, rules=changed, folder="new.d")
    old, new = load_config(config), load_config(new_config)
    chart = DiffChart(old, new, prepare([old, new], str(tmp_path / "d.png"), None, []), ticks)
    report = build_report(old, new, "old", "new", ticks, taps=chart.taps())
    figure = chart.figure()
    assert figure.panels[0].title == "/ES"
    per_side = {"OLD": 0, "NEW": 0}
    for m in figure.panels[0].markers:
        per_side[m.name.split(":")[0]] += len(m.t)
    es = [a for a in report.alerts if not a.rule_id.startswith("spx")]
    assert per_side == {"OLD": sum(a.old for a in es), "NEW": sum(a.new for a in es)}
    assert {"es.rsi (OLD)", "es.rsi (NEW)"} <= {lv.name.split(":")[0] for p in figure.panels for lv in p.levels}


def test_a_missing_charts_extra_is_named_with_its_install_command(tmp_path: Path, monkeypatch: object) -> None:
    import importlib.util

    import pytest

    from tradeassist_runner.charts import output
    from tradeassist_runner.errors import ChartError

    real = importlib.util.find_spec
    monkeypatch.setattr(output.importlib.util, "find_spec",  # type: ignore[attr-defined]
                        lambda name, *a: None if name == "plotly" else real(name, *a))
    with pytest.raises(ChartError, match=r"needs plotly, which is not installed: pip install 'tradeassist-runner\[charts\]'"):
        output.check_ready(str(tmp_path / "c.html"), "html")
    output.check_ready(str(tmp_path / "c.png"), "png")  # matplotlib is still there

"""``backtest --chart`` and ``diff --chart`` as a user runs them: the HTML opened in a real
headless Chromium with no network, the PNG decoded, the bad inputs refused cleanly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tradeassist_runner.cli import main

from .browser import artifact_dir, browser_page
from .charts.project import RULES, write_project
from .cli_helpers import ROOT, tradeassist

SAMPLE = ROOT / "rules.d" / "tests" / "ticks" / "es-open.csv"
CONFIG = ROOT / "config" / "config.yaml"

COUNT_MARKERS = """() => {
  const gd = document.getElementById('tradeassist-chart');
  const traces = gd.data.filter(t => t.meta && t.meta.role === 'alerts');
  return {
    data: traces.reduce((n, t) => n + t.x.length, 0),
    dom: document.querySelectorAll('g[class*="tracealerts-"] path.point').length,
    hover: traces.flatMap(t => t.text),
    names: traces.map(t => t.name),
    windows: gd.data.filter(t => t.meta && t.meta.role === 'windows').map(t => t.name),
    rsi_range: Object.entries(gd.layout).filter(([k, v]) => k.startsWith('yaxis') && v.title
      && v.title.text === 'RSI').map(([k, v]) => v.range),
  };
}"""


def _jsonl(stdout: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    for row in rows:
        row.pop("evaluated_at")  # wall-clock time of the run
    return rows


def _open(page: object, path: Path) -> dict[str, object]:
    page.goto(path.as_uri())  # type: ignore[attr-defined]
    page.wait_for_selector("#tradeassist-chart .main-svg")  # type: ignore[attr-defined]
    return page.evaluate(COUNT_MARKERS)  # type: ignore[attr-defined, no-any-return]


def _invoke(*args: str | Path) -> object:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert isinstance(result.exception, SystemExit | None), result.exception  # never a traceback
    return result


def test_the_html_opens_offline_in_chromium_with_every_alert_on_it(tmp_path: Path) -> None:
    # 1. exactly the command a new user runs on the shipped sample, in a subprocess
    charted = tradeassist("backtest", CONFIG, "--ticks", SAMPLE, "--format", "jsonl", "--chart", tmp_path / "es.html")
    plain = _invoke("backtest", CONFIG, "--ticks", SAMPLE, "--format", "jsonl")
    assert plain.exit_code == charted.returncode == 0, charted.stderr  # type: ignore[attr-defined]
    alerts = _jsonl(charted.stdout)
    assert alerts and alerts == _jsonl(plain.stdout)  # type: ignore[attr-defined]  # stdout: the alerts only
    assert "chart: " in charted.stderr and "es.html" in charted.stderr

    # 2. a project with bars, RSI, `for`, re-arm, a spread and a conjunction
    config, ticks = write_project(tmp_path / "p")
    rich = _invoke("backtest", config, "--ticks", ticks, "--format", "jsonl", "--symbol", "/ES",
                   "--chart", tmp_path / "p.html")
    assert rich.exit_code == 0, rich.stderr  # type: ignore[attr-defined]
    es_alerts = [a for a in _jsonl(rich.stdout) if a["symbol"] == "/ES"]  # type: ignore[attr-defined]
    assert len({a["rule_id"] for a in es_alerts}) >= 5  # the project really exercises the chart

    # 3. a diff of that project where es.rsi's threshold went up
    changed = json.loads(json.dumps(RULES))
    changed[1]["threshold"] = 70
    new_config, _ = write_project(tmp_path / "p", rules=changed, folder="new.d")
    report = _invoke("diff", config, new_config, "--ticks", ticks, "--format", "json",
                     "--chart", tmp_path / "diff.html", "--symbol", "/ES")
    assert report.exit_code == 0, report.stderr  # type: ignore[attr-defined]
    counts = {r["rule_id"]: (r["old"], r["new"]) for r in json.loads(report.stdout)["alerts"]["rules"]}  # type: ignore[attr-defined]
    old_total = sum(o for rid, (o, n) in counts.items() if not rid.startswith("spx"))
    new_total = sum(n for rid, (o, n) in counts.items() if not rid.startswith("spx"))
    assert counts["es.rsi"][0] > counts["es.rsi"][1]

    with browser_page((1400, 900)) as browser:
        sample = _open(browser.page, tmp_path / "es.html")
        project = _open(browser.page, tmp_path / "p.html")
        # a user hovers an alert: the rule, its value against the threshold and its id show
        marker = browser.page.query_selector('g[class*="tracealerts-"] path.point')  # type: ignore[attr-defined]
        box = marker.bounding_box()
        browser.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]
        shown = browser.page.wait_for_selector(".hoverlayer .hovertext").text_content()  # type: ignore[attr-defined]
        browser.page.screenshot(path=str(artifact_dir() / "chart-backtest.png"), full_page=True)  # type: ignore[attr-defined]
        diff = _open(browser.page, tmp_path / "diff.html")
        colours = browser.page.evaluate(  # type: ignore[attr-defined]
            "() => [...new Set(document.getElementById('tradeassist-chart').data"
            ".filter(t => t.meta && t.meta.role === 'alerts').map(t => t.marker.color))]"
        )
        assert browser.outside == []
        assert browser.console_errors == []

    assert sample["data"] == sample["dom"] == len(alerts)
    assert all(any(str(a["alert_id"]) in h for h in sample["hover"]) for a in alerts)  # type: ignore[union-attr]

    assert project["data"] == project["dom"] == len(es_alerts)
    hovered = [a for a in es_alerts if str(a["alert_id"]) in shown]
    assert len(hovered) == 1 and str(hovered[0]["rule_id"]) in shown and "price" in shown
    hover = "\n".join(project["hover"])  # type: ignore[arg-type]
    for a in es_alerts:
        assert str(a["alert_id"]) in hover
    assert "cooldown 30s: no fire before" in hover and "held since" in hover and "bar from" in hover
    assert project["rsi_range"] == [[0, 100]]
    assert any("cooldown" in w for w in project["windows"]) and any("for run" in w for w in project["windows"])  # type: ignore[union-attr]

    old_drawn = sum(1 for h in diff["hover"] if "(OLD)" in h)  # type: ignore[union-attr]
    new_drawn = sum(1 for h in diff["hover"] if "(NEW)" in h)  # type: ignore[union-attr]
    assert (old_drawn, new_drawn) == (old_total, new_total)
    assert diff["data"] == diff["dom"] == old_total + new_total
    assert len(colours) == 2
    assert "OLD: es.rsi alerts" in diff["names"] and "NEW: es.rsi alerts" in diff["names"]  # type: ignore[operator]


def test_the_png_is_drawn_without_a_browser(tmp_path: Path) -> None:
    from PIL import Image

    config, ticks = write_project(tmp_path)
    out = tmp_path / "es.png"
    result = CliRunner().invoke(main, ["backtest", str(config), "--ticks", str(ticks), "--symbol", "/ES",
                                       "--chart", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as img:
        assert img.format == "PNG"
        width, height = img.size
        rgb = img.convert("RGB")
        colors = rgb.getcolors(maxcolors=1 << 20) or []
        pixels = width * height
        white = sum(n for n, c in colors if min(c) >= 245)
    assert width == 1600 and height > 1000  # the price panel and four value panels
    assert len(colors) > 200  # lines, candles, markers, shading: not a blank canvas
    assert 0.03 < 1 - white / pixels < 0.9


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--symbol", "/ZZ"], 2, "unknown --symbol '/ZZ'"),
        (["--symbol", "/es"], 2, "did you mean '/ES'"),
        (["--rule", "es.nope"], 2, "unknown --rule 'es.nope'"),
        (["--rule", "es.level", "--rule", "spx.level"], 2, "a chart draws one symbol"),
        (["--symbol", "$SPX", "--rule", "es.level"], 2, "is a rule of /ES, not of --symbol $SPX"),
    ],
)
def test_unknown_symbols_and_rules_are_usage_errors(tmp_path: Path, args: list[str], code: int, words: str) -> None:
    config, ticks = write_project(tmp_path, n_ticks=50)
    result = CliRunner().invoke(
        main, ["backtest", str(config), "--ticks", str(ticks), "--chart", str(tmp_path / "c.html"), *args]
    )
    assert result.exit_code == code
    assert words in result.output
    assert not (tmp_path / "c.html").exists()


def test_chart_options_without_chart_and_bad_suffixes_are_usage_errors(tmp_path: Path) -> None:
    config, ticks = write_project(tmp_path, n_ticks=50)
    runner = CliRunner()
    alone = runner.invoke(main, ["backtest", str(config), "--ticks", str(ticks), "--symbol", "/ES"])
    assert alone.exit_code == 2 and "give --chart FILE too" in alone.output
    suffix = runner.invoke(main, ["backtest", str(config), "--ticks", str(ticks), "--chart", str(tmp_path / "c.svg")])
    assert suffix.exit_code == 2 and "ends in .html (interactive) or .png (static)" in suffix.output
    no_ticks = runner.invoke(main, ["diff", str(config), str(config), "--chart", str(tmp_path / "c.html")])
    assert no_ticks.exit_code == 2 and "give --ticks FILE too" in no_ticks.output


def test_an_unwritable_chart_path_is_a_clear_error_before_the_run(tmp_path: Path) -> None:
    config, ticks = write_project(tmp_path, n_ticks=50)
    (tmp_path / "folder.html").mkdir()
    cases = {
        tmp_path / "missing" / "c.html": "folder " + str(tmp_path / "missing") + " does not exist",
        tmp_path / "folder.html": "is a folder, not a file",
        Path("/proc/c.png"): "cannot write",
    }
    for target, words in cases.items():
        result = _invoke("backtest", config, "--ticks", ticks, "--chart", target, "--format", "jsonl",
                         "--rule", "spx.level")  # one panel: /proc is found unwritable only at the end
        assert result.exit_code == 1, (target, result.output)  # type: ignore[attr-defined]
        assert words in result.stderr, result.stderr  # type: ignore[attr-defined]
        if target.parent != Path("/proc"):  # root may write anywhere: /proc fails only at the end
            assert result.stdout == ""  # type: ignore[attr-defined]  # refused before the run


def test_a_folder_that_disappears_during_the_run_is_reported_not_a_traceback(tmp_path: Path) -> None:
    from tradeassist_runner.charts.draw import BacktestChart, prepare
    from tradeassist_runner.config.loader import load_config
    from tradeassist_runner.backtest import backtest
    from tradeassist_runner.errors import ChartError

    config, ticks = write_project(tmp_path, n_ticks=200)
    out = tmp_path / "gone" / "c.html"
    out.parent.mkdir()
    loaded = load_config(config)
    chart = BacktestChart(loaded, prepare([loaded], str(out), "/ES", []), ticks, 1000)
    list(backtest(loaded, ticks, 1000, tap=chart.tap()))
    shutil.rmtree(out.parent)
    with pytest.raises(ChartError, match="cannot write"):
        chart.write()


def test_the_ci_workflow_example_attaches_the_diff_chart() -> None:
    workflow = (ROOT / "examples" / "ci" / "github-workflow.yaml").read_text()
    assert "--chart rules-diff.html" in workflow
    assert "actions/upload-artifact" in workflow and "rules-diff.html" in workflow.split("upload-artifact")[1]

"""``tradeassist explain``: a logged alert's decision, redone from its recorded inputs, exactly."""

from __future__ import annotations

import json
from pathlib import Path

from tradeassist_runner.backtest import backtest
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.config.models import Instrument, SyntheticSource
from tradeassist_runner.gitops.explain import explain_alert
from tradeassist_runner.sinks.sqlite import SqliteAlertLog
from tradeassist_runner.sources.synthetic import SyntheticFeed

from ..cli_helpers import tradeassist

RULES = """\
rules:
  - {id: es.cross, instrument: /ES, type: threshold, condition: crosses_above, threshold: 100, cooldown: 2s}
  - {id: es.up, instrument: /ES, type: rate_of_change, window: 2s, condition: above, threshold: 0.001, cooldown: 1s}
  - {id: es.down, instrument: /ES, type: rate_of_change, window: 1500ms, condition: crosses_below, threshold: 0, cooldown: 0s}
  - {id: es.vol, instrument: /ES, type: volume_spike, period: 4, condition: above, threshold: 1.2, cooldown: 0s}
"""


def project(tmp_path: Path, ticks: str) -> Path:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(RULES)
    (tmp_path / "ticks.csv").write_text(ticks)
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        "source: {type: replay, path: ticks.csv}\n"
        "batch: {max_size: 7}\n"  # small batches: inputs often come from carried state
        "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite}\n"
    )
    return config


def logged(config: Path) -> list[dict[str, object]]:
    result = tradeassist("alerts", config, "--format", "jsonl", cwd=config.parent)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


HAND = (
    "ts,symbol,price,volume\n"
    "2026-01-05T14:30:00.000Z,/ES,99.5,10\n"
    "2026-01-05T14:30:00.500Z,/ES,99.75,10\n"
    "2026-01-05T14:30:01.000Z,/ES,99.8,20\n"
    "2026-01-05T14:30:01.500Z,/ES,99.9,\n"
    "2026-01-05T14:30:02.000Z,/ES,100.25,30\n"
    "2026-01-05T14:30:02.500Z,/ES,100.5,90\n"
)


def test_explain_prints_why_each_type_fired_and_reproduces_the_value(tmp_path: Path) -> None:
    config = project(tmp_path, HAND)
    assert tradeassist("run", config, cwd=tmp_path, timeout=60).returncode == 0
    alerts = {(a["rule_id"], a["ts"]): a for a in logged(config)}

    cross = alerts[("es.cross", "2026-01-05T14:30:02.000Z")]
    out = tradeassist("explain", config, cross["alert_id"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "The price was 100.25." in out.stdout
    assert "crosses_above: previous value 99.9 <= 100.0 and value 100.25 > 100.0 -> True" in out.stdout
    assert "2s: no earlier fire of this rule definition" in out.stdout
    assert "(logged 100.25): exact match" in out.stdout

    assert ("es.up", "2026-01-05T14:30:02.500Z") not in alerts  # +0.75% too, but inside its 1s cooldown
    up = alerts[("es.up", "2026-01-05T14:30:02.000Z")]
    out = tradeassist("explain", config, up["alert_id"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "against 99.5 at 2026-01-05T14:30:00.000Z (2s or more earlier): (100.25 - 99.5) / |99.5| * 100" in out.stdout
    assert "above: value" in out.stdout and "> threshold 0.001 -> True" in out.stdout
    assert ": exact match" in out.stdout

    vol = alerts[("es.vol", "2026-01-05T14:30:02.500Z")]
    out = tradeassist("explain", config, vol["alert_id"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # mean of 10, 10, 20, 30: the null-volume tick is skipped
    assert "The volume was 90 against a mean of 17.5 over the last 4 volumes: 90 / 17.5 = " in out.stdout
    assert ": exact match" in out.stdout

    missing = tradeassist("explain", config, "es.cross@1#2", cwd=tmp_path)
    assert missing.returncode == 1 and "is not in the alert log" in missing.stderr


def test_every_logged_alert_is_reproduced_exactly(tmp_path: Path) -> None:
    """Many alerts over random ticks, cut into batches of 7: each value is recomputed bit for bit."""
    feed = SyntheticFeed(
        [Instrument(symbol="/ES", type="future")],
        SyntheticSource(type="synthetic", seed=3, ticks_per_second=5, volatility_bps=20),
    )
    ticks = feed.generate(150).select("ts", "symbol", pl_price(), "volume")
    config = project(tmp_path, ticks.write_csv())
    loaded = load_config(config)
    db = loaded.resolve(loaded.config.storage.sqlite)
    db.parent.mkdir(parents=True)
    with SqliteAlertLog(db) as log:  # what the runner does, in-process to keep the test fast
        for alerts in backtest(loaded, tmp_path / "ticks.csv", batch_size=7):
            log.write(alerts)
        rows = log.query().to_dicts()
    assert {r["rule_id"] for r in rows} == {"es.cross", "es.up", "es.down", "es.vol"}
    for row in rows:
        ex = explain_alert(loaded, str(row["alert_id"]))
        assert ex.reproduced is True, (row, ex.render())
        assert ex.recomputed == row["value"]


def pl_price():  # type: ignore[no-untyped-def]
    """Prices scaled around 100 so the threshold rule crosses now and then."""
    import polars as pl

    return (pl.col("price") / pl.col("price").first() * 100).round(2).alias("price")

"""``tradeassist run`` end to end: source -> engine -> SQLite + Parquet, and a clean stop."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import SinkError
from tradeassist_runner.service import runner
from tradeassist_runner.sinks import backend
from tradeassist_runner.sinks.alert_log import AlertLog
from tradeassist_runner.sinks.backend import open_log

from ..cli_helpers import tradeassist

RULES = """\
rules:
  - {id: es.cross, instrument: /ES, type: threshold, condition: crosses_above, threshold: 100, cooldown: 0s}
  - {id: es.low, instrument: /ES, type: threshold, condition: below, threshold: 99, cooldown: 10s, severity: critical}
"""


def project(tmp_path: Path, source: str) -> Path:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(RULES)
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        f"source: {source}\n"
        "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite}\n"
    )
    return config


def write_ticks(path: Path) -> None:
    path.write_text(
        "ts,symbol,price,volume\n"
        "2026-01-05T14:30:00.000Z,/ES,99.5,1\n"
        "2026-01-05T14:30:01.000Z,/ES,100.5,1\n"  # es.cross
        "2026-01-05T14:30:02.000Z,/ES,oops,1\n"  # rejected, reported
        "2026-01-05T14:30:03.000Z,/ES,98.0,1\n"  # es.low
        "2026-01-05T14:30:04.000Z,/ES,101.0,1\n"  # es.cross
    )


def test_replay_run_logs_every_alert_to_sqlite_and_parquet(tmp_path: Path) -> None:
    write_ticks(tmp_path / "ticks.csv")
    config = project(tmp_path, "{type: replay, path: ticks.csv}")
    result = tradeassist("run", config, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [line.split()[2] for line in result.stdout.splitlines()] == ["es.cross", "es.low", "es.cross"]
    assert "line 4: price 'oops' is not a number" in result.stderr  # the file line: header is line 1

    logged = tradeassist("alerts", config, "--format", "jsonl", cwd=tmp_path)
    assert logged.returncode == 0, logged.stderr
    rows = [json.loads(line) for line in logged.stdout.splitlines()]
    assert [(r["rule_id"], r["ts"], r["value"]) for r in rows] == [
        ("es.cross", "2026-01-05T14:30:01.000Z", 100.5),
        ("es.low", "2026-01-05T14:30:03.000Z", 98.0),
        ("es.cross", "2026-01-05T14:30:04.000Z", 101.0),
    ]
    assert rows[1]["severity"] == "critical" and rows[1]["message"] == "/ES price 98 is below 99"
    only = tradeassist("alerts", config, "--rule", "es.low", "--format", "jsonl", cwd=tmp_path)
    assert len(only.stdout.splitlines()) == 1

    parquet = pl.scan_parquet(tmp_path / "data/alerts/**/*.parquet", hive_partitioning=True).collect()
    assert sorted(parquet["rule_id"].to_list()) == ["es.cross", "es.cross", "es.low"]

    # Running the same replay again does not duplicate the log (alert ids are stable).
    assert tradeassist("run", config, cwd=tmp_path, timeout=60).returncode == 0
    again = tradeassist("alerts", config, "--format", "jsonl", cwd=tmp_path)
    assert len(again.stdout.splitlines()) == 3


def test_sigterm_stops_cleanly_with_alerts_flushed(tmp_path: Path) -> None:
    config = project(tmp_path, "{type: synthetic, seed: 3, ticks_per_second: 200}")
    (tmp_path / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 1s}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeassist_runner", "run", str(config)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the first alert is printed
        assert "es.any" in first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "runner stopped" in err
    printed = 1 + len(out.splitlines())
    logged = tradeassist("alerts", config, "--format", "jsonl", cwd=tmp_path)
    assert len(logged.stdout.splitlines()) == printed


class FlakyLog(AlertLog):
    """The real alert log, whose first two writes fail as on a full disk."""

    def __init__(self, inner: AlertLog) -> None:
        super().__init__(inner.sqlite, inner.parquet)
        self.failures = 2

    def write(self, alerts: pl.DataFrame, delivery_status: Any = None) -> Any:
        if self.failures:
            self.failures -= 1
            raise SinkError("alert log: database or disk is full")
        return super().write(alerts, delivery_status)


def test_alerts_survive_a_full_disk_and_are_logged_once_it_clears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ticks(tmp_path / "ticks.csv")
    config = project(tmp_path, "{type: replay, path: ticks.csv, speed: 1000}")
    opened: list[FlakyLog] = []

    def flaky_open(*args: Any, **kwargs: Any) -> AlertLog:
        opened.append(FlakyLog(open_log(*args, **kwargs)))
        return opened[0]

    monkeypatch.setattr(backend, "open_log", flaky_open)
    code = asyncio.run(runner.run_service(load_config(config), out=io.StringIO()))
    assert code == 0
    assert opened[0].failures == 0
    logged = tradeassist("alerts", config, "--format", "jsonl", cwd=tmp_path)
    assert [json.loads(x)["rule_id"] for x in logged.stdout.splitlines()] == ["es.cross", "es.low", "es.cross"]


def test_alerts_command_without_a_log_says_so(tmp_path: Path) -> None:
    config = project(tmp_path, "{type: synthetic}")
    result = tradeassist("alerts", config, cwd=tmp_path)
    assert result.returncode == 1 and "no alert log" in result.stderr

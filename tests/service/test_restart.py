"""Kill the runner mid-stream, restart it: the alert log equals that of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tradeassist_runner.config.models import Instrument, SyntheticSource
from tradeassist_runner.sources.synthetic import SyntheticFeed

from ..cli_helpers import tradeassist
from ..waiting import wait_until

RULES = """\
rules:
  - {id: es.up, instrument: /ES, type: threshold, condition: crosses_above, threshold: 6000, cooldown: 20s}
  - {id: es.down, instrument: /ES, type: threshold, condition: crosses_below, threshold: 6000, cooldown: 20s}
  - {id: es.roc, instrument: /ES, type: rate_of_change, condition: above, threshold: 0.03, window: 10s, cooldown: 30s}
  - {id: es.vol, instrument: /ES, type: volume_spike, condition: above, threshold: 3, period: 20, cooldown: 15s}
"""


def project(root: Path, ticks: Path, speed: float) -> Path:
    (root / "rules.d").mkdir(parents=True)
    (root / "rules.d" / "r.yaml").write_text(RULES)
    config = root / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        f"source: {{type: replay, path: {ticks}, speed: {speed}}}\n"
        "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite, snapshot_interval: 100ms}\n"
    )
    return config


def logged_alerts(db: Path) -> int:
    """Alerts committed to the SQLite log so far (read-only, while the runner writes it)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return int(con.execute("SELECT count(*) FROM alert_logs").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def saved_row(state: Path) -> int:
    """The replay row of the last committed state snapshot (0: none yet), read-only."""
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as con:
            row = con.execute("SELECT data FROM snapshot WHERE part = 'run'").fetchone()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return int(json.loads(row[0])["row"]) if row else 0


def alert_ids(config: Path) -> list[str]:
    out = tradeassist("alerts", config, "--format", "jsonl", cwd=config.parent)
    assert out.returncode == 0, out.stderr
    return [f"{r['rule_id']}@{r['ts']}" for r in map(json.loads, out.stdout.splitlines())]


@pytest.fixture(scope="module")
def tick_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ticks") / "es.parquet"
    feed = SyntheticFeed([Instrument(symbol="/ES", type="future")], SyntheticSource(type="synthetic", seed=9, ticks_per_second=20))
    feed.generate(4000).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def uninterrupted(tick_file: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    config = project(tmp_path_factory.mktemp("whole"), tick_file, speed=1e9)
    assert tradeassist("run", config, cwd=config.parent).returncode == 0
    ids = alert_ids(config)
    assert len(ids) > 10  # a meaningful workload
    return ids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_restart_after_a_kill_gives_the_same_alert_log(
    sig: signal.Signals, tick_file: Path, uninterrupted: list[str], tmp_path: Path
) -> None:
    # 4000 ticks recorded over ~200 s, replayed at 80x: ~2.5 s; killed after ~1 s.
    config = project(tmp_path, tick_file, speed=80)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeassist_runner", "run", str(config)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline()  # the first alert is out: we are mid-stream
    # and committed: the log is printed to the console before it is written
    wait_until(lambda: logged_alerts(tmp_path / "data" / "a.sqlite") > 0, what="first alert in the log")
    # and a snapshot saved (every 100 ms, but a loaded machine may be later): the restart restores it
    wait_until(lambda: saved_row(tmp_path / "data" / "s.sqlite") > 0 or proc.poll() is not None,
               what="a state snapshot mid-stream")
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    partial = alert_ids(config)
    assert 0 < len(partial) < len(uninterrupted)

    resumed = tradeassist("run", config, cwd=tmp_path, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "state restored" in resumed.stderr
    assert alert_ids(config) == uninterrupted

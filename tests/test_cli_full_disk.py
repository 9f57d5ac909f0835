"""Standard output on a full disk (``/dev/full``): one line and exit 1 from a batch command,
never a traceback; a live run goes on logging and delivering, and says so once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_helpers import tradeassist

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")

FULL = "error: cannot write the output: No space left on device; what was written is incomplete"


def _project(root: Path, extra: str = "") -> Path:
    (root / "rules.d").mkdir()
    (root / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n")
    (root / "ticks.csv").write_text("ts,symbol,price,volume\n" + "".join(
        f"2026-01-05T14:00:{s:02d}.000Z,/ES,{100 + s},1\n" for s in range(40)))
    config = root / "config.yaml"
    config.write_text("instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n" + extra)
    return config


def _to_full_disk(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    with open("/dev/full", "w") as full:
        return subprocess.run([sys.executable, "-m", "tradeassist_runner", *map(str, args)], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=cwd, timeout=120, env=env, check=False)


@pytest.mark.parametrize("args", [
    ("backtest", "config.yaml", "--ticks", "ticks.csv", "--format", "jsonl"),
    ("backtest", "config.yaml", "--ticks", "ticks.csv"),
    ("schema",),
])
def test_a_batch_command_whose_output_does_not_fit_says_so_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    _project(tmp_path)
    done = _to_full_disk(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert FULL in done.stderr.splitlines(), done.stderr


def test_a_live_run_whose_console_does_not_fit_still_logs_and_delivers_every_alert(tmp_path: Path) -> None:
    config = _project(tmp_path, extra=(
        "source: {type: replay, path: ticks.csv, speed: 1e9}\n"
        "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}\n"
        'notifications:\n  channels:\n    file: {urls: "logfile://data/notifications.log"}\n'
        "  routes: {info: [file], warning: [file], critical: [file]}\n"))
    done = _to_full_disk("run", config, "--no-api", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    warned = [line for line in done.stderr.splitlines() if "console output failed" in line]
    assert len(warned) == 1 and "No space left on device" in warned[0], done.stderr
    logged = tradeassist("alerts", config, "--format", "jsonl", cwd=tmp_path)
    assert logged.returncode == 0, logged.stderr
    rows = [json.loads(line) for line in logged.stdout.splitlines()]
    assert len(rows) == 40
    assert all(row["delivery_status"]["file"]["status"] == "sent" for row in rows), [r["delivery_status"] for r in rows]
    assert "40 alerts grouped into one message" in (tmp_path / "data" / "notifications.log").read_text()

"""``tradeassist run`` on a paced replay: a restart resumes at its position without pacing the past."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .cli_helpers import tradeassist


def test_a_paced_replay_restarts_without_waiting_through_what_it_already_processed(tmp_path: Path) -> None:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n"
    )
    ticks = tmp_path / "ticks.csv"
    ticks.write_text(
        "ts,symbol,price,volume\n"
        "2026-01-05T14:00:00.000Z,/ES,1,1\n2026-01-05T15:00:00.000Z,/ES,2,1\n2026-01-05T16:00:00.000Z,/ES,3,1\n"
    )
    config = tmp_path / "config.yaml"

    def write_config(speed: float) -> None:
        config.write_text(
            "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
            f"source: {{type: replay, path: ticks.csv, speed: {speed}}}\n"
            "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}\n"
        )

    write_config(1e9)  # the first run goes through the two hours at once
    first = tradeassist("run", config, cwd=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr
    with ticks.open("a") as f:  # more ticks arrive, 10 ms apart, and the replay is now paced in real time
        f.write("2026-01-05T16:00:00.010Z,/ES,4,1\n2026-01-05T16:00:00.020Z,/ES,5,1\n")
    write_config(1.0)
    try:
        second = tradeassist("run", config, cwd=tmp_path, timeout=120)  # paced from row 1: two hours
    except subprocess.TimeoutExpired:
        pytest.fail("the restarted replay waited through the rows it had already processed")
    assert second.returncode == 0, second.stderr
    out = tradeassist("alerts", config, "--format", "jsonl", cwd=tmp_path)
    assert sorted(json.loads(line)["value"] for line in out.stdout.splitlines()) == [1.0, 2.0, 3.0, 4.0, 5.0]

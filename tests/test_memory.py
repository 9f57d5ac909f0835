"""A backtest tells polars' allocator to hand freed pages back within a second, in time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradeassist_runner.memory import ARROW_ALLOCATOR_CONF, ARROW_DIRTY_DECAY

#: Runs ``tradeassist backtest`` in a fresh interpreter and prints the allocator options
#: that were in the environment at the moment polars was first imported (what jemalloc
#: reads).
PROBE = f"""
import importlib.abc, json, os, sys
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "polars":
            sys.meta_path.remove(self)
            sys.stderr.write("allocator options at polars import: " + json.dumps(os.environ.get({ARROW_ALLOCATOR_CONF!r})) + "\\n")
            sys.stderr.flush()
        return None
sys.meta_path.insert(0, Watch())
from tradeassist_runner.cli import main
main(sys.argv[1:])
"""


def _project(root: Path) -> tuple[Path, Path]:
    (root / "rules.d").mkdir()
    (root / "rules.d" / "r.yaml").write_text(json.dumps(
        {"rules": [{"id": "es-high", "instrument": "/ES", "type": "threshold", "condition": "above", "threshold": 10}]}))
    config = root / "config.yaml"
    config.write_text(json.dumps({"instruments": [{"symbol": "/ES", "type": "future"}], "rules_dir": "rules.d"}))
    ticks = root / "ticks.csv"
    ticks.write_text("ts,symbol,price,volume\n2026-01-05T14:30:00.000Z,/ES,11,1\n")
    return config, ticks


def _conf_at_polars_import(tmp_path: Path, env: dict[str, str]) -> object:
    config, ticks = _project(tmp_path)
    done = subprocess.run([sys.executable, "-c", PROBE, "backtest", str(config), "--ticks", str(ticks), "--format",
                           "jsonl"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert '"rule_id":"es-high"' in done.stdout
    said = [line for line in done.stderr.splitlines() if line.startswith("allocator options at polars import: ")]
    assert len(said) == 1, done.stderr
    return json.loads(said[0].partition(": ")[2])


@pytest.fixture()
def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != ARROW_ALLOCATOR_CONF}


def test_backtest_sets_the_decay_before_polars_loads(tmp_path: Path, clean_env: dict[str, str]) -> None:
    assert _conf_at_polars_import(tmp_path, clean_env) == ARROW_DIRTY_DECAY


def test_a_users_own_allocator_options_are_kept(tmp_path: Path, clean_env: dict[str, str]) -> None:
    own = {**clean_env, ARROW_ALLOCATOR_CONF: "dirty_decay_ms:0"}
    assert _conf_at_polars_import(tmp_path, own) == "dirty_decay_ms:0"

"""Symbol groups and shards: spread rules tie symbols together; the shard is a stable hash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.rules.groups import shard_of_group, shard_rules, symbol_groups, symbol_shards

CONFIG = """\
instruments:
  - {symbol: /ES, type: future}
  - {symbol: /NQ, type: future}
  - {symbol: /YM, type: future}
  - {symbol: /CL, type: future}
  - {symbol: $TICK, type: internal}
rules_dir: rules.d
"""
RULES = """\
rules:
  - {id: es-nq, instrument: /ES, type: spread, other: /NQ, condition: above, threshold: 0}
  - {id: ym-nq, instrument: /YM, type: spread, other: /NQ, mode: ratio, condition: below, threshold: 2}
  - {id: cl, instrument: /CL, type: threshold, condition: above, threshold: 70}
  - id: es-all
    instrument: /ES
    type: all
    conditions:
      - {type: rsi, period: 3, condition: above, threshold: 50}
      - {type: threshold, condition: above, threshold: 1}
"""


def loaded(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(RULES)
    (tmp_path / "config.yaml").write_text(CONFIG)
    return load_config(tmp_path / "config.yaml")


def test_spread_rules_tie_symbols_transitively_and_every_instrument_has_a_group(tmp_path: Path) -> None:
    cfg = loaded(tmp_path)
    assert symbol_groups(cfg.rules, cfg.instruments) == [("$TICK",), ("/CL",), ("/ES", "/NQ", "/YM")]


def test_a_group_lives_on_one_shard_and_its_rules_go_with_it(tmp_path: Path) -> None:
    cfg = loaded(tmp_path)
    for n in (1, 2, 3, 4, 16):
        shards = symbol_shards(cfg.rules, cfg.instruments, n)
        assert shards["/ES"] == shards["/NQ"] == shards["/YM"] == shard_of_group(["/YM", "/ES", "/NQ"], n)
        assert all(0 <= k < n for k in shards.values())
        picked = [r.rule.id for k in range(n) for r in shard_rules(cfg.rules, shards, k)]
        assert sorted(picked) == sorted(r.rule.id for r in cfg.rules)  # every rule on exactly one shard


def test_the_shard_is_the_same_in_every_process(tmp_path: Path) -> None:
    # Python's own hash() of a str changes per process (PYTHONHASHSEED); the shard must not
    here = [shard_of_group([s], 7) for s in ("/ES", "$TICK", "AAPL", "/6E")]
    code = "from tradeassist_runner.rules.groups import shard_of_group as f; print([f([s], 7) for s in ('/ES', '$TICK', 'AAPL', '/6E')])"
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"})
        assert out.stdout.strip() == str(here)
    assert here == [4, 5, 1, 4]  # fixed forever: changing it moves every deployed symbol


def test_shard_engines_together_fire_what_one_engine_fires(tmp_path: Path) -> None:
    cfg = loaded(tmp_path)
    ticks = pl.DataFrame({
        "ts": [1000, 1000, 2000, 3000, 3000, 4000, 5000, 6000],
        "symbol": ["/ES", "/NQ", "/YM", "/CL", "/ES", "/NQ", "/ES", "/CL"],
        "price": [5.0, 4.0, 3.0, 71.0, 6.0, 7.0, 8.0, 72.0],
        "volume": [1] * 8,
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    whole = Engine(compile_plan(cfg.rules, cfg.instruments)).process(ticks)["alert_id"].sort().to_list()
    shards = symbol_shards(cfg.rules, cfg.instruments, 3)
    parts: list[str] = []
    for k in range(3):
        mine = [s for s, v in shards.items() if v == k]
        engine = Engine(compile_plan(shard_rules(cfg.rules, shards, k), cfg.instruments))
        parts += engine.process(ticks.filter(pl.col("symbol").is_in(mine)))["alert_id"].to_list()
    assert whole and sorted(parts) == whole

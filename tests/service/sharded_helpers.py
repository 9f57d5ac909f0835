"""A two-symbol project whose runner reads a replay through Redis Streams (two shards)."""

from __future__ import annotations

from pathlib import Path


def sharded_project(tmp_path: Path, redis_url: str, rules: str, batch: str = "", snapshot_interval: str = "1s") -> Path:
    """``rules``: the rule lines of ``rules.d/r.yaml``; 40 ticks alternating /ES and /NQ."""
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text("rules:\n" + rules)
    (tmp_path / "ticks.csv").write_text("ts,symbol,price,volume\n" + "".join(
        f"{1767621600000 + i},{s},{1 + i},1\n" for i, s in enumerate(["/ES", "/NQ"] * 20)))
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: /NQ, type: future}\nrules_dir: rules.d\n"
        f"source: {{type: redis, url: '{redis_url}', shards: 2, feed: {{type: replay, path: ticks.csv}}}}\n"
        + (f"batch: {batch}\n" if batch else "")
        + f"storage: {{sqlite: data/a.sqlite, parquet_dir: data/a, snapshot_interval: {snapshot_interval}}}\n"
    )
    return config

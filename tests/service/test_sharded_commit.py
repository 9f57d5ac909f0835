"""A sharded runner that has caught up commits at once, not after ``snapshot_interval``."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service.ingest import run_ingest
from tradeassist_runner.service.sharded import run_sharded

from ..redis_server import RedisServer, redis_server  # noqa: F401 - fixture


def test_a_drained_stream_is_acknowledged_long_before_the_snapshot_interval(
    tmp_path: Path, redis_server: RedisServer  # noqa: F811
) -> None:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n")
    (tmp_path / "ticks.csv").write_text("ts,symbol,price,volume\n" + "".join(
        f"{1767621600000 + i},{s},{1 + i},1\n" for i, s in enumerate(["/ES", "/NQ"] * 20)))
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: /NQ, type: future}\nrules_dir: rules.d\n"
        f"source: {{type: redis, url: '{redis_server.url}', shards: 2, feed: {{type: replay, path: ticks.csv}}}}\n"
        "batch: {max_size: 4}\n"
        "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, snapshot_interval: 1h}\n"
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(run_sharded(load_config(config), [0, 1], stop=stop, out=io.StringIO(),
                                                 status_every=1e9, watch_files=False))
        # run_ingest returns once every entry is acknowledged, i.e. covered by a snapshot:
        # with an hour between scheduled snapshots, only the caught-up commit can do that
        # (the timeout only turns a hang into a failure).
        assert await asyncio.wait_for(run_ingest(load_config(config), status_every=1e9), 120) == 0
        stop.set()
        assert await runner == 0

    asyncio.run(scenario())
    with sqlite3.connect(tmp_path / "data" / "a.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM alert_logs").fetchone() == (20,)

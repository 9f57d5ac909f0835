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
from .sharded_helpers import sharded_project


def test_a_drained_stream_is_acknowledged_long_before_the_snapshot_interval(
    tmp_path: Path, redis_server: RedisServer  # noqa: F811
) -> None:
    config = sharded_project(
        tmp_path, redis_server.url,
        "  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n",
        batch="{max_size: 4}", snapshot_interval="1h")

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

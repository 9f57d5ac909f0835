"""A sharded runner reloads an edited rule file like a single runner (the GitOps flow)."""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service.ingest import run_ingest
from tradeassist_runner.service.sharded import run_sharded

from ..redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from ..waiting import until
from .sharded_helpers import sharded_project

RULE_ES = "  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n"
RULE_NQ = "  - {id: nq.any, instrument: /NQ, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n"


def test_an_edited_rule_file_is_evaluated_by_the_sharded_runner_without_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, redis_server: RedisServer  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="tradeassist")
    config = sharded_project(tmp_path, redis_server.url, RULE_ES, snapshot_interval="100ms")
    rules = tmp_path / "rules.d" / "r.yaml"

    def said(message: str) -> list[dict[str, object]]:
        return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == message]

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(run_sharded(load_config(config), [0, 1], stop=stop, out=io.StringIO(),
                                                 status_every=1e9))
        await until(lambda: bool(said("redis connected")))
        rules.write_text("rules:\n" + RULE_ES + RULE_NQ)
        await until(lambda: any(f.get("added") == "nq.any" for f in said("rules reloaded")))
        assert await run_ingest(load_config(config), status_every=1e9) == 0  # returns once all is committed
        stop.set()
        assert await runner == 0

    asyncio.run(scenario())
    with sqlite3.connect(tmp_path / "data" / "a.sqlite") as conn:
        fired = dict(conn.execute("SELECT rule_id, count(*) FROM alert_logs GROUP BY rule_id").fetchall())
    assert fired == {"es.any": 20, "nq.any": 20}

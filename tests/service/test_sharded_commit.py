"""A sharded runner that has caught up commits at once, not after ``snapshot_interval``."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service.ingest import run_ingest
from tradeassist_runner.service.sharded import run_sharded

from ..redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from .sharded_helpers import sharded_project


def ingest_and_drain(config: Path, out: io.StringIO) -> None:
    """Ingest the project's replay while one runner holds both shards, until every entry
    is acknowledged; then stop the runner. ``run_ingest`` returns only once every entry is
    acknowledged, i.e. covered by a snapshot (the timeout only turns a hang into a failure)."""

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(run_sharded(load_config(config), [0, 1], stop=stop, out=out,
                                                 status_every=1e9, watch_files=False))
        assert await asyncio.wait_for(run_ingest(load_config(config), status_every=1e9), 120) == 0
        stop.set()
        assert await runner == 0

    asyncio.run(scenario())


def test_a_drained_stream_is_acknowledged_long_before_the_snapshot_interval(
    tmp_path: Path, redis_server: RedisServer  # noqa: F811
) -> None:
    config = sharded_project(
        tmp_path, redis_server.url,
        "  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n",
        batch="{max_size: 4}", snapshot_interval="1h")

    # with an hour between scheduled snapshots, only the caught-up commit can acknowledge them all
    ingest_and_drain(config, io.StringIO())
    with sqlite3.connect(tmp_path / "data" / "a.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM alert_logs").fetchone() == (20,)


def test_an_alert_is_printed_only_once_it_is_committed_to_the_log(
    tmp_path: Path, redis_server: RedisServer  # noqa: F811
) -> None:
    """As with one runner: what the console (and the observer) shows is in the log already,
    and a read's alerts do not wait for the console before they are committed."""
    config = sharded_project(
        tmp_path, redis_server.url,
        "  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n",
        batch="{max_size: 4}", snapshot_interval="1h")
    log_path = tmp_path / "data" / "a.sqlite"
    seen: list[tuple[int, int]] = []  # (alert lines printed so far, rows committed then)

    class Console(io.StringIO):
        def write(self, text: str) -> int:
            printed = self.getvalue().count("\n") + text.count("\n")
            with sqlite3.connect(log_path) as conn:
                seen.append((printed, conn.execute("SELECT count(*) FROM alert_logs").fetchone()[0]))
            return super().write(text)

    ingest_and_drain(config, Console())
    assert seen and seen[-1][0] == 20
    assert [(printed, rows) for printed, rows in seen if rows < printed] == []


def test_alerts_whose_log_write_failed_are_kept_and_logged_once_by_a_later_write(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """A read's alerts are written in the worker trip that evaluated them; when that write
    fails they wait in memory (no snapshot covers them) and a later write logs them."""
    from tradeassist_runner.errors import SinkError
    from tradeassist_runner.notify.delivery import Notifier

    config = sharded_project(
        tmp_path, redis_server.url,
        "  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}\n",
        batch="{max_size: 4}", snapshot_interval="1h")
    real = Notifier.write_outbox
    calls: list[int] = []

    def flaky(self: Notifier, alerts: pl.DataFrame) -> object:
        calls.append(alerts.height)
        if len(calls) in (1, 2):
            raise SinkError("disk full (test)")
        return real(self, alerts)

    monkeypatch.setattr(Notifier, "write_outbox", flaky)

    ingest_and_drain(config, io.StringIO())
    assert len(calls) >= 3
    with sqlite3.connect(tmp_path / "data" / "a.sqlite") as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT alert_id) FROM alert_logs").fetchone() == (20, 20)

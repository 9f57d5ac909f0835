"""``tradeassist run`` (one runner, no shards) across PostgreSQL restarts: the server forgets
the runner's scope lock; the runner takes it again and goes on snapshotting, or, when
another runner took the scope first, stops with a clear error (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tradeassist_runner.errors import SinkError
from tradeassist_runner.sinks.pg_conn import ScopeLock

from ..servers import PostgresServer, assert_stopped_for_lost_scope, lock_holder, own_postgres, scope_key, take_over  # noqa: F401
from ..waiting import wait_until
from .test_runner import RULES


def live_project(root: Path, url: str) -> Path:
    """A synthetic feed that never ends, snapshotted every 100 ms into PostgreSQL (scope ``default``)."""
    (root / "rules.d").mkdir()
    (root / "rules.d" / "r.yaml").write_text(RULES)
    config = root / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        "source: {type: synthetic, ticks_per_second: 50}\n"
        f'storage: {{url: "{url}", parquet_dir: data/alerts, snapshot_interval: 100ms}}\n'
    )
    return config


def last_snapshot(url: str) -> float:
    """When scope ``default``'s engine state was last saved (epoch seconds; 0 if never or unreachable)."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT max(saved_at) FROM state_parts WHERE scope = 'default'").fetchone()
    except psycopg.Error:
        return 0.0
    return float(row[0]) if row and row[0] is not None else 0.0


def test_a_restart_drops_the_scope_lock_and_the_runner_takes_it_again_or_stops_if_it_was_taken(
    tmp_path: Path, own_postgres: PostgresServer  # noqa: F811
) -> None:
    url = own_postgres.url()
    config = live_project(tmp_path, url)
    log_path = tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    with log_path.open("w") as log_file:  # the child keeps its own descriptor
        runner = subprocess.Popen(
            [sys.executable, "-m", "tradeassist_runner", "run", str(config)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log_file, text=True,
        )
    try:
        wait_until(lambda: last_snapshot(url) > 0, what="first snapshot")

        # A restart: the server forgets the lock; the runner takes it again and snapshots on.
        own_postgres.stop("immediate")
        own_postgres.start()
        with psycopg.connect(url, autocommit=True) as conn:
            key = scope_key(conn, "default")
            wait_until(lambda: lock_holder(conn, key) is not None, what="scope lock taken again")
            held_again = time.time()
            wait_until(lambda: last_snapshot(url) > held_again, what="a snapshot after the restart")
            assert runner.poll() is None
            with pytest.raises(SinkError, match="another runner is already using scope 'default'"):
                ScopeLock.acquire(url, "default")  # what a second runner is told at start

        # Restarted again, and this time another runner gets the scope first: this one stops.
        own_postgres.stop("fast")
        own_postgres.start()
        with psycopg.connect(url, autocommit=True) as conn:
            wait_until(lambda: take_over(conn, key), what="scope taken by another session")
            assert runner.wait(60) == 1
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    assert_stopped_for_lost_scope(log_path.read_text())

"""A sharded runner whose PostgreSQL scope-lock session is lost: it takes the lock again,
or, when another runner took the scope meanwhile, stops with a clear error (exit 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..notify.conftest import Hook, hook  # noqa: F401 - fixture
from ..redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from ..servers import postgres_server, postgres_url  # noqa: F401 - fixtures
from ..waiting import wait_until
from .test_scale_out import connected, project, start

SCOPE = "runner-solo"  # env_for("solo", ...) gives the runner this scope


def _holder(conn: Any, key: int) -> int | None:
    """The pid of the session holding the advisory lock ``key`` (a bigint: two 32-bit halves)."""
    row = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND classid::bigint = %s AND objid::bigint = %s",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    return None if row is None else int(row[0])


def test_a_lost_scope_lock_is_taken_again_and_a_taken_scope_stops_the_runner(
    tmp_path: Path, redis_server: RedisServer, hook: Hook, postgres_url: str  # noqa: F811
) -> None:
    import psycopg

    (tmp_path / "run").mkdir()
    config = project(tmp_path / "run", redis_server.url, hook.port, n_ticks=10, speed=1.0, storage_url=postgres_url)
    runner = start(tmp_path, "solo", "run", str(config), "--shard", "0,1,2,3/4")
    try:
        wait_until(lambda: connected(tmp_path, "solo", 1), what="runner connected")
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            row = conn.execute("SELECT hashtextextended('tradeassist.scope:' || %s, 0)", (SCOPE,)).fetchone()
            assert row is not None
            key = int(row[0])
            first = _holder(conn, key)
            assert first is not None

            # The lock's session ends (as in a server restart): the runner takes the lock again.
            conn.execute("SELECT pg_terminate_backend(%s)", (first,))
            wait_until(lambda: _holder(conn, key) not in (None, first), what="lock taken again")
            assert runner.poll() is None

            # Ended again, and this time another holder gets it first: the runner must stop.
            def taken_over() -> bool:
                holder = _holder(conn, key)
                if holder == conn.info.backend_pid:
                    return True
                if holder is not None:  # the runner's session (again, if it was quicker)
                    conn.execute("SELECT pg_terminate_backend(%s)", (holder,))
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                return bool(got and got[0])

            wait_until(taken_over, what="scope taken by another session")
            assert runner.wait(60) == 1
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    log = (tmp_path / "solo.log").read_text()
    assert "storage scope lost; stopping" in log and "another runner has taken the scope since" in log
    assert "Traceback" not in log

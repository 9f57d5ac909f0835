"""A sharded runner whose PostgreSQL scope-lock session is lost: it takes the lock again,
or, when another runner took the scope meanwhile, stops with a clear error (exit 1)."""

from __future__ import annotations

from pathlib import Path

from ..notify.conftest import Hook, hook  # noqa: F401 - fixture
from ..redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from ..servers import assert_stopped_for_lost_scope, lock_holder, postgres_server, postgres_url, scope_key, take_over  # noqa: F401 - fixtures
from ..waiting import wait_until
from .test_scale_out import connected, project, start

SCOPE = "runner-solo"  # env_for("solo", ...) gives the runner this scope


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
            key = scope_key(conn, SCOPE)
            first = lock_holder(conn, key)
            assert first is not None

            # The lock's session ends (as in a server restart): the runner takes the lock again.
            conn.execute("SELECT pg_terminate_backend(%s)", (first,))
            wait_until(lambda: lock_holder(conn, key) not in (None, first), what="lock taken again")
            assert runner.poll() is None

            # Ended again, and this time another holder gets it first: the runner must stop.
            wait_until(lambda: take_over(conn, key), what="scope taken by another session")
            assert runner.wait(60) == 1
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    assert_stopped_for_lost_scope((tmp_path / "solo.log").read_text())

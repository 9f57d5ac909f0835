"""The scope lock after a PostgreSQL restart: taken again, or the runner told to stop."""

from __future__ import annotations

import pytest

from tradeassist_runner.errors import SinkError
from tradeassist_runner.sinks.pg_conn import ScopeLock, ScopeLost

from ..servers import PostgresServer, own_postgres  # noqa: F401


def test_a_restart_drops_the_lock_and_confirm_takes_it_again_or_names_the_new_holder(
    own_postgres: PostgresServer,  # noqa: F811
) -> None:
    url = own_postgres.url()
    lock = ScopeLock.acquire(url, "shard-0")
    lock.confirm()  # held: one round trip

    own_postgres.stop("immediate")  # the server forgets every session lock
    with pytest.raises(SinkError, match="cannot connect"):
        lock.confirm()  # down: said, and tried again later
    own_postgres.start()
    lock.confirm()  # taken again on a new session
    with pytest.raises(SinkError, match="another runner is already using scope 'shard-0'"):
        ScopeLock.acquire(url, "shard-0")

    own_postgres.stop("fast")
    own_postgres.start()
    other = ScopeLock.acquire(url, "shard-0")  # another runner was quicker after the restart
    with pytest.raises(ScopeLost, match="another runner has taken the scope since"):
        lock.confirm()
    other.confirm()
    lock.release()
    other.release()

"""Real database servers for the tests: PostgreSQL, the machine's own or one started here.

``postgres_server`` (session) is the machine's server on 127.0.0.1:5432 (trust auth, user
postgres) when it answers, else a server started with ``initdb``/``pg_ctl`` in a
temporary folder on a free port. ``postgres_url`` (per test) is a URL to a schema of its
own in that server (``options=-csearch_path=...``), created empty and dropped afterwards,
so tests never see each other's tables and cost no ``CREATE DATABASE``.

On the machine's server each test process (each pytest-xdist worker) gets a database of its
own, made once per session: a runner's scope lock is a session advisory lock, which
PostgreSQL keys per database, not per schema, so two workers' runners on scope ``default``
in one database would refuse each other.

``own_postgres`` starts a private server a test may stop or kill (never the machine's).
Import the fixtures into a test module or a ``conftest.py``:
``from tests.servers import postgres_server, postgres_url  # noqa: F401``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .ports import free_port

MACHINE_HOST, MACHINE_PORT, MACHINE_USER = "127.0.0.1", 5432, "postgres"


@dataclass
class PostgresServer:
    """A running server: ``url(db)`` connects to a database on it; ``stop()`` (own servers only)."""

    host: str
    port: int
    user: str
    database: str
    datadir: Path | None = None  # set for a server these tests started

    def url(self, database: str | None = None, schema: str | None = None) -> str:
        base = f"postgresql://{self.user}@{self.host}:{self.port}/{database or self.database}"
        return f"{base}?options=-csearch_path%3D{schema}" if schema else base

    def stop(self, mode: str = "fast") -> None:
        assert self.datadir is not None, "never stop the machine's own server"
        subprocess.run([*_as_owner(), _bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
                       check=False, capture_output=True)

    def start(self) -> None:
        assert self.datadir is not None
        subprocess.run(
            [*_as_owner(), _bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.datadir.parent / "server.log"),
             "-w", "-o", f"-p {self.port} -k {self.datadir.parent} -c listen_addresses={self.host} -c fsync=off",
             "start"],
            check=True, capture_output=True,
        )


def _as_owner() -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the ``postgres`` user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start a PostgreSQL server")
    return [runuser, "-u", "postgres", "--"]


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version in sorted(Path("/usr/lib/postgresql").glob("*"), reverse=True):
        if (version / "bin" / name).exists():
            return str(version / "bin" / name)
    pytest.skip(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")


def _answers(host: str, port: int, user: str, database: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(host=host, port=port, user=user, dbname=database, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def start_own_postgres(root: Path) -> PostgresServer:
    """A fresh cluster under ``root`` (a folder the server's user may own) on a free port, trust auth."""
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    datadir = root / "pgdata"
    subprocess.run(
        [*_as_owner(), _bin("initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
         "--no-sync"],
        check=True, capture_output=True,
    )
    server = PostgresServer("127.0.0.1", free_port(), "postgres", "postgres", datadir)
    server.start()
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if _answers(MACHINE_HOST, MACHINE_PORT, MACHINE_USER, "postgres"):
        import psycopg

        machine = PostgresServer(MACHINE_HOST, MACHINE_PORT, MACHINE_USER, "postgres")
        # the pid: unique among the processes running now, whichever session they belong to
        database = f"tradeassist_test_{os.getpid()}"
        with psycopg.connect(machine.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # left by a killed session
            conn.execute(f'CREATE DATABASE "{database}"')
        try:
            yield PostgresServer(MACHINE_HOST, MACHINE_PORT, MACHINE_USER, database)
        finally:
            with psycopg.connect(machine.url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        return
    with tempfile.TemporaryDirectory(prefix="tradeassist-pg-") as root:
        server = start_own_postgres(Path(root))
        try:
            yield server
        finally:
            server.stop("immediate")


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A private server the test may stop, kill or restart (never the machine's own)."""
    # not tmp_path: pytest makes it private to root, and the server may run as ``postgres``
    with tempfile.TemporaryDirectory(prefix="tradeassist-pg-") as root:
        server = start_own_postgres(Path(root))
        try:
            yield server
        finally:
            server.stop("immediate")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL whose ``search_path`` is a new empty schema, dropped after the test."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_server.url(schema=schema)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def scope_key(conn: Any, scope: str) -> int:
    """The advisory-lock key of a runner scope (as ``ScopeLock`` computes it)."""
    row = conn.execute("SELECT hashtextextended('tradeassist.scope:' || %s, 0)", (scope,)).fetchone()
    assert row is not None
    return int(row[0])


def lock_holder(conn: Any, key: int) -> int | None:
    """The pid of the session holding the advisory lock ``key`` (a bigint: two 32-bit halves)."""
    row = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND classid::bigint = %s AND objid::bigint = %s "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",  # one test database each
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    return None if row is None else int(row[0])


def take_over(conn: Any, key: int) -> bool:
    """One try at taking the advisory lock ``key`` on ``conn`` from whoever holds it: their
    session is ended and the lock tried at once (for :func:`wait_until`, as holders race back)."""
    holder = lock_holder(conn, key)
    if holder == conn.info.backend_pid:
        return True
    if holder is not None:
        conn.execute("SELECT pg_terminate_backend(%s)", (holder,))
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(got and got[0])


def assert_stopped_for_lost_scope(log: str) -> None:
    """What a runner whose scope another runner took says before it exits 1, and no traceback."""
    assert "storage scope lost; stopping" in log and "another runner has taken the scope since" in log
    assert "Traceback" not in log

"""Which store a config uses - SQLite files or a PostgreSQL database - decided here only.

The composition roots (``tradeassist run``, ``tradeassist alerts``, the API server) ask
this module for the alert log, the state store, the API's reader and the runner's lock;
everything below them sees only the protocols of :mod:`.store`.

``storage.url`` unset: SQLite, one runner per log (a ``flock`` beside the file).
``storage.url: postgresql://...``: the database holds alerts, outbox and engine state of
every runner sharing it; each runner has a ``storage.scope`` (a session advisory lock
keeps two runners off one scope), and its Parquet copy stays a local folder, locked
like the SQLite file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..config.loaded import LoadedConfig
from ..errors import SinkError
from .alert_log import AlertLog, open_alert_log
from .lock import DataLock
from .parquet import ParquetAlertLog
from .reader import AlertReader
from .state_store import StateStore
from .store import AlertQueries, AlertStore, SnapshotStore

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def postgres_url(loaded: LoadedConfig, env: Mapping[str, str] | None = None) -> str | None:
    """``storage.url`` with ``${NAME}`` taken from the environment; None for SQLite."""
    url = loaded.config.storage.url
    if url is None:
        return None
    env = os.environ if env is None else env
    missing = sorted({name for name in _VARIABLE.findall(url) if name not in env})
    if missing:
        names = ", ".join(f"${{{name}}}" for name in missing)
        raise SinkError(f"storage.url: environment variable {names} is not set")
    expanded = _VARIABLE.sub(lambda m: env[m.group(1)], url)
    if not expanded.startswith(("postgresql://", "postgres://")):
        raise SinkError("storage.url must be a PostgreSQL URL: postgresql://USER@HOST:PORT/DATABASE")
    return expanded


def describe(loaded: LoadedConfig) -> str:
    """Where the alert log is, for the start-up log line (never a password)."""
    url = loaded.config.storage.url
    if url is None:
        return str(loaded.resolve(loaded.config.storage.sqlite))
    from .pg_conn import describe_url

    try:
        return f"{describe_url(postgres_url(loaded) or url)} scope={loaded.config.storage.scope}"
    except SinkError:
        return "PostgreSQL"


def sqlite_state_path(loaded: LoadedConfig) -> Path:
    """``storage.state``, or by default beside the alert log: ``alerts.sqlite`` -> ``alerts.state.sqlite``."""
    storage = loaded.config.storage
    if storage.state:
        return loaded.resolve(storage.state)
    sqlite = loaded.resolve(storage.sqlite)
    return sqlite.with_name(f"{sqlite.stem}.state.sqlite")


def open_store(loaded: LoadedConfig, *, create: bool = True) -> AlertStore:
    """The alert log of record alone (``tradeassist alerts``, ``explain``); ``create=False`` for readers.

    A reader of a log that does not exist yet gets ``SinkError`` saying so.
    """
    url = postgres_url(loaded)
    if url is not None:
        from .postgres import PostgresAlertLog

        return PostgresAlertLog(url, scope=loaded.config.storage.scope, create=create)
    from .sqlite import SqliteAlertLog

    path = loaded.resolve(loaded.config.storage.sqlite)
    if not create and not path.exists():
        raise SinkError(f"no alert log at {path} yet (run `tradeassist run {loaded.path}` first)")
    return SqliteAlertLog(path)


def open_log(loaded: LoadedConfig) -> AlertLog:
    """What the runner writes to: the store of record and its local Parquet copy."""
    parquet_dir = loaded.resolve(loaded.config.storage.parquet_dir)
    roll = loaded.config.storage.parquet_roll.total_seconds()
    url = postgres_url(loaded)
    if url is None:
        return open_alert_log(loaded.resolve(loaded.config.storage.sqlite), parquet_dir, roll_interval=roll)
    try:
        parquet_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"cannot create alert log folder {exc.filename}: {exc.strerror}") from exc
    store = open_store(loaded)
    try:
        return AlertLog(store, ParquetAlertLog(parquet_dir), roll_interval=roll)
    except BaseException:
        store.close()
        raise


def open_state_store(loaded: LoadedConfig) -> SnapshotStore:
    url = postgres_url(loaded)
    if url is None:
        return StateStore(sqlite_state_path(loaded))
    from .postgres_state import PostgresStateStore

    return PostgresStateStore(url, loaded.config.storage.scope)


def open_reader(loaded: LoadedConfig) -> AlertQueries:
    """The API's read-only queries; connects on first use."""
    url = postgres_url(loaded)
    if url is None:
        return AlertReader(loaded.resolve(loaded.config.storage.sqlite))
    from .postgres_reader import PostgresAlertReader

    return PostgresAlertReader(url)


class _Releasable(Protocol):
    def release(self) -> None: ...


@dataclass
class RunnerLock:
    """Every lock a runner holds on its storage; released together."""

    held: list[_Releasable] = field(default_factory=list)

    def release(self) -> None:
        for lock in reversed(self.held):
            lock.release()
        self.held.clear()

    def confirm(self) -> None:
        """Check the locks a server can drop behind the runner's back (PostgreSQL's scope)
        and take them again; see :meth:`pg_conn.ScopeLock.confirm` for what it raises."""
        for lock in self.held:
            confirm = getattr(lock, "confirm", None)
            if confirm is not None:
                confirm()


def acquire_lock(loaded: LoadedConfig) -> RunnerLock:
    """Keep a second runner off this runner's storage; ``SinkError`` naming the holder.

    SQLite: the log file's lock. PostgreSQL: the scope (advisory lock) and the local
    Parquet folder (``<parquet_dir>.lock``), so a shard runs once and two runners on one
    machine never share a copy.
    """
    url = postgres_url(loaded)
    if url is None:
        return RunnerLock([DataLock.acquire(loaded.resolve(loaded.config.storage.sqlite))])
    from .pg_conn import ScopeLock, checked_url

    lock = RunnerLock([DataLock.acquire(loaded.resolve(loaded.config.storage.parquet_dir))])
    try:
        lock.held.append(ScopeLock.acquire(checked_url(url), loaded.config.storage.scope))
    except BaseException:
        lock.release()
        raise
    return lock


def open_locked_log(loaded: LoadedConfig) -> tuple[RunnerLock, AlertLog]:
    """The lock first (the first write into the data folder: a read-only one stops here),
    then the log it guards; the lock is released again if the log cannot be opened."""
    lock = acquire_lock(loaded)
    try:
        return lock, open_log(loaded)
    except BaseException:
        lock.release()
        raise

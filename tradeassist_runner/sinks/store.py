"""What the runner, the notifier, the CLI and the API need of a log of record.

Two backends implement these protocols: SQLite (``sqlite.py``, ``reader.py``,
``state_store.py``), the embedded default, and PostgreSQL (``postgres.py``,
``postgres_reader.py``, ``postgres_state.py``), which several runners can share. Which one
is used is decided once, from ``storage.url``, by :mod:`.backend`; nothing else asks.

Every method is synchronous and may block: callers on the event loop go through
``asyncio.to_thread``. Every storage failure is a ``SinkError`` naming where, with
nothing half-written; a malformed batch is a ``ValueError`` (a bug upstream).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from .reader import AlertCounts, AlertFilter, AlertPage
from .state_store import Snapshot, SnapshotDamaged

__all__ = ["AlertQueries", "AlertStore", "SnapshotStore"]


class AlertStore(Protocol):
    """The alert log of record and its delivery outbox; idempotent on ``alert_id``."""

    @property
    def where(self) -> str:
        """Where the log lives, fit for a log line or an error (no password)."""

    def write_new(self, alerts: pl.DataFrame, delivery_status: Mapping[str, Mapping[str, Any]] | None = None) -> pl.DataFrame:
        """Store a batch in one transaction; return the alerts not logged before, in batch order.

        ``delivery_status`` (channel -> ``{"status": ..., "attempts": ...}``) is stored
        for every alert of the batch. Ids already held are skipped, so a replayed batch
        (a restart, another runner) stores and returns nothing for them.
        """

    def write(self, alerts: pl.DataFrame, delivery_status: Mapping[str, Mapping[str, Any]] | None = None) -> int:
        """:meth:`write_new`, counting the new alerts."""

    def update_delivery(self, alert_id: str, channel: str, status: str, *, attempts: int | None = None,
                        error: str | None = None, at: datetime | None = None) -> bool:
        """One channel's delivery outcome for one alert; ``False`` if the alert is unknown."""

    def pending_deliveries(self, limit: int | None = None) -> pl.DataFrame:
        """The outbox: this runner's alerts with a channel still ``pending``, oldest first."""

    def query(self, rule_id: str | None = None, symbol: str | None = None, since: datetime | None = None,
              until: datetime | None = None, limit: int | None = None) -> pl.DataFrame:
        """Logged alerts in firing order as ``LOGGED_SCHEMA``; ``limit`` keeps the latest N."""

    def count(self) -> int: ...

    # The Parquet copy's watermark: rows have an ``id`` that grows in commit order.
    def copy_mark(self, copy: str) -> int | None: ...
    def set_copy_mark(self, copy: str, through_id: int) -> None: ...
    def last_id(self) -> int: ...
    def count_between(self, after_id: int, through_id: int) -> int: ...
    def rows_after(self, after_id: int, limit: int) -> tuple[pl.DataFrame, int]: ...

    def close(self) -> None: ...


class AlertQueries(Protocol):
    """Read-only pages and counts for the HTTP API (its own connection, never the writer's)."""

    def page(self, where: AlertFilter, *, limit: int, offset: int = 0, newest_first: bool = True) -> AlertPage: ...
    def counts(self, where: AlertFilter) -> AlertCounts: ...
    def close(self) -> None: ...


class SnapshotStore(Protocol):
    """Engine-state snapshots: the last one saved, checksummed (see ``state_store.py``)."""

    @property
    def path(self) -> Path | str:
        """Where the snapshot lives, for messages (a file, or a database and scope)."""

    @property
    def set_aside(self) -> SnapshotDamaged | None:
        """Set when the store found something unreadable at open and started over."""

    def save(self, parts: dict[str, bytes], fingerprint: dict[str, Any] | None = None) -> None: ...
    def load(self) -> Snapshot | None: ...
    def close(self) -> None: ...

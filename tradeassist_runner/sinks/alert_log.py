"""One call that logs a batch of alerts to SQLite (of record) and Parquet (for analysis).

The two stores fail differently on purpose. If SQLite cannot take the batch, nothing
is logged and ``SinkError`` tells the runner to keep the batch and retry. If only the
Parquet copy fails, the alerts are safe in SQLite, so the runner keeps going; the
failure is logged and returned in the ``WriteReport`` so it can be counted and shown.
Only alerts new to SQLite go to Parquet, so a replayed batch is not copied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from ..errors import SinkError
from .parquet import ParquetAlertLog
from .sqlite import SqliteAlertLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteReport:
    """What happened to one batch, for the runner's counters and status page."""

    received: int
    inserted: int  # new in SQLite (and therefore sent to Parquet)
    parquet_files: tuple[Path, ...] = ()
    parquet_error: SinkError | None = field(default=None)
    #: The alerts new to the log (the ones a delivery outbox must send); None when none.
    new: pl.DataFrame | None = field(default=None, compare=False)

    @property
    def duplicates(self) -> int:
        """Alerts already logged before (a replayed batch)."""
        return self.received - self.inserted

    @property
    def ok(self) -> bool:
        return self.parquet_error is None


class AlertLog:
    """Fan-out over the SQLite log and its Parquet copy."""

    def __init__(self, sqlite: SqliteAlertLog, parquet: ParquetAlertLog) -> None:
        self.sqlite = sqlite
        self.parquet = parquet
        self.parquet_failures = 0  # batches whose Parquet copy failed, since start

    def write(
        self, alerts: pl.DataFrame, delivery_status: Mapping[str, Mapping[str, Any]] | None = None
    ) -> WriteReport:
        """Log a batch; raise ``SinkError`` only when SQLite failed (nothing stored)."""
        new = self.sqlite.write_new(alerts, delivery_status)
        if new.height == 0:
            return WriteReport(received=alerts.height, inserted=0)
        try:
            files = self.parquet.write(new)
        except SinkError as exc:
            self.parquet_failures += 1
            log.error("alerts kept in SQLite only, Parquet copy failed: %s", exc)
            return WriteReport(received=alerts.height, inserted=new.height, parquet_error=exc, new=new)
        return WriteReport(received=alerts.height, inserted=new.height, parquet_files=tuple(files), new=new)

    def update_delivery(
        self,
        alert_id: str,
        channel: str,
        status: str,
        *,
        attempts: int | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Delivery outcomes live in SQLite only: Parquet files are immutable."""
        return self.sqlite.update_delivery(alert_id, channel, status, attempts=attempts, error=error, at=at)

    def query(
        self,
        rule_id: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        return self.sqlite.query(rule_id=rule_id, symbol=symbol, since=since, until=until, limit=limit)

    def close(self) -> None:
        self.sqlite.close()

    def __enter__(self) -> AlertLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_alert_log(
    sqlite_path: Path | str,
    parquet_dir: Path | str,
    *,
    timeout: float = 5.0,
    max_bytes: int | None = None,
    fsync: bool = True,
) -> AlertLog:
    """Open both stores, creating their folders; ``SinkError`` if that is impossible."""
    sqlite_path, parquet_dir = Path(sqlite_path), Path(parquet_dir)
    try:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        parquet_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"cannot create alert log folder {exc.filename}: {exc.strerror}") from exc
    sqlite = SqliteAlertLog(sqlite_path, timeout=timeout, max_bytes=max_bytes)
    return AlertLog(sqlite, ParquetAlertLog(parquet_dir, fsync=fsync))

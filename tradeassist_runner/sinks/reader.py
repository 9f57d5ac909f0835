"""Read-only queries of the alert log for the HTTP API: filtered pages and counts.

The API gets its own SQLite connection (``query_only``), never the runner's writer: WAL
lets it read while the runner writes, so a dashboard polling ``/api/alerts`` never waits
behind, or delays, a batch commit. Like :class:`SqliteAlertLog` it is synchronous; the
API calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import SinkError
from ..timefmt import to_epoch_ms
from .sqlite import _SELECT, _describe, _to_frame

#: Delivery states a channel can be in (see notify/delivery.py).
DELIVERY_STATUSES = ("pending", "sent", "failed", "skipped")

_HAS_STATUS = (
    "EXISTS (SELECT 1 FROM json_each(alert_logs.delivery_status) "
    "WHERE json_extract(value, '$.status') = ?)"
)


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts: every field optional; ``since`` inclusive, ``until`` exclusive (tick time)."""

    rule_id: str | None = None
    symbol: str | None = None
    severity: str | None = None
    #: Alerts with at least one channel in this delivery status.
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("rule_id = ?", self.rule_id),
            ("symbol = ?", self.symbol),
            ("severity = ?", self.severity),
            (_HAS_STATUS, self.status),
            ("ts_ms >= ?", None if self.since is None else to_epoch_ms(self.since)),
            ("ts_ms < ?", None if self.until is None else to_epoch_ms(self.until)),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


@dataclass(frozen=True)
class AlertPage:
    alerts: pl.DataFrame  # LOGGED_SCHEMA columns, in the requested order
    total: int  # alerts matching the filter, all pages


@dataclass(frozen=True)
class AlertCounts:
    total: int
    by_rule: dict[str, int]
    by_symbol: dict[str, int]
    by_severity: dict[str, int]
    #: Per delivery status, how many (alert, channel) deliveries are in it.
    by_delivery_status: dict[str, int]


class AlertReader:
    """Queries over the alert log file; opened lazily so the API can start before the log."""

    def __init__(self, path: Path | str, *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.path.exists():
                raise SinkError(f"alert log {self.path} does not exist yet")
            try:
                conn = sqlite3.connect(
                    str(self.path), timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA query_only=1")
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot open: {_describe(exc)}") from exc
            self._conn = conn
        return self._conn

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot read: {_describe(exc)}") from exc

    def page(self, where: AlertFilter, *, limit: int, offset: int = 0, newest_first: bool = True) -> AlertPage:
        """One page of matching alerts plus the total, ordered by tick time then insertion."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        clause, params = where.where()
        direction = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT {', '.join(_SELECT)} FROM alert_logs{clause} "
            f"ORDER BY ts_ms {direction}, id {direction} LIMIT ? OFFSET ?"
        )
        rows = self._rows(sql, [*params, limit, offset])
        total = int(self._rows(f"SELECT count(*) FROM alert_logs{clause}", params)[0][0])
        return AlertPage(_to_frame(rows), total)

    def counts(self, where: AlertFilter) -> AlertCounts:
        """Alert counts per rule, symbol, severity and delivery status for the filter."""
        clause, params = where.where()

        def grouped(column: str) -> dict[str, int]:
            rows = self._rows(
                f"SELECT {column}, count(*) FROM alert_logs{clause} GROUP BY {column} ORDER BY {column}", params
            )
            return {str(k): int(n) for k, n in rows if k is not None}

        delivery = self._rows(
            "SELECT json_extract(d.value, '$.status') AS st, count(*) FROM alert_logs, "
            f"json_each(alert_logs.delivery_status) AS d{clause} GROUP BY st ORDER BY st",
            params,
        )
        by_rule = grouped("rule_id")
        return AlertCounts(
            total=sum(by_rule.values()),
            by_rule=by_rule,
            by_symbol=grouped("symbol"),
            by_severity=grouped("severity"),
            by_delivery_status={str(k): int(n) for k, n in delivery if k is not None},
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

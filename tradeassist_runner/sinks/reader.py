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

@dataclass(frozen=True)
class SqlDialect:
    """What differs between the SQL of the two alert stores: the parameter mark and how a
    JSON ``delivery_status`` column is taken apart (one row per channel, its ``st`` status)."""

    mark: str
    #: ``FROM`` item of the channels of ``alert_logs.delivery_status``, aliased ``d``
    channels: str
    #: the status of channel ``d``
    status: str


SQLITE = SqlDialect("?", "json_each(alert_logs.delivery_status) AS d", "json_extract(d.value, '$.status')")
POSTGRES = SqlDialect("%s", "jsonb_each(alert_logs.delivery_status::jsonb) AS d", "d.value->>'status'")


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

    def where(self, sql: SqlDialect = SQLITE) -> tuple[str, list[Any]]:
        m = sql.mark
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            (f"rule_id = {m}", self.rule_id),
            (f"symbol = {m}", self.symbol),
            (f"severity = {m}", self.severity),
            (f"EXISTS (SELECT 1 FROM {sql.channels} WHERE {sql.status} = {m})", self.status),
            (f"ts_ms >= {m}", None if self.since is None else to_epoch_ms(self.since)),
            (f"ts_ms < {m}", None if self.until is None else to_epoch_ms(self.until)),
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


class SqlAlertQueries:
    """Pages and counts over ``alert_logs`` in either store's SQL: a store supplies its
    ``dialect`` and ``_rows`` (its own connection, errors as ``SinkError``)."""

    dialect: SqlDialect = SQLITE

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def page(self, where: AlertFilter, *, limit: int, offset: int = 0, newest_first: bool = True) -> AlertPage:
        """One page of matching alerts plus the total, ordered by tick time then insertion."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        clause, params = where.where(self.dialect)
        direction = "DESC" if newest_first else "ASC"
        m = self.dialect.mark
        sql = (
            f"SELECT {', '.join(_SELECT)} FROM alert_logs{clause} "
            f"ORDER BY ts_ms {direction}, id {direction} LIMIT {m} OFFSET {m}"
        )
        rows = self._rows(sql, [*params, limit, offset])
        total = int(self._rows(f"SELECT count(*) FROM alert_logs{clause}", params)[0][0])
        return AlertPage(_to_frame(rows), total)

    def counts(self, where: AlertFilter) -> AlertCounts:
        """Alert counts per rule, symbol, severity and delivery status for the filter."""
        clause, params = where.where(self.dialect)

        def grouped(column: str) -> dict[str, int]:
            rows = self._rows(
                f"SELECT {column}, count(*) FROM alert_logs{clause} GROUP BY {column} ORDER BY {column}", params
            )
            return {str(k): int(n) for k, n in rows if k is not None}

        delivery = self._rows(
            f"SELECT {self.dialect.status} AS st, count(*) FROM alert_logs, "
            f"{self.dialect.channels}{clause} GROUP BY st ORDER BY st",
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


class AlertReader(SqlAlertQueries):
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

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

"""Read-only pages and counts of a PostgreSQL alert log for the HTTP API.

The twin of :class:`.reader.AlertReader`: its own connection (never the runner's writer),
opened on first use so the API can start while the database is still unreachable (a
request then gets 503 with the reason), and reconnected after a server restart.
"""

from __future__ import annotations

from typing import Any

from .pg_conn import Session, checked_url
from .reader import AlertCounts, AlertFilter, AlertPage
from .sqlite import _SELECT, _to_frame

_HAS_STATUS = (
    "EXISTS (SELECT 1 FROM jsonb_each(alert_logs.delivery_status::jsonb) AS d "
    "WHERE d.value->>'status' = %s)"
)


def where_clause(where: AlertFilter) -> tuple[str, list[Any]]:
    """``AlertFilter`` as a PostgreSQL ``WHERE`` (``%s`` parameters)."""
    from ..timefmt import to_epoch_ms

    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("rule_id = %s", where.rule_id),
        ("symbol = %s", where.symbol),
        ("severity = %s", where.severity),
        (_HAS_STATUS, where.status),
        ("ts_ms >= %s", None if where.since is None else to_epoch_ms(where.since)),
        ("ts_ms < %s", None if where.until is None else to_epoch_ms(where.until)),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class PostgresAlertReader:
    """Queries over the alert log in the database of ``url``."""

    def __init__(self, url: str) -> None:
        self._session = Session(checked_url(url), "alert log")

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._session.run("cannot read") as conn:
            return conn.execute(sql, params).fetchall()

    def page(self, where: AlertFilter, *, limit: int, offset: int = 0, newest_first: bool = True) -> AlertPage:
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        clause, params = where_clause(where)
        direction = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT {', '.join(_SELECT)} FROM alert_logs{clause} "
            f"ORDER BY ts_ms {direction}, id {direction} LIMIT %s OFFSET %s"
        )
        rows = self._rows(sql, [*params, limit, offset])
        total = int(self._rows(f"SELECT count(*) FROM alert_logs{clause}", params)[0][0])
        return AlertPage(_to_frame(rows), total)

    def counts(self, where: AlertFilter) -> AlertCounts:
        clause, params = where_clause(where)

        def grouped(column: str) -> dict[str, int]:
            rows = self._rows(
                f"SELECT {column}, count(*) FROM alert_logs{clause} GROUP BY {column} ORDER BY {column}", params
            )
            return {str(k): int(n) for k, n in rows if k is not None}

        delivery = self._rows(
            "SELECT d.value->>'status' AS st, count(*) FROM alert_logs, "
            f"jsonb_each(alert_logs.delivery_status::jsonb) AS d{clause} GROUP BY st ORDER BY st",
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
        self._session.close()

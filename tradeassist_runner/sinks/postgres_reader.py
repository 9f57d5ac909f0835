"""Read-only pages and counts of a PostgreSQL alert log for the HTTP API.

The twin of :class:`.reader.AlertReader`: its own connection (never the runner's writer),
opened on first use so the API can start while the database is still unreachable (a
request then gets 503 with the reason), and reconnected after a server restart.
"""

from __future__ import annotations

from typing import Any

from .pg_conn import Session, checked_url
from .reader import POSTGRES, SqlAlertQueries


class PostgresAlertReader(SqlAlertQueries):
    """Queries over the alert log in the database of ``url``."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        self._session = Session(checked_url(url), "alert log")

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._session.run("cannot read") as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._session.close()

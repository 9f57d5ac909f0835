"""The alert log of record in PostgreSQL: several runners can share one database.

The records, queries and delivery statuses are those of the SQLite log (``sqlite.py``):
the same columns, the same JSON text for ``delivery_status``, the same rows read back.
What sharing adds:

* Inserts are ``ON CONFLICT (alert_id) DO NOTHING ... RETURNING``: an alert logged by a
  runner before a restart, or by another runner, is neither stored nor delivered twice.
* Inserts take a transaction-scoped advisory lock, so row ids are handed out in commit
  order: the Parquet copy's watermark ("every row above id N") can then never skip a
  row that a slower concurrent transaction commits later with a smaller id.
* Each alert remembers its ``owner`` (the runner's scope, e.g. a shard): at start a
  runner resumes the pending deliveries it owns, never another live runner's.
* Copy marks are keyed by host as well as folder: each runner's Parquet copy is its own.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import polars as pl
import polars.selectors as cs

from ..timefmt import iso_ms
from .batch import conform
from .pg_conn import INSERT_LOCK, Session, checked_url, migrate, require_schema
from .sqlite import (
    _INSERT_COLUMNS,
    _SELECT,
    SMALL_GROUP,
    SqliteAlertLog,
    _channel_entry,
    _small_rows,
    _to_frame,
    alerts_query,
    with_outcome,
)

#: The PostgreSQL type of each inserted column (the others are text).
_TYPES = {
    "ts_ms": "int8", "seq": "int8", "volume": "int8", "bar_start_ms": "int8", "fired": "int4",
    "trigger_value": "float8", "prev_value": "float8", "price": "float8", "threshold": "float8",
}  # fmt: skip
_COLUMNS = (*_INSERT_COLUMNS, "owner")
_FLOATS = [c for c in _COLUMNS if _TYPES.get(c) == "float8"]
#: Positions in an ``_INSERT_COLUMNS`` row: the floats, and the text that may hold a NUL.
_FLOAT_AT = [i for i, c in enumerate(_INSERT_COLUMNS) if _TYPES.get(c) == "float8"]
_TEXT_AT = [i for i, c in enumerate(_INSERT_COLUMNS) if c not in _TYPES and c != "alert_id"]
# The batch travels as one JSON text (polars writes it natively; binding thousands of values
# one by one costs more than the insert itself), unpacked by json_to_recordset in row order.
_RECORD = ", ".join(f"{c} {_TYPES.get(c, 'text')}" for c in _COLUMNS)
_INSERT = (
    f"INSERT INTO alert_logs ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} FROM json_to_recordset(%s::json) "
    f"AS batch({_RECORD}) "
    "ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id"
)
#: Matches the outbox's partial index (pg_conn.py); the JSON check below is the exact test.
#: (``%%`` is a literal ``%`` in a query with parameters.)
_PENDING = (
    "delivery_status LIKE '%%\"status\": \"pending\"%%' AND EXISTS (SELECT 1 FROM "
    "jsonb_each(delivery_status::jsonb) AS d WHERE d.value->>'status' = 'pending')"
)

Status = Mapping[str, Any]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _status_json(status: Mapping[str, Any]) -> str:
    """The JSON text SQLite stores, minus ``\\u0000`` (``jsonb`` refuses it, and the outbox
    queries read every row as ``jsonb``: one such error text would break them all)."""
    return json.dumps(status, sort_keys=True).replace("\\u0000", "\\ufffd")


def _small_payload(df: pl.DataFrame, status_json: str, owner: str) -> str | None:
    """``PostgresAlertLog._payload`` of a live group, built in Python from SQLite's rows
    (``None``: a time Python cannot hold, the query's way). Five polars queries cost a
    commit of three alerts more than the insert; the same values go in: NaN as NULL,
    floats as their shortest text (``repr``; PostgreSQL reads it back bit for bit, as it
    does polars' spelling), NUL as U+FFFD."""
    rows = _small_rows(df, status_json)
    if rows is None:
        return None
    records = []
    for row in rows:
        values = list(row)
        for i in _FLOAT_AT:
            v = values[i]
            values[i] = None if v is None or v != v else repr(v)
        for i in _TEXT_AT:
            v = values[i]
            if v is not None and "\x00" in v:
                values[i] = v.replace("\x00", "\ufffd")
        values.append(owner)
        records.append(dict(zip(_COLUMNS, values)))
    return json.dumps(records, ensure_ascii=False)


class PostgresAlertLog:
    """Alert log in the PostgreSQL database of ``url`` (tables in its ``search_path``)."""

    def __init__(self, url: str, *, scope: str = "default", create: bool = True) -> None:
        """Connect and create or migrate the schema (``create=False``: only check it exists).

        ``scope`` names this runner among those sharing the database (a shard).
        """
        self.scope = scope
        self._session = Session(checked_url(url), "alert log")
        self._host = socket.gethostname()
        try:
            (migrate if create else require_schema)(self._session)
        except BaseException:
            self._session.close()
            raise

    @property
    def where(self) -> str:
        return self._session.where

    # -- writing ---------------------------------------------------------------------

    def write(self, alerts: pl.DataFrame, delivery_status: Mapping[str, Status] | None = None) -> int:
        return self.write_new(alerts, delivery_status).height

    def write_new(self, alerts: pl.DataFrame, delivery_status: Mapping[str, Status] | None = None) -> pl.DataFrame:
        df = conform(alerts)
        if df.height == 0:
            return df
        at = iso_ms(_now())
        status = {ch: _channel_entry(ch, v, at) for ch, v in (delivery_status or {}).items()}
        status_json = _status_json(status)
        payload = None
        if df.height <= SMALL_GROUP:
            ids = df.get_column("alert_id").to_list()
            unique = df if len(set(ids)) == len(ids) else df.filter(pl.col("alert_id").is_first_distinct())
            payload = _small_payload(unique, status_json, self.scope)
        else:
            unique = df.filter(pl.col("alert_id").is_first_distinct())
        if payload is None:
            payload = self._payload(unique, status_json)
        doing = f"could not write {df.height} alert(s), nothing of the batch was stored"
        with self._session.run(doing) as conn, conn.transaction():
            conn.execute(INSERT_LOCK)
            inserted = {str(r[0]) for r in conn.execute(_INSERT, (payload,)).fetchall()}
        if len(inserted) == unique.height:
            return unique
        return unique.filter(pl.col("alert_id").is_in(pl.Series(list(inserted), dtype=pl.String).implode()))

    def _payload(self, unique: pl.DataFrame, status_json: str) -> str:
        """The batch as the JSON text ``_INSERT`` unpacks, built by polars."""
        # NaN is stored as NULL, as SQLite does, so both logs read back the same values.
        # PostgreSQL text cannot hold NUL: a "\0" in a symbol or message (a YAML escape) would
        # fail every retry of the batch, so it is stored as U+FFFD instead. Alert ids cannot hold one.
        stored = unique.with_columns(
            cs.float().fill_nan(None), cs.string().exclude("alert_id").str.replace_all("\x00", "\ufffd", literal=True)
        )
        # floats as text: JSON has no infinity, and the text of a float64 reads back bit for bit
        return (
            SqliteAlertLog._stored(stored, status_json)
            .with_columns(pl.lit(self.scope).alias("owner"), pl.col(_FLOATS).cast(pl.String))
            .write_json()
        )

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
        with self._session.run(f"could not update delivery of {alert_id!r}") as conn, conn.transaction():
            row = conn.execute(
                "SELECT delivery_status FROM alert_logs WHERE alert_id = %s FOR UPDATE", (alert_id,)
            ).fetchone()
            if row is None:
                return False
            current = with_outcome(row[0], channel, status, attempts, error, at)
            conn.execute(
                "UPDATE alert_logs SET delivery_status = %s WHERE alert_id = %s",
                (_status_json(current), alert_id),
            )
        return True

    # -- reading ---------------------------------------------------------------------

    def query(
        self,
        rule_id: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Like :meth:`SqliteAlertLog.query`: firing order, ``limit`` keeps the latest N."""
        return self._read(*alerts_query("%s", rule_id, symbol, since, until, limit))

    def _read(self, sql: str, params: list[Any]) -> pl.DataFrame:
        with self._session.run("cannot read") as conn:
            rows = conn.execute(sql, params).fetchall()
        return _to_frame(rows)

    def pending_deliveries(self, limit: int | None = None) -> pl.DataFrame:
        """This scope's alerts with a channel still ``pending``, oldest first."""
        sql = f"SELECT {', '.join(_SELECT)} FROM alert_logs WHERE owner = %s AND {_PENDING} ORDER BY ts_ms, id"
        params: list[Any] = [self.scope]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return self._read(sql, params)

    def count(self) -> int:
        return self._scalar("SELECT count(*) FROM alert_logs", [])

    def _scalar(self, sql: str, params: list[Any]) -> int:
        with self._session.run("cannot read") as conn:
            row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- the Parquet copy's watermark -----------------------------------------------

    def _copy_key(self, copy: str) -> str:
        return f"{self._host}:{copy}"  # one folder path on two machines is two copies

    def copy_mark(self, copy: str) -> int | None:
        with self._session.run("cannot read") as conn:
            row = conn.execute("SELECT through_id FROM copy_marks WHERE copy = %s", (self._copy_key(copy),)).fetchone()
        return None if row is None else int(row[0])

    def set_copy_mark(self, copy: str, through_id: int) -> None:
        with self._session.run("cannot record the copy mark") as conn:
            conn.execute(
                "INSERT INTO copy_marks (copy, through_id) VALUES (%s, %s) "
                "ON CONFLICT (copy) DO UPDATE SET through_id = excluded.through_id",
                (self._copy_key(copy), through_id),
            )

    def last_id(self) -> int:
        return self._scalar("SELECT coalesce(max(id), 0) FROM alert_logs", [])

    def count_between(self, after_id: int, through_id: int) -> int:
        return self._scalar("SELECT count(*) FROM alert_logs WHERE id > %s AND id <= %s", [after_id, through_id])

    def rows_after(self, after_id: int, limit: int) -> tuple[pl.DataFrame, int]:
        columns = ", ".join(_SELECT)
        with self._session.run("cannot read") as conn:
            rows = conn.execute(
                f"SELECT {columns}, id FROM alert_logs WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit)
            ).fetchall()
        last = int(rows[-1][-1]) if rows else after_id
        return _to_frame([r[:-1] for r in rows]), last

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PostgresAlertLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


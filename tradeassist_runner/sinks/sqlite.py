"""The alert log of record: one SQLite file, safe to re-write after a crash.

WAL mode lets a CLI (``tradeassist alerts``) or a dashboard read while the runner
writes. Every alert is keyed by its stable ``alert_id``, so replaying a batch after a
restart or a failed write stores each alert once. A batch is one transaction: after a
``SinkError`` (disk full, locked, read-only) nothing of it is stored and the caller can
keep it in memory and retry.

The class is synchronous because sqlite3 is; the runner calls it through
``asyncio.to_thread``. One connection, guarded by a lock, is shared by those worker
threads, so there is exactly one writer per process.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from ..engine.alerts import ALERT_SCHEMA
from ..errors import SinkError
from ..timefmt import POLARS_ISO_MS, iso_ms, iso_ms_expr, to_epoch_ms
from .batch import conform

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# What ``query`` returns: the engine's alert columns plus the JSON delivery status.
LOGGED_SCHEMA: dict[str, pl.DataType] = {**ALERT_SCHEMA, "delivery_status": pl.String()}

# _MIGRATIONS[i] upgrades a database from user_version i to i + 1.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE alert_logs (
            id              INTEGER PRIMARY KEY,
            alert_id        TEXT    NOT NULL UNIQUE,
            time            TEXT    NOT NULL,
            ts_ms           INTEGER NOT NULL,
            rule_id         TEXT    NOT NULL,
            rule_name       TEXT,
            symbol          TEXT    NOT NULL,
            seq             INTEGER,
            trigger_value   REAL,
            prev_value      REAL,
            price           REAL,
            volume          INTEGER,
            threshold       REAL,
            condition       TEXT,
            rule_type       TEXT,
            severity        TEXT,
            message         TEXT,
            fired           INTEGER NOT NULL DEFAULT 1,
            evaluated_at    TEXT,
            delivery_status TEXT    NOT NULL DEFAULT '{}',
            created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        )
        """,
        "CREATE INDEX idx_alert_logs_ts ON alert_logs (ts_ms)",
        "CREATE INDEX idx_alert_logs_rule_ts ON alert_logs (rule_id, ts_ms)",
        "CREATE INDEX idx_alert_logs_symbol_ts ON alert_logs (symbol, ts_ms)",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

#: Nullable columns added after a schema version, as (name, SQL type). Additive, so no
#: version bump: an older runner never names them and keeps working on the same file.
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("inputs", "TEXT"),  # decision inputs, JSON
    ("bar_start_ms", "INTEGER"),  # bar rules: start of the closed bar
    ("cond_values", "TEXT"),  # conjunctions: every condition's value, JSON list
)

_INSERT_COLUMNS = (
    "alert_id", "time", "ts_ms", "rule_id", "rule_name", "symbol", "seq", "trigger_value",
    "prev_value", "price", "volume", "threshold", "condition", "rule_type", "severity",
    "message", "fired", "evaluated_at", "delivery_status", "inputs", "bar_start_ms", "cond_values",
)  # fmt: skip
#: Groups up to this many alerts have their rows built in Python (:func:`_small_rows`).
SMALL_GROUP = 128
_INSERT = (
    f"INSERT INTO alert_logs ({', '.join(_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)}) "
    "ON CONFLICT(alert_id) DO NOTHING"
)

# Stored column -> ALERT_SCHEMA name, in the order ``query`` selects them.
_SELECT: dict[str, tuple[str, pl.DataType]] = {
    "alert_id": ("alert_id", pl.String()),
    "rule_id": ("rule_id", pl.String()),
    "rule_name": ("rule_name", pl.String()),
    "symbol": ("symbol", pl.String()),
    "ts_ms": ("ts_ms", pl.Int64()),
    "seq": ("seq", pl.Int64()),
    "price": ("price", pl.Float64()),
    "volume": ("volume", pl.Int64()),
    "trigger_value": ("value", pl.Float64()),
    "prev_value": ("prev_value", pl.Float64()),
    "threshold": ("threshold", pl.Float64()),
    "condition": ("condition", pl.String()),
    "rule_type": ("type", pl.String()),
    "severity": ("severity", pl.String()),
    "message": ("message", pl.String()),
    "evaluated_at": ("evaluated_at", pl.String()),
    "inputs": ("inputs", pl.String()),
    "bar_start_ms": ("bar_start", pl.Int64()),
    "cond_values": ("values", pl.String()),
    "delivery_status": ("delivery_status", pl.String()),
}

_HINTS = {
    "SQLITE_FULL": "the disk (or the configured max_bytes) is full",
    "SQLITE_BUSY": "another process holds the database lock",
    "SQLITE_LOCKED": "the database is locked",
    "SQLITE_READONLY": "the database file or its folder is read-only",
    "SQLITE_CANTOPEN": "the file cannot be opened (missing folder or no permission)",
    "SQLITE_IOERR": "an I/O error occurred",
    "SQLITE_CORRUPT": "the database file is corrupt",
    "SQLITE_NOTADB": "the file is not a SQLite database",
}

Status = Mapping[str, Any]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _describe(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    hint = _HINTS.get(name) or next((h for k, h in _HINTS.items() if name.startswith(k)), "")
    return f"{exc} ({hint})" if hint else str(exc)


def _channel_entry(channel: str, value: Status, at: str) -> dict[str, Any]:
    """One channel's status in the stored shape; strict so a typo is caught at the writer."""
    if not isinstance(value, Mapping) or not isinstance(value.get("status"), str):
        raise ValueError(f"delivery status of channel {channel!r} needs a string 'status'")
    unknown = set(value) - {"status", "attempts", "error", "updated_at"}
    if unknown:
        raise ValueError(f"delivery status of channel {channel!r} has unknown key(s): {sorted(unknown)}")
    return {
        "status": value["status"],
        "attempts": int(value.get("attempts", 0)),
        "error": value.get("error"),
        "updated_at": value.get("updated_at") or at,
    }


def with_outcome(
    stored: str | None, channel: str, status: str, attempts: int | None, error: str | None, at: datetime | None
) -> dict[str, Any]:
    """The stored ``delivery_status`` JSON with one channel's outcome recorded (SQLite and
    PostgreSQL alike); ``attempts`` left ``None`` keeps the channel's previous count."""
    current: dict[str, Any] = json.loads(stored or "{}")
    previous = current.get(channel) or {}
    current[channel] = {
        "status": status,
        "attempts": int(previous.get("attempts", 0) if attempts is None else attempts),
        "error": error,
        "updated_at": iso_ms(at or _now()),
    }
    return current



def alerts_query(
    mark: str, rule_id: str | None, symbol: str | None, since: datetime | None, until: datetime | None,
    limit: int | None,
) -> tuple[str, list[Any]]:
    """The SELECT (and its parameters) behind ``query`` of every alert store; ``mark`` is the
    driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg), so both stores filter, keep
    the latest ``limit`` and order by firing exactly alike."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("rule_id = ", rule_id),
        ("symbol = ", symbol),
        ("ts_ms >= ", None if since is None else to_epoch_ms(since)),
        ("ts_ms < ", None if until is None else to_epoch_ms(until)),
    ):
        if value is not None:
            where.append(clause + mark)
            params.append(value)
    columns = ", ".join(_SELECT)
    sql = f"SELECT {columns}, id FROM alert_logs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if limit is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY ts_ms DESC, id DESC LIMIT {mark}) AS latest"
        params.append(limit)
    return f"SELECT {columns} FROM ({sql}) AS chosen ORDER BY ts_ms, id", params

class SqliteAlertLog:
    """Alert log in one SQLite file (table ``alert_logs``), WAL mode, idempotent writes."""

    def __init__(self, path: Path | str, *, timeout: float = 5.0, max_bytes: int | None = None) -> None:
        """Open (creating or migrating) the log.

        ``timeout`` is how long a write waits for another process's lock before failing
        with ``SinkError``. ``max_bytes`` caps the file so a runaway log cannot fill the
        disk; past it writes fail like a full disk.
        """
        self.path = Path(path)
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise SinkError(f"alert log {self.path}: cannot open: {_describe(exc)}") from exc
        try:
            self.journal_mode = str(self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            if self.journal_mode.lower() != "wal" and str(path) != ":memory:":
                log.warning("alert log %s: WAL mode unavailable, using %s", self.path, self.journal_mode)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            if max_bytes is not None:
                page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
                self._conn.execute(f"PRAGMA max_page_count={max(1, max_bytes // page_size)}")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            self._closed = True
            raise SinkError(f"alert log {self.path}: cannot prepare: {_describe(exc)}") from exc
        except BaseException:
            self._conn.close()
            self._closed = True
            raise

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> SqliteAlertLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def schema_version(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # -- writing ---------------------------------------------------------------------

    def write(self, alerts: pl.DataFrame, delivery_status: Mapping[str, Status] | None = None) -> int:
        """Store a batch; return how many alerts were new (already-logged ones are skipped)."""
        return self.write_new(alerts, delivery_status).height

    def write_new(
        self, alerts: pl.DataFrame, delivery_status: Mapping[str, Status] | None = None
    ) -> pl.DataFrame:
        """Store a batch in one transaction; return the alerts that were not logged before.

        Knowing which alerts are new lets the Parquet copy receive each alert once even
        when a batch is replayed. ``delivery_status`` (channel -> status mapping) is
        stored for every alert of the batch; ``{}`` when omitted.
        """
        df = conform(alerts)
        if df.height == 0:
            return df
        at = iso_ms(_now())
        status = {ch: _channel_entry(ch, v, at) for ch, v in (delivery_status or {}).items()}
        status_json = json.dumps(status, sort_keys=True)
        ids = df.get_column("alert_id").to_list()
        ids_json = json.dumps(ids)
        with self._lock:
            self._check_open()
            try:
                with self._transaction():
                    seen = {
                        row[0]
                        for row in self._conn.execute(
                            "SELECT alert_id FROM alert_logs "
                            "WHERE alert_id IN (SELECT value FROM json_each(?))",
                            (ids_json,),
                        )
                    }
                    if seen or len(set(ids)) != len(ids):
                        new = df.filter(
                            pl.col("alert_id").is_first_distinct()
                            & ~pl.col("alert_id").is_in(pl.Series(list(seen), dtype=pl.String).implode())
                        )
                    else:
                        new = df
                    self._conn.executemany(_INSERT, self._rows(new, status_json))
            except sqlite3.Error as exc:
                raise SinkError(
                    f"alert log {self.path}: could not write {df.height} alert(s), "
                    f"nothing of the batch was stored: {_describe(exc)}"
                ) from exc
        return new

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
        """Record a channel's delivery outcome for one alert; ``False`` if the alert is unknown.

        ``attempts`` left as ``None`` keeps the previous count, so a caller that only
        knows "sent" need not track retries.
        """
        with self._lock:
            self._check_open()
            try:
                with self._transaction():
                    row = self._conn.execute(
                        "SELECT delivery_status FROM alert_logs WHERE alert_id = ?", (alert_id,)
                    ).fetchone()
                    if row is None:
                        return False
                    current = with_outcome(row[0], channel, status, attempts, error, at)
                    self._conn.execute(
                        "UPDATE alert_logs SET delivery_status = ? WHERE alert_id = ?",
                        (json.dumps(current, sort_keys=True), alert_id),
                    )
            except sqlite3.Error as exc:
                raise SinkError(
                    f"alert log {self.path}: could not update delivery of {alert_id!r}: {_describe(exc)}"
                ) from exc
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
        """Logged alerts in firing order (tick ts, then insertion), as ``LOGGED_SCHEMA``.

        ``since`` is inclusive and ``until`` exclusive, so consecutive windows never
        count an alert twice. ``limit`` keeps the *latest* N alerts (like ``tail``),
        still returned oldest first. Naive datetimes are UTC.
        """
        return self._read(*alerts_query("?", rule_id, symbol, since, until, limit))

    def _read(self, sql: str, params: list[Any]) -> pl.DataFrame:
        """Run one SELECT of ``_SELECT`` columns under the lock; errors as SinkError."""
        with self._lock:
            self._check_open()
            try:
                rows = self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot read: {_describe(exc)}") from exc
        return _to_frame(rows)

    def pending_deliveries(self, limit: int | None = None) -> pl.DataFrame:
        """Alerts with at least one channel still ``pending`` (the delivery outbox), oldest first.

        Read at start-up so deliveries interrupted by a stop or a crash are made
        (at-least-once) rather than forgotten.
        """
        columns = ", ".join(_SELECT)
        sql = (
            f"SELECT {columns} FROM alert_logs WHERE EXISTS (SELECT 1 FROM json_each(delivery_status) "
            "WHERE json_extract(value, '$.status') = 'pending') ORDER BY ts_ms, id"
        )
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._read(sql, params)

    # -- the Parquet copy's watermark -----------------------------------------------

    def copy_mark(self, copy: str) -> int | None:
        """Highest row ``id`` the copy named ``copy`` is known to hold; None if never recorded.

        Kept in the log of record itself so the mark and the alerts can never disagree
        about which database they describe.
        """
        with self._lock:
            self._check_open()
            try:
                if not self._has_table("copy_marks"):
                    return None
                row = self._conn.execute("SELECT through_id FROM copy_marks WHERE copy = ?", (copy,)).fetchone()
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot read: {_describe(exc)}") from exc
        return None if row is None else int(row[0])

    def set_copy_mark(self, copy: str, through_id: int) -> None:
        with self._lock:
            self._check_open()
            try:
                with self._transaction():
                    self._conn.execute(
                        "CREATE TABLE IF NOT EXISTS copy_marks (copy TEXT PRIMARY KEY, through_id INTEGER NOT NULL)"
                    )
                    self._conn.execute(
                        "INSERT INTO copy_marks (copy, through_id) VALUES (?, ?) "
                        "ON CONFLICT(copy) DO UPDATE SET through_id = excluded.through_id",
                        (copy, through_id),
                    )
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot record the copy mark: {_describe(exc)}") from exc

    def last_id(self) -> int:
        """The newest row ``id`` (0 when empty); ids only grow, so this is a position."""
        with self._lock:
            self._check_open()
            try:
                return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM alert_logs").fetchone()[0])
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot read: {_describe(exc)}") from exc

    def count_between(self, after_id: int, through_id: int) -> int:
        """Alerts with ``after_id < id <= through_id`` (a rowid range: cheap)."""
        with self._lock:
            self._check_open()
            try:
                return int(
                    self._conn.execute(
                        "SELECT count(*) FROM alert_logs WHERE id > ? AND id <= ?", (after_id, through_id)
                    ).fetchone()[0]
                )
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot read: {_describe(exc)}") from exc

    def rows_after(self, after_id: int, limit: int) -> tuple[pl.DataFrame, int]:
        """Up to ``limit`` alerts with ``id > after_id`` in id order, and the last id returned."""
        columns = ", ".join(_SELECT)
        with self._lock:
            self._check_open()
            try:
                rows = self._conn.execute(
                    f"SELECT {columns}, id FROM alert_logs WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
                ).fetchall()
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot read: {_describe(exc)}") from exc
        last = int(rows[-1][-1]) if rows else after_id
        return _to_frame([r[:-1] for r in rows]), last

    def _has_table(self, name: str) -> bool:
        return (
            self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
            is not None
        )

    def count(self) -> int:
        """Number of logged alerts."""
        with self._lock:
            self._check_open()
            try:
                return int(self._conn.execute("SELECT count(*) FROM alert_logs").fetchone()[0])
            except sqlite3.Error as exc:
                raise SinkError(f"alert log {self.path}: cannot read: {_describe(exc)}") from exc

    # -- internals -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SinkError(f"alert log {self.path} is closed")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` takes the write lock up front so a batch never half-commits."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:  # SQLite may already have rolled back (e.g. disk full)
                    pass
            raise

    def _migrate(self) -> None:
        # Fast path without the write lock, so a reader (the CLI) opening a busy log
        # does not queue behind the runner's writes when there is nothing to migrate.
        if int(self._conn.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:
            self._add_columns()
            return
        with self._transaction():
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SinkError(
                    f"alert log {self.path} has schema version {version}, newer than this "
                    f"runner's {SCHEMA_VERSION}; upgrade tradeassist-runner"
                )
            for target in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[target]:
                    self._conn.execute(statement)
            if version != SCHEMA_VERSION:
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._add_columns()

    def _add_columns(self) -> None:
        """Add the :data:`_ADDED_COLUMNS` a log written by an older runner lacks."""

        def missing() -> list[tuple[str, str]]:
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(alert_logs)")}
            return [(name, sql) for name, sql in _ADDED_COLUMNS if name not in have]

        if not missing():
            return
        with self._transaction():
            for name, sql in missing():  # re-checked under the write lock
                self._conn.execute(f"ALTER TABLE alert_logs ADD COLUMN {name} {sql}")

    @staticmethod
    def _rows(df: pl.DataFrame, status_json: str) -> Iterator[tuple[Any, ...]]:
        if df.height <= SMALL_GROUP:
            rows = _small_rows(df, status_json)
            if rows is not None:
                return iter(rows)
        return SqliteAlertLog._stored(df, status_json).iter_rows()

    @staticmethod
    def _stored(df: pl.DataFrame, status_json: str) -> pl.DataFrame:
        """The batch as the stored columns (``_INSERT_COLUMNS``, in order)."""
        return df.select(
            "alert_id",
            iso_ms_expr("ts").alias("time"),
            pl.col("ts").dt.epoch("ms").alias("ts_ms"),
            "rule_id",
            "rule_name",
            "symbol",
            "seq",
            pl.col("value").alias("trigger_value"),
            "prev_value",
            "price",
            "volume",
            "threshold",
            "condition",
            pl.col("type").alias("rule_type"),
            "severity",
            "message",
            pl.lit(1, dtype=pl.Int64).alias("fired"),
            iso_ms_expr("evaluated_at").alias("evaluated_at"),
            pl.lit(status_json, dtype=pl.String).alias("delivery_status"),
            "inputs",
            pl.col("bar_start").dt.epoch("ms").alias("bar_start_ms"),
            pl.col("values").alias("cond_values"),
        )


def _small_rows(df: pl.DataFrame, status_json: str) -> list[tuple[Any, ...]] | None:
    """The rows of :meth:`SqliteAlertLog._stored`, built in Python; ``None`` to use that query.

    A live group of a few alerts spent most of its commit in polars' fixed cost per query
    (about 0.2 ms each), several times over; column lists and :func:`iso_ms` cost a few
    microseconds per row. A time that Python's ``datetime`` cannot hold goes the query's way.
    """
    # ``ALERT_SCHEMA`` times are Datetime("ms"): their physical values are the epoch ms.
    ts_ms = df.get_column("ts").to_physical().to_list()
    evaluated_ms = df.get_column("evaluated_at").to_physical().to_list()
    try:
        times = [iso_ms(ms) for ms in ts_ms]
        evaluated = [None if ms is None else iso_ms(ms) for ms in evaluated_ms]
    except (OverflowError, ValueError):
        return None
    col = df.get_column
    return list(zip(
        col("alert_id").to_list(), times, ts_ms, col("rule_id").to_list(), col("rule_name").to_list(),
        col("symbol").to_list(), col("seq").to_list(), col("value").to_list(), col("prev_value").to_list(),
        col("price").to_list(), col("volume").to_list(), col("threshold").to_list(), col("condition").to_list(),
        col("type").to_list(), col("severity").to_list(), col("message").to_list(), [1] * df.height, evaluated,
        [status_json] * df.height, col("inputs").to_list(), col("bar_start").to_physical().to_list(),
        col("values").to_list(),
    ))


def _to_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    raw_schema = dict(_SELECT.values())
    raw = pl.DataFrame(rows, schema=raw_schema, orient="row")
    return raw.with_columns(
        pl.col("ts_ms").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").alias("ts"),
        pl.col("bar_start").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
        pl.col("evaluated_at").str.to_datetime(POLARS_ISO_MS, time_unit="ms", time_zone="UTC"),
    ).select(list(LOGGED_SCHEMA))

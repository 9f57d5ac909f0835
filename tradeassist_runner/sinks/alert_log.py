"""One call that logs a batch of alerts to SQLite (of record) and Parquet (for analysis).

The two stores fail differently on purpose. If SQLite cannot take the batch, nothing
is logged and ``SinkError`` tells the runner to keep the batch and retry. If only the
Parquet copy fails, the alerts are safe in SQLite, so the runner keeps going; the
failure is logged, counted and returned in the ``WriteReport``.

Parquet converges on SQLite instead of trusting each batch to make it: SQLite keeps a
watermark (table ``copy_marks``) of the highest row id the Parquet folder holds, and
every copy sends *all* rows above it. A batch whose copy failed (full disk, read-only
folder) or that a kill cut off between the SQLite commit and the Parquet rename is
therefore copied by a later batch, by a retry (with backoff) or at the next start.
A copy that may have half-happened (a kill after the rename, before the watermark
moved) is deduplicated against the alert ids already in the affected day folders.

Parquet parts roll by time, not per batch: with ``roll_interval`` > 0 a write only commits
to SQLite, and :meth:`AlertLog.roll` (the runner calls it when :meth:`AlertLog.roll_due`)
copies everything new as one part per day, then compacts every finished day (a day before
the newest one, or before today) to one file, and the open day whenever it reaches
``OPEN_DAY_MAX_PARTS`` parts. So a live day's folder holds at most about that many files,
and one file once the day is over. ``roll_interval`` 0 copies on every write.
SQLite writes and Parquet copies hold different locks, so a slow copy or compaction never
holds up a commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from ..errors import SinkError
from ..logs import log as log_event
from .parquet import ParquetAlertLog
from .sqlite import SqliteAlertLog
from .store import AlertStore

log = logging.getLogger("tradeassist.storage")

#: Rows copied per Parquet write when catching up (bounds memory after a long outage).
COPY_CHUNK = 50_000
#: A day still being written is compacted too once it has this many parts (about an hour
#: of one-minute parts), so a folder never holds more than about this many files.
OPEN_DAY_MAX_PARTS = 60
#: Retry delays of a failing Parquet copy: first, then doubled up to the cap (seconds).
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


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


@dataclass(frozen=True)
class ParquetStatus:
    """How far the Parquet copy is behind SQLite, for ``/api/status`` and ``/metrics``."""

    ok: bool
    behind: int  # alerts in SQLite that Parquet does not hold yet (up to one roll interval's worth)
    failures: int  # copy attempts that failed, since start
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True)
class CatchUp:
    """What :meth:`AlertLog.catch_up` did at start."""

    copied: int
    removed_temporary: tuple[Path, ...]
    rebuilt: bool  # Parquet had lost files: the whole log was copied again (deduplicated)
    error: SinkError | None


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


class AlertLog:
    """Fan-out over the SQLite log and its Parquet copy."""

    def __init__(
        self,
        sqlite: AlertStore,
        parquet: ParquetAlertLog,
        *,
        clock: Callable[[], float] = time.monotonic,
        roll_interval: float = 0.0,
        today: Callable[[], date] = _utc_today,
    ) -> None:
        """``roll_interval`` (seconds of ``clock``): how often :meth:`roll` writes a part; 0 = every write."""
        self.sqlite = sqlite
        self.parquet = parquet
        self.parquet_failures = 0  # copy attempts that failed, since start
        self.last_parquet_error: SinkError | None = None
        self.last_parquet_error_at: datetime | None = None
        self.roll_interval = roll_interval
        self._clock = clock
        self._today = today
        self._lock = threading.RLock()  # SQLite writes and the counters below: held briefly
        self._copy_lock = threading.RLock()  # Parquet copies and compactions: may take long
        self._rolled_at = clock()
        self._checked_day: date | None = None  # the day finished days were last compacted on
        self._touched: set[str] = set()  # day folders written since then
        #: Rows logged since the last copy, kept while Parquet is exactly at the mark, so a
        #: roll writes them without reading them back; with the id they run through.
        self._buffer: list[pl.DataFrame] = []
        self._buffer_rows = 0
        self._buffer_through = 0
        self._copy_key = str(parquet.root.resolve())
        self._mark = sqlite.copy_mark(self._copy_key) or 0
        #: True once Parquet is known to hold exactly the rows up to the mark (nothing
        #: above it), so a copy needs no deduplication. Unknown at open.
        self._exact = False
        self._behind = sqlite.count_between(self._mark, sqlite.last_id())
        self._retry_at = 0.0
        self._backoff = RETRY_FIRST_S
        self._written = 0  # rows the last copy wrote (deduplicated ones not counted)

    def write(
        self, alerts: pl.DataFrame, delivery_status: Mapping[str, Mapping[str, Any]] | None = None
    ) -> WriteReport:
        """Log a batch; raise ``SinkError`` only when SQLite failed (nothing stored).

        With a ``roll_interval`` the Parquet copy waits for :meth:`roll`.
        """
        with self._lock:
            new = self.sqlite.write_new(alerts, delivery_status)
            if new.height == 0:
                return WriteReport(received=alerts.height, inserted=0)
            exact = self._exact and self._behind == self._buffer_rows and self.last_parquet_error is None
            self._behind += new.height
            if exact:
                self._buffer.append(new)
                self._buffer_rows += new.height
                self._buffer_through = self.sqlite.last_id()
            else:
                self._drop_buffer()
        files: list[Path] = []
        error: SinkError | None = None
        if self.roll_interval <= 0:
            files, error = self.sync_parquet()
        return WriteReport(
            received=alerts.height, inserted=new.height, parquet_files=tuple(files), parquet_error=error, new=new
        )

    def _drop_buffer(self) -> None:
        self._buffer, self._buffer_rows = [], 0

    def roll_due(self) -> bool:
        """Whether :meth:`roll` has work: alerts to copy and the interval over (or a retry due),
        or a new day began (yesterday can be compacted)."""
        now = self._clock()
        if self._today() != self._checked_day:
            return True
        if not self._behind or now - self._rolled_at < self.roll_interval:
            return False
        return self.last_parquet_error is None or now >= self._retry_at

    def roll(self, *, force: bool = False) -> tuple[list[Path], SinkError | None]:
        """Copy what Parquet lacks as new part(s), then compact the finished days (blocking)."""
        with self._copy_lock:
            self._rolled_at = self._clock()
            files, error = self.sync_parquet(force=force)
            if error is None:
                self.compact_finished()
            return files, error

    def compact_finished(self) -> list[date]:
        """Merge each finished day with several parts into one file; return the days merged.

        A day is finished once a later day has alerts, or the UTC date is past it. A day
        still being written is merged once it has :data:`OPEN_DAY_MAX_PARTS` parts. A
        compaction that fails is logged and tried again at the next roll.
        """
        with self._copy_lock:
            today = self._today()
            check_all = self._checked_day is None
            self._checked_day = today
            days = self.parquet.days()
            if not days:
                return []
            last = max(days[-1], today)
            merged: list[date] = []
            for day in days:
                touched = check_all or day.isoformat() in self._touched or day < today
                if not touched:
                    continue
                try:
                    parts = len(self.parquet.day_parts(day))
                    open_day = day >= last
                    if parts >= (OPEN_DAY_MAX_PARTS if open_day else 2) and self.parquet.compact(day):
                        merged.append(day)
                    if not open_day:
                        self._touched.discard(day.isoformat())
                except SinkError as exc:
                    log_event(log, logging.ERROR, "Parquet compaction failed; will retry", error=str(exc))
            if merged:
                log_event(log, logging.INFO, "parquet days compacted",
                          days=",".join(d.isoformat() for d in merged), root=str(self.parquet.root))
            return merged

    def sync_parquet(self, *, force: bool = False) -> tuple[list[Path], SinkError | None]:
        """Copy every alert above the watermark to Parquet; return new files and the error.

        While the copy keeps failing, attempts are spaced out (1 s doubling to 60 s) so
        a dead folder does not cost a full backlog read per batch; ``force`` tries now.
        """
        with self._copy_lock:
            self._written = 0
            with self._lock:
                if self._behind == 0:
                    return [], None
                if not force and self.last_parquet_error is not None and self._clock() < self._retry_at:
                    return [], self.last_parquet_error
                buffered: pl.DataFrame | None = None
                through = 0
                if self._exact and self._buffer_rows == self._behind and self.last_parquet_error is None:
                    buffered = pl.concat(self._buffer, how="vertical_relaxed") if len(self._buffer) > 1 else self._buffer[0]
                    through = self._buffer_through
                self._drop_buffer()
            files = self._copy_buffered(buffered, through) if buffered is not None else self._copy_from_sqlite()
            for path in files:
                self._touched.add(path.parent.name.removeprefix("date="))
            error = self.last_parquet_error
            return files, error

    def _copy_buffered(self, rows: pl.DataFrame, through: int) -> list[Path]:
        """Copy rows just logged, without reading them back from SQLite."""
        try:
            files = self.parquet.write(rows)
            self.sqlite.set_copy_mark(self._copy_key, through)
        except SinkError as exc:
            with self._lock:
                self._exact = False  # the files may be in place with the mark behind: dedupe next time
                self._note_failure(exc)
            return []
        with self._lock:
            self._mark = through
            self._behind -= rows.height
            self._written = rows.height
        return files

    def _copy_from_sqlite(self) -> list[Path]:
        files: list[Path] = []
        try:
            while True:
                rows, last = self.sqlite.rows_after(self._mark, COPY_CHUNK)
                if rows.height == 0:
                    break
                if not self._exact:  # a kill may have left some of these in Parquet already
                    held = self.parquet.ids_on(rows.get_column("ts").dt.date().unique().to_list())
                    if held:
                        rows = rows.filter(~pl.col("alert_id").is_in(pl.Series(list(held), dtype=pl.String).implode()))
                files += self.parquet.write(rows)
                self._written += rows.height
                self.sqlite.set_copy_mark(self._copy_key, last)
                self._mark = last
            with self._lock:
                self._behind = self.sqlite.count_between(self._mark, self.sqlite.last_id())
                recovered = self.last_parquet_error is not None
                self._exact = True
                self._drop_buffer()
                self.last_parquet_error = None
                self._backoff = RETRY_FIRST_S
        except SinkError as exc:
            with self._lock:
                self._exact = False
                try:
                    self._behind = self.sqlite.count_between(self._mark, self.sqlite.last_id())
                except SinkError:
                    pass
                self._note_failure(exc)
            return files
        if recovered:
            log_event(log, logging.INFO, "parquet backfilled", alerts=self._written, root=str(self.parquet.root))
        return files

    def catch_up(self) -> CatchUp:
        """At start: remove dead writers' temporary parts, copy what Parquet lacks, compact finished days.

        If the folder holds fewer rows than the watermark promises (files deleted, a new
        folder), the mark is reset and the whole log is copied again, deduplicated.
        """
        with self._copy_lock, self._lock:
            try:
                removed = tuple(self.parquet.clean_temporary())
                for path in removed:
                    log_event(log, logging.INFO, "removed a temporary Parquet part left by a killed run",
                              path=str(path))
                last = self.sqlite.last_id()
                rebuilt = False
                if self._mark > last or (
                    self._mark and self.parquet.count() < self.sqlite.count_between(0, self._mark)
                ):
                    rebuilt, self._mark = True, 0
                    log_event(log, logging.WARNING, "Parquet copy lacks alerts it once held; copying the log again",
                              root=str(self.parquet.root))
                self._exact = False
                self._behind = self.sqlite.count_between(self._mark, last)
            except SinkError as exc:
                self._note_failure(exc)
                return CatchUp(0, (), False, exc)
            _, error = self.sync_parquet(force=True)
            copied = self._written
            if error is None:
                self.compact_finished()  # days a killed or older run left in parts
            if copied and error is None:
                log_event(log, logging.INFO, "parquet backfilled", alerts=copied, root=str(self.parquet.root))
            return CatchUp(copied, removed, rebuilt, error)

    def parquet_status(self) -> ParquetStatus:
        error = self.last_parquet_error
        return ParquetStatus(
            # Rolling by time, some alerts wait for the next part by design: not a fault.
            ok=error is None and (self._behind == 0 or self.roll_interval > 0),
            behind=self._behind,
            failures=self.parquet_failures,
            last_error=None if error is None else str(error),
            last_error_at=self.last_parquet_error_at if error is not None else None,
        )

    def _note_failure(self, exc: SinkError) -> None:
        self.parquet_failures += 1
        self.last_parquet_error = exc
        self.last_parquet_error_at = datetime.now(timezone.utc)
        self._retry_at = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, RETRY_MAX_S)
        log_event(log, logging.ERROR, "alerts kept in SQLite only, Parquet copy failed; will retry",
                  error=str(exc), behind=self._behind)

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

    # -- the store of record, whichever backend (``self.sqlite`` may be PostgreSQL) --------

    @property
    def store(self) -> AlertStore:
        return self.sqlite

    def pending_deliveries(self) -> pl.DataFrame:
        """The outbox (see :meth:`AlertStore.pending_deliveries`)."""
        return self.sqlite.pending_deliveries()

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
    roll_interval: float = 0.0,
) -> AlertLog:
    """Open both stores, creating their folders; ``SinkError`` if that is impossible."""
    sqlite_path, parquet_dir = Path(sqlite_path), Path(parquet_dir)
    try:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        parquet_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"cannot create alert log folder {exc.filename}: {exc.strerror}") from exc
    sqlite = SqliteAlertLog(sqlite_path, timeout=timeout, max_bytes=max_bytes)
    return AlertLog(sqlite, ParquetAlertLog(parquet_dir, fsync=fsync), roll_interval=roll_interval)

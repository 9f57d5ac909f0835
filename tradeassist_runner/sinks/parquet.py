"""An append-only Parquet copy of the alert log, for analysis with polars, DuckDB, Spark.

Layout: ``root/date=YYYY-MM-DD/part-<epoch_ms>-<counter>.parquet`` (Hive partitions by
the UTC day of the tick), so readers can prune by day. Each file appears atomically:
it is written under a hidden ``.tmp`` name in the same folder, fsynced, then renamed,
so a reader scanning ``root/date=*/*.parquet`` while the runner writes never sees a half
file. Read the dataset with::

    pl.scan_parquet(root / "date=*" / "*.parquet", hive_partitioning=True)

(a plain directory scan also works with ``hidden_file_prefix="."``, which skips the
temporary files). The alert log decides when to write (it rolls a part per interval, not
per batch); ``compact(day)`` merges a finished day into one file.

Compaction swaps the whole day folder in one ``renameat2(RENAME_EXCHANGE)``: the merged
file is staged in a hidden folder beside ``root`` (inside it only when ``root`` is a mount
point), then the staged folder and the day folder trade places, so a reader lists either
every old part or the one merged file, never both and never neither. A kill before the
swap leaves the staged copy, after it the old parts, both in a ``.tmp`` folder that
:meth:`clean_temporary` removes. Without RENAME_EXCHANGE (not Linux, or a file system
without it) the merged file is renamed in and the parts deleted after, so a reader may
briefly see a day twice; :meth:`ParquetAlertLog.read` deduplicates.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import itertools
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable
from datetime import date
from glob import escape as glob_escape
from pathlib import Path

import polars as pl

from ..engine.alerts import ALERT_SCHEMA, empty_alerts
from ..errors import SinkError
from .batch import conform

PARQUET_GLOB = "date=*/*.parquet"
_READ_ATTEMPTS = 5  # a compaction may swap a day folder between listing and opening it
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _libc_renameat2() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return getattr(libc, "renameat2", None)
    except OSError:
        return None


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when the platform or file system cannot."""
    fn = _libc_renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)  # type: ignore[operator]
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _day_folder_name(day: date | str) -> str:
    text = day.isoformat() if isinstance(day, date) else date.fromisoformat(day).isoformat()
    return f"date={text}"


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable, not only the file's bytes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc)


def _all_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``ALERT_SCHEMA`` columns of one file; ones added since it was written are null."""
    return df.select(
        [pl.col(c) if c in df.columns else pl.lit(None, dtype).alias(c) for c, dtype in ALERT_SCHEMA.items()]
    )


class ParquetAlertLog:
    """Writes each alert batch as new Parquet file(s) under Hive-style day partitions."""

    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        """``fsync=False`` trades crash durability for speed (tests, backtests)."""
        self.root = Path(root)
        self.fsync = fsync
        self._lock = threading.Lock()
        #: Writes and compactions take turns: a compaction swaps the folder a write renames into.
        self._write_lock = threading.RLock()
        self._counter = itertools.count()

    @property
    def pattern(self) -> Path:
        """The glob that reads the whole dataset (and never a temporary file)."""
        return self.root / PARQUET_GLOB

    # -- writing ---------------------------------------------------------------------

    def write(self, alerts: pl.DataFrame) -> list[Path]:
        """Write a batch, one file per UTC day it touches; return the new files.

        All or nothing: if any file of the batch cannot be written, the ones already
        in place are removed again and ``SinkError`` is raised.
        """
        df = conform(alerts)
        if df.height == 0:
            return []
        with self._write_lock:
            return self._write_days(df)

    def _write_days(self, df: pl.DataFrame) -> list[Path]:
        groups = df.with_columns(pl.col("ts").dt.date().alias("_day")).partition_by(
            "_day", maintain_order=True, as_dict=True
        )
        staged: list[tuple[Path, Path]] = []
        placed: list[Path] = []
        try:
            for (day,), part in groups.items():
                assert isinstance(day, date)
                folder = self.root / _day_folder_name(day)
                folder.mkdir(parents=True, exist_ok=True)
                final = self._next_part(folder)
                tmp = folder / f".{final.name}.{os.getpid()}.tmp"
                staged.append((tmp, final))
                self._write_file(part.drop("_day"), tmp)
            for tmp, final in staged:
                os.replace(tmp, final)
                placed.append(final)
            if self.fsync:
                for folder in {final.parent for final in placed}:
                    _fsync_dir(folder)
        except (OSError, pl.exceptions.PolarsError) as exc:
            _unlink_quietly(tmp for tmp, _ in staged)
            _unlink_quietly(placed)
            raise SinkError(
                f"alert Parquet {self.root}: could not write {df.height} alert(s): {_describe(exc)}"
            ) from exc
        return placed

    def day_parts(self, day: date | str) -> list[Path]:
        """The part files of one UTC day, in name (= write) order."""
        return sorted((self.root / _day_folder_name(day)).glob("part-*.parquet"))

    def compact(self, day: date | str) -> int:
        """Merge a day's part files into one; return how many parts were merged (0 if < 2).

        Safe while the runner writes (writes and compactions of one process take turns)
        and for readers at any moment (see the module notes). Duplicate ``alert_id`` s
        are dropped on the way.
        """
        with self._write_lock:
            folder = self.root / _day_folder_name(day)
            parts = sorted(folder.glob("part-*.parquet"))
            if len(parts) < 2:
                return 0
            stage = self._stage_folder(folder.name)
            try:
                merged = (
                    pl.concat([_all_columns(pl.read_parquet(p)) for p in parts])
                    .cast(ALERT_SCHEMA)  # type: ignore[arg-type]
                    .unique(subset="alert_id", keep="first", maintain_order=True)
                    .sort("ts", maintain_order=True)
                )
                final = self._next_part(folder)
                shutil.rmtree(stage, ignore_errors=True)  # an earlier process with this pid
                stage.mkdir()
                self._write_file(merged, stage / final.name)
                if self.fsync:
                    _fsync_dir(stage)
                swapped = exchange(stage, folder)  # the stage now holds the old parts
                if not swapped:
                    os.replace(stage / final.name, final)
            except (OSError, pl.exceptions.PolarsError) as exc:
                shutil.rmtree(stage, ignore_errors=True)  # only the staged copy: the day is untouched
                raise SinkError(f"alert Parquet {folder}: could not compact: {_describe(exc)}") from exc
            # The day is merged from here on; what is left is tidying (a kill leaves a
            # ``.tmp`` folder or parts the next compaction merges again, never a loss).
            if not swapped:
                _unlink_quietly(parts)
            try:
                if self.fsync:
                    _fsync_dir(folder.parent if swapped else folder)
            except OSError:
                pass
            shutil.rmtree(stage, ignore_errors=True)
            return len(parts)

    def _stage_folder(self, day_name: str) -> Path:
        """Where a compaction stages its merged day: beside ``root`` (no glob of ``root`` sees
        it) when that is the same file system, else a hidden folder inside ``root``."""
        pid = os.getpid()
        parent = self.root.resolve().parent
        try:
            same_fs = os.stat(parent).st_dev == os.stat(self.root).st_dev and os.access(parent, os.W_OK)
        except OSError:
            same_fs = False
        if same_fs:
            return parent / f".{self.root.resolve().name}.compact-{day_name}.{pid}.tmp"
        return self.root / f".compact-{day_name}.{pid}.tmp"

    def clean_temporary(self) -> list[Path]:
        """Remove the ``.tmp`` parts and compaction folders that killed writers left; return them.

        A temporary name carries its writer's pid, so only files of processes that are
        gone (or of an earlier process that had this pid) are removed: a compaction run
        by another live process keeps its file.
        """
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        candidates = [*self.root.glob("date=*/.*.tmp"), *self.root.glob(".compact-*.tmp")]
        parent = self.root.resolve().parent
        candidates += parent.glob(f".{glob_escape(self.root.resolve().name)}.compact-*.tmp")
        for path in candidates:
            pid_text = path.name.removesuffix(".tmp").rsplit(".", 1)[-1]
            pid = int(pid_text) if pid_text.isdigit() else 0
            if pid and pid != os.getpid() and _alive(pid):
                continue
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SinkError(f"alert Parquet {self.root}: cannot remove {path.name}: {_describe(exc)}") from exc
            removed.append(path)
        return removed

    # -- reading ---------------------------------------------------------------------

    def count(self) -> int:
        """Rows in all part files, duplicates included (from the files' metadata: cheap)."""
        files = sorted(self.root.glob("date=*/*.parquet"))
        if not files:
            return 0
        try:
            return int(pl.scan_parquet(files).select(pl.len()).collect().item())
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise SinkError(f"alert Parquet {self.root}: cannot read: {_describe(exc)}") from exc

    def ids_on(self, days: Iterable[date]) -> set[str]:
        """The ``alert_id`` s stored under the given UTC days (only those folders are read)."""
        files = [f for day in set(days) for f in sorted((self.root / _day_folder_name(day)).glob("*.parquet"))]
        if not files:
            return set()
        try:
            return set(pl.read_parquet(files, columns=["alert_id"])["alert_id"].to_list())
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise SinkError(f"alert Parquet {self.root}: cannot read: {_describe(exc)}") from exc

    def days(self) -> list[date]:
        """The UTC days that have alert files, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.glob("date=*"):
            if folder.is_dir() and any(folder.glob("*.parquet")):
                try:
                    found.append(date.fromisoformat(folder.name.removeprefix("date=")))
                except ValueError:
                    continue
        return sorted(found)

    def scan(self) -> pl.LazyFrame:
        """A lazy view of every stored alert (``ALERT_SCHEMA``), day-prunable by ``ts``."""
        if not any(self.root.glob("date=*/*.parquet")):
            return empty_alerts().lazy()
        return pl.scan_parquet(
            self.pattern,
            hive_partitioning=True,
            hive_schema={"date": pl.Date()},
            schema=ALERT_SCHEMA,  # the reference, not the first file's: older files may lack
            missing_columns="insert",  # a column added since (it reads as null)
        ).select(list(ALERT_SCHEMA))

    def read(self) -> pl.DataFrame:
        """Every stored alert once (by ``alert_id``), ordered by tick time."""
        for attempt in range(_READ_ATTEMPTS):
            try:
                df = self.scan().collect()
                break
            except (FileNotFoundError, pl.exceptions.PolarsError) as exc:
                if attempt == _READ_ATTEMPTS - 1:
                    raise SinkError(f"alert Parquet {self.root}: cannot read: {_describe(exc)}") from exc
                time.sleep(0.01)
        return (
            df.cast(ALERT_SCHEMA)  # type: ignore[arg-type]
            .unique(subset="alert_id", keep="first", maintain_order=True)
            .sort("ts", maintain_order=True)
        )

    # -- internals -------------------------------------------------------------------

    def _next_part(self, folder: Path) -> Path:
        """A fresh, sortable part name; zero-padded so name order is write order."""
        while True:
            with self._lock:
                n = next(self._counter)
            path = folder / f"part-{time.time_ns() // 1_000_000:013d}-{n:06d}.parquet"
            if not path.exists():  # e.g. a restart within the same millisecond
                return path

    def _write_file(self, df: pl.DataFrame, path: Path) -> None:
        with open(path, "wb") as fh:
            df.write_parquet(fh)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())

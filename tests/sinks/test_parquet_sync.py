"""Parquet converges on SQLite: a failed or cut-off copy is made later, never twice."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradeassist_runner.errors import SinkError
from tradeassist_runner.sinks.alert_log import open_alert_log
from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from .conftest import alerts_range


def enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def raw_ids(root: Path) -> list[str]:
    files = sorted(root.glob("date=*/*.parquet"))
    return sorted(pl.read_parquet(files, columns=["alert_id"])["alert_id"].to_list()) if files else []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_copy_is_made_by_the_next_write_once_the_retry_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        clock = Clock()
        log._clock = clock
        monkeypatch.setattr(os, "replace", enospc)
        assert not log.write(alerts_range(0, 3)).ok
        monkeypatch.undo()
        status = log.parquet_status()
        assert (status.ok, status.behind, status.failures) == (False, 3, 1)
        assert "No space left on device" in (status.last_error or "")

        assert not log.write(alerts_range(3, 4)).ok  # retry not due yet: still behind, no new attempt
        assert log.parquet_status().behind == 4 and raw_ids(tmp_path / "pq") == []
        clock.now += 1.0
        report = log.write(alerts_range(4, 5))
        assert report.ok
        assert raw_ids(tmp_path / "pq") == sorted(alerts_range(0, 5)["alert_id"].to_list())
        assert log.parquet_status() == log.parquet_status().__class__(ok=True, behind=0, failures=1)


def test_alerts_missing_from_parquet_are_copied_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        log.write(alerts_range(0, 2))
        monkeypatch.setattr(os, "replace", enospc)
        log.write(alerts_range(2, 6))
        monkeypatch.undo()
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        assert log.parquet_status().behind == 4
        done = log.catch_up()
        assert (done.copied, done.error) == (4, None)
        assert raw_ids(tmp_path / "pq") == sorted(alerts_range(0, 6)["alert_id"].to_list())


def test_a_copy_cut_off_before_the_watermark_moved_is_not_duplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*args: Any, **kwargs: Any) -> None:
        raise SinkError("killed here")

    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        log.write(alerts_range(0, 2))
        monkeypatch.setattr(SqliteAlertLog, "set_copy_mark", killed)  # Parquet renamed, mark not moved
        log.write(alerts_range(2, 5))
        monkeypatch.undo()
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        log.catch_up()
        log.write(alerts_range(5, 6))
    assert raw_ids(tmp_path / "pq") == sorted(alerts_range(0, 6)["alert_id"].to_list())


def test_a_deleted_parquet_folder_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        log.write(alerts_range(0, 4))
        log.write(alerts_range(4, 9))
    shutil.rmtree(tmp_path / "pq")
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        done = log.catch_up()
        assert done.rebuilt and done.copied == 9
    assert raw_ids(tmp_path / "pq") == sorted(alerts_range(0, 9)["alert_id"].to_list())


def test_a_log_written_before_the_watermark_existed_is_reconciled(tmp_path: Path) -> None:
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        log.write(alerts_range(0, 4))
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("DROP TABLE copy_marks")
    with SqliteAlertLog(tmp_path / "a.db") as sq:
        sq.write(alerts_range(4, 6))  # an older runner: SQLite only
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        assert log.catch_up().copied == 2
    assert raw_ids(tmp_path / "pq") == sorted(alerts_range(0, 6)["alert_id"].to_list())


def test_temporary_parts_of_dead_writers_go_and_live_ones_stay(tmp_path: Path) -> None:
    day = tmp_path / "pq" / "date=2026-01-05"
    day.mkdir(parents=True)
    dead = day / ".part-1-000001.parquet.999999999.tmp"  # no such pid
    live = day / f".part-1-000002.parquet.{os.getppid()}.tmp"  # a process that is running
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    with open_alert_log(tmp_path / "a.db", tmp_path / "pq") as log:
        assert log.catch_up().removed_temporary == (dead,)
    assert not dead.exists() and live.exists()

"""Parquet parts roll by time, finished days compact to one file, and readers never see a half state.

Time is injected (a clock for the roll interval, a "today" for which days are over), so
nothing here waits. Readers are plain polars scans of the folder, as an analyst runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradeassist_runner.sinks import parquet as parquet_module
from tradeassist_runner.sinks.alert_log import AlertLog, open_alert_log
from tradeassist_runner.sinks.parquet import ParquetAlertLog
from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from ..cli_helpers import ROOT
from .conftest import alerts_range

DAY = date(2026, 1, 5)
NEXT_DAY = datetime(2026, 1, 6, 0, 0, 1, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.today = DAY

    def __call__(self) -> float:
        return self.now


def rolling_log(tmp_path: Path, clock: Clock, interval: float = 60.0) -> AlertLog:
    return AlertLog(
        SqliteAlertLog(tmp_path / "a.db"), ParquetAlertLog(tmp_path / "pq", fsync=False),
        clock=clock, roll_interval=interval, today=lambda: clock.today,
    )


def raw_ids(root: Path) -> list[str]:
    """Every id a glob scan returns, duplicates included."""
    if not any(root.glob("date=*/*.parquet")):
        return []
    return sorted(pl.scan_parquet(root / "**" / "*.parquet", hive_partitioning=True).select("alert_id").collect()
                  .get_column("alert_id").to_list())


def day_files(root: Path, day: date = DAY) -> list[Path]:
    return sorted((root / f"date={day.isoformat()}").glob("*.parquet"))


def test_parts_roll_by_time_not_per_batch(tmp_path: Path) -> None:
    clock = Clock()
    log = rolling_log(tmp_path, clock)
    log.roll()  # the start-up roll: nothing to copy yet
    for minute in range(3):
        for second in range(0, 60, 5):  # a batch every 5 s
            clock.now = minute * 60 + second
            seq = minute * 100 + second
            report = log.write(alerts_range(seq, seq + 1))
            assert report.inserted == 1 and report.parquet_files == ()  # committed, not copied yet
            if second < 55:
                assert log.roll_due() is (minute > 0 and second == 0)
            if log.roll_due():
                files, error = log.roll()
                assert error is None and len(files) == 1
        assert len(day_files(tmp_path / "pq")) == minute
    clock.now = 180
    assert log.roll_due()
    log.roll()
    assert len(day_files(tmp_path / "pq")) == 3  # one part a minute, 36 batches
    assert raw_ids(tmp_path / "pq") == sorted(log.query()["alert_id"].to_list())
    assert log.parquet_status().behind == 0 and not log.roll_due()


def test_a_finished_day_is_compacted_to_one_file_holding_every_alert_once(tmp_path: Path) -> None:
    clock = Clock()
    log = rolling_log(tmp_path, clock)
    for k in range(4):
        log.write(alerts_range(k * 3, k * 3 + 3))
        clock.now += 60
        log.roll()
    log.write(alerts_range(6, 9))  # a replayed batch: already logged, not copied again
    root = tmp_path / "pq"
    assert len(day_files(root)) == 4  # the day is not over: its parts stay

    clock.today = NEXT_DAY.date()  # midnight UTC passed, no alert since
    assert log.roll_due()
    log.roll()
    [merged] = day_files(root)
    assert raw_ids(root) == sorted(alerts_range(0, 12)["alert_id"].to_list())  # each exactly once
    assert pl.read_parquet(merged)["ts"].is_sorted()

    # The next day's alerts go to parts of their own; a later compaction leaves day 1 alone.
    log.write(alerts_range(20, 22, ts=NEXT_DAY))
    clock.now += 60
    log.roll()
    assert day_files(root) == [merged]
    assert len(day_files(root, NEXT_DAY.date())) == 1


def test_alerts_of_a_later_day_finish_the_earlier_one_in_a_replay(tmp_path: Path) -> None:
    clock = Clock()
    clock.today = date(2026, 1, 1)  # a replay of a day long past, or a clock before it: tick days decide
    log = rolling_log(tmp_path, clock, interval=0.001)
    for k in range(3):
        log.write(alerts_range(k * 2, k * 2 + 2))
        clock.now += 1
        log.roll()
    assert len(day_files(tmp_path / "pq")) == 3
    log.write(alerts_range(50, 51, ts=NEXT_DAY))
    clock.now += 1
    log.roll()
    assert len(day_files(tmp_path / "pq")) == 1


def seeded_day(tmp_path: Path, parts: int = 5) -> ParquetAlertLog:
    sink = ParquetAlertLog(tmp_path / "pq", fsync=False)
    for k in range(parts):
        sink.write(alerts_range(k * 4, k * 4 + 4, message="m" * 50))
    return sink


EXPECTED = sorted(alerts_range(0, 20)["alert_id"].to_list())


def observing(fn: Callable[..., Any], root: Path, seen: list[list[str]]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen.append(raw_ids(root))
        result = fn(*args, **kwargs)
        seen.append(raw_ids(root))
        return result

    return wrapper


def test_a_reader_at_every_step_of_a_compaction_sees_every_alert_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = seeded_day(tmp_path)
    root = tmp_path / "pq"
    seen: list[list[str]] = []
    # Read the dataset before and after each step: staging the merged file, the folder
    # swap, and the removal of the old parts.
    monkeypatch.setattr(sink, "_write_file", observing(sink._write_file, root, seen))
    monkeypatch.setattr(parquet_module, "exchange", observing(parquet_module.exchange, root, seen))
    monkeypatch.setattr(parquet_module.shutil, "rmtree", observing(parquet_module.shutil.rmtree, root, seen))
    monkeypatch.setattr(parquet_module, "_unlink_quietly", observing(parquet_module._unlink_quietly, root, seen))
    assert sink.compact(DAY) == 5
    assert len(seen) >= 6
    assert all(ids == EXPECTED for ids in seen), [len(ids) for ids in seen]
    assert len(day_files(root)) == 1
    assert raw_ids(root) == EXPECTED


def test_a_reader_racing_many_compactions_never_sees_a_partial_or_doubled_day(tmp_path: Path) -> None:
    sink = seeded_day(tmp_path)
    root = tmp_path / "pq"
    done = threading.Event()
    failures: list[BaseException] = []

    def compactor() -> None:
        try:
            for k in range(30):
                sink.write(alerts_range(100 + k, 101 + k))
                sink.compact(DAY)
        except BaseException as exc:  # surfaced below
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=compactor)
    thread.start()
    reads = []
    while not done.is_set():
        try:
            ids = raw_ids(root)
        except (FileNotFoundError, pl.exceptions.PolarsError):
            continue  # listed a folder that was swapped away: the reader retries
        reads.append(ids)
    thread.join()
    assert failures == []
    assert reads
    for ids in reads:
        assert len(ids) == len(set(ids))  # never an alert twice
        assert set(EXPECTED) <= set(ids)  # never one missing
    assert raw_ids(root) == sorted(EXPECTED + alerts_range(100, 130)["alert_id"].to_list())


def test_without_an_atomic_swap_compaction_still_keeps_every_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = seeded_day(tmp_path)
    monkeypatch.setattr(parquet_module, "exchange", lambda a, b: False)  # e.g. not Linux
    assert sink.compact(DAY) == 5
    assert raw_ids(tmp_path / "pq") == EXPECTED
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


KILLED = """\
import os, sys, time
from tradeassist_runner.sinks import parquet
from tradeassist_runner.sinks.parquet import ParquetAlertLog
where = sys.argv[2]
real = parquet.exchange
def exchange(a, b):
    if where == "after":
        real(a, b)
    print("at", where, flush=True)
    time.sleep(600)  # SIGKILLed here
parquet.exchange = exchange
ParquetAlertLog(sys.argv[1]).compact("2026-01-05")
"""


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_kill_mid_compaction_loses_nothing_and_the_next_start_cleans_up(tmp_path: Path, where: str) -> None:
    seeded_day(tmp_path)
    root = tmp_path / "pq"
    with SqliteAlertLog(tmp_path / "a.db") as db:
        db.write(alerts_range(0, 20, message="m" * 50))
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(root), where], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"at {where}"  # staged (and swapped, for "after")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    staged = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(staged) == 1  # the kill left the staging folder behind
    assert raw_ids(root) == EXPECTED  # readers: every alert once, whichever side of the swap

    with open_alert_log(tmp_path / "a.db", root) as log:
        log.sqlite.set_copy_mark(str(root.resolve()), log.sqlite.last_id())  # Parquet holds them all
    clock = Clock()
    clock.today = DAY + timedelta(days=1)
    log = AlertLog(SqliteAlertLog(tmp_path / "a.db"), ParquetAlertLog(root), today=lambda: clock.today)
    with log:
        done = log.catch_up()
    assert done.error is None and done.copied == 0
    assert [p.name for p in done.removed_temporary] == [staged[0].name]
    assert not staged[0].exists()
    assert len(day_files(root)) == 1  # the finished day is compacted at start
    assert raw_ids(root) == EXPECTED


def test_the_open_day_is_merged_whenever_it_reaches_the_part_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradeassist_runner.sinks import alert_log as alert_log_module

    monkeypatch.setattr(alert_log_module, "OPEN_DAY_MAX_PARTS", 5)
    clock = Clock()
    log = rolling_log(tmp_path, clock)
    counts = []
    for k in range(12):
        log.write(alerts_range(k, k + 1))
        clock.now += 60
        log.roll()
        counts.append(len(day_files(tmp_path / "pq")))
    assert counts == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]  # never more than the limit in the folder
    assert raw_ids(tmp_path / "pq") == sorted(alerts_range(0, 12)["alert_id"].to_list())


def test_a_compaction_on_a_full_disk_leaves_the_day_as_it_was_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno

    clock = Clock()
    log = rolling_log(tmp_path, clock)
    for k in range(3):
        log.write(alerts_range(k * 2, k * 2 + 2))
        clock.now += 60
        log.roll()
    real_write = log.parquet._write_file

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(log.parquet, "_write_file", full)
    clock.today = NEXT_DAY.date()
    files, error = log.roll()  # the copy had nothing to do; the compaction fails
    assert error is None
    [failed] = [r for r in caplog.records if r.getMessage() == "Parquet compaction failed; will retry"]
    assert "No space left on device" in failed.fields["error"]  # type: ignore[attr-defined]
    assert len(day_files(tmp_path / "pq")) == 3
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert raw_ids(tmp_path / "pq") == sorted(alerts_range(0, 6)["alert_id"].to_list())

    monkeypatch.setattr(log.parquet, "_write_file", real_write)
    log.write(alerts_range(10, 11, ts=NEXT_DAY))
    clock.now += 60
    log.roll()
    assert len(day_files(tmp_path / "pq")) == 1  # retried at the next roll

"""The Parquet copy: readable with plain polars at any moment, even while being written."""

from __future__ import annotations

import builtins
import errno
import os
import re
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tradeassist_runner.engine.alerts import ALERT_SCHEMA
from tradeassist_runner.errors import SinkError
from tradeassist_runner.sinks import parquet as parquet_module
from tradeassist_runner.sinks.parquet import ParquetAlertLog

from .conftest import alert_row, alerts_range, make_alerts

PART_NAME = re.compile(r"part-\d{13}-\d{6}\.parquet")
LAST_MS_OF_DAY = datetime(2026, 1, 5, 23, 59, 59, 999000, tzinfo=timezone.utc)


def scan_all(root: Path) -> pl.DataFrame:
    """What a user's notebook does, not what our helper does."""
    return pl.scan_parquet(root / "**" / "*.parquet", hive_partitioning=True).collect()


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_batches_land_in_utc_day_partitions_and_read_back(tmp_path: Path) -> None:
    sink = ParquetAlertLog(tmp_path)
    batch = make_alerts(
        alert_row(0, ts=LAST_MS_OF_DAY),
        alert_row(1, ts=LAST_MS_OF_DAY + timedelta(milliseconds=1)),
    )
    written = sink.write(batch)

    assert [p.parent.name for p in written] == ["date=2026-01-05", "date=2026-01-06"]
    assert all(PART_NAME.fullmatch(p.name) for p in written)
    assert files(tmp_path) == sorted(str(p.relative_to(tmp_path)) for p in written)
    assert_frame_equal(sink.read(), batch)
    assert sink.days() == [date(2026, 1, 5), date(2026, 1, 6)]

    scanned = scan_all(tmp_path).sort("seq")
    assert scanned["date"].to_list() == [date(2026, 1, 5), date(2026, 1, 6)]
    assert_frame_equal(scanned.select(list(ALERT_SCHEMA)), batch)


def test_nothing_stored_reads_as_an_empty_alert_frame(tmp_path: Path) -> None:
    sink = ParquetAlertLog(tmp_path / "never-written")
    assert sink.write(alerts_range(0, 0)) == []
    assert sink.read().schema == pl.Schema(ALERT_SCHEMA)
    assert sink.read().height == 0
    assert sink.days() == []


def test_each_batch_is_visible_whole_between_writes(tmp_path: Path) -> None:
    sink = ParquetAlertLog(tmp_path)
    for i in range(5):
        sink.write(alerts_range(i * 3, i * 3 + 3))
        assert scan_all(tmp_path).height == (i + 1) * 3
    assert sink.read()["seq"].to_list() == list(range(15))


def test_a_leftover_temporary_file_is_invisible_to_readers(tmp_path: Path) -> None:
    sink = ParquetAlertLog(tmp_path)
    sink.write(alerts_range(0, 2))
    day = tmp_path / "date=2026-01-05"
    (day / ".part-1767623400125-000009.parquet.123.tmp").write_bytes(b"PAR1 half a file")  # crash mid-write

    assert scan_all(tmp_path).height == 2
    assert sink.read().height == 2
    dir_scan = pl.scan_parquet(tmp_path, hive_partitioning=True, hidden_file_prefix=".").collect()
    assert dir_scan.height == 2


def test_a_reader_running_during_writes_only_sees_whole_batches(tmp_path: Path) -> None:
    sink = ParquetAlertLog(tmp_path)
    sink.write(alerts_range(0, 4))
    done = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(1, 40):
                sink.write(alerts_range(i * 4, i * 4 + 4, message="m" * 200))
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    while not done.is_set():
        seen.append(scan_all(tmp_path).height)
    thread.join()

    assert failures == []
    assert all(n % 4 == 0 for n in seen), seen
    assert seen == sorted(seen)
    assert scan_all(tmp_path).height == 160


def enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_on_rename_raises_sinkerror_and_leaves_no_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = ParquetAlertLog(tmp_path)
    sink.write(alerts_range(0, 2))
    before = files(tmp_path)

    monkeypatch.setattr(os, "replace", enospc)
    with pytest.raises(SinkError, match="No space left on device"):
        sink.write(alerts_range(2, 4))
    monkeypatch.undo()

    assert files(tmp_path) == before  # no .tmp left, no new part
    assert sink.read()["seq"].to_list() == [0, 1]


def test_disk_full_while_writing_the_file_raises_sinkerror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    real_open = builtins.open
    # The kernel's own ENOSPC: every byte written goes to /dev/full.
    monkeypatch.setattr(parquet_module, "open", lambda path, mode: real_open("/dev/full", mode), raising=False)
    with pytest.raises(SinkError, match="No space left on device"):
        ParquetAlertLog(tmp_path).write(alerts_range(0, 50))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_batch_spanning_days_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace = os.replace
    calls = []

    def second_replace_fails(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:
            enospc()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_replace_fails)
    batch = make_alerts(alert_row(0, ts=LAST_MS_OF_DAY), alert_row(1, ts=LAST_MS_OF_DAY + timedelta(seconds=1)))
    with pytest.raises(SinkError):
        ParquetAlertLog(tmp_path).write(batch)
    assert len(calls) == 2
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_compact_merges_a_day_into_one_file_without_changing_the_data(tmp_path: Path) -> None:
    sink = ParquetAlertLog(tmp_path)
    for i in range(3):
        sink.write(alerts_range(i * 2, i * 2 + 2))
    sink.write(alerts_range(2, 4))  # a replayed batch: duplicates on disk
    other_day = sink.write(make_alerts(alert_row(99, ts=LAST_MS_OF_DAY + timedelta(hours=1))))
    before = sink.read()

    assert sink.compact("2026-01-05") == 4
    day_files = files(tmp_path / "date=2026-01-05")
    assert len(day_files) == 1 and PART_NAME.fullmatch(day_files[0])
    assert other_day[0].exists()
    assert_frame_equal(sink.read(), before)
    assert scan_all(tmp_path).height == 7  # the merged file holds each alert once
    assert sink.compact(date(2026, 1, 5)) == 0
    assert sink.compact("2026-02-01") == 0


def test_read_drops_alerts_written_twice(tmp_path: Path) -> None:
    sink = ParquetAlertLog(tmp_path)
    sink.write(alerts_range(0, 3))
    sink.write(alerts_range(1, 4))
    assert scan_all(tmp_path).height == 6
    assert sink.read()["seq"].to_list() == [0, 1, 2, 3]

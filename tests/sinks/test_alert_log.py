"""Logging to both stores: SQLite decides whether a batch is safe, Parquet follows."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

from tradeassist_runner.engine.alerts import ALERT_SCHEMA
from tradeassist_runner.errors import SinkError
from tradeassist_runner.sinks.alert_log import open_alert_log

from .conftest import alerts_range


def enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_open_creates_folders_and_a_batch_reaches_both_stores(tmp_path: Path) -> None:
    batch = alerts_range(0, 3)
    with open_alert_log(tmp_path / "state" / "alerts.db", tmp_path / "lake" / "alerts") as log:
        report = log.write(batch, {"slack": {"status": "pending"}})
        assert (report.received, report.inserted, report.duplicates, report.ok) == (3, 3, 0, True)
        assert len(report.parquet_files) == 1 and report.parquet_files[0].exists()
        assert_frame_equal(log.query().select(list(ALERT_SCHEMA)), batch)
        assert_frame_equal(log.parquet.read(), batch)
        assert log.update_delivery(batch["alert_id"][0], "slack", "sent", attempts=1)


def test_a_replayed_batch_is_not_copied_twice(tmp_path: Path) -> None:
    with open_alert_log(tmp_path / "alerts.db", tmp_path / "parquet") as log:
        log.write(alerts_range(0, 3))
        report = log.write(alerts_range(1, 5))
        assert (report.inserted, report.duplicates) == (2, 2)
        assert log.write(alerts_range(0, 5)).parquet_files == ()
        files = list((tmp_path / "parquet").rglob("*.parquet"))
        assert len(files) == 2
        assert log.parquet.scan().collect().height == 5


def test_parquet_failure_is_reported_but_sqlite_keeps_the_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with open_alert_log(tmp_path / "alerts.db", tmp_path / "parquet") as log:
        monkeypatch.setattr(os, "replace", enospc)
        report = log.write(alerts_range(0, 2))
        monkeypatch.undo()

        assert not report.ok
        assert isinstance(report.parquet_error, SinkError)
        assert report.inserted == 2
        assert log.parquet_failures == 1
        assert "Parquet copy failed" in caplog.text
        assert log.query().height == 2
        assert log.parquet.read().height == 0


def test_sqlite_failure_raises_and_nothing_reaches_parquet(tmp_path: Path) -> None:
    with open_alert_log(tmp_path / "alerts.db", tmp_path / "parquet", max_bytes=64 * 1024) as log:
        with pytest.raises(SinkError, match="full"):
            log.write(alerts_range(0, 2000, message="x" * 300))
        assert log.query().height == 0
        assert log.parquet.read().height == 0

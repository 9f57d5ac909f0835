"""The Parquet copy converges on SQLite after kills, a full disk or a read-only folder.

Real processes and real file systems: the Parquet folder is a tiny (or read-only) tmpfs,
the runner is SIGKILLed at points read from its own output, and the two stores are
compared afterwards with plain polars / sqlite3 reads, as an analyst would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import polars as pl
import pytest

from ..waiting import wait_until
from .storage_helpers import (
    Runner,
    kill_on_create,
    make_ticks,
    parquet_ids,
    project,
    remount,
    run,
    sqlite_ids,
    temp_files,
    tmpfs,
)


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ticks(tmp_path_factory.mktemp("ticks") / "es.parquet")


def storage(parquet: Path, roll: str = "10ms") -> str:
    """Parts roll every 10 ms here, so a short run writes many (one per batch with ``0s``)."""
    return f"sqlite: data/a.sqlite, parquet_dir: {parquet}, snapshot_interval: 100ms, parquet_roll: {roll}"


def test_read_only_parquet_folder_is_backfilled_at_the_next_start(ticks: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "pq"
    with tmpfs(parquet, "16m", read_only=True):
        config = project(tmp_path, ticks, storage=storage(parquet))
        first = run(config)
        assert first.returncode == 0, first.stderr
        logged = sqlite_ids(tmp_path / "data/a.sqlite")
        assert len(logged) > 50
        assert parquet_ids(parquet) == []
        assert "Parquet" in first.stderr and "Traceback" not in first.stderr

        remount(parquet, "rw")
        again = run(config)  # nothing new to evaluate: the copy is made from SQLite
        assert again.returncode == 0, again.stderr
        assert parquet_ids(parquet) == logged
        assert "parquet backfilled" in again.stderr

        fresh = run(config, "--fresh")  # re-evaluates everything: still one copy of each alert
        assert fresh.returncode == 0, fresh.stderr
        assert parquet_ids(parquet) == logged == sqlite_ids(tmp_path / "data/a.sqlite")


def test_full_disk_for_parquet_then_space_again(ticks: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "pq"
    with tmpfs(parquet, "64k"):
        (parquet / "filler").write_bytes(b"\0" * 44 * 1024)  # room left for about one part file
        config = project(tmp_path, ticks, storage=storage(parquet))
        first = run(config)
        assert first.returncode == 0, first.stderr
        logged = sqlite_ids(tmp_path / "data/a.sqlite")
        held = parquet_ids(parquet)
        assert len(held) < len(logged)  # the disk filled up
        assert "No space left on device" in first.stderr
        assert temp_files(parquet) == []  # no half-written part left behind

        remount(parquet, "size=16m")
        again = run(config)
        assert again.returncode == 0, again.stderr
        assert parquet_ids(parquet) == logged


def test_sigkill_while_parquet_is_behind_then_restart(ticks: Path, tmp_path: Path) -> None:
    # Parquet read-only while the runner logs to SQLite and is SIGKILLed: the same stored
    # state as a kill between the SQLite commit and the Parquet rename, every time.
    parquet = tmp_path / "pq"
    with tmpfs(parquet, "16m", read_only=True):
        config = project(tmp_path, ticks, speed=40, storage=storage(parquet))
        runner = Runner(config)
        runner.wait_for("out", "  ", count=20)  # 20 alerts printed (and logged first)
        runner.wait_for("err", "Parquet copy failed")
        assert runner.kill() == -signal.SIGKILL
        partial = sqlite_ids(tmp_path / "data/a.sqlite")
        assert partial and parquet_ids(parquet) == []

        remount(parquet, "rw")
        config = project(tmp_path, ticks, storage=storage(parquet))  # same file, full speed
        resumed = run(config)
        assert resumed.returncode == 0, resumed.stderr
        assert parquet_ids(parquet) == sqlite_ids(tmp_path / "data/a.sqlite")
        assert set(partial) <= set(parquet_ids(parquet))


def test_repeated_sigkills_leave_parquet_equal_to_sqlite(ticks: Path, tmp_path: Path) -> None:
    config = project(tmp_path, ticks, speed=60)
    for k in (3, 10, 25, 40):
        runner = Runner(config)
        runner.wait_for("out", "  ", count=k)
        runner.kill()
    final = run(config)
    assert final.returncode == 0, final.stderr
    logged = sqlite_ids(tmp_path / "data/a.sqlite")
    assert logged and parquet_ids(tmp_path / "data/a") == logged  # same set, no duplicate
    assert temp_files(tmp_path / "data/a") == []


def test_stale_temporary_parts_of_dead_runs_are_removed(ticks: Path, tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    day = tmp_path / "data/a/date=2026-01-05"
    day.mkdir(parents=True)
    stale = day / f".part-1767623400000-000001.parquet.{dead_pid}.tmp"
    stale.write_bytes(b"half a file")
    config = project(tmp_path, ticks)
    done = run(config)
    assert done.returncode == 0, done.stderr
    assert not stale.exists()
    assert temp_files(tmp_path / "data/a") == []


def test_parquet_failures_show_in_status_and_metrics(ticks: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "pq"
    with tmpfs(parquet, "16m", read_only=True):
        # Slow replay: the runner stays up while the test looks at the API.
        config = project(tmp_path, ticks, speed=4, storage=storage(parquet, roll="0s"),
                         extra="api: {enabled: true, port: 0}\n")
        runner = Runner(config)
        try:
            line = runner.wait_for("err", "api listening")
            port = int(line.split(" port=")[1].split()[0])
            runner.wait_for("err", "Parquet copy failed")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as http:
                status = http.get("/api/status").json()
                parquet_status = status["storage"]["parquet"]
                assert parquet_status["ok"] is False
                assert parquet_status["behind"] > 0 and parquet_status["failures"] >= 1
                assert "Read-only file system" in parquet_status["last_error"]
                metrics = http.get("/metrics").text
                failures = [ln for ln in metrics.splitlines() if ln.startswith("tradeassist_parquet_write_failures_total ")]
                assert failures and float(failures[0].split()[1]) >= 1, metrics
                assert any(ln.startswith("tradeassist_parquet_behind_alerts ") and float(ln.split()[1]) > 0
                           for ln in metrics.splitlines())

                remount(parquet, "rw")
                runner.wait_for("err", "parquet backfilled")  # retried while running, not only at start

                def caught_up() -> bool:
                    status = http.get("/api/status").json()["storage"]["parquet"]
                    return status["ok"] is True and status["behind"] == 0

                # the replay goes on: an alert logged since the backfill is behind until its own copy
                wait_until(caught_up, timeout=60, what="Parquet status ok and caught up after the remount")
        finally:
            code = runner.kill(signal.SIGTERM)
        assert code == 0, runner.stderr
        assert parquet_ids(parquet) == sqlite_ids(tmp_path / "data/a.sqlite")
        assert "Traceback" not in runner.stderr


def test_sigkill_between_the_sqlite_commit_and_the_parquet_rename(ticks: Path, tmp_path: Path) -> None:
    # The day folder exists up front so inotify can watch it; the runner is killed as it
    # creates its 5th temporary part, i.e. after that batch's SQLite commit, before the rename.
    day = pl.read_parquet(ticks)["ts"].dt.date().min()
    assert isinstance(day, date)
    folder = tmp_path / "data/a" / f"date={day.isoformat()}"
    folder.mkdir(parents=True)
    config = project(tmp_path, ticks, speed=60)
    runner = Runner(config)
    name = kill_on_create(folder, ".tmp", runner.proc, nth=5)
    assert runner.kill() == -signal.SIGKILL
    if (folder / name).exists():  # the kill landed before the rename (it nearly always does)
        assert len(parquet_ids(tmp_path / "data/a")) < len(sqlite_ids(tmp_path / "data/a.sqlite"))

    resumed = run(project(tmp_path, ticks))
    assert resumed.returncode == 0, resumed.stderr
    assert parquet_ids(tmp_path / "data/a") == sqlite_ids(tmp_path / "data/a.sqlite")
    assert temp_files(tmp_path / "data/a") == []

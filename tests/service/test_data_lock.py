"""One runner per data folder; an unusable data folder stops ``run`` with a clear message."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .storage_helpers import Runner, make_ticks, project, run, tmpfs


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ticks(tmp_path_factory.mktemp("ticks") / "es.parquet")


def test_a_second_runner_on_the_same_data_exits_1_naming_the_first(ticks: Path, tmp_path: Path) -> None:
    config = project(tmp_path, ticks, speed=2)
    first = Runner(config)
    try:
        first.wait_for("err", "runner started")
        second = run(config)
        assert second.returncode == 1
        assert f"pid {first.proc.pid}" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        assert first.proc.poll() is None  # the first one keeps running
    finally:
        code = first.kill(signal.SIGTERM)
    assert code == 0, first.stderr
    assert_starts(config)  # the lock went with the process


def assert_starts(config: Path) -> None:
    runner = Runner(config)
    try:
        runner.wait_for("err", "runner started")
    finally:
        assert runner.kill(signal.SIGTERM) == 0, runner.stderr


def test_a_sigkilled_runner_does_not_block_the_next(ticks: Path, tmp_path: Path) -> None:
    config = project(tmp_path, ticks, speed=2)
    first = Runner(config)
    first.wait_for("err", "runner started")
    first.kill(signal.SIGKILL)
    assert_starts(config)


def test_read_only_data_folder_exits_1_with_a_clear_message(ticks: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "1m", read_only=True):
        done = run(project(tmp_path, ticks))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "not writable" in done.stderr, done.stderr
    assert str(tmp_path / "data") in done.stderr

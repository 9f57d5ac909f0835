"""The state snapshot lives beside the alert log and belongs to one config and source."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from .storage_helpers import make_ticks, project, run, sqlite_ids

STORAGE = "sqlite: data/a.sqlite, parquet_dir: data/a, snapshot_interval: 100ms"


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ticks(tmp_path_factory.mktemp("ticks") / "es.parquet")


def earlier(ticks: Path, into: Path) -> Path:
    """The same ticks a day earlier: every one is rejected against the later snapshot."""
    pl.read_parquet(ticks).with_columns(pl.col("ts") - pl.duration(days=1)).write_parquet(into)
    return into


def test_default_state_is_beside_the_alert_log_not_outside_the_project(ticks: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    done = run(project(root, ticks, storage=STORAGE))
    assert done.returncode == 0, done.stderr
    assert (root / "data/a.state.sqlite").is_file()
    assert not (tmp_path / "data").exists()  # nothing written outside the project


def test_sibling_configs_do_not_restore_each_other(ticks: Path, tmp_path: Path) -> None:
    a = project(tmp_path, ticks, storage="sqlite: data/a.sqlite, parquet_dir: data/a", name="a.yaml")
    b = project(tmp_path, ticks, storage="sqlite: data/b.sqlite, parquet_dir: data/b", name="b.yaml")
    assert run(a).returncode == 0
    second = run(b)
    assert second.returncode == 0, second.stderr
    assert "state restored" not in second.stderr
    assert sqlite_ids(tmp_path / "data/b.sqlite") == sqlite_ids(tmp_path / "data/a.sqlite")


@pytest.mark.parametrize("how", ["other-file", "same-path-new-content"])
def test_a_changed_replay_source_is_refused_until_run_fresh(how: str, ticks: Path, tmp_path: Path) -> None:
    first_file = tmp_path / "ticks.parquet"
    first_file.write_bytes(ticks.read_bytes())
    config = project(tmp_path, first_file, storage=STORAGE)
    assert run(config).returncode == 0
    before = len(sqlite_ids(tmp_path / "data/a.sqlite"))

    if how == "other-file":
        config = project(tmp_path, earlier(ticks, tmp_path / "earlier.parquet"), storage=STORAGE)
    else:
        earlier(ticks, tmp_path / "x.parquet").replace(first_file)
    refused = run(config)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "was saved for another source" in refused.stderr, refused.stderr
    assert "--fresh" in refused.stderr and str(tmp_path / "data/a.state.sqlite") in refused.stderr
    assert len(sqlite_ids(tmp_path / "data/a.sqlite")) == before

    fresh = run(config, "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert len(sqlite_ids(tmp_path / "data/a.sqlite")) == 2 * before  # every earlier tick evaluated
    assert run(config).returncode == 0  # the new snapshot is this source's

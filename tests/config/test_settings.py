"""Environment overrides (TRADEASSIST_*) on top of a loaded config."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import ConfigError
from tradeassist_runner.settings import Settings, apply_settings, load_settings

from .conftest import WriteProject


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["LOG_LEVEL", "BATCH_SIZE", "BATCH_MAX_DELAY", "SQLITE_PATH", "PARQUET_DIR"]:
        monkeypatch.delenv(f"TRADEASSIST_{name}", raising=False)


def test_no_environment_changes_nothing(write_project: WriteProject) -> None:
    loaded = load_config(write_project())
    settings = load_settings()
    assert settings.log_level == "INFO"
    assert apply_settings(loaded, settings) == loaded


def test_environment_overrides_batching_and_storage(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = load_config(write_project())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADEASSIST_LOG_LEVEL", "debug")
    monkeypatch.setenv("TRADEASSIST_BATCH_SIZE", "50")
    monkeypatch.setenv("TRADEASSIST_BATCH_MAX_DELAY", "250ms")
    monkeypatch.setenv("TRADEASSIST_SQLITE_PATH", "var/alerts.db")
    monkeypatch.setenv("TRADEASSIST_PARQUET_DIR", "/srv/alerts")
    settings = load_settings()
    applied = apply_settings(loaded, settings)

    assert settings.log_level == "DEBUG"
    assert applied.config.batch.max_size == 50
    assert applied.config.batch.max_delay == timedelta(milliseconds=250)
    # relative to where the operator runs the command, not to the config file
    assert applied.resolve(applied.config.storage.sqlite) == tmp_path.resolve() / "var" / "alerts.db"
    assert applied.resolve(applied.config.storage.parquet_dir) == Path("/srv/alerts")
    # the original is untouched
    assert loaded.config.batch.max_size == 1000
    assert loaded.config.storage.sqlite == "../data/alerts.sqlite"


def test_partial_override_keeps_the_rest(write_project: WriteProject) -> None:
    loaded = load_config(write_project())
    applied = apply_settings(loaded, Settings(batch_size=7))
    assert applied.config.batch.max_size == 7
    assert applied.config.batch.max_delay == loaded.config.batch.max_delay
    assert applied.config.storage == loaded.config.storage
    assert applied.rules == loaded.rules


@pytest.mark.parametrize(
    ("name", "value"),
    [("BATCH_SIZE", "0"), ("BATCH_SIZE", "lots"), ("BATCH_MAX_DELAY", "20"), ("LOG_LEVEL", "loud")],
)
def test_a_bad_variable_is_reported_by_name(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"TRADEASSIST_{name}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert [p.path for p in caught.value.problems] == [f"$TRADEASSIST_{name}"]


def test_commands_skip_reading_the_environment_only_when_no_variable_is_set(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradeassist_runner.commands import common
    from tradeassist_runner.settings import ENV_PREFIX

    assert common._ENV_PREFIX == ENV_PREFIX
    config = str(write_project())
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    assert common.load_or_exit(config) == load_config(config)
    monkeypatch.setenv("tradeassist_batch_size", "7")  # pydantic-settings matches any case
    assert common.load_or_exit(config).config.batch.max_size == 7

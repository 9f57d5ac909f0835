"""Choosing the store from the config: SQLite unless ``storage.url`` names PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import ConfigError, SinkError
from tradeassist_runner.settings import Settings, apply_settings
from tradeassist_runner.sinks.backend import describe, open_store, postgres_url
from tradeassist_runner.sinks.postgres import PostgresAlertLog
from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from ..servers import postgres_server, postgres_url as pg_url  # noqa: F401


def config(tmp_path: Path, storage: str) -> Path:
    (tmp_path / "rules.d").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(f"instruments:\n  - {{symbol: /ES, type: future}}\nrules_dir: rules.d\nstorage: {storage}\n")
    return path


def test_without_a_url_the_log_is_the_sqlite_file(tmp_path: Path) -> None:
    loaded = load_config(config(tmp_path, "{sqlite: a.sqlite}"))
    with pytest.raises(SinkError, match="no alert log at .*a.sqlite yet"):
        open_store(loaded, create=False)
    store = open_store(loaded)
    assert isinstance(store, SqliteAlertLog) and describe(loaded) == str(tmp_path / "a.sqlite")
    store.close()


def test_a_url_that_is_not_postgresql_is_a_located_error(tmp_path: Path) -> None:
    path = config(tmp_path, "{url: 'mysql://u@h/db'}")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:4:16: url: must be a PostgreSQL URL: postgresql://USER@HOST:PORT/DATABASE"
    ]


def test_variables_in_the_url_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_config(config(tmp_path, "{url: 'postgresql://u:${PG_PW}@127.0.0.1:5432/alerts'}"))
    monkeypatch.delenv("PG_PW", raising=False)
    with pytest.raises(SinkError, match=r"storage.url: environment variable \$\{PG_PW\} is not set"):
        open_store(loaded)
    assert postgres_url(loaded, {"PG_PW": "pw"}) == "postgresql://u:pw@127.0.0.1:5432/alerts"
    monkeypatch.setenv("PG_PW", "pw-of-the-test")
    assert describe(loaded) == "PostgreSQL alerts@127.0.0.1:5432 scope=default"  # no user, no password


def test_the_environment_can_point_any_config_at_postgresql(tmp_path: Path, pg_url: str) -> None:
    loaded = load_config(config(tmp_path, "{sqlite: a.sqlite}"))
    settings = Settings(storage_url=pg_url, storage_scope="shard-1")  # type: ignore[call-arg]
    assert pg_url not in repr(settings)  # a secret: never printed with the settings
    applied = apply_settings(loaded, settings)
    assert applied.config.storage.scope == "shard-1"
    store = open_store(applied)
    assert isinstance(store, PostgresAlertLog) and store.scope == "shard-1"
    store.close()
    assert not (tmp_path / "a.sqlite").exists()


def test_without_the_postgres_extra_the_error_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = config(tmp_path, "{url: 'postgresql://u@127.0.0.1:5432/alerts'}")
    script = (
        "import sys; sys.modules['psycopg'] = None\n"  # as if the [postgres] extra were not installed
        "from tradeassist_runner.config.loader import load_config\n"
        "from tradeassist_runner.errors import SinkError\n"
        "from tradeassist_runner.sinks.backend import describe, open_store\n"
        f"loaded = load_config({str(path)!r})\n"
        "print(describe(loaded))\n"
        "try:\n    open_store(loaded)\nexcept SinkError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "PostgreSQL scope=default",
        "storage.url is a PostgreSQL database but psycopg is not installed: pip install 'tradeassist-runner[postgres]'",
    ]

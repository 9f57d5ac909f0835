"""``tradeassist run`` with ``storage.url`` on a real PostgreSQL: the same alerts as SQLite,
``tradeassist alerts`` reading them, a dead server at start and one dying mid-run."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from click.testing import CliRunner, Result

from tradeassist_runner.cli import main
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service import runner
from tradeassist_runner.sinks.query import format_jsonl
from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from ..cli_helpers import tradeassist
from ..servers import PostgresServer, free_port, own_postgres, postgres_server, postgres_url  # noqa: F401
from ..waiting import until
from .test_runner import project, write_ticks

PASSWORD = "pg-secret-never-logged"


def use_postgres(config: Path, url: str) -> Path:
    """The same project, with the alert log, outbox and state in PostgreSQL."""
    text = config.read_text().replace(
        "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite}",
        f'storage: {{url: "{url}", parquet_dir: data/alerts}}',
    )
    pg = config.with_name("pg.yaml")
    pg.write_text(text)
    return pg


def alerts_command(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``tradeassist alerts`` in this process (a subprocess per call costs seconds on CI)."""
    return CliRunner().invoke(main, ["alerts", str(config), *args], env=env)


def without_evaluation_time(lines: list[str]) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in lines]
    for row in rows:
        row.pop("evaluated_at")  # when this run evaluated the tick: differs between runs
    return rows


def test_a_replay_logs_the_same_alerts_in_postgres_as_in_sqlite(tmp_path: Path, postgres_url: str) -> None:
    write_ticks(tmp_path / "ticks.csv")
    sqlite_config = project(tmp_path, "{type: replay, path: ticks.csv}")
    assert asyncio.run(runner.run_service(load_config(sqlite_config), out=io.StringIO(), watch_files=False)) == 0
    with SqliteAlertLog(tmp_path / "data/alerts.sqlite") as log:
        expected = without_evaluation_time(list(format_jsonl(log.query())))
    assert len(expected) == 3

    # the password comes from the environment, and never shows in what the runner prints
    secret_url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:${PG_PASSWORD}@")
    config = use_postgres(sqlite_config, secret_url)
    env = {"PG_PASSWORD": PASSWORD}
    ran = tradeassist("run", config, cwd=tmp_path, timeout=120, env=env)
    assert ran.returncode == 0, ran.stderr
    database = urlsplit(postgres_url).path.lstrip("/")  # the storage line names the database, not the user
    assert f'storage="PostgreSQL {database}@127.0.0.1' in ran.stderr and PASSWORD not in ran.stderr + ran.stdout

    listed = alerts_command(config, "--format", "jsonl", env=env)
    assert listed.exit_code == 0, listed.output
    assert without_evaluation_time(listed.stdout.splitlines()) == expected
    explained = CliRunner().invoke(main, ["explain", str(config), str(expected[1]["alert_id"])], env=env)
    assert explained.exit_code == 0, explained.output  # explain reads the PostgreSQL log too
    assert "/ES price 98 is below 99" in explained.output
    # TRADEASSIST_STORAGE_URL points any config at the database (the password stays out of files)
    overridden = alerts_command(sqlite_config, "--rule", "es.low", "--format", "jsonl",
                                env={"TRADEASSIST_STORAGE_URL": postgres_url})
    assert [json.loads(x)["rule_id"] for x in overridden.stdout.splitlines()] == ["es.low"]
    assert (tmp_path / "data/alerts").is_dir()  # the Parquet copy stays local
    with psycopg.connect(postgres_url) as conn:  # and the state is in the database, under its scope
        assert conn.execute("SELECT DISTINCT scope FROM state_parts").fetchall() == [("default",)]


def test_a_dead_postgres_at_start_is_one_clear_error(tmp_path: Path) -> None:
    write_ticks(tmp_path / "ticks.csv")
    port = free_port()
    config = use_postgres(project(tmp_path, "{type: replay, path: ticks.csv}"),
                          f"postgresql://trader:{PASSWORD}@127.0.0.1:{port}/alerts")
    ran = tradeassist("run", config, cwd=tmp_path, timeout=120)
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1].startswith(
        f"error: runner lock on PostgreSQL alerts@127.0.0.1:{port}: cannot connect: "
    )
    assert "Traceback" not in ran.stderr and PASSWORD not in ran.stderr
    listed = alerts_command(config)
    assert listed.exit_code == 1 and "Traceback" not in listed.output
    assert f"error: alert log PostgreSQL alerts@127.0.0.1:{port}: cannot connect" in listed.stderr


def test_alerts_fired_while_postgres_is_down_are_kept_and_logged_once_it_is_back(
    tmp_path: Path, own_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ticks.csv").write_text(
        "ts,symbol,price,volume\n"
        "2026-01-05T14:30:00.000Z,/ES,99.5,1\n"
        "2026-01-05T14:30:00.500Z,/ES,100.5,1\n"  # es.cross: logged while the server is up
        # es.low: fires while it is down (6 s after es.cross: room for a loaded machine to see
        # the first row and crash the server before this tick is replayed)
        "2026-01-05T14:30:06.500Z,/ES,98.0,1\n"
        "2026-01-05T15:30:00.000Z,/ES,98.0,1\n"  # an hour later: the test stops the run first
    )
    url = own_postgres.url()
    config = use_postgres(project(tmp_path, "{type: replay, path: ticks.csv, speed: 1}"), url)

    def logged() -> int:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                row = conn.execute("SELECT count(*) FROM alert_logs").fetchone()
                return int(row[0]) if row else 0
        except psycopg.Error:
            return -1

    async def scenario() -> int:
        stop = asyncio.Event()
        run = asyncio.ensure_future(
            runner.run_service(load_config(config), stop=stop, out=io.StringIO(), watch_files=False)
        )
        await until(lambda: logged() == 1)
        await asyncio.to_thread(own_postgres.stop, "immediate")  # a crash
        await until(lambda: "alert log write failed; alerts kept in memory, will retry" in caplog.text)
        await asyncio.to_thread(own_postgres.start)
        stop.set()  # the shutdown flush retries the kept batch
        return await run

    with caplog.at_level(logging.INFO):
        assert asyncio.run(scenario()) == 0
    with psycopg.connect(url) as conn:
        rules = [r[0] for r in conn.execute("SELECT rule_id FROM alert_logs ORDER BY ts_ms, id").fetchall()]
    assert rules == ["es.cross", "es.low"]
    assert "Traceback" not in caplog.text and "UNLOGGED" not in caplog.text


def test_a_second_runner_on_the_same_scope_is_refused(tmp_path: Path, postgres_url: str) -> None:
    from tradeassist_runner.errors import SinkError
    from tradeassist_runner.sinks.pg_conn import ScopeLock

    write_ticks(tmp_path / "ticks.csv")
    config = use_postgres(project(tmp_path, "{type: replay, path: ticks.csv}"), postgres_url)
    holder = ScopeLock.acquire(postgres_url, "default")  # as a running runner holds it
    try:
        with pytest.raises(SinkError, match="another runner is already using scope 'default'"):
            asyncio.run(runner.run_service(load_config(config), out=io.StringIO(), watch_files=False))
    finally:
        holder.release()
    assert asyncio.run(runner.run_service(load_config(config), out=io.StringIO(), watch_files=False)) == 0

"""The PostgreSQL alert log, outbox and state: what SQLite gives, plus being shared safely."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal

from tradeassist_runner.errors import SinkError
from tradeassist_runner.sinks.alert_log import AlertLog
from tradeassist_runner.sinks.parquet import ParquetAlertLog
from tradeassist_runner.sinks.pg_conn import SCHEMA_VERSION, ScopeLock
from tradeassist_runner.sinks.postgres import PostgresAlertLog
from tradeassist_runner.sinks.postgres_reader import PostgresAlertReader
from tradeassist_runner.sinks.postgres_state import PostgresStateStore
from tradeassist_runner.sinks.reader import AlertFilter, AlertReader
from tradeassist_runner.sinks.sqlite import SqliteAlertLog
from tradeassist_runner.sinks.state_store import SnapshotDamaged

from ..servers import (  # noqa: F401
    PostgresServer, free_port, lock_holder, own_postgres, postgres_server, postgres_url, scope_key,
)
from .conftest import T0, alert_row, alerts_range, any_epoch_ms, any_float, make_alerts

PASSWORD = "hunter2-not-in-logs"


def every_kind_of_row() -> pl.DataFrame:
    """Rows exercising every column: NaN and null values, bar rules, conjunctions, inputs."""
    bar = {"bar_start": T0.replace(second=0, microsecond=0), "inputs": json.dumps({"params": [14], "avg": 4500.5})}
    return make_alerts(
        alert_row(0),
        alert_row(1, symbol="$TICK", rule_id="tick_low", value=-1012.0, volume=None, prev_value=None),
        alert_row(2, value=float("nan"), threshold=-1e308, **bar),
        alert_row(3, rule_id="both", values=json.dumps([1.5, None, 2.0]), message="multi\nline ✓ \"quoted\""),
    )


def test_postgres_reads_back_exactly_what_sqlite_does(tmp_path: Path, postgres_url: str) -> None:
    batch = every_kind_of_row()
    status = {"hook": {"status": "pending", "updated_at": "2026-01-05T14:30:02.000Z"}}
    with SqliteAlertLog(tmp_path / "a.db") as lite, PostgresAlertLog(postgres_url) as pg:
        assert lite.write(batch, status) == pg.write(batch, status) == 4
        for log in (lite, pg):
            log.update_delivery(batch["alert_id"][1], "hook", "sent", attempts=2, at=T0)
        assert_frame_equal(pg.query(), lite.query())
        assert_frame_equal(pg.query(rule_id="es_above", limit=1), lite.query(rule_id="es_above", limit=1))
        assert_frame_equal(pg.pending_deliveries(), lite.pending_deliveries())
        assert pg.pending_deliveries()["seq"].to_list() == [0, 2, 3]
        assert_frame_equal(pg.rows_after(1, 2)[0], lite.rows_after(1, 2)[0])
        assert pg.count() == pg.last_id() == pg.count_between(0, 4) == 4


def test_a_nul_character_does_not_make_a_batch_unstorable(postgres_url: str) -> None:
    with PostgresAlertLog(postgres_url) as pg:
        assert pg.write(make_alerts(alert_row(0, symbol="/E\x00S", message="a\x00b", threshold=float("inf")))) == 1
        row = pg.query().row(0, named=True)
    assert (row["symbol"], row["message"], row["threshold"]) == ("/E\ufffdS", "a\ufffdb", float("inf"))
    with PostgresAlertLog(postgres_url) as pg:  # a channel's error text with a NUL: the outbox stays readable
        pg.write(alerts_range(1, 2), {"hook": {"status": "pending"}})
        assert pg.update_delivery(row["alert_id"], "hook", "failed", error="bad\x00answer")
        assert pg.pending_deliveries()["seq"].to_list() == [1]
    reader = PostgresAlertReader(postgres_url)
    assert reader.counts(AlertFilter()).by_delivery_status == {"failed": 1, "pending": 1}
    reader.close()


def test_the_api_reader_gives_the_same_pages_and_counts(tmp_path: Path, postgres_url: str) -> None:
    def seed(log: SqliteAlertLog | PostgresAlertLog) -> None:
        at = "2026-01-05T14:31:00.000Z"
        log.write(alerts_range(0, 6), {"slack": {"status": "sent", "attempts": 1, "updated_at": at}})
        log.write(alerts_range(6, 9, rule_id="nq_below", symbol="/NQ", severity="critical"),
                  {"slack": {"status": "failed", "updated_at": at}, "log": {"status": "skipped", "updated_at": at}})

    with SqliteAlertLog(tmp_path / "a.db") as lite, PostgresAlertLog(postgres_url) as pg:
        seed(lite)
        seed(pg)
    sqlite_reader, pg_reader = AlertReader(tmp_path / "a.db"), PostgresAlertReader(postgres_url)
    try:
        for where in (AlertFilter(), AlertFilter(status="failed"), AlertFilter(symbol="/ES", since=T0.replace(second=3))):
            a, b = sqlite_reader.page(where, limit=4, offset=1), pg_reader.page(where, limit=4, offset=1)
            assert a.total == b.total
            assert_frame_equal(a.alerts, b.alerts)
            assert sqlite_reader.counts(where) == pg_reader.counts(where)
        assert pg_reader.counts(AlertFilter()).by_delivery_status == {"failed": 3, "sent": 6, "skipped": 3}
    finally:
        sqlite_reader.close()
        pg_reader.close()


def test_two_writers_inserting_the_same_ids_at_once_store_each_once(postgres_url: str) -> None:
    PostgresAlertLog(postgres_url).close()  # schema first: this test is about inserts
    logs = [PostgresAlertLog(postgres_url), PostgresAlertLog(postgres_url)]
    start = threading.Barrier(2)
    inserted = [0, 0]

    def writer(i: int) -> None:
        start.wait()
        for b in range(20):  # overlapping batches, in opposite orders
            lo = (b if i == 0 else 19 - b) * 25
            inserted[i] += logs[i].write(alerts_range(lo, lo + 50))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = logs[0].query()
    for log in logs:
        log.close()
    assert rows.height == 525 and rows["alert_id"].n_unique() == 525
    assert sum(inserted) == 525  # each alert reported new by exactly one writer
    assert rows["seq"].to_list() == list(range(525))


def test_runners_creating_the_schema_together_are_safe(postgres_url: str) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def opener() -> None:
        start.wait()
        try:
            PostgresAlertLog(postgres_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_a_database_from_a_newer_runner_is_refused(postgres_url: str) -> None:
    PostgresAlertLog(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(SinkError, match="schema version 99, newer than this runner's"):
        PostgresAlertLog(postgres_url)


def test_a_reader_of_an_empty_database_is_told_to_run_first(postgres_url: str) -> None:
    with pytest.raises(SinkError, match="holds no alert log yet"):
        PostgresAlertLog(postgres_url, create=False)


def test_a_closed_port_is_a_clear_error_without_the_password() -> None:
    url = f"postgresql://trader:{PASSWORD}@127.0.0.1:{free_port()}/alerts"
    with pytest.raises(SinkError) as err:
        PostgresAlertLog(url)
    text = str(err.value)
    assert text.startswith(f"alert log PostgreSQL alerts@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}: cannot connect")
    assert "Connection refused" in text and "\n" not in text
    assert PASSWORD not in text and "trader" not in text


def test_a_bad_url_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(SinkError, match="not a valid PostgreSQL URL") as err:
        PostgresAlertLog(f"postgresql://u:{PASSWORD}@127.0.0.1/db?nonsense=1")
    assert PASSWORD not in str(err.value)


def test_a_server_that_dies_mid_run_fails_the_batch_whole_and_the_retry_succeeds(own_postgres: PostgresServer) -> None:
    url = own_postgres.url()
    with PostgresAlertLog(url) as log:
        assert log.write(alerts_range(0, 3)) == 3
        own_postgres.stop("immediate")  # a crash: nothing committed is lost
        with pytest.raises(SinkError, match="could not write 2 alert"):
            log.write(alerts_range(3, 5))
        with pytest.raises(SinkError, match="cannot connect"):  # still down: a fresh connection fails too
            log.write(alerts_range(3, 5))
        own_postgres.start()
        assert log.write(alerts_range(2, 5)) == 2  # the kept batch (and a replayed alert)
        assert log.query()["seq"].to_list() == [0, 1, 2, 3, 4]


def test_each_scope_resumes_only_its_own_pending_deliveries(postgres_url: str) -> None:
    pending = {"hook": {"status": "pending"}}
    with PostgresAlertLog(postgres_url, scope="shard-0") as a, PostgresAlertLog(postgres_url, scope="shard-1") as b:
        a.write(alerts_range(0, 2), pending)
        assert b.write(alerts_range(1, 4), pending) == 2  # #1 is a's: not logged (nor sent) again
        assert a.pending_deliveries()["seq"].to_list() == [0, 1]
        assert b.pending_deliveries()["seq"].to_list() == [2, 3]
        assert a.query().height == 4


def test_a_scope_is_held_by_one_runner_at_a_time(postgres_url: str) -> None:
    first = ScopeLock.acquire(postgres_url, "shard-0")
    other = ScopeLock.acquire(postgres_url, "shard-1")
    try:
        with pytest.raises(SinkError, match="another runner is already using scope 'shard-0'"):
            ScopeLock.acquire(postgres_url, "shard-0")
        first.release()  # a runner that stops: the scope is free when release returns
        ScopeLock.acquire(postgres_url, "shard-0").release()
    finally:  # a failure here leaves no open session for a later test to trip on
        first.release()
        other.release()


def test_a_holder_whose_session_ends_frees_its_scope(postgres_url: str) -> None:
    """A runner that dies without releasing: the server drops its lock with its session."""
    held = ScopeLock.acquire(postgres_url, "shard-2")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        holder = lock_holder(admin, scope_key(admin, "shard-2"))
        assert holder is not None
        # waits for the backend to be gone, as a runner killed mid-run leaves it
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", (holder,))
    try:
        ScopeLock.acquire(postgres_url, "shard-2").release()
    finally:
        held.release()  # its session is already gone: nothing to give back, and no error


def test_the_parquet_copy_follows_the_postgres_log(tmp_path: Path, postgres_url: str) -> None:
    with AlertLog(PostgresAlertLog(postgres_url), ParquetAlertLog(tmp_path / "pq")) as log:
        report = log.write(alerts_range(0, 3))
        assert (report.inserted, report.duplicates, report.ok) == (3, 0, True)
        assert log.write(alerts_range(1, 5)).duplicates == 2
    with AlertLog(PostgresAlertLog(postgres_url), ParquetAlertLog(tmp_path / "pq2")) as fresh:
        assert fresh.catch_up().copied == 5  # another folder (another runner): its own copy
        assert fresh.parquet.read()["seq"].sort().to_list() == [0, 1, 2, 3, 4]


def test_state_snapshots_are_kept_per_scope_and_checked(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url, "shard-0") as a, PostgresStateStore(postgres_url, "shard-1") as b:
        assert a.load() is None
        a.save({"engine": b"\x00\x01", "run": b"{}"}, {"config": "c.yaml"})
        b.save({"engine": b"other"})
        a.save({"engine": b"\x00\x02", "run": b"{}"}, {"config": "c.yaml"})  # replaces a's, not b's
        got = a.load()
        assert got is not None and got.parts == {"engine": b"\x00\x02", "run": b"{}"}
        assert got.fingerprint == {"config": "c.yaml"}
        assert b.load() is not None and b.load().parts == {"engine": b"other"}  # type: ignore[union-attr]
    with closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
        conn.execute("UPDATE state_parts SET data = 'x' WHERE scope = 'shard-0' AND part = 'engine'")
    with PostgresStateStore(postgres_url, "shard-0") as a, pytest.raises(SnapshotDamaged, match="'engine' does not match"):
        a.load()


# -- a small group's payload is built in Python: the same stored rows ----------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tradeassist_runner.engine.alerts import ALERT_SCHEMA  # noqa: E402
from tradeassist_runner.sinks import postgres as postgres_module  # noqa: E402

_text = st.text(max_size=8)  # NUL and non-ASCII included


def _pg_rows(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Every stored column but the row number and the insertion time."""
    cur = conn.execute("SELECT * FROM alert_logs ORDER BY id")
    assert cur.description is not None
    keep = [i for i, d in enumerate(cur.description) if d.name not in ("created_at", "id")]
    return [tuple(row[i] for i in keep) for row in cur.fetchall()]


@pytest.fixture
def two_schemas(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:  # noqa: F811
    names = [f"t_small_{i}_{uuid.uuid4().hex[:8]}" for i in range(2)]
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield postgres_server.url(schema=names[0]), postgres_server.url(schema=names[1])
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(any_epoch_ms, any_float, any_float, st.one_of(st.none(), any_epoch_ms), _text, _text, st.booleans()),
                min_size=1, max_size=5))
def test_a_small_group_is_stored_exactly_as_a_large_one_is(
    two_schemas: tuple[str, str], rows: list[tuple[int, float | None, float | None, int | None, str, str, bool]]
) -> None:
    """The Python payload of a live group and the polars one of a backtest-sized group store
    the same rows: NaN as NULL, infinities, NUL characters, non-ASCII text, every time."""
    batch = make_alerts(*(
        alert_row(i, value=value, prev_value=prev, threshold=prev, message=message, symbol=symbol or "/ES",
                  inputs='{"ref": 1}' if flag else None, values="[1.5, null]" if flag else None)
        for i, (_, value, prev, _, message, symbol, flag) in enumerate(rows)
    )).with_columns(
        pl.Series("ts", [r[0] for r in rows], pl.Int64).cast(ALERT_SCHEMA["ts"]),
        pl.Series("bar_start", [r[3] for r in rows], pl.Int64).cast(ALERT_SCHEMA["bar_start"]),
    )
    status = {"hook": {"status": "pending", "error": "a\x00b", "updated_at": "2026-01-05T14:30:02.000Z"}}
    stored = []
    for url, small in zip(two_schemas, (True, False)):
        saved = postgres_module.SMALL_GROUP
        if not small:
            postgres_module.SMALL_GROUP = 0  # every group takes the polars query
        try:
            with PostgresAlertLog(url) as log:
                assert log.write_new(batch, status).height == len(rows)
                assert log.write_new(batch, status).height == 0  # logged once
        finally:
            postgres_module.SMALL_GROUP = saved
        with psycopg.connect(url, autocommit=True) as conn:
            stored.append(_pg_rows(conn))
            conn.execute("TRUNCATE alert_logs")
    assert len(stored[0]) == len(rows)
    assert stored[0] == stored[1]

"""The alert log: what a user reads back after the runner wrote it (SQLite, and PostgreSQL where
the test takes ``open_store``)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tradeassist_runner.engine.alerts import ALERT_SCHEMA
from tradeassist_runner.errors import SinkError
from tradeassist_runner.sinks.sqlite import LOGGED_SCHEMA, SCHEMA_VERSION, SqliteAlertLog
from tradeassist_runner.sinks.store import AlertStore

from .conftest import (  # noqa: F401
    T0, OpenStore, alert_row, alerts_range, any_epoch_ms, any_float, make_alerts, open_store, postgres_server,
    postgres_url,
)


def raw(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the file the way another tool (sqlite3 CLI, a dashboard) would."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def test_alerts_written_are_read_back_after_reopening(open_store: OpenStore) -> None:
    batch = make_alerts(
        alert_row(0),
        alert_row(1, symbol="$TICK", rule_id="tick_low", value=-1012.0, volume=None, prev_value=None),
    )
    log = open_store()
    assert log.write_new(batch).height == 2
    log.close()

    log = open_store()
    got = log.query()
    log.close()
    assert got.schema == pl.Schema(LOGGED_SCHEMA)
    assert_frame_equal(got.select(list(ALERT_SCHEMA)), batch)
    assert got["delivery_status"].to_list() == ["{}", "{}"]


def test_stored_row_uses_the_seed_platform_columns(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    with SqliteAlertLog(db) as log:
        log.write(make_alerts(alert_row(0)))
    [(time, ts_ms, trigger_value, rule_type, fired, evaluated_at, created_at)] = raw(
        db,
        "SELECT time, ts_ms, trigger_value, rule_type, fired, evaluated_at, created_at FROM alert_logs",
    )
    assert time == "2026-01-05T14:30:00.125Z"
    assert ts_ms == 1767623400125
    assert trigger_value == 4500.25
    assert rule_type == "threshold"
    assert fired == 1
    assert evaluated_at == "2026-01-05T14:30:01.007Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(created_at))


def test_rewriting_the_same_alerts_stores_each_once(open_store: OpenStore) -> None:
    with closing(open_store()) as log:
        assert log.write(alerts_range(0, 3)) == 3
        assert log.write(alerts_range(0, 3)) == 0  # replay after a restart
        assert log.write(alerts_range(2, 5)) == 2  # overlapping batch: only the new ones
        new = log.write_new(alerts_range(4, 7))
        assert new["seq"].to_list() == [5, 6]
        assert log.count() == 7
        assert log.query()["seq"].to_list() == list(range(7))


def test_wal_mode_indexes_and_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    with SqliteAlertLog(db) as log:
        log.write(alerts_range(0, 1))
        assert log.schema_version == SCHEMA_VERSION == 1
        assert (tmp_path / "alerts.db-wal").exists()
        assert raw(db, "PRAGMA journal_mode") == [("wal",)]
        assert raw(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        indexes = {
            tuple(r[2] for r in raw(db, f"PRAGMA index_info({name})"))
            for (name,) in raw(db, "SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert {("rule_id", "ts_ms"), ("symbol", "ts_ms"), ("ts_ms",), ("alert_id",)} <= indexes


def test_a_database_from_a_newer_runner_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SinkError, match="schema version 99"):
        SqliteAlertLog(db)


def test_query_filters_and_returns_firing_order(open_store: OpenStore) -> None:
    rows = [
        alert_row(0, ts=T0 + timedelta(seconds=5)),
        alert_row(1, ts=T0, rule_id="nq_below", symbol="/NQ"),
        alert_row(2, ts=T0 + timedelta(seconds=5)),  # same ts as seq 0: insertion order breaks the tie
        alert_row(3, ts=T0 + timedelta(seconds=9), rule_id="nq_below", symbol="/NQ"),
    ]
    with closing(open_store()) as log:
        log.write(make_alerts(*rows))

        def seqs(**kw: object) -> list[int]:
            return log.query(**kw)["seq"].to_list()  # type: ignore[arg-type]

        assert seqs() == [1, 0, 2, 3]
        assert seqs(rule_id="nq_below") == [1, 3]
        assert seqs(symbol="/ES") == [0, 2]
        assert seqs(since=T0 + timedelta(seconds=5)) == [0, 2, 3]  # inclusive
        assert seqs(until=T0 + timedelta(seconds=9)) == [1, 0, 2]  # exclusive
        assert seqs(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=6)) == [0, 2]
        assert seqs(limit=2) == [2, 3]  # the latest two, oldest first
        assert seqs(limit=0) == []
        assert seqs(symbol="AAPL") == []
        assert log.query(symbol="AAPL").schema == pl.Schema(LOGGED_SCHEMA)
        with pytest.raises(ValueError, match="limit"):
            log.query(limit=-1)


def test_delivery_status_is_stored_and_updated_per_channel(open_store: OpenStore) -> None:
    with closing(open_store()) as log:
        batch = alerts_range(0, 2)
        log.write(batch, {"slack": {"status": "pending"}, "desktop": {"status": "sent", "attempts": 1}})
        first = batch["alert_id"][0]
        assert log.update_delivery(first, "slack", "failed", attempts=3, error="HTTP 503", at=T0)
        assert log.update_delivery(first, "desktop", "sent")
        assert not log.update_delivery("no-such-alert", "slack", "sent")

        status = [json.loads(s) for s in log.query()["delivery_status"]]
    assert status[0]["slack"] == {
        "status": "failed", "attempts": 3, "error": "HTTP 503", "updated_at": "2026-01-05T14:30:00.125Z"
    }  # fmt: skip
    assert status[0]["desktop"]["attempts"] == 1  # kept when not given
    assert status[1]["slack"]["status"] == "pending"
    assert status[1]["slack"]["attempts"] == 0
    assert re.fullmatch(r".*T.*\.\d{3}Z", status[1]["slack"]["updated_at"])


def test_bad_delivery_status_is_rejected_before_writing(open_store: OpenStore) -> None:
    with closing(open_store()) as log:
        with pytest.raises(ValueError, match="slack"):
            log.write(alerts_range(0, 1), {"slack": {"state": "sent"}})
        assert log.count() == 0


def test_full_database_raises_sinkerror_and_keeps_earlier_alerts(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    big = alerts_range(10, 2010, message="x" * 300)
    with SqliteAlertLog(db, max_bytes=96 * 1024) as log:
        assert log.write(alerts_range(0, 5)) == 5
        with pytest.raises(SinkError, match="full") as err:
            log.write(big)
        assert "nothing of the batch was stored" in str(err.value)
        assert log.query()["seq"].to_list() == [0, 1, 2, 3, 4]
        assert log.write(alerts_range(5, 6)) == 1  # still usable for small batches

    with SqliteAlertLog(db) as log:  # space freed (no cap): the kept batch is retried
        assert log.write(big) == 2000
        assert log.count() == 2006


def test_locked_database_raises_sinkerror_and_the_retry_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    with SqliteAlertLog(db, timeout=0.05) as log:
        with closing(sqlite3.connect(db, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(SinkError, match="locked"):
                log.write(alerts_range(0, 2))
            other.execute("ROLLBACK")
        assert log.write(alerts_range(0, 2)) == 2


def test_unopenable_path_raises_sinkerror(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot open"):
        SqliteAlertLog(tmp_path / "missing-dir" / "alerts.db")


def test_malformed_batch_is_a_bug_not_a_storage_failure(open_store: OpenStore) -> None:
    with closing(open_store()) as log:
        with pytest.raises(ValueError, match="lacks column"):
            log.write(alerts_range(0, 1).drop("threshold"))
        with pytest.raises(ValueError, match="alert_id"):
            log.write(alerts_range(0, 1).with_columns(alert_id=pl.lit(None, pl.String)))
        assert log.write(alerts_range(0, 0)) == 0
        assert log.count() == 0


def test_writes_from_worker_threads(open_store: OpenStore) -> None:
    async def run(log: AlertStore) -> list[int]:
        return list(
            await asyncio.gather(*(asyncio.to_thread(log.write, alerts_range(i * 10, i * 10 + 10)) for i in range(5)))
        )

    with closing(open_store()) as log:
        assert asyncio.run(run(log)) == [10] * 5
        assert log.count() == 50


def test_a_closed_log_refuses_writes(tmp_path: Path) -> None:
    log = SqliteAlertLog(tmp_path / "alerts.db")
    log.close()
    log.close()  # idempotent
    with pytest.raises(SinkError, match="closed"):
        log.write(alerts_range(0, 1))


# -- a small group's rows are built in Python: the same stored text and numbers -----------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tradeassist_runner.sinks import sqlite as sqlite_module  # noqa: E402



def _stored_rows(path: Path) -> list[tuple[object, ...]]:
    """Every stored column but the row number and the insertion time."""
    with closing(sqlite3.connect(path)) as conn:
        cur = conn.execute("SELECT * FROM alert_logs ORDER BY id")
        names = [d[0] for d in cur.description]
        keep = [i for i, n in enumerate(names) if n not in ("created_at", "id")]
        return [tuple(row[i] for i in keep) for row in cur.fetchall()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(any_epoch_ms, any_float, any_float, st.one_of(st.none(), any_epoch_ms), st.booleans()), min_size=1, max_size=6))
def test_a_small_group_is_stored_exactly_as_a_large_one_is(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int, float | None, float | None, int | None, bool]]
) -> None:
    """The Python rows of a live group and the polars query of a backtest-sized one store the
    same text (ISO times included, before 1970 and past year 9999) and the same numbers."""
    batch = make_alerts(*(
        alert_row(i, value=value, prev_value=prev, inputs='{"ref": 1}' if flag else None,
                  values="[1.5, null]" if flag else None)
        for i, (_, value, prev, _, flag) in enumerate(rows)
    )).with_columns(
        pl.Series("ts", [r[0] for r in rows], pl.Int64).cast(ALERT_SCHEMA["ts"]),
        pl.Series("bar_start", [r[3] for r in rows], pl.Int64).cast(ALERT_SCHEMA["bar_start"]),
    )
    folder = tmp_path_factory.mktemp("small")
    small = SqliteAlertLog(folder / "small.db")
    small.write_new(batch)
    small.close()
    saved = sqlite_module.SMALL_GROUP
    sqlite_module.SMALL_GROUP = 0  # every group takes the query
    try:
        large = SqliteAlertLog(folder / "large.db")
        large.write_new(batch)
        large.close()
    finally:
        sqlite_module.SMALL_GROUP = saved
    stored = _stored_rows(folder / "small.db")
    assert len(stored) == len(rows)
    assert stored == _stored_rows(folder / "large.db")

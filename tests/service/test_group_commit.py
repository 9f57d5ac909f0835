"""Evaluation overlaps the commit, yet nothing uncommitted is ever seen, sent or snapshotted past.

The runner here is the real one on a replay file, with a real notification channel (an
HTTP server on 127.0.0.1) and the real alert log, whose SQLite writes are held at a gate
by the test: a commit that is slow, stuck or failing. While it is held, the engine goes
on evaluating every later batch, and the test looks at what a user could see: the
console, the API's observer, the channel, and the stored engine-state snapshot.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import SinkError
from tradeassist_runner.service import runner
from tradeassist_runner.service.observe import Observer
from tradeassist_runner.sinks import backend
from tradeassist_runner.sinks.alert_log import AlertLog
from tradeassist_runner.sinks.backend import open_log
from tradeassist_runner.sinks.sqlite import SqliteAlertLog
from tradeassist_runner.sinks.state_store import StateStore

from ..notify.conftest import Hook, hook  # noqa: F401 - the fixture
from ..waiting import until

TICKS = 40  # one batch each; a crossing every second tick: 20 alerts, the first on row 2


def project(tmp_path: Path, hook: Hook) -> Path:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.cross, instrument: /ES, type: threshold, condition: crosses_above, threshold: 100,"
        " cooldown: 0s, severity: critical}\n"
    )
    lines = ["ts,symbol,price,volume"] + [
        f"2026-01-05T14:30:{i:02d}.000Z,/ES,{99.5 if i % 2 == 0 else 100.5},1" for i in range(TICKS)
    ]
    (tmp_path / "ticks.csv").write_text("\n".join(lines) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        "source: {type: replay, path: ticks.csv}\n"
        "batch: {max_size: 1}\n"
        "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite,"
        " snapshot_interval: 0s, parquet_roll: 0s}\n"
        f"notifications:\n  channels:\n    hook: {{urls: \"{hook.url()}\"}}\n  routes: {{critical: [hook]}}\n"
        "  delivery: {retry: {attempts: 2, initial_delay: 10ms, max_delay: 20ms, timeout: 5s}, shutdown_grace: 10s}\n"
    )
    return config


class GatedLog(AlertLog):
    """The real alert log; every SQLite write first waits at ``gate``, then fails while ``failing``."""

    def __init__(self, inner: AlertLog) -> None:
        super().__init__(inner.sqlite, inner.parquet, roll_interval=inner.roll_interval)
        self.gate = threading.Event()
        self.failing = False
        self.attempts = 0

    def write(self, alerts: pl.DataFrame, delivery_status: Any = None) -> Any:
        self.attempts += 1
        self.gate.wait()
        if self.failing:
            raise SinkError("alert log: database or disk is full")
        return super().write(alerts, delivery_status)


class Seen(Observer):
    """What the API and WebSocket clients are told."""

    def __init__(self) -> None:
        super().__init__()
        self.alerted: list[str] = []

    def on_alerts(self, alerts: pl.DataFrame) -> None:
        super().on_alerts(alerts)
        self.alerted += alerts["alert_id"].to_list()


def snapshot_row(path: Path) -> int | None:
    """The replay row the stored snapshot resumes after (None: no snapshot yet)."""
    if not path.exists():
        return None
    with StateStore(path) as store:
        snap = store.load()
    return None if snap is None else int(json.loads(snap.parts["run"])["row"])


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> list[GatedLog]:
    opened: list[GatedLog] = []

    def gated_open(*args: Any, **kwargs: Any) -> AlertLog:
        opened.append(GatedLog(open_log(*args, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(backend, "open_log", gated_open)
    return opened


def test_a_held_commit_holds_back_console_api_channel_and_snapshot_but_not_evaluation(
    tmp_path: Path, hook: Hook, gated: list[GatedLog]  # noqa: F811
) -> None:
    config = project(tmp_path, hook)
    out = io.StringIO()
    seen = Seen()

    async def scenario() -> int:
        task = asyncio.create_task(
            runner.run_service(load_config(config), out=out, observer=seen, watch_files=False)
        )
        await until(lambda: seen.ticks_in >= TICKS)  # every batch evaluated, the first commit still held
        log = gated[0]
        assert log.attempts == 1  # one group in flight; later alerts wait to join the next group
        assert out.getvalue() == ""
        assert seen.alerted == []
        assert hook.requests == []
        row = snapshot_row(tmp_path / "data/state.sqlite")
        assert row is None or row < 2, row  # never stored past the first alert (row 2)
        log.gate.set()
        return await task

    assert asyncio.run(scenario()) == 0
    printed = [line.split()[2] for line in out.getvalue().splitlines()]
    assert printed == ["es.cross"] * 20
    assert len(seen.alerted) == 20 == len(set(seen.alerted))
    assert hook.requests  # sent once committed (the channel may batch several alerts in a message)
    with SqliteAlertLog(tmp_path / "data/alerts.sqlite") as db:
        status = [json.loads(x)["hook"]["status"] for x in db.query()["delivery_status"].to_list()]
    assert status == ["sent"] * 20
    assert gated[0].attempts == 2  # the first alert alone, then the 19 that came meanwhile as one group
    assert snapshot_row(tmp_path / "data/state.sqlite") == TICKS


def test_a_failing_commit_keeps_every_alert_back_and_the_snapshot_behind(
    tmp_path: Path, hook: Hook, gated: list[GatedLog], capsys: pytest.CaptureFixture[str],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = project(tmp_path, hook)
    out = io.StringIO()
    seen = Seen()

    async def scenario() -> int:
        task = asyncio.create_task(
            runner.run_service(load_config(config), out=out, observer=seen, watch_files=False)
        )
        await until(lambda: bool(gated))
        gated[0].failing = True
        gated[0].gate.set()
        return await task

    assert asyncio.run(scenario()) == 1  # the log never took them: exit 1, alerts dumped
    assert out.getvalue() == "" and seen.alerted == [] and hook.requests == []
    row = snapshot_row(tmp_path / "data/state.sqlite")
    assert row is None or row < 2, row
    err = capsys.readouterr().err
    assert err.count("UNLOGGED ") == 20
    assert "alert log write failed; alerts kept in memory, will retry" in caplog.text

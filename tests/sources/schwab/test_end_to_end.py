"""Fake Schwab -> schwab-py StreamClient -> our feed -> runner -> alert in the SQLite log."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import time
from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service import runner
from tradeassist_runner.sources.schwab import stream as schwab_stream

from ...waiting import until
from .fake_schwab import SERVICES, FakeSchwab, data_frame, item, write_token

T0 = int(time.time() * 1000)  # the runner checks trade times against its real clock
RULES = """\
rules:
  - {id: es.breakout, instrument: /ES, type: threshold, condition: crosses_above, threshold: 6000, cooldown: 0s}
  - {id: tick.extreme, instrument: $TICK, type: threshold, condition: below, threshold: -1000, cooldown: 0s}
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(RULES)
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: $TICK, type: internal}\n"
        "rules_dir: rules.d\n"
        "source: {type: schwab, token_path: data/schwab-token.json, reconnect_initial: 10ms,"
        " reconnect_max: 40ms, heartbeat_timeout: 30s}\n"
        "batch: {max_size: 100, max_delay: 5ms}\n"
        "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite}\n"
    )
    write_token(tmp_path / "data" / "schwab-token.json")
    return config


def test_live_schwab_ticks_fire_alerts_into_the_alert_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = project(tmp_path)
    db = tmp_path / "data" / "alerts.sqlite"

    def rule_ids() -> list[str]:
        if not db.exists():
            return []
        try:
            with sqlite3.connect(db) as con:
                return [r[0] for r in con.execute("SELECT rule_id FROM alert_logs ORDER BY rowid")]
        except sqlite3.OperationalError:  # the runner is still creating the tables
            return []

    async def main() -> int:
        async with FakeSchwab() as fake:
            monkeypatch.setattr(schwab_stream, "HTTP_TRANSPORT", fake.transport())
            fake.on_subscribe.append(data_frame("LEVELONE_FUTURES", item(
                "/ES", LAST_PRICE=5999.75, LAST_SIZE=1, TOTAL_VOLUME=10, TRADE_TIME_MILLIS=T0)))
            stop = asyncio.Event()
            out = io.StringIO()
            task = asyncio.create_task(runner.run_service(
                load_config(config), stop=stop, out=out, watch_files=False, fresh=True))
            await until(lambda: all(fake.subs[s] for s in SERVICES))  # both services acknowledged
            await fake.send(data_frame("LEVELONE_FUTURES",
                                       item("/ES", LAST_PRICE=6000.5, TOTAL_VOLUME=12, TRADE_TIME_MILLIS=T0 + 1000)))
            await fake.send(data_frame("LEVELONE_EQUITIES",
                                       item("$TICK", "LEVELONE_EQUITIES", LAST_PRICE=-1150.0, TRADE_TIME_MILLIS=T0 + 1500)))
            await until(lambda: len(rule_ids()) >= 2, timeout=30)
            stop.set()
            code = await asyncio.wait_for(task, 10)
            assert "es.breakout" in out.getvalue()
            return code

    assert asyncio.run(asyncio.wait_for(main(), 30)) == 0
    assert rule_ids() == ["es.breakout", "tick.extreme"]
    with sqlite3.connect(db) as con:
        [(symbol, value)] = con.execute("SELECT symbol, trigger_value FROM alert_logs WHERE rule_id='tick.extreme'").fetchall()
    assert (symbol, value) == ("$TICK", -1150.0)


def test_run_with_a_missing_token_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    from ...cli_helpers import tradeassist

    config = project(tmp_path)
    (tmp_path / "data" / "schwab-token.json").unlink()
    env = {"TRADEASSIST_SCHWAB_APP_KEY": "k", "TRADEASSIST_SCHWAB_APP_SECRET": "s"}
    result = tradeassist("run", config, cwd=tmp_path, timeout=60, env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: no Schwab token at" in result.stderr
    assert "tradeassist schwab login" in result.stderr


def test_run_without_credentials_exits_1_naming_the_variables(tmp_path: Path) -> None:
    from ...cli_helpers import tradeassist

    result = tradeassist("run", project(tmp_path), cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "TRADEASSIST_SCHWAB_APP_KEY" in result.stderr


def test_run_exits_1_naming_the_other_client_when_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradeassist_runner.config.models import SchwabSource

    config = project(tmp_path)
    token = tmp_path / "data" / "schwab-token.json"

    async def main() -> int:
        async with FakeSchwab() as fake:
            monkeypatch.setattr(schwab_stream, "HTTP_TRANSPORT", fake.transport())
            task = asyncio.create_task(runner.run_service(
                load_config(config), stop=asyncio.Event(), out=io.StringIO(), watch_files=False, fresh=True))
            await until(lambda: all(fake.subs[s] for s in SERVICES))
            # e.g. `tradeassist record` on the same account: Schwab closes the runner's stream (code 12)
            other = schwab_stream.SchwabFeed(
                load_config(config).instruments, SchwabSource(type="schwab"), token_path=token,
                transport=fake.transport()).stream()
            pending = asyncio.ensure_future(anext(other))
            code = await asyncio.wait_for(task, 15)
            pending.cancel()
            return code

    assert asyncio.run(asyncio.wait_for(main(), 30)) == 1
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("error: ")]
    assert "another client" in line and "tradeassist record" in line and "on_replaced: wait" in line
    assert "Traceback" not in err


def test_readyz_names_a_refused_service_while_the_other_keeps_alerting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ...api.conftest import Service

    config = project(tmp_path)
    config.write_text(config.read_text() + "api: {enabled: true, port: 0}\n")
    db = tmp_path / "data" / "alerts.sqlite"
    for name in [n for n in os.environ if n.startswith("TRADEASSIST_") and "SCHWAB" not in n]:
        monkeypatch.delenv(name)

    def alerts() -> list[str]:
        try:
            with sqlite3.connect(db) as con:
                return [r[0] for r in con.execute("SELECT rule_id FROM alert_logs")]
        except sqlite3.OperationalError:
            return []

    async def scenario() -> None:
        async with FakeSchwab(refused_services={"LEVELONE_FUTURES": 11}) as fake:
            monkeypatch.setattr(schwab_stream, "HTTP_TRANSPORT", fake.transport())
            async with Service(config, wait_batches=False) as svc:
                await until(lambda: svc.observer.connected)
                response = await svc.http.get("/readyz")
                assert response.status_code == 503
                [reason] = response.json()["reasons"]
                assert "LEVELONE_FUTURES refused" in reason and "code 11" in reason and "/ES" in reason
                details = (await svc.json("/api/status"))["source"]["details"]
                assert "/ES" in details["refused_services"]["LEVELONE_FUTURES"]
                await fake.send(data_frame("LEVELONE_EQUITIES", item(
                    "$TICK", "LEVELONE_EQUITIES", LAST_PRICE=-1150.0, TRADE_TIME_MILLIS=T0)))
                await until(lambda: alerts() == ["tick.extreme"], timeout=30)
                assert fake.logins == 1

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_delayed_symbol_is_shown_in_readyz_and_instruments_and_not_alerted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ...api.conftest import Service

    config = project(tmp_path)
    config.write_text(config.read_text() + "api: {enabled: true, port: 0}\n")
    for name in [n for n in os.environ if n.startswith("TRADEASSIST_") and "SCHWAB" not in n]:
        monkeypatch.delenv(name)

    async def scenario() -> None:
        async with FakeSchwab() as fake:
            monkeypatch.setattr(schwab_stream, "HTTP_TRANSPORT", fake.transport())
            async with Service(config, wait_batches=False) as svc:
                await until(lambda: svc.observer.connected)
                await fake.send(data_frame("LEVELONE_EQUITIES", item(
                    "$TICK", "LEVELONE_EQUITIES", delayed=True, LAST_PRICE=-1150.0, TRADE_TIME_MILLIS=T0)))
                await fake.send(data_frame("LEVELONE_FUTURES", item(
                    "/ES", LAST_PRICE=5990.0, LAST_SIZE=1, TRADE_TIME_MILLIS=T0 + 1)))
                await until(lambda: svc.observer.ticks_in >= 1)
                response = await svc.http.get("/readyz")
                assert response.status_code == 503
                assert response.json()["reasons"] == [
                    "schwab data is delayed for $TICK: refused for alerting (source.allow_delayed: false)"]
                shown = {i["symbol"]: i for i in await svc.json("/api/instruments")}
                assert shown["$TICK"]["delayed"] is True and shown["/ES"]["delayed"] is False
                assert shown["$TICK"]["ticks"] == 0 and shown["/ES"]["ticks"] == 1
                details = (await svc.json("/api/status"))["source"]["details"]
                assert details["delayed_symbols"] == ["$TICK"] and details["delayed_ticks_refused"] == 1

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_silent_symbol_is_a_readyz_warning_and_shown_in_instruments_and_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One symbol Schwab never sends data for, among live ones: reported everywhere, still ready."""
    from ...api.conftest import Service

    config = project(tmp_path)
    config.write_text(config.read_text().replace("heartbeat_timeout: 30s}", "heartbeat_timeout: 30s, silence_after: 300ms}")
                      + "api: {enabled: true, port: 0}\n")
    for name in [n for n in os.environ if n.startswith("TRADEASSIST_") and "SCHWAB" not in n]:
        monkeypatch.delenv(name)

    async def scenario() -> None:
        async with FakeSchwab(heartbeat_every=0.05, silent_symbols={"$TICK"}) as fake:
            monkeypatch.setattr(schwab_stream, "HTTP_TRANSPORT", fake.transport())
            async with Service(config, wait_batches=False) as svc:
                await until(lambda: svc.observer.connected)

                await until(lambda: "$TICK" in svc.observer.feed.status.silent)  # type: ignore[attr-defined]
                instruments = {i["symbol"]: i for i in await svc.json("/api/instruments")}
                assert instruments["$TICK"]["silent_since"] is not None
                assert "no data at all since it was subscribed" in str(instruments["$TICK"]["silent_reason"])
                assert instruments["/ES"]["silent_since"] is None  # its snapshot is data
                response = await svc.http.get("/readyz")
                assert response.status_code == 200  # /ES still alerts
                body = response.json()
                assert body["reasons"] == [] and len(body["warnings"]) == 1 and "$TICK" in body["warnings"][0]
                metrics = (await svc.http.get("/metrics")).text
                assert 'tradeassist_instrument_silent{symbol="$TICK"} 1.0' in metrics
                assert 'tradeassist_instrument_silent{symbol="/ES"} 0.0' in metrics

    asyncio.run(asyncio.wait_for(scenario(), 60))

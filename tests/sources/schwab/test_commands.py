"""``tradeassist schwab login|status`` and ``tradeassist record``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import schwab.auth
from click.testing import CliRunner

from tradeassist_runner.cli import main
from tradeassist_runner.sources.schwab.record import TickRecorder, record
from tradeassist_runner.sources.schwab.stream import SchwabFeed

from ...cli_helpers import tradeassist
from ...waiting import until
from .conftest import INSTRUMENTS
from .fake_schwab import FakeSchwab, data_frame, item, write_token

T0 = 1_767_623_400_000


def config_file(tmp_path: Path, source: str = "{type: schwab}") -> Path:
    (tmp_path / "conf").mkdir()
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.up, instrument: /ES, type: threshold, condition: above, threshold: 6000, cooldown: 0s}\n")
    config = tmp_path / "conf" / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: $TICK, type: internal}\n"
        f"rules_dir: ../rules.d\nsource: {source}\n")
    return config


def default_token(tmp_path: Path) -> Path:
    return tmp_path / "data" / "schwab-token.json"  # ../data/ from the config's folder


@pytest.mark.parametrize(
    "age_days, code, expected",
    [(1, 0, "OK, 6d 0h left"), (6, 0, "expires in 1d 0h"), (8, 1, "refresh token expired 23h 58m ago")],
)
def test_status_reports_age_and_refresh_expiry(tmp_path: Path, age_days: float, code: int, expected: str) -> None:
    config = config_file(tmp_path)
    write_token(default_token(tmp_path), age_s=age_days * 86400 - 120)
    result = CliRunner().invoke(main, ["schwab", "status", str(config)])
    assert result.exit_code == code, result.output
    assert "refresh expires:" in result.output and expected in result.output
    assert "logged in:" in result.output and " ago)" in result.output


def test_status_without_token_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schwab", "status", str(config_file(tmp_path))])
    assert result.exit_code == 1
    assert "no Schwab token at" in result.output and "tradeassist schwab login" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_manual_login_writes_a_0600_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
        seen.update(form)
        return httpx.Response(200, json={
            "access_token": "fresh-access", "refresh_token": "fresh-refresh", "token_type": "Bearer",
            "expires_in": 1800, "scope": "api", "id_token": "id"})

    real = schwab.auth.OAuth2Client

    class FakeEndpointClient(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, transport=httpx.MockTransport(token_endpoint), **kwargs)

    monkeypatch.setattr(schwab.auth, "OAuth2Client", FakeEndpointClient)
    config = config_file(tmp_path)

    # schwab-py reads the redirect URL with input(); capture the state from the printed URL
    import builtins
    import re

    printed: list[str] = []
    monkeypatch.setattr(builtins, "print", lambda *a, **k: printed.append(" ".join(map(str, a))))

    def redirect(prompt: str = "") -> str:
        url = next(line for line in printed if "oauth/authorize" in line)
        state = re.search(r"state=([^&\s]+)", url).group(1)  # type: ignore[union-attr]
        return f"https://127.0.0.1:8182/?code=THE-CODE&session=x&state={state}"

    monkeypatch.setattr(builtins, "input", redirect)
    result = CliRunner().invoke(main, ["schwab", "login", str(config), "--manual"])
    assert result.exit_code == 0, result.output
    token = default_token(tmp_path)
    assert stat.S_IMODE(os.stat(token).st_mode) == 0o600
    saved = json.loads(token.read_text())
    assert saved["token"]["access_token"] == "fresh-access" and isinstance(saved["creation_timestamp"], int)
    assert seen["grant_type"] == "authorization_code" and seen["code"] == "THE-CODE"
    assert "mode 0600" in result.output and "refresh token valid for" in result.output


def test_login_without_credentials_names_the_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEASSIST_SCHWAB_APP_SECRET")
    result = CliRunner().invoke(main, ["schwab", "login", str(config_file(tmp_path)), "--manual"])
    assert result.exit_code == 1 and "TRADEASSIST_SCHWAB_APP_SECRET" in result.output


def test_recorded_live_ticks_backtest_to_alerts(tmp_path: Path, token: Path) -> None:
    from tradeassist_runner.config.models import SchwabSource

    source = SchwabSource(type="schwab", reconnect_initial="10ms", heartbeat_timeout="30s")
    out = tmp_path / "ticks"

    async def main_() -> None:
        async with FakeSchwab() as fake:
            feed = SchwabFeed(INSTRUMENTS, source, token_path=token, transport=fake.transport(),
                              clock=lambda: datetime.fromtimestamp(T0 / 1000, timezone.utc))
            stop = asyncio.Event()
            recorder = TickRecorder(out, flush_rows=2)
            task = asyncio.create_task(record(feed.stream(), recorder, stop))
            await until(lambda: feed.status.connects == 1)  # every subscription acknowledged
            await fake.send(data_frame("LEVELONE_FUTURES",
                                       item("/ES", LAST_PRICE=5999.0, LAST_SIZE=1, TOTAL_VOLUME=5, TRADE_TIME_MILLIS=T0),
                                       item("/ES", LAST_PRICE=6001.0, TOTAL_VOLUME=9, TRADE_TIME_MILLIS=T0 + 10)))
            await fake.send(data_frame("LEVELONE_EQUITIES",
                                       item("$TICK", "LEVELONE_EQUITIES", LAST_PRICE=-300.0, TRADE_TIME_MILLIS=T0 + 20)))
            await until(lambda: recorder.stats.ticks >= 2 and recorder._rows >= 1)  # all 3 ticks in
            stop.set()
            stats = await asyncio.wait_for(task, 5)
            assert stats.ticks == 3 and stats.symbols == {"/ES", "$TICK"}

    asyncio.run(asyncio.wait_for(main_(), 20))
    files = sorted(out.rglob("*.parquet"))
    assert files and all(f.parent.name == "2026-01-05" for f in files)
    ticks = pl.read_parquet(files)
    assert ticks.select("symbol", "price", "volume").rows() == [("/ES", 5999.0, 1), ("/ES", 6001.0, 4), ("$TICK", -300.0, None)]
    assert str(ticks.schema["ts"]) == "Datetime(time_unit='ms', time_zone='UTC')"
    config = config_file(tmp_path, "{type: synthetic}")
    result = tradeassist("backtest", config, "--ticks", out, "--format", "jsonl", timeout=60)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["rule_id"] for line in result.stdout.splitlines()] == ["es.up"]


def test_record_command_writes_a_dataset(tmp_path: Path) -> None:
    # A feed of one second of ticks, recorded until it ends: all of them, however long the
    # machine takes to start the feed (a loaded one took more than a second).
    config = config_file(tmp_path, "{type: synthetic, ticks_per_second: 50, duration: 1s}")
    out = tmp_path / "rec"
    result = tradeassist("record", config, "--out", out, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ticks of 2 symbols" in result.stderr
    back = tradeassist("backtest", config, "--ticks", out, timeout=60)
    assert back.returncode == 0, back.stderr
    assert " 0 rejected" in back.stderr


def test_record_duration_stops_a_feed_that_never_ends(tmp_path: Path) -> None:
    config = config_file(tmp_path, "{type: synthetic, ticks_per_second: 50}")
    result = tradeassist("record", config, "--out", tmp_path / "rec", "--duration", "1s", timeout=60)
    assert result.returncode == 0, result.stderr
    # how many ticks one wall-clock second holds depends on the machine's load: only the summary
    assert re.search(r"^\d+ ticks of \d+ symbols in \d+ files under ", result.stderr, re.MULTILINE), result.stderr

"""The dashboard's page and the API fields it reads, over real HTTP and WebSocket (no browser here)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .conftest import Service, project, until

TOKEN = "dashboard-token-0123456789abcdef"
#: Fires at once and then cools down for an hour of tick time (the synthetic /ES is near 5000).
COOLING = "rules:\n  - {id: es_up, instrument: /ES, type: threshold, condition: above, threshold: 1, cooldown: 1h}\n"


def _protocol(token: str) -> str:
    return "tradeassist.bearer." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def test_the_page_and_its_assets_are_served_from_the_package_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEASSIST_API_TOKEN", TOKEN)
    config = project(tmp_path, {"a.yaml": COOLING})

    async def scenario() -> None:
        async with Service(config) as svc:
            page = await svc.http.get("/")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert 'src="/dashboard/dashboard.js"' in page.text and "http" not in page.text.split("<body>")[0]
            for name, media in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
                asset = await svc.http.get(f"/dashboard/{name}")
                assert asset.status_code == 200 and asset.headers["content-type"].startswith(media), name
            assert "tradeassist.bearer." in (await svc.http.get("/dashboard/dashboard.js")).text
            assert (await svc.http.get("/dashboard/secrets.txt")).status_code == 404
            assert (await svc.http.get("/dashboard/../api/status")).status_code == 401
            assert (await svc.http.get("/api/status")).status_code == 401  # the data still needs it
            assert "/" not in (await svc.http.get("/openapi.json")).json()["paths"]

    asyncio.run(scenario())


def test_the_websocket_takes_the_token_as_a_subprotocol_and_answers_tradeassist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEASSIST_API_TOKEN", TOKEN)
    config = project(tmp_path, {"a.yaml": COOLING})

    async def scenario() -> None:
        async with Service(config) as svc:
            async with connect(svc.ws_url, subprotocols=["tradeassist", _protocol(TOKEN)], proxy=None) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == "tradeassist"  # never the one carrying the token
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "health_status"
            for offered in (["tradeassist", _protocol("wrong-token")], ["tradeassist", "tradeassist.bearer.%%%"],
                            ["tradeassist"]):
                with pytest.raises(InvalidStatus) as denied:
                    async with connect(svc.ws_url, subprotocols=offered, proxy=None):  # type: ignore[arg-type]
                        pass
                assert denied.value.response.status_code == 401, offered
            # a client that offers nothing gets no subprotocol (existing clients: header or ?token=)
            async with connect(svc.ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, proxy=None) as ws:
                assert ws.subprotocol is None

    asyncio.run(scenario())


def test_instruments_rules_and_health_carry_what_the_dashboard_draws(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": COOLING})

    async def scenario() -> None:
        async with Service(config) as svc:
            await until(lambda: svc.observer.alerts_by_rule.get("es_up", 0) > 0
                        and len(svc.observer.instruments["/ES"].recent) >= 2)
            [es] = [i for i in await svc.json("/api/instruments") if i["symbol"] == "/ES"]
            assert es["first_price"] is not None and len(es["sparkline"]) >= 2
            assert es["sparkline"][-1] == es["last_price"]
            assert es["change"] == pytest.approx(es["last_price"] - es["first_price"])
            assert es["change_pct"] == pytest.approx(es["change"] / abs(es["first_price"]) * 100)
            assert es["sparkline_step_seconds"] == 1.0 and es["silent_since"] is None
            [rule] = await svc.json("/api/rules")
            assert rule["state"] == "cooling_down"
            assert 0 < rule["cooldown_remaining_seconds"] <= 3600
            status = await svc.json("/api/status")
            assert status["feed"] == {"connected": True, "lag_seconds": status["feed"]["lag_seconds"],
                                      "delayed": [], "silent": {}, "problems": []}
            async with connect(svc.ws_url, proxy=None) as ws:
                health = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert health["type"] == "health_status" and health["feed"]["connected"] is True

    asyncio.run(scenario())


def test_change_in_percent_is_of_the_size_of_the_first_price_so_a_fall_below_zero_is_negative() -> None:
    from datetime import datetime, timezone

    from tradeassist_runner.api.views import _change
    from tradeassist_runner.service.observe import InstrumentState

    tick = InstrumentState("$TICK")
    tick.record(-387.0, datetime(2026, 1, 5, 15, tzinfo=timezone.utc), 2, first=-79.0)
    assert _change(tick) == (pytest.approx(-308.0), pytest.approx(-389.87, abs=0.01))
    zero = InstrumentState("$ADD")
    zero.record(12.0, datetime(2026, 1, 5, 15, tzinfo=timezone.utc), 2, first=0.0)
    assert _change(zero) == (12.0, None)
    assert _change(InstrumentState("/ES")) == (None, None)

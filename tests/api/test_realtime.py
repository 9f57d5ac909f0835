"""/ws/realtime: tick_update (throttled), alert_fired (every alert), health_status, ping/pong,
the connection limit, and a slow client that cannot hold up the run loop."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tradeassist_runner.api.realtime import Connection, RealtimeHub
from tradeassist_runner.config.models import WebSocketSettings
from tradeassist_runner.service.observe import Observer

from ..virtual_time import run_virtual
from .conftest import NEVER, Service, project, until

FAST = "rules:\n  - {id: es.fast, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 100ms}\n"
WS = "{enabled: true, port: 0, websocket: {tick_interval: 200ms, health_interval: 1s, max_connections: 2}}"


async def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def collect_until(
    ws: ClientConnection, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    """Messages until ``done(messages)`` holds; fails (TimeoutError) if it never does."""
    out: list[dict[str, Any]] = []

    async def gather() -> None:
        while not done(out):
            out.append(await receive(ws, timeout))

    await asyncio.wait_for(gather(), timeout)
    return out


def test_ticks_alerts_health_and_ping(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": FAST}, api=WS)

    async def scenario() -> None:
        async with Service(config) as svc:
            async with connect(svc.ws_url, proxy=None) as ws:
                hello = await receive(ws)
                assert hello["type"] == "health_status" and hello["ready"] is True
                assert hello["rules"] == 1 and hello["config_valid"] is True
                es_before = svc.observer.instruments["/ES"].ticks
                await ws.send(json.dumps({"type": "ping"}))

                def es_updates(ms: list[dict[str, Any]]) -> list[dict[str, Any]]:
                    return [m for m in ms if m["type"] == "tick_update" and m["symbol"] == "/ES"]

                def seen_everything(ms: list[dict[str, Any]]) -> bool:
                    kinds = [m["type"] for m in ms]
                    return ("pong" in kinds and "health_status" in kinds  # periodic, every second
                            and any(m["type"] == "tick_update" and m["symbol"] == "/NQ" for m in ms)
                            and len(es_updates(ms)) >= 4 and kinds.count("alert_fired") >= 5)

                messages = await collect_until(ws, seen_everything)
                es_ticks = svc.observer.instruments["/ES"].ticks - es_before
                await ws.send("not json")
                answer = await collect_until(ws, lambda ms: bool(ms) and ms[-1]["type"] == "error")
                assert "pong" not in [m["type"] for m in answer]  # bad JSON is an error, not a ping

            es = es_updates(messages)
            # throttled (one per tick_interval per symbol; exact spacing: the virtual-clock test
            # below): far fewer updates than ticks
            assert es_ticks > 3 * len(es)
            assert es[-1]["ticks"] > es[0]["ticks"] and es[-1]["price"] > 0

            alerts = [m["alert"] for m in messages if m["type"] == "alert_fired"]
            assert len(alerts) >= 5
            assert {a["rule_id"] for a in alerts} == {"es.fast"} and alerts[0]["delivery_status"] is None
        # every alert fired while connected arrived, in order: the log between the first and last
        with sqlite3.connect(tmp_path / "data" / "a.sqlite") as con:
            logged = [r[0] for r in con.execute(
                "SELECT alert_id FROM alert_logs WHERE time >= ? AND time <= ? ORDER BY ts_ms, id",
                (alerts[0]["ts"], alerts[-1]["ts"]),
            )]
        assert [a["alert_id"] for a in alerts] == logged

    asyncio.run(scenario())


class RecordingSocket:
    """A client that reads everything at once, noting when (on the loop's clock) it came."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.forever = asyncio.Event()
        self.scope: dict[str, Any] = {"type": "websocket", "subprotocols": []}

    async def accept(self, subprotocol: str | None = None) -> None:
        pass

    async def send_text(self, text: str) -> None:
        self.received.append((asyncio.get_running_loop().time(), json.loads(text)))

    async def receive_text(self) -> str:
        await self.forever.wait()
        return ""

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


def test_tick_updates_are_throttled_to_one_per_interval_and_the_newest_is_sent_last() -> None:
    async def scenario() -> list[tuple[float, dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        observer = Observer()
        hub = RealtimeHub(observer, WebSocketSettings(tick_interval="200ms"))
        client = RecordingSocket()
        serving = asyncio.create_task(hub.serve(client))  # type: ignore[arg-type]
        await until(lambda: len(client.received) == 1)  # the hello
        start, t0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc), loop.time()
        for i in range(100):  # a tick every 10 ms for one second
            observer.on_batch(ticks(1, start + timedelta(milliseconds=10 * i)).with_columns(price=pl.lit(float(i))),
                              0, 0, 0.001)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # the held update goes out when its interval ends
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await hub.close()
        return [(t - t0, m) for t, m in client.received if m["type"] == "tick_update"]

    updates = run_virtual(scenario())  # the hub throttles by the loop's clock: virtual, exact
    times = [t for t, _ in updates]
    assert times == pytest.approx([0.2 * k for k in range(len(times))])  # one per 200 ms, no more
    assert len(times) == 6  # at 0 s, then the latest held one every 200 ms up to 1 s
    prices = [m["price"] for _, m in updates]
    assert prices == sorted(prices) and prices[-1] == 99.0  # the newest tick is the last word


def test_connection_limit_and_health_on_reload(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": NEVER}, api=WS)

    async def scenario() -> None:
        async with Service(config) as svc:
            async with connect(svc.ws_url, proxy=None) as one, connect(svc.ws_url, proxy=None) as two:
                await receive(one), await receive(two)
                async with connect(svc.ws_url, proxy=None) as three:
                    with pytest.raises(ConnectionClosed) as closed:
                        await receive(three)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
                assert len(svc.observer.listeners) == 1  # the hub, once

                (tmp_path / "rules.d" / "a.yaml").write_text("rules:\n  - {id: x, instrument: /ES}\n")
                while (message := await receive(one))["type"] != "health_status" or message["config_valid"]:
                    pass
                assert message["last_reload"]["ok"] is False
                assert message["last_reload"]["errors"][0].startswith(f"{tmp_path}/rules.d/a.yaml:2:")

            # a slot is free again once a client leaves
            await until(lambda: len(svc.observer.listeners) == 1)
            async with connect(svc.ws_url, proxy=None) as again:
                assert (await receive(again))["type"] == "health_status"

    asyncio.run(scenario())


class StuckSocket:
    """A client that never reads: every send blocks forever."""

    def __init__(self) -> None:
        self.sent = 0
        self.forever = asyncio.Event()
        self.scope: dict[str, Any] = {"type": "websocket", "subprotocols": []}

    async def accept(self, subprotocol: str | None = None) -> None:
        pass

    async def send_text(self, text: str) -> None:
        self.sent += 1
        await self.forever.wait()

    async def receive_text(self) -> str:
        await self.forever.wait()
        return ""

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


def ticks(n: int, start: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": [start + timedelta(milliseconds=i) for i in range(n)], "symbol": ["/ES"] * n,
         "price": [100.0 + i for i in range(n)]},
        schema={"ts": pl.Datetime("ms", "UTC"), "symbol": pl.String, "price": pl.Float64},
    )


def test_a_stuck_client_never_blocks_the_producer_and_keeps_its_alerts() -> None:
    async def scenario() -> None:
        observer = Observer()
        hub = RealtimeHub(observer, WebSocketSettings(tick_interval="0s", queue_size=10))
        stuck = StuckSocket()
        serving = asyncio.create_task(hub.serve(stuck))  # type: ignore[arg-type]
        await until(lambda: stuck.sent == 1)  # the hello is being sent, and never will be
        [conn] = hub.connections
        start = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
        alert = {"alert_id": "a1", "rule_id": "r", "rule_name": "r", "symbol": "/ES", "ts": start, "price": 1.0,
                 "volume": 1, "value": 1.0, "prev_value": None, "threshold": 0.0, "condition": "above",
                 "type": "threshold", "severity": "info", "message": "m", "evaluated_at": start}
        observer._emit("alert_fired", alert)
        for i in range(1000):  # the run loop: synchronous calls that must return at once
            observer.on_batch(ticks(1, start + timedelta(seconds=i)), 0, 0, 0.001)
        assert len(conn.outbox) == 10
        kinds = [k for k, _ in conn.outbox]
        assert kinds[0] == "alert_fired" and kinds.count("tick_update") == 9
        assert conn.dropped_ticks == 1000 - 9
        assert json.loads(conn.outbox[-1][1])["price"] == 100.0  # the newest tick is kept
        for i in range(10):  # a queue full of alerts: the client is closed, not the alerts dropped
            observer._emit("alert_fired", {**alert, "alert_id": f"b{i}"})
        assert conn.close_with is not None and conn.close_with[0] == 1013
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await hub.close()
        assert not hub.connections and observer.listeners == []

    asyncio.run(scenario())


def test_connection_outbox_drops_the_oldest_tick_first() -> None:
    async def scenario() -> None:
        conn = Connection(StuckSocket(), queue_size=3)  # type: ignore[arg-type]
        conn.offer("tick_update", "t1")
        conn.offer("alert_fired", "a1")
        conn.offer("tick_update", "t2")
        conn.offer("tick_update", "t3")
        assert list(conn.outbox) == [("alert_fired", "a1"), ("tick_update", "t2"), ("tick_update", "t3")]
        conn.offer("pong", "p")
        assert [t for _, t in conn.outbox] == ["a1", "t3", "p"] and conn.dropped_ticks == 2

    asyncio.run(scenario())

"""``/ws/realtime``: ticks, alerts and health pushed to WebSocket clients.

    Observer event (run loop, synchronous) ─> RealtimeHub ─> per connection: bounded deque
                                                              └─> its own sender task ─> client

The run loop must never wait for a client, so the hub's listener only serialises a
message once and appends it to each connection's deque (``O(connections)``, no await).
Each connection has its own sender task; a slow client fills only its own deque, where
the oldest ``tick_update`` is dropped first (a newer price supersedes it). A client so slow
that its deque is full of alerts is closed (1013) rather than silently losing alerts: it
reconnects and reads what it missed from ``/api/alerts``.

``tick_update`` is throttled per symbol: at most one per ``tick_interval``; an update
arriving inside the interval is held and sent when it ends, replaced by any newer one,
so the latest price always gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..config.models import WebSocketSettings
from ..logs import log, redact
from ..service.observe import Observer
from .auth import SUBPROTOCOL
from .models import AlertFired, AlertOut, TickUpdate
from .views import health_message

logger = logging.getLogger("tradeassist.api")

#: Close codes: 1001 going away (shutdown), 1013 try again later (full, or client too slow).
GOING_AWAY, TRY_AGAIN_LATER = 1001, 1013


class Connection:
    """One client: a bounded outbox that never blocks the producer."""

    def __init__(self, websocket: WebSocket, queue_size: int) -> None:
        self.websocket = websocket
        self.queue_size = queue_size
        self.outbox: deque[tuple[str, str]] = deque()
        self.wake = asyncio.Event()
        self.dropped_ticks = 0
        self.close_with: tuple[int, str] | None = None

    def offer(self, kind: str, text: str) -> None:
        if self.close_with is not None:
            return
        if len(self.outbox) >= self.queue_size:
            for i, (queued, _) in enumerate(self.outbox):
                if queued == "tick_update":  # the oldest price goes: a newer one supersedes it
                    del self.outbox[i]
                    self.dropped_ticks += 1
                    break
            else:
                if kind == "tick_update":
                    self.dropped_ticks += 1
                    return
                self.close(TRY_AGAIN_LATER, "client too slow; read missed alerts from /api/alerts")
                return
        self.outbox.append((kind, text))
        self.wake.set()

    def close(self, code: int, reason: str) -> None:
        self.close_with = (code, reason)
        self.wake.set()

    async def send_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.outbox and self.close_with is None:
                _, text = self.outbox.popleft()
                await self.websocket.send_text(text)
            if self.close_with is not None:
                code, reason = self.close_with
                await self.websocket.close(code, reason)
                return

    async def receive_loop(self) -> None:
        """Answers ``{"type": "ping"}`` with ``{"type": "pong"}``; anything else gets an error message."""
        while True:
            text = await self.websocket.receive_text()
            try:
                message = json.loads(text)
                kind = message.get("type") if isinstance(message, dict) else None
            except ValueError:
                kind = None
            if kind == "ping":
                self.offer("pong", json.dumps({"type": "pong"}))
            else:
                self.offer("error", json.dumps(
                    {"type": "error", "error": 'unsupported message; send {"type": "ping"}'}
                ))


class RealtimeHub:
    """Fans observer events out to the connected clients."""

    def __init__(self, observer: Observer, settings: WebSocketSettings) -> None:
        self.observer = observer
        self.settings = settings
        self.connections: set[Connection] = set()
        self._tick_interval = settings.tick_interval.total_seconds()
        self._last_tick_sent: dict[str, float] = {}
        self._held_ticks: dict[str, dict[str, Any]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._unsubscribe = observer.subscribe(self._on_event)
        self._health_task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._health_task = asyncio.get_running_loop().create_task(self._health_loop(), name="ws-health")

    async def close(self, timeout: float = 2.0) -> None:
        """Tell every client the server goes away (1001) and wait briefly for them to go."""
        self._unsubscribe()
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for conn in list(self.connections):
            conn.close(GOING_AWAY, "server shutting down")
        if self._serving:
            await asyncio.wait(set(self._serving), timeout=timeout)

    # -- events from the run loop (must not raise, must not block) --------------------------

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if not self.connections:
            return
        try:
            if kind == "tick_update":
                self._tick(payload)
            elif kind == "alert_fired":
                message = AlertFired(alert=AlertOut.model_validate(payload))
                self._broadcast("alert_fired", message.model_dump_json())
            elif kind == "reload":
                self._broadcast("health_status", health_message(self.observer).model_dump_json())
        except Exception as exc:  # noqa: BLE001 - a bad message must never stop evaluation
            log(logger, logging.ERROR, "websocket event dropped", kind=kind, error=redact(repr(exc)))

    def _tick(self, payload: dict[str, Any]) -> None:
        symbol = str(payload["symbol"])
        loop = asyncio.get_running_loop()
        now = loop.time()
        last = self._last_tick_sent.get(symbol)
        if last is None or now - last >= self._tick_interval:
            self._held_ticks.pop(symbol, None)
            self._send_tick(symbol, payload, now)
            return
        self._held_ticks[symbol] = payload  # the latest wins
        if symbol not in self._timers:
            self._timers[symbol] = loop.call_later(last + self._tick_interval - now, self._flush_tick, symbol)

    def _flush_tick(self, symbol: str) -> None:
        self._timers.pop(symbol, None)
        payload = self._held_ticks.pop(symbol, None)
        if payload is not None:
            try:
                self._send_tick(symbol, payload, asyncio.get_running_loop().time())
            except Exception as exc:  # noqa: BLE001
                log(logger, logging.ERROR, "websocket tick dropped", symbol=symbol, error=redact(repr(exc)))

    def _send_tick(self, symbol: str, payload: dict[str, Any], now: float) -> None:
        self._last_tick_sent[symbol] = now
        inst = self.observer.instruments.get(symbol)
        message = TickUpdate(symbol=symbol, price=payload["price"], ts=payload["ts"],
                             ticks=inst.ticks if inst is not None else 0)
        self._broadcast("tick_update", message.model_dump_json())

    def _broadcast(self, kind: str, text: str) -> None:
        for conn in list(self.connections):
            conn.offer(kind, text)

    async def _health_loop(self) -> None:
        interval = self.settings.health_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            if self.connections:
                self._broadcast("health_status", health_message(self.observer).model_dump_json())

    # -- one client --------------------------------------------------------------------------

    @staticmethod
    async def _accept(websocket: WebSocket) -> None:
        """Accept, answering ``tradeassist`` when offered: a browser that offered subprotocols
        (the dashboard, to carry its token) drops a connection whose answer names none."""
        offered = websocket.scope.get("subprotocols") or ()
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)

    async def serve(self, websocket: WebSocket) -> None:
        """Run one connection until the client leaves, is too slow, or the server stops."""
        task = asyncio.current_task()
        if len(self.connections) >= self.settings.max_connections:
            await self._accept(websocket)
            await websocket.close(TRY_AGAIN_LATER, f"at most {self.settings.max_connections} connections")
            log(logger, logging.WARNING, "websocket refused: connection limit reached",
                limit=self.settings.max_connections)
            return
        conn = Connection(websocket, self.settings.queue_size)
        self.connections.add(conn)  # before any await: the limit cannot be overrun by a race
        if task is not None:
            self._serving.add(task)
        try:
            await self._accept(websocket)
            conn.offer("health_status", health_message(self.observer).model_dump_json())
            sender = asyncio.create_task(conn.send_loop())
            receiver = asyncio.create_task(conn.receive_loop())
            done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            results = await asyncio.gather(*done, *pending, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(
                    result, (WebSocketDisconnect, asyncio.CancelledError, RuntimeError, OSError)
                ):
                    log(logger, logging.WARNING, "websocket connection failed", error=redact(repr(result)))
        finally:
            self.connections.discard(conn)
            if task is not None:
                self._serving.discard(task)
            if conn.dropped_ticks:
                log(logger, logging.INFO, "websocket client was slow; tick updates dropped",
                    dropped=conn.dropped_ticks)
            with contextlib.suppress(Exception):
                if conn.close_with is None and websocket.application_state.name == "CONNECTED":
                    await websocket.close(GOING_AWAY)

"""What the running service knows about itself, for the status API, metrics and WebSocket.

The run loop is the only writer (it calls the ``on_*`` methods between batches); the
HTTP API reads.  Everything lives on the one event loop, so no locks are needed, and
listeners (WebSocket broadcasters, metrics) subscribe instead of the run loop knowing
about them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import polars as pl

from ..config.loaded import LoadedConfig
from ..engine.plan import Plan
from ..engine.state import EngineState
from ..sinks.alert_log import ParquetStatus

if TYPE_CHECKING:  # the notify layer (apprise) is imported by the runner, not by readers of this
    from ..notify.delivery import ChannelHealth


@dataclass
class ReloadResult:
    ok: bool
    at: datetime
    plan_version: str
    errors: list[str] = field(default_factory=list)  # "PATH:LINE:COLUMN: message"
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


#: Recent prices kept per instrument for a sparkline: one point per step of tick time (the
#: last price inside it), the newest ``SPARKLINE_POINTS`` of them. Bounded, so a long run
#: costs the same memory as a short one.
SPARKLINE_STEP_MS = 1_000
SPARKLINE_POINTS = 300


@dataclass
class InstrumentState:
    symbol: str
    last_price: float | None = None
    last_ts: datetime | None = None
    ticks: int = 0
    #: The first accepted price of this run: what "change" is measured from (no previous close is known).
    first_price: float | None = None
    #: (step index, price) pairs, oldest first; see ``SPARKLINE_STEP_MS``.
    recent: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=SPARKLINE_POINTS))

    def record(self, price: float, ts: datetime, n: int, first: float) -> None:
        """A batch's ``n`` ticks of this symbol, ``first`` to ``price`` (its last, at ``ts``)."""
        self.last_price, self.last_ts, self.ticks = price, ts, self.ticks + n
        if self.first_price is None:
            self.first_price = first
        step = int(ts.timestamp() * 1000) // SPARKLINE_STEP_MS
        if self.recent and self.recent[-1][0] >= step:  # same step (or a clock that went back): latest wins
            self.recent[-1] = (self.recent[-1][0], price)
        else:
            self.recent.append((step, price))


Listener = Callable[[str, dict[str, Any]], None]

#: Batches up to this many ticks are summed up per symbol in Python (a live batch: tens of
#: microseconds); larger ones by one polars query (about a millisecond, whatever the size).
PER_SYMBOL_IN_PYTHON = 1024


def _per_symbol(accepted: pl.DataFrame) -> list[tuple[str, float, datetime, int, float]]:
    """(symbol, last price, last ts, ticks, first price) per symbol of a non-empty batch."""
    if accepted.height > PER_SYMBOL_IN_PYTHON:
        return list(
            accepted.group_by("symbol")
            .agg(pl.col("price").last(), pl.col("ts").last(), pl.len().alias("n"), pl.col("price").first().alias("first"))
            .iter_rows()
        )
    symbols = accepted.get_column("symbol").to_list()
    prices = accepted.get_column("price").to_list()
    last: dict[str, int] = {}
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for i, sym in enumerate(symbols):
        last[sym] = i
        if sym not in first:
            first[sym] = i
        counts[sym] = counts.get(sym, 0) + 1
    stamps = accepted.get_column("ts")
    return [
        (sym, prices[i], stamps[i], counts[sym], prices[first[sym]])
        for sym, i in last.items()
    ]


@dataclass
class Observer:
    source_type: str = ""
    source_connected: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    loaded: LoadedConfig | None = None
    plan: Plan | None = None
    last_reload: ReloadResult | None = None
    reload_ok: int = 0
    reload_failed: int = 0
    ticks_in: int = 0
    ticks_rejected: int = 0
    unknown_symbol_ticks: int = 0
    batches: int = 0
    batch_latency_s: list[float] = field(default_factory=list)  # drained by metrics
    alerts_by_rule: dict[str, int] = field(default_factory=dict)
    last_fired: dict[str, datetime] = field(default_factory=dict)
    instruments: dict[str, InstrumentState] = field(default_factory=dict)
    feed_lag_s: float = 0.0  # wall clock minus the newest tick ts
    listeners: list[Listener] = field(default_factory=list)
    _last_monotonic: float = field(default_factory=time.monotonic)
    #: Delivery outcomes recorded, per (channel, status); written from worker threads too.
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    _deliveries_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: The live feed object when there is one (SchwabFeed: ``.status.connected``).
    feed: object | None = None
    #: The engine's current state (last fire per rule, for cooldowns), set by the run loop.
    engine_state: Callable[[], EngineState] | None = None
    #: The notifier's per-channel health (breaker state, pending, last error), set by the run loop.
    channel_health: Callable[[], Sequence[ChannelHealth]] | None = None
    #: Where the HTTP API listens once it does (``http://127.0.0.1:PORT``); None when off.
    api_url: str | None = None
    #: How far the Parquet copy of the alert log is behind SQLite (set by the run loop).
    parquet_status: Callable[[], ParquetStatus] | None = None

    @property
    def connected(self) -> bool:
        """A live feed says so itself; a synthetic or replay stream counts once ticks flowed."""
        status = getattr(self.feed, "status", None)
        if status is not None and hasattr(status, "connected"):
            return bool(status.connected)
        return self.source_connected

    @property
    def config_invalid(self) -> bool:
        """The files on disk do not validate (the previous rules keep running)."""
        return self.last_reload is not None and not self.last_reload.ok

    def not_ready(self) -> list[str]:
        """Why the service cannot do its job yet; empty when ready (plan loaded, source connected)."""
        reasons = []
        if self.plan is None:
            reasons.append("no rule plan loaded yet")
        if not self.connected:
            reasons.append(f"source {self.source_type or '?'} not connected")
        problems = getattr(getattr(self.feed, "status", None), "problems", None)
        if callable(problems):  # a live feed's refused services, delayed or silent symbols
            reasons.extend(problems())
        return reasons

    def warnings(self) -> list[str]:
        """What a live feed reports that does not fail readiness (e.g. one silent symbol among live ones)."""
        notices = getattr(getattr(self.feed, "status", None), "notices", None)
        return list(notices()) if callable(notices) else []

    def on_delivery(self, channel: str, status: str, count: int = 1) -> None:
        """A delivery outcome was recorded (the notifier calls this, possibly from a thread)."""
        with self._deliveries_lock:
            key = (channel, status)
            self.deliveries[key] = self.deliveries.get(key, 0) + count

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        with self._deliveries_lock:
            return dict(self.deliveries)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(kind, payload)

    def on_plan(self, loaded: LoadedConfig, plan: Plan) -> None:
        self.loaded, self.plan = loaded, plan
        for inst in loaded.instruments:
            self.instruments.setdefault(inst.symbol, InstrumentState(inst.symbol))
        for sym in list(self.instruments):
            if sym not in {i.symbol for i in loaded.instruments}:
                del self.instruments[sym]

    def on_reload(self, result: ReloadResult) -> None:
        self.last_reload = result
        if result.ok:
            self.reload_ok += 1
        else:
            self.reload_failed += 1
        self._emit("reload", {"ok": result.ok, "errors": result.errors, "plan_version": result.plan_version})

    def on_batch(self, accepted: pl.DataFrame, rejected: int, unknown: int, latency_s: float) -> None:
        self.batches += 1
        self.source_connected = True  # a batch arrived: the stream is flowing
        self.ticks_in += accepted.height
        self.ticks_rejected += rejected
        self.unknown_symbol_ticks += unknown
        self.batch_latency_s.append(latency_s)
        if len(self.batch_latency_s) > 10_000:
            del self.batch_latency_s[:5_000]
        if accepted.height == 0:
            return
        for sym, price, ts, n, first in _per_symbol(accepted):
            st = self.instruments.setdefault(sym, InstrumentState(sym))
            st.record(price, ts, n, first)
            self._emit("tick_update", {"symbol": sym, "price": price, "ts": ts})
        newest = accepted["ts"].max()
        if isinstance(newest, datetime):
            self.feed_lag_s = max((datetime.now(timezone.utc) - newest).total_seconds(), 0.0)

    def on_alerts(self, alerts: pl.DataFrame) -> None:
        for row in alerts.iter_rows(named=True):
            self.alerts_by_rule[row["rule_id"]] = self.alerts_by_rule.get(row["rule_id"], 0) + 1
            self.last_fired[row["rule_id"]] = row["ts"]
            self._emit("alert_fired", row)

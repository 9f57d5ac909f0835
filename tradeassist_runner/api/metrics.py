"""Prometheus metrics of the running service, read from the :class:`Observer` at scrape time.

Each app owns its :class:`CollectorRegistry` (never the process-global one), so two
runners or two test apps in one process cannot collide on metric names. Counters the
observer already keeps are exposed by a collector that reads them when scraped: the run
loop pays nothing per tick for metrics. The one histogram (micro-batch latency) is fed
from the observer's latency list, drained on each scrape.

Metric names (all prefixed ``tradeassist_``) are documented in the README.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..service.observe import Observer

#: Micro-batch evaluation latency buckets, in seconds (1 ms .. 10 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceCollector(Collector):
    """Builds every service metric from the observer's current counters."""

    def __init__(self, observer: Observer, ws_connections: Callable[[], int]) -> None:
        self.observer = observer
        self.ws_connections = ws_connections

    def describe(self) -> list[Metric]:
        return []  # built on demand; nothing to pre-register

    def collect(self) -> Iterator[Metric]:
        o = self.observer

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"tradeassist_{name}", doc, value=value)

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"tradeassist_{name}", doc, value=value)

        yield counter("ticks", "Ticks accepted and evaluated", o.ticks_in)
        yield counter("ticks_rejected", "Ticks rejected (bad price or time, negative volume, time going back)",
                      o.ticks_rejected)
        yield counter("ticks_unknown_symbol", "Ticks of symbols not declared, ignored", o.unknown_symbol_ticks)
        yield counter("batches", "Micro-batches evaluated", o.batches)

        alerts = CounterMetricFamily("tradeassist_alerts", "Alerts fired, per rule", labels=["rule_id"])
        for rule_id, n in sorted(o.alerts_by_rule.items()):
            alerts.add_metric([rule_id], n)
        yield alerts

        deliveries = CounterMetricFamily(
            "tradeassist_deliveries",
            "Delivery outcomes recorded per channel and status (sent, failed, skipped; "
            "pending = a failed try that will be retried)",
            labels=["channel", "status"],
        )
        for (channel, status), n in sorted(o.delivery_counts().items()):
            deliveries.add_metric([channel, status], n)
        yield deliveries

        yield from _channel_metrics(o)

        reloads = CounterMetricFamily("tradeassist_reloads", "Rule reloads, per result", labels=["result"])
        reloads.add_metric(["success"], o.reload_ok)
        reloads.add_metric(["failure"], o.reload_failed)
        yield reloads

        if o.parquet_status is not None:
            parquet = o.parquet_status()
            yield counter("parquet_write_failures", "Parquet copy attempts of the alert log that failed",
                          parquet.failures)
            yield gauge("parquet_behind_alerts", "Alerts in SQLite (the log of record) not yet in Parquet",
                        parquet.behind)

        yield gauge("config_invalid", "1 while the files on disk do not validate (the previous rules run)",
                    1.0 if o.config_invalid else 0.0)
        yield gauge("source_connected", "1 when the tick source is connected", 1.0 if o.connected else 0.0)
        yield gauge("ready", "1 when a plan is loaded and the source connected", 0.0 if o.not_ready() else 1.0)
        yield gauge("feed_lag_seconds", "Wall clock minus the newest tick time", o.feed_lag_s)
        rules = o.plan.rules if o.plan is not None else ()
        yield gauge("plan_rules", "Rules in the loaded plan", len(rules))
        yield gauge("plan_active_rules", "Active rules in the loaded plan", sum(1 for c in rules if c.rule.active))
        yield gauge("instruments", "Instruments watched", len(o.instruments))
        yield gauge("start_time_seconds", "When the runner started, unix time", o.started_at.timestamp())
        yield gauge("uptime_seconds", "Seconds since the runner started",
                    (datetime.now(timezone.utc) - o.started_at).total_seconds())
        yield gauge("websocket_connections", "Open /ws/realtime connections", self.ws_connections())

        price = GaugeMetricFamily("tradeassist_instrument_last_price", "Price of the last tick", labels=["symbol"])
        ticks = CounterMetricFamily("tradeassist_instrument_ticks", "Accepted ticks per symbol", labels=["symbol"])
        for symbol, st in sorted(o.instruments.items()):
            if st.last_price is not None:
                price.add_metric([symbol], st.last_price)
            ticks.add_metric([symbol], st.ticks)
        yield price
        yield ticks

        silent = getattr(getattr(o.feed, "status", None), "silent", None)
        if isinstance(silent, dict):  # a live feed that watches its symbols (Schwab)
            flag = GaugeMetricFamily("tradeassist_instrument_silent",
                                     "1 while the live feed reports the symbol silent (no data), else 0",
                                     labels=["symbol"])
            for symbol in sorted(o.instruments):
                flag.add_metric([symbol], 1.0 if symbol in silent else 0.0)
            yield flag


CHANNEL_STATES = ("closed", "open", "half-open", "unavailable")


def _channel_metrics(o: Observer) -> Iterator[Metric]:
    """Per-channel delivery health: alert on ``tradeassist_channel_state{state="open"} == 1``."""
    health = list(o.channel_health()) if o.channel_health is not None else []
    state = GaugeMetricFamily(
        "tradeassist_channel_state",
        "1 for the channel's current circuit state (closed, open, half-open, unavailable), else 0",
        labels=["channel", "state"],
    )
    pending = GaugeMetricFamily("tradeassist_channel_pending", "Alerts queued or being sent", labels=["channel"])
    waiting = GaugeMetricFamily(
        "tradeassist_channel_waiting", "Alerts whose retries ran out while the channel is down", labels=["channel"]
    )
    failures = GaugeMetricFamily(
        "tradeassist_channel_consecutive_failures", "Failed tries in a row", labels=["channel"]
    )
    opens = CounterMetricFamily(
        "tradeassist_channel_circuit_opens", "Times the channel's circuit breaker opened", labels=["channel"]
    )
    last_error = GaugeMetricFamily(
        "tradeassist_channel_last_error_time_seconds", "When the last try failed, unix time", labels=["channel"]
    )
    for h in health:
        for s in CHANNEL_STATES:
            state.add_metric([h.channel, s], 1.0 if h.state == s else 0.0)
        pending.add_metric([h.channel], h.pending)
        waiting.add_metric([h.channel], h.waiting)
        failures.add_metric([h.channel], h.consecutive_failures)
        opens.add_metric([h.channel], h.circuit_opens)
        if h.last_error_at is not None:
            last_error.add_metric([h.channel], h.last_error_at.timestamp())
    yield from (state, pending, waiting, failures, opens, last_error)


class Metrics:
    """The registry of one app and the text exposition of a scrape."""

    def __init__(self, observer: Observer, ws_connections: Callable[[], int]) -> None:
        self.observer = observer
        self.registry = CollectorRegistry()
        self.batch_seconds = Histogram(
            "tradeassist_batch_duration_seconds",
            "Evaluation latency of one micro-batch (gate, engine; alert log excluded)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ServiceCollector(observer, ws_connections))
        ProcessCollector(registry=self.registry)  # memory, CPU, open files of this process
        PlatformCollector(registry=self.registry)

    def _drain(self) -> None:
        latencies = self.observer.batch_latency_s
        pending, latencies[:] = latencies[:], []
        for seconds in pending:
            self.batch_seconds.observe(seconds)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type): Prometheus text, or OpenMetrics when the scraper asks for it."""
        self._drain()
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

"""``tradeassist ingest``: run the feed once, publish its micro-batches to one Redis stream per shard.

    feed (schwab | replay | synthetic) ─► micro-batches ─► number ticks ─► split by shard
       ─► one script call (EVALSHA): XADD PREFIX:shard:I (Arrow IPC) per shard + HSET PREFIX:ingest row
       ─► every second: trim what every consumer group acknowledged; lag and rates

Every tick gets a number (``row``) that only grows: a replay's file row, or for a live
feed a count that starts above the last one Redis holds and above the wall clock in
microseconds (so it keeps growing across restarts even if Redis lost everything). A
runner ignores ticks whose number it has already evaluated, so publishing a batch twice
is harmless. That is what makes the ingest restartable: it publishes the entries and its
position atomically, and after a crash of its own or of Redis it goes on after the
position Redis holds. A replay rewinds to it (nothing is lost even when Redis lost its
last second of writes); a live feed cannot rewind, so what Redis lost is lost and said so.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from redis.exceptions import RedisError

from ..config.loaded import LoadedConfig
from ..config.models import RedisSource, ReplaySource
from ..engine.batcher import micro_batches
from ..errors import SourceError
from ..logs import log
from ..rules.groups import symbol_shards
from ..settings import load_settings
from ..sources.ticks import ROW, format_rejections
from ..streams.codec import shard_entries, tick_table
from ..streams.redis_streams import (
    REDIS_ERRORS,
    Backoff,
    GroupLag,
    Publish,
    connect,
    describe,
    ensure_group,
    position_key,
    shard_lags,
    stream_name,
    trim_committed,
)
from .runner import FeedState, tick_stream
from .status import StatusLine

logger = logging.getLogger("tradeassist.ingest")

#: Seconds between trims and lag reads (and status lines on a terminal).
HOUSEKEEPING_EVERY = 1.0

#: The shortest time from one publish to the next while the feed trickles (seconds). A live
#: feed hands over what came due about a thousand times a second, and each publish costs
#: the same whatever it holds: here an atomic write of an entry per shard (~0.6 ms of CPU), and
#: in every runner a read and an engine call per shard (~2 ms for a few hundred rules). At
#: 10,000 ticks/s that was most of two cores for entries of a few ticks each; waiting this
#: long makes them a hundred ticks and costs a tick at most this much latency. A full batch
#: (a backlog, a replay) is never held back.
PUBLISH_GAP_S = 0.01


@dataclass
class IngestStats:
    started: float = field(default_factory=time.monotonic)
    ticks: int = 0
    entries: int = 0
    unknown_symbol_ticks: int = 0
    rejected: int = 0
    trimmed: int = 0
    republished: int = 0
    redis_up: bool = False
    redis_error: str | None = None
    source_ended: bool = False
    lags: list[GroupLag] = field(default_factory=list)
    _window_start: float = field(default_factory=time.monotonic)
    _window_ticks: int = 0
    rate: float = 0.0

    def published(self, ticks: int, entries: int) -> None:
        self.ticks += ticks
        self.entries += entries
        self._window_ticks += ticks

    def line(self) -> str:
        now = time.monotonic()
        if now - self._window_start >= 0.5:
            self.rate = self._window_ticks / (now - self._window_start)
            self._window_start, self._window_ticks = now, 0
        up = int(now - self.started)
        lag = sum(g.lag or 0 for g in self.lags)
        pending = sum(g.pending for g in self.lags)
        text = (
            f"up {up // 60}m{up % 60:02d}s  {self.rate:,.0f} ticks/s  published {self.ticks:,} ticks "
            f"in {self.entries:,} entries  lag {lag:,} entries  uncommitted {pending:,}  trimmed {self.trimmed:,}"
        )
        if self.source_ended:
            text += "  source ended (draining)"
        if not self.redis_up:
            text += f"  REDIS DOWN: {self.redis_error or 'connecting'}"
        return text


def _metrics(stats: IngestStats, host: str, port: int) -> tuple[object, int]:
    """A /metrics endpoint (prometheus-client, its own registry) reading ``stats`` on each scrape."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    class IngestCollector(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield CounterMetricFamily("tradeassist_ingest_ticks", "Ticks published", value=stats.ticks)
            yield CounterMetricFamily("tradeassist_ingest_entries", "Stream entries published", value=stats.entries)
            yield CounterMetricFamily("tradeassist_ingest_trimmed_entries", "Entries trimmed after every group committed them",
                                      value=stats.trimmed)
            yield GaugeMetricFamily("tradeassist_ingest_ticks_per_second", "Publish rate over the last status interval",
                                    value=stats.rate)
            yield GaugeMetricFamily("tradeassist_ingest_redis_up", "1 while Redis answers", value=int(stats.redis_up))
            yield GaugeMetricFamily("tradeassist_ingest_source_ended", "1 once the feed has ended",
                                    value=int(stats.source_ended))
            lag = GaugeMetricFamily("tradeassist_ingest_lag_entries", "Entries not yet delivered to a group",
                                    labels=["shard", "group"])
            pending = GaugeMetricFamily("tradeassist_ingest_uncommitted_entries",
                                        "Entries delivered to a group but not committed", labels=["shard", "group"])
            for g in stats.lags:
                lag.add_metric([str(g.shard), g.group], float(g.lag) if g.lag is not None else float("nan"))
                pending.add_metric([str(g.shard), g.group], g.pending)
            yield lag
            yield pending

    registry = CollectorRegistry()
    registry.register(IngestCollector())
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, int(server.server_port)


class _Publisher:
    """Numbers, splits and publishes batches; owns the Redis client and the reconnect loop."""

    def __init__(self, loaded: LoadedConfig, source: RedisSource, stats: IngestStats, stop: asyncio.Event) -> None:
        self.loaded = loaded
        self.source = source
        self.stats = stats
        self.stop = stop
        self.assignment = symbol_shards(loaded.rules, loaded.instruments, source.shards)
        settings = load_settings()
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        self.client = connect(source, password)
        self._publish = Publish(self.client, source)
        self.backoff = Backoff(source.reconnect_initial.total_seconds(), source.reconnect_max.total_seconds())
        self.position = 0  # last tick number Redis holds (as far as this process knows)

    async def close(self) -> None:
        await self.client.aclose()

    async def connected(self) -> int | None:
        """Until Redis answers: create the groups, read the position. None if stopped first."""
        while not self.stop.is_set():
            try:
                for shard in range(self.source.shards):
                    await ensure_group(self.client, stream_name(self.source, shard), self.source.group)
                raw = await self.client.hget(position_key(self.source), "row")
            except REDIS_ERRORS as exc:
                self._down(exc)
                await self.backoff.wait(self.stop)
                continue
            except RedisError as exc:  # refused (out of memory, read-only replica, ...): said, retried
                text = describe(exc)
                if self.stats.redis_error != text:
                    log(logger, logging.ERROR, "redis refused a command; retrying", error=text)
                self.stats.redis_up, self.stats.redis_error = False, text
                await self.backoff.wait(self.stop)
                continue
            if not self.stats.redis_up:
                log(logger, logging.INFO, "redis connected", url=self.source.url, shards=self.source.shards)
            self.stats.redis_up, self.stats.redis_error = True, None
            self.backoff.reset()
            return int(raw) if raw is not None else 0
        return None

    def _up(self) -> None:
        """Redis answered again outside a publish: while draining (the feed has ended) no
        publish reconnects, and a Redis restart then kept the ingest "down" and waiting forever."""
        if not self.stats.redis_up:
            log(logger, logging.INFO, "redis connected", url=self.source.url, shards=self.source.shards)
            self.stats.redis_up, self.stats.redis_error = True, None
            self.backoff.reset()

    def _down(self, exc: BaseException) -> None:
        text = describe(exc)
        if self.stats.redis_up or self.stats.redis_error != text:
            log(logger, logging.WARNING, "redis unreachable; retrying with backoff", error=text,
                retry_in=f"{self.backoff.current:.1f}s")
        self.stats.redis_up, self.stats.redis_error = False, text

    def number(self, ticks: pl.DataFrame) -> pl.DataFrame:
        """Replay rows are kept; a live feed's ticks are numbered above anything published."""
        if ROW in ticks.columns and isinstance(self.source.feed, ReplaySource):
            return ticks
        base = max(self.position + 1, time.time_ns() // 1000)
        numbers = pl.Series(ROW, np.arange(base, base + ticks.height, dtype=np.int64))
        return ticks.with_columns(numbers) if ROW in ticks.columns else ticks.hstack([numbers])

    async def publish(self, ticks: pl.DataFrame) -> None:
        """One atomic call: an entry per shard with ticks, and the new position."""
        # A dict look-up per tick, one conversion to Arrow, one take and a slice per shard:
        # the batch is small and this is on the path of every tick, where polars' replace,
        # filter, group_by and select each plan a query that costs more than the work.
        shard_of = self.assignment
        codes = np.fromiter((shard_of.get(s, -1) for s in ticks["symbol"].to_list()), np.int64, ticks.height)
        rows = ticks[ROW].to_numpy()
        known = int(np.count_nonzero(codes >= 0))
        self.stats.unknown_symbol_ticks += ticks.height - known
        last = int(rows.max())
        entries = (
            [(e.shard, e.payload, e.first, e.last) for e in shard_entries(tick_table(ticks), codes, rows)]
            if known else []
        )
        await self._publish(entries, last, time.time())
        self.position = last
        self.stats.published(known, len(entries))

    async def housekeeping(self) -> None:
        for shard in range(self.source.shards):
            self.stats.trimmed += await trim_committed(self.client, stream_name(self.source, shard))
        self.stats.lags = await shard_lags(self.client, self.source)


async def run_ingest(
    loaded: LoadedConfig,
    *,
    stop: asyncio.Event | None = None,
    metrics: tuple[str, int] | None = None,
    status_every: float = 5.0,
    wait_for_runners: bool = True,
) -> int:
    """Publish until the feed ends and (``wait_for_runners``) every group committed everything.

    Returns the exit code. SIGINT/SIGTERM stop it; whatever was published stays in Redis.
    """
    import signal

    source = loaded.config.source
    assert isinstance(source, RedisSource)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    stats = IngestStats()
    pub = _Publisher(loaded, source, stats, stop)
    server: object | None = None
    if metrics is not None:
        server, port = _metrics(stats, metrics[0], metrics[1])
        log(logger, logging.INFO, "metrics listening", host=metrics[0], port=port, path="/metrics")
    status_line = StatusLine(sys.stderr, enabled=sys.stderr.isatty())
    status_line.route_logs()
    last_status = last_house = time.monotonic()
    feed_state = FeedState()
    batches: AsyncGenerator[pl.DataFrame, None] | None = None
    code = 0

    def open_feed(resume: int) -> AsyncGenerator[pl.DataFrame, None]:
        return micro_batches(
            tick_stream(loaded, feed_state, resume, feed=source.feed),
            max_size=loaded.config.batch.max_size, max_delay=loaded.config.batch.max_delay.total_seconds(),
        )

    async def tick_housekeeping(force: bool = False) -> None:
        nonlocal last_house, last_status
        now = time.monotonic()
        if force or now - last_house >= HOUSEKEEPING_EVERY:
            last_house = now
            try:
                await pub.housekeeping()
            except REDIS_ERRORS as exc:
                pub._down(exc)
            except RedisError as exc:  # a refused command (e.g. out of memory): said, retried next time
                log(logger, logging.WARNING, "stream housekeeping failed; retrying", error=describe(exc))
            else:
                pub._up()
        if now - last_status >= status_every:
            last_status = now
            if status_line.enabled:
                status_line.show(stats.line())
            else:
                log(logger, logging.INFO, "status", detail=stats.line())

    try:
        position = await pub.connected()
        if position is None:
            return 0
        pub.position = position
        replay = isinstance(source.feed, ReplaySource)
        log(logger, logging.INFO, "ingest started", feed=source.feed.type, shards=source.shards,
            groups=len(set(pub.assignment.values())), resume_after_row=position if replay else "-")
        batches = open_feed(position if replay else 0)
        while not stop.is_set():
            nxt = asyncio.ensure_future(anext(batches))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if nxt not in done:
                nxt.cancel()
                await asyncio.gather(nxt, return_exceptions=True)
                break
            try:
                batch = nxt.result()
            except StopAsyncIteration:
                # lags read after the last publish before the end is said: the last
                # housekeeping may be from before the last publishes (it runs once a second)
                await tick_housekeeping(force=True)
                stats.source_ended = True
                log(logger, logging.INFO, "source ended", published=stats.ticks)
                break
            except SourceError as exc:
                log(logger, logging.ERROR, "source failed", error=str(exc))
                code = 1
                break
            if feed_state.rejections:
                stats.rejected += len(feed_state.rejections)
                for line in format_rejections(feed_state.rejections, limit=3):
                    log(logger, logging.WARNING, "tick rejected", detail=line)
                feed_state.rejections.clear()
            batch = pub.number(batch)
            started = time.monotonic()
            rewind: int | None = None
            while not stop.is_set():
                try:
                    await pub.publish(batch)
                    break
                except RedisError as exc:
                    if not isinstance(exc, REDIS_ERRORS):  # refused, e.g. OOM: the script applied nothing
                        log(logger, logging.ERROR, "redis refused the batch; retrying", error=describe(exc))
                        await pub.backoff.wait(stop)
                        continue
                    pub._down(exc)
                    await pub.backoff.wait(stop)
                    held = await pub.connected()
                    if held is None:
                        break
                    first, last = int(batch[ROW].min()), int(batch[ROW].max())  # type: ignore[arg-type]
                    if held >= last:  # the EXEC went through; only its reply was lost
                        pub.position = held
                        break
                    if held < first - 1:
                        if replay:
                            rewind = held
                            break
                        log(logger, logging.WARNING,
                            "redis lost ticks it had acknowledged (its last writes before a crash); a live feed cannot "
                            "resend them", last_held_row=held, published_through=first - 1)
                    pub.position = max(held, pub.position)
            if rewind is not None:
                stats.republished += pub.position - rewind
                log(logger, logging.WARNING, "redis lost acknowledged writes; replaying from the last row it holds",
                    resume_after_row=rewind, rows_again=pub.position - rewind)
                await batches.aclose()
                pub.position = rewind
                batches = open_feed(rewind)
                continue
            await tick_housekeeping()
            if batch.height < loaded.config.batch.max_size:
                rest = started + PUBLISH_GAP_S - time.monotonic()
                if rest > 0:  # the feed keeps what comes meanwhile: it is the next batch
                    await asyncio.sleep(rest)
        # Drain: keep trimming and reporting until every group has committed everything.
        while wait_for_runners and stats.source_ended and not stop.is_set():
            await tick_housekeeping(force=True)
            if stats.redis_up and stats.lags and all(g.drained for g in stats.lags):
                log(logger, logging.INFO, "every runner committed everything; ingest done", published=stats.ticks)
                break
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except TimeoutError:
                pass
    finally:
        if batches is not None:
            await batches.aclose()
        try:
            await asyncio.wait_for(pub.housekeeping(), 2.0)
        except (TimeoutError, *REDIS_ERRORS):  # type: ignore[misc]
            pass
        await pub.close()
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]
        status_line.close()
        log(logger, logging.INFO, "ingest stopped", detail=stats.line())
    return code

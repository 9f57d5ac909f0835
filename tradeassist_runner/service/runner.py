"""``tradeassist run``: source -> micro-batcher -> gate -> engine -> alert log (+ console).

The engine is synchronous and CPU-bound, and SQLite/Parquet writes block, so both run
in worker threads; the event loop only moves batches and keeps the feed flowing.
Alerts that cannot be logged (disk full, database locked) are kept in memory and
retried with the next batch: evaluation never stops and nothing fired is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TextIO

import polars as pl

from ..config.loaded import LoadedConfig
from ..config.models import ReplaySource, SyntheticSource
from ..engine.batcher import micro_batches
from ..engine.evaluate import Engine
from ..engine.plan import compile_plan
from ..errors import SinkError
from ..logs import log
from ..sinks.alert_log import AlertLog, open_alert_log
from ..sinks.query import format_jsonl
from ..sources.replay import replay_batches
from ..sources.synthetic import SyntheticFeed
from ..sources.ticks import Rejection, TickGate, format_rejections
from ..timefmt import iso_ms
from .status import RunStats

logger = logging.getLogger("tradeassist.run")

#: Tries to log held-back alerts at shutdown (backoff 0.1 s, 0.2 s, ...) before dumping them.
SHUTDOWN_FLUSH_ATTEMPTS = 5


@dataclass
class _Sources:
    """Ticks plus the rows the source rejected while parsing (replay files)."""

    rejections: list[Rejection] = field(default_factory=list)


def _tick_stream(loaded: LoadedConfig, parse_rejects: _Sources) -> AsyncIterator[pl.DataFrame]:
    source = loaded.config.source
    if isinstance(source, SyntheticSource):
        return SyntheticFeed(loaded.instruments, source).stream()
    assert isinstance(source, ReplaySource)

    async def replay() -> AsyncIterator[pl.DataFrame]:
        async for chunk in replay_batches(loaded.resolve(source.path), speed=source.speed):
            parse_rejects.rejections.extend(chunk.rejections)
            yield chunk.ticks

    return replay()


def print_alerts(alerts: pl.DataFrame, out: TextIO) -> None:
    """Until notifications land, the console is the channel people watch."""
    for r in alerts.iter_rows(named=True):
        out.write(f"{iso_ms(r['ts'])}  {r['severity'].upper():8} {r['rule_id']}  {r['message']}\n")
    out.flush()


async def run_service(
    loaded: LoadedConfig,
    *,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
    status_every: float = 5.0,
) -> int:
    """Run until the source ends or ``stop`` is set (SIGINT/SIGTERM set it). Returns the exit code."""
    out = out or sys.stdout
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread / platform
            pass

    plan = compile_plan(loaded.rules)
    engine = Engine(plan)
    gate = TickGate(i.symbol for i in loaded.instruments)
    storage = loaded.config.storage
    alert_log: AlertLog = await asyncio.to_thread(
        open_alert_log, loaded.resolve(storage.sqlite), loaded.resolve(storage.parquet_dir)
    )
    stats = RunStats()
    unlogged: list[pl.DataFrame] = []
    parse_rejects = _Sources()
    batch_cfg = loaded.config.batch
    log(
        logger, logging.INFO, "runner started",
        source=loaded.config.source.type, rules=len(plan.rules), instruments=len(loaded.instruments),
        sqlite=str(loaded.resolve(storage.sqlite)), plan=plan.version,
    )
    tty = sys.stderr.isatty()
    last_status = time.monotonic()

    async def flush_log() -> None:
        if not unlogged:
            return
        pending = pl.concat(unlogged)
        try:
            await asyncio.to_thread(alert_log.write, pending)
        except SinkError as exc:
            stats.alerts_unlogged = pending.height
            log(logger, logging.ERROR, "alert log write failed; alerts kept in memory, will retry",
                error=str(exc), pending=pending.height)
            unlogged[:] = [pending]
            return
        unlogged.clear()
        stats.alerts_unlogged = 0

    batches = micro_batches(
        _tick_stream(loaded, parse_rejects),
        max_size=batch_cfg.max_size,
        max_delay=batch_cfg.max_delay.total_seconds(),
    )
    next_batch: asyncio.Task[pl.DataFrame] | None = None
    try:
        while not stop.is_set():
            next_batch = asyncio.ensure_future(anext(batches))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({next_batch, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if next_batch not in done:
                break
            try:
                ticks = next_batch.result()
            except StopAsyncIteration:
                next_batch = None
                break
            next_batch = None
            t0 = time.perf_counter()
            admitted = gate.admit(ticks)
            alerts = await asyncio.to_thread(engine.process, admitted.accepted)
            stats.batch(admitted.accepted.height, time.perf_counter() - t0)
            bad = parse_rejects.rejections + admitted.rejections
            parse_rejects.rejections.clear()
            if bad:
                stats.rejected += len(bad)
                for line in format_rejections(bad, limit=3):
                    log(logger, logging.WARNING, "tick rejected", detail=line)
            stats.unknown_symbol_ticks += admitted.unknown_symbols
            if alerts.height:
                stats.alerts += alerts.height
                print_alerts(alerts, out)
                unlogged.append(alerts)
            await flush_log()
            now = time.monotonic()
            if now - last_status >= status_every:
                last_status = now
                if tty:
                    sys.stderr.write("\r\x1b[2K" + stats.line())
                    sys.stderr.flush()
                else:
                    log(logger, logging.INFO, "status", detail=stats.line())
    finally:
        if next_batch is not None:
            next_batch.cancel()
            await asyncio.gather(next_batch, return_exceptions=True)
        await batches.aclose()
        for attempt in range(SHUTDOWN_FLUSH_ATTEMPTS):
            await flush_log()
            if not unlogged:
                break
            await asyncio.sleep(0.1 * 2**attempt)
        if tty:
            sys.stderr.write("\n")
        await asyncio.to_thread(alert_log.close)
        log(logger, logging.INFO, "runner stopped", detail=stats.line())
    if unlogged:
        # Last resort: the alerts go to stderr as JSONL so an operator can recover them.
        lost = pl.concat(unlogged)
        log(logger, logging.ERROR, "alerts could not be logged before exit; dumping them to stderr",
            count=lost.height)
        for line in format_jsonl(lost):
            sys.stderr.write(f"UNLOGGED {line}\n")
        return 1
    return 0

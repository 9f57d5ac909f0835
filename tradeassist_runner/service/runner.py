"""``tradeassist run``: source -> micro-batcher -> gate -> engine -> alert log (+ console).

The engine is synchronous and CPU-bound, and SQLite/Parquet writes block, so both run
in worker threads; the event loop only moves batches and keeps the feed flowing.

The alerts of a batch (with any still waiting) are committed to SQLite as one group
before the next batch is evaluated when that is quick (``COMMIT_FIRST_S``): alone, a
commit takes well under a millisecond, but beside the engine's thread it waits for the
GIL at every step. So when nothing else waits to be logged, the thread that evaluated a
batch hands its alerts to the commit thread itself and waits there, the event loop idle.
A slower commit (a locked or failing database) goes on beside the
evaluation of the following batches, and the alerts of those wait to be the next group. Only
a committed alert is printed, pushed to the API, handed to a notification channel, or
covered by an engine-state snapshot: a snapshot is taken after a batch but stored only
once every alert up to that batch is committed. Parquet parts roll on their own task
(``storage.parquet_roll``), which also compacts finished days.
Alerts that cannot be logged (disk full, database locked) are kept in memory and
retried with the next batch: evaluation never stops and nothing fired is dropped.
With PostgreSQL, every snapshot waits for the scope lock to be confirmed (:mod:`.lock_guard`):
a server restart drops it, and a runner whose scope another runner took meanwhile stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

import polars as pl

from ..config.loaded import LoadedConfig
from ..config.loader import RulesFileCache
from ..config.models import Feed, RedisSource, ReplaySource, SchwabSource, SyntheticSource
from ..engine.batcher import micro_batches
from ..engine.evaluate import Engine
from ..engine.plan import Plan, compile_plan
from ..engine.warm import warm
from ..errors import Problem, SinkError, SourceError
from ..settings import apply_settings, load_settings
from ..logs import log
from ..notify.delivery import Notifier
from ..sinks.alert_log import WriteReport
from ..sinks.backend import describe, open_locked_log, open_state_store
from ..sinks.query import format_jsonl
from ..sources.replay import replay_batches
from ..sources.synthetic import SyntheticFeed
from ..sources.ticks import Rejection, TickGate, format_rejections
from .console import ConsoleAlerts
from .heap import LongLived
from .lock_guard import LockGuard
from .observe import Observer, ReloadResult
from .reload import Rejections, rebuild, watch, watched_paths
from .snapshots import (
    SnapshotEncoder, capture_snapshot, fingerprint, restore_snapshot, slice_budget, store_snapshot, take_snapshot,
)
from .status import RunStats, StatusLine

logger = logging.getLogger("tradeassist.run")

#: How long the next batch waits for the commit just started (seconds). A commit alone takes
#: well under a millisecond, but beside the engine's thread it waits for the GIL at every
#: step and took 15-20 ms: letting it finish first commits alerts sooner and costs the next
#: batch less than that. A commit slower than this (a locked or failing database) is left
#: to finish beside the evaluation, which goes on.
COMMIT_FIRST_S = 0.05

#: An alert row handed to the channels, and the channels it goes to.
Delivery = tuple[dict[str, Any], tuple[str, ...]]
#: What a commit of a group returns.
Written = tuple[WriteReport, list[Delivery]]

#: Tries to log held-back alerts at shutdown (backoff 0.1 s, 0.2 s, ...) before dumping them.
SHUTDOWN_FLUSH_ATTEMPTS = 5


@dataclass
class FeedState:
    """Ticks plus the rows the source rejected while parsing (replay files)."""

    rejections: list[Rejection] = field(default_factory=list)
    #: The live feed (SchwabFeed) when there is one: ``.status`` for health, ``update_symbols()``.
    live: object | None = None


def tick_stream(
    loaded: LoadedConfig, parse_rejects: FeedState, resume_row: int = 0, feed: Feed | None = None
) -> AsyncIterator[pl.DataFrame]:
    """The configured source (or ``feed``) as frames of ticks; a replay resumes after ``resume_row``."""
    source = feed if feed is not None else loaded.config.source
    if isinstance(source, SyntheticSource):
        return SyntheticFeed(loaded.instruments, source).stream()
    if isinstance(source, SchwabSource):
        from ..sources.schwab.stream import SchwabFeed  # optional extra: imported only when used

        live = SchwabFeed.from_config(loaded, source)
        parse_rejects.live = live
        return live.stream()
    assert isinstance(source, ReplaySource)

    async def replay() -> AsyncIterator[pl.DataFrame]:
        async for chunk in replay_batches(loaded.resolve(source.path), speed=source.speed, resume_after=resume_row):
            ticks = chunk.ticks
            if resume_row:
                ticks = ticks.filter(pl.col("row") > resume_row)
            parse_rejects.rejections.extend(r for r in chunk.rejections if r.row > resume_row)
            if ticks.height:
                yield ticks

    return replay()


def warm_for_feed(plan: Plan, loaded: LoadedConfig) -> None:
    """Build the plan's lazy tables and calendars before its first live tick.

    Only a feed stamped with the wall clock (Schwab, synthetic, or either behind the ingest) says when the next tick
    will be; a replay's ticks can be from any year, and warming a calendar for today would
    only make it build the years in between.
    """
    source = loaded.config.source
    feed = source.feed if isinstance(source, RedisSource) else source
    if isinstance(feed, (SyntheticSource, SchwabSource)):
        warm(plan, time.time_ns() // 1_000_000)


def _log_warnings(loaded: LoadedConfig) -> None:
    """What is valid but probably a mistake (no rules at all), at start and when it may have changed."""
    for warning in loaded.warnings:
        log(logger, logging.WARNING, warning)


async def run_service(
    loaded: LoadedConfig,
    *,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
    status_every: float = 5.0,
    observer: Observer | None = None,
    watch_files: bool = True,
    reload_debounce_ms: int = 300,
    fresh: bool = False,
    rules_cache: RulesFileCache | None = None,
) -> int:
    """Run until the source ends or ``stop`` is set (SIGINT/SIGTERM set it). Returns the exit code.

    SIGHUP, or any change under the config's or the rules' folder, reloads the rules;
    ``rules_cache`` (the one ``loaded`` was read with, if any) lets a reload skip the
    files that did not change.
    """
    rules_cache = rules_cache if rules_cache is not None else RulesFileCache()
    console = ConsoleAlerts(out or sys.stdout)
    stop = stop or asyncio.Event()
    observer = observer if observer is not None else Observer()
    loop = asyncio.get_running_loop()
    settings = load_settings()
    reload_lock = asyncio.Lock()
    long_lived = LongLived()

    plan = compile_plan(loaded.rules, loaded.instruments)
    engine = Engine(plan)
    gate = TickGate(i.symbol for i in loaded.instruments)
    storage = loaded.config.storage
    # The lock keeps a second runner off the same log (or scope), copy and snapshot.
    data_lock, alert_log = await asyncio.to_thread(open_locked_log, loaded)
    # A snapshot is what two holders of one scope would corrupt: before each, the lock is
    # confirmed (taken again after a PostgreSQL restart; the runner stops if it cannot be).
    guard = LockGuard(data_lock, stop.set)
    try:
        state_store = await asyncio.to_thread(open_state_store, loaded)
        finger = await asyncio.to_thread(fingerprint, loaded)
        resume_row = 0 if fresh else await asyncio.to_thread(
            restore_snapshot, state_store, engine, gate, loaded, finger
        )
    except BaseException:
        alert_log.close()
        data_lock.release()
        raise
    await asyncio.to_thread(alert_log.catch_up)  # Parquet gets what SQLite has and it lacks
    await asyncio.to_thread(warm_for_feed, plan, loaded)
    observer.parquet_status = alert_log.parquet_status
    observer.source_type = loaded.config.source.type
    observer.on_plan(loaded, plan)
    current = {"loaded": loaded}
    # Alerts are logged first (the outbox), then delivered by per-channel workers on this
    # loop; a slow or dead channel never delays the next batch.
    notifier = Notifier(loaded, alert_log)
    # The commit a worker thread starts right after its evaluation (``evaluate_and_log``).
    committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tradeassist-commit")
    notifier.on_outcome = observer.on_delivery  # delivery counts for /metrics
    observer.channel_health = notifier.health  # per-channel state for /api/status, /metrics
    observer.engine_state = lambda: engine.state  # cooldowns for /api/rules
    await notifier.start()

    rejections = Rejections(logger)

    async def reload(reason: str) -> None:
        """Re-validate everything; swap the plan in only if every file is valid.

        Every outcome is logged and reaches the observer (``/api/status``): rules
        reloaded, unchanged, or rejected with located errors - whatever failed.
        """
        async with reload_lock:
            was_invalid = observer.config_invalid
            try:
                outcome = await apply_reload(reason)
            except Exception as exc:  # noqa: BLE001 - not a file problem: still a rejection, never a silent one
                version = engine.plan.version
                error = str(Problem(str(current["loaded"].path), 1, 1, f"the reload failed: {type(exc).__name__}: {exc}"))
                outcome = ReloadResult(False, datetime.now(timezone.utc), version, errors=[error])
                observer.on_reload(outcome)
                rejections.report(reason, [error])
            if outcome is not None and outcome.ok and was_invalid:
                log(logger, logging.INFO, "config valid again", reason=reason, plan=outcome.plan_version)

    async def apply_reload(reason: str) -> ReloadResult | None:
        """One reload; the result it reported, or None when nothing changed (and nothing was wrong)."""
        def apply(new: LoadedConfig) -> LoadedConfig:
            return apply_settings(new, settings)

        rebuilt = await asyncio.to_thread(rebuild, engine.plan, current["loaded"].path, apply, rules_cache)
        result = rebuilt.result
        if not result.ok:
            observer.on_reload(result)
            rejections.report(reason, result.errors)
            return result
        rejections.clear()
        assert rebuilt.loaded is not None and rebuilt.plan is not None
        await notifier.reconfigure(rebuilt.loaded)  # channels, routes and templates reload too
        if not rebuilt.changed_anything and (
            {i.symbol for i in rebuilt.loaded.instruments}
            == {i.symbol for i in current["loaded"].instruments}
        ):
            if observer.config_invalid:
                observer.on_reload(result)  # the files are valid again
                _log_warnings(rebuilt.loaded)
                return result
            if reason == "SIGHUP":  # asked for: say what came of it (file events stay quiet)
                log(logger, logging.INFO, "rules unchanged", reason=reason, plan=result.plan_version)
                _log_warnings(rebuilt.loaded)
            return None
        _log_warnings(rebuilt.loaded)
        if rebuilt.loaded.config.source != current["loaded"].config.source or (
            rebuilt.loaded.config.storage != current["loaded"].config.storage
        ) or rebuilt.loaded.config.api != current["loaded"].config.api:
            log(logger, logging.WARNING, "source, storage and api changes take effect after a restart")
        await asyncio.to_thread(warm_for_feed, rebuilt.plan, rebuilt.loaded)
        engine.swap(rebuilt.plan)  # the next batch runs on the new plan
        gate.set_symbols(i.symbol for i in rebuilt.loaded.instruments)
        update_symbols = getattr(parse_rejects.live, "update_symbols", None)
        if update_symbols is not None:  # live feed: (un)subscribe on the open connection
            await update_symbols(rebuilt.loaded.instruments)
        current["loaded"] = rebuilt.loaded
        observer.on_plan(rebuilt.loaded, rebuilt.plan)
        long_lived.settle()  # the new plan and config live until the next reload
        observer.on_reload(result)
        log(logger, logging.INFO, "rules reloaded", reason=reason, plan=result.plan_version,
            added=",".join(result.added) or "-", changed=",".join(result.changed) or "-",
            removed=",".join(result.removed) or "-")
        return result

    def request_reload(reason: str) -> None:
        if reason == "SIGHUP":
            log(logger, logging.INFO, "reload requested (SIGHUP)")
        task = loop.create_task(reload(reason))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    tasks: set[asyncio.Task[None]] = set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread / platform
            pass
    try:
        loop.add_signal_handler(signal.SIGHUP, request_reload, "SIGHUP")
    except (NotImplementedError, RuntimeError, AttributeError):
        pass
    if watch_files:
        tasks.add(loop.create_task(watch(watched_paths(loaded), reload, stop, reload_debounce_ms)))

    stats = RunStats()
    last_snapshot = time.monotonic()
    position = {"row": resume_row}
    #: Alerts evaluated but not committed yet, each with the number of its batch.
    unlogged: list[tuple[int, pl.DataFrame]] = []
    committing: dict[str, asyncio.Task[None] | None] = {"task": None, "roll": None}
    in_flight: list[int] = []  # batch numbers of the group being committed
    write_failed = [False]  # the last commit attempt failed (the next success re-reads the outbox)
    #: (batch number, future set once its alerts are written or the write failed).
    commit_waiters: list[tuple[int, asyncio.Future[None]]] = []
    stalled: list[asyncio.Task[None] | None] = [None]  # the commit a batch waited for in vain
    batch_no = 0
    #: A snapshot taken after a batch, stored once that batch's alerts are all committed.
    held_snapshot: list[tuple[int, dict[str, bytes]]] = []
    snapshot_lock = asyncio.Lock()  # one store at a time, so an older one never lands last
    #: The snapshot being encoded between batches, with the number of the batch it follows.
    encoding: list[tuple[int, SnapshotEncoder]] = []
    storing: set[asyncio.Task[None]] = set()  # stores of finished snapshots (serialized by the lock)
    parse_rejects = FeedState()
    batch_cfg = loaded.config.batch
    log(
        logger, logging.INFO, "runner started",
        source=loaded.config.source.type, rules=len(plan.rules), instruments=len(loaded.instruments),
        storage=describe(loaded), plan=plan.version,
    )
    _log_warnings(loaded)
    status_line = StatusLine(sys.stderr, enabled=sys.stderr.isatty())
    status_line.route_logs()
    last_status = time.monotonic()

    def committed_through() -> int:
        """Every alert of batches up to this number is in the log."""
        waiting = [n for n, _ in unlogged] + in_flight
        return min(waiting) - 1 if waiting else batch_no

    def wake_waiters(failed: bool = False) -> None:
        through = committed_through()
        for number, written in list(commit_waiters):
            if failed or number <= through:
                commit_waiters.remove((number, written))
                if not written.done():
                    written.set_result(None)

    async def store_held_snapshot() -> None:
        async with snapshot_lock:
            if held_snapshot and held_snapshot[-1][0] <= committed_through():
                if not await guard.confirm():  # kept for the next try (or a newer snapshot)
                    return
                _, parts = held_snapshot.pop()
                held_snapshot.clear()
                await store_snapshot(state_store, parts, finger)

    async def commit() -> None:
        """Log what is waiting, group after group, until nothing is (or a write fails).

        Alerts that fire while a group is being written are the next group at once, not
        after the batch in progress.
        """
        while unlogged and await commit_group():
            pass

    async def commit_group() -> bool:
        """Log every alert waiting (one group, one transaction per channel route), then report them."""
        group = list(unlogged)
        unlogged.clear()
        in_flight[:] = [n for n, _ in group]
        pending = pl.concat([frame for _, frame in group]) if len(group) > 1 else group[0][1]
        return await settle_group(pending, asyncio.to_thread(notifier.write_outbox, pending))

    async def settle_group(pending: pl.DataFrame, writing: Awaitable[Written]) -> bool:
        """Wait for a group's write; report the group once committed, or put it back in front."""
        try:
            report, deliveries = await writing
        except SinkError as exc:
            write_failed[0] = True
            stats.alerts_unlogged = pending.height
            log(logger, logging.ERROR, "alert log write failed; alerts kept in memory, will retry",
                error=str(exc), pending=pending.height)
            unlogged[:0] = [(in_flight[0], pending)]  # back in front: order is kept
            in_flight.clear()
            wake_waiters(failed=True)
            return False
        recovered, write_failed[0] = write_failed[0], False
        in_flight.clear()
        stats.alerts_unlogged = sum(frame.height for _, frame in unlogged)
        stats.parquet_behind = alert_log.parquet_status().behind if report.parquet_error else 0
        # Committed: now (and only now) it may be seen, sent, and snapshotted past.
        observer.on_alerts(pending)
        with status_line.above():
            console.print(pending)
        notifier.enqueue(deliveries)
        wake_waiters()
        if recovered and notifier.enabled:
            # A write reported as failed may have committed all the same (a database
            # connection lost before the answer): its alerts are "already logged" now but
            # still pending in the outbox, so the outbox is read again (sent ones are skipped).
            await notifier.refill(None)
        await store_held_snapshot()
        return True

    def evaluate_and_log(ticks: pl.DataFrame, log_now: bool) -> tuple[pl.DataFrame, Future[Written] | None]:
        """The batch's alerts and, with ``log_now``, their commit, already under way.

        With nothing else waiting to be logged, the worker thread that evaluated the batch
        hands its alerts to the commit thread itself and waits for it (``COMMIT_FIRST_S``)
        while the event loop stays idle: going back through the loop first (a task, then a
        thread), with the loop's bookkeeping beside the commit, cost a live alert two to
        four milliseconds more on a 2-core machine. A slower commit (a locked database)
        goes on beside the evaluation of the next batches.
        """
        alerts = engine.process(ticks)
        if not (log_now and alerts.height):
            return alerts, None
        started = committer.submit(notifier.write_outbox, alerts)
        # Waited for here, off the event loop: its bookkeeping would only slow the commit.
        wait_futures((started,), timeout=COMMIT_FIRST_S)
        return alerts, started

    async def commit_started(alerts: pl.DataFrame, started: Future[Written]) -> None:
        """:func:`commit` for a group (already ``in_flight``) whose write ``evaluate_and_log`` started."""
        if await settle_group(alerts, asyncio.wrap_future(started)):
            await commit()

    def reap() -> None:
        """Surface a failure of the commit or roll task that is not a log write (a bug)."""
        for key in ("task", "roll"):
            task = committing[key]
            if task is not None and task.done():
                committing[key] = None
                task.result()
        for snap in [t for t in storing if t.done()]:
            storing.discard(snap)
            snap.result()

    def start_commit() -> None:
        reap()
        if committing["task"] is None and unlogged:
            committing["task"] = loop.create_task(commit())

    async def roll() -> None:
        await asyncio.to_thread(alert_log.roll)
        status = alert_log.parquet_status()
        stats.parquet_behind = status.behind if status.last_error else 0

    def start_roll() -> None:
        reap()
        if committing["roll"] is None and alert_log.roll_due():
            committing["roll"] = loop.create_task(roll())

    async def drain() -> None:
        """Wait for the commit in flight, then commit what is left (one attempt)."""
        task = committing["task"]
        if task is not None:
            await task
            reap()
        if unlogged:
            committing["task"] = task = loop.create_task(commit())
            await task
            reap()

    batches = micro_batches(
        tick_stream(loaded, parse_rejects, resume_row),
        max_size=batch_cfg.max_size,
        max_delay=batch_cfg.max_delay.total_seconds(),
        catch_up_size=batch_cfg.catch_up_size,
    )
    observer.feed = parse_rejects.live  # a live feed reports its own connection state
    next_batch: asyncio.Task[pl.DataFrame] | None = None
    source_error: str | None = None
    api = None
    try:
        if loaded.config.api.enabled:  # the [server] extra is imported only then
            from ..api import start_api

            api = await start_api(loaded, observer, settings)
            status_line.route_logs()  # uvicorn's handler exists now
        long_lived.settle()  # start-up is over: what it built lives for the run
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
            except SourceError as exc:  # e.g. Schwab token expired: stop cleanly, exit 1
                next_batch = None
                source_error = str(exc)
                log(logger, logging.ERROR, "source failed", error=source_error)
                break
            next_batch = None
            t0 = time.perf_counter()
            if "row" in ticks.columns and ticks.height:
                position["row"] = max(position["row"], int(ticks["row"].max()))  # type: ignore[arg-type]
            admitted = gate.admit(ticks)
            said = len(engine.notes)
            reap()
            log_now = committing["task"] is None and not unlogged and not write_failed[0]
            alerts, started = await asyncio.to_thread(evaluate_and_log, admitted.accepted, log_now)
            batch_no += 1
            if alerts.height:
                stats.alerts += alerts.height
                if started is None:
                    unlogged.append((batch_no, alerts))
                else:
                    in_flight[:] = [batch_no]
                    committing["task"] = loop.create_task(commit_started(alerts, started))
                    if not started.done():  # a slow commit: no batch waits for it again
                        stalled[0] = committing["task"]
            for note in engine.notes[said:]:
                log(logger, logging.WARNING, "rule gate", detail=note)
            stats.batch(admitted.accepted.height, time.perf_counter() - t0)
            observer.on_batch(
                admitted.accepted,
                len(parse_rejects.rejections) + len(admitted.rejections),
                admitted.unknown_symbols,
                time.perf_counter() - t0,
            )
            bad = parse_rejects.rejections + admitted.rejections
            parse_rejects.rejections.clear()
            if bad:
                stats.rejected += len(bad)
                for line in format_rejections(bad, limit=3):
                    log(logger, logging.WARNING, "tick rejected", detail=line)
            stats.unknown_symbol_ticks += admitted.unknown_symbols
            start_commit()
            task = committing["task"]
            if alerts.height and task is not None and task is not stalled[0]:
                written: asyncio.Future[None] = loop.create_future()
                commit_waiters.append((batch_no, written))
                try:
                    await asyncio.wait_for(written, COMMIT_FIRST_S)
                except TimeoutError:  # a slow commit: no batch waits for it again
                    stalled[0] = task
            start_roll()
            if not encoding and time.monotonic() - last_snapshot >= storage.snapshot_interval.total_seconds():
                last_snapshot = time.monotonic()
                encoding.append((batch_no, SnapshotEncoder(take_snapshot(engine, gate, position["row"]))))
            if encoding:
                number, encoder = encoding[0]
                parts = encoder.step(slice_budget(time.perf_counter() - t0))
                if parts is not None:
                    encoding.clear()
                    held_snapshot[:] = [(number, parts)]
                    reap()
                    storing.add(loop.create_task(store_held_snapshot()))  # at once if nothing waits for the log
            now = time.monotonic()
            if now - last_status >= status_every:
                last_status = now
                if status_line.enabled:
                    status_line.show(stats.line(notifier.health()))
                else:
                    log(logger, logging.INFO, "status", detail=stats.line(notifier.health()))
    finally:
        if next_batch is not None:
            next_batch.cancel()
            await asyncio.gather(next_batch, return_exceptions=True)
        await batches.aclose()
        stop.set()
        if api is not None:
            await api.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for attempt in range(SHUTDOWN_FLUSH_ATTEMPTS):
            await drain()
            if not unlogged:
                break
            await asyncio.sleep(0.1 * 2**attempt)
        if committing["roll"] is not None:
            await committing["roll"]
            reap()
        committer.shutdown(wait=False)  # drained above: nothing of ours is left in it
        await notifier.close()  # undelivered notifications stay pending for the next start
        if storing:  # their stores must not land after the last one
            await asyncio.gather(*storing, return_exceptions=True)
        # never snapshot past alerts that are not in the log yet, nor into a scope lost
        if not unlogged and await guard.confirm():
            await store_snapshot(state_store, capture_snapshot(engine, gate, position["row"]), finger)
        await asyncio.to_thread(state_store.close)
        status_line.close()
        await asyncio.to_thread(alert_log.roll, force=True)  # a last try; else the next start
        await asyncio.to_thread(alert_log.close)
        long_lived.release()  # after the last commit: a full collection of everything is slow
        data_lock.release()
        log(logger, logging.INFO, "runner stopped", detail=stats.line(notifier.health()))
    if unlogged:
        # Last resort: the alerts go to stderr as JSONL so an operator can recover them.
        lost = pl.concat([frame for _, frame in unlogged])
        log(logger, logging.ERROR, "alerts could not be logged before exit; dumping them to stderr",
            count=lost.height)
        for line in format_jsonl(lost):
            sys.stderr.write(f"UNLOGGED {line}\n")
        return 1
    if source_error is not None:
        sys.stderr.write(f"error: {source_error}\n")
        return 1
    return 1 if guard.lost is not None else 0

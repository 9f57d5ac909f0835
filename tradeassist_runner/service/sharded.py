"""``tradeassist run CONFIG --shard I/N``: evaluate some shards' rules from their Redis streams.

Per shard this runner serves: the runners' consumer group reads its stream (at start
the runner takes over the shard's pending entries, whoever was delivered them), one engine holds only that shard's rules, and one state store holds its
snapshot. The commit protocol, which makes a SIGKILL at any moment harmless:

1. evaluate the entries read; ticks whose number (``row``) was evaluated before are
   skipped, so an entry delivered twice, or re-published by an ingest, counts once;
2. log the batch's alerts (the alert log ignores ids it holds; the delivery outbox is
   written in the same transaction, so each alert id is queued for sending once);
3. every ``storage.snapshot_interval`` (and as soon as a read finds nothing new):
   snapshot the engine state together with the last stream id and tick number it covers
   (taken between batches, written while the next ones are evaluated);
4. only then XACK the entries up to that id.

A restart restores each shard's snapshot and re-reads its pending entries (everything
after the snapshot, since nothing later was acknowledged): the same ticks from the same
state give the same alerts with the same ids, which the log already holds. Redis going
away is a reconnect with backoff, reported in the status line and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from redis.exceptions import RedisError

from ..config.loaded import LoadedConfig
from ..config.loader import RulesFileCache
from ..config.models import RedisSource
from ..engine.evaluate import Engine
from ..engine.plan import Plan, compile_plan
from ..engine.snapshot import load_state
from ..engine.state import EngineState
from ..errors import SinkError
from ..logs import log
from ..notify.delivery import Notifier
from ..rules.groups import shard_rules, symbol_shards
from ..settings import apply_settings, load_settings
from ..sinks.backend import describe as describe_storage, open_locked_log, postgres_url, sqlite_state_path
from ..sinks.query import format_jsonl
from ..sinks.state_store import SnapshotDamaged, StateStore
from ..sinks.store import SnapshotStore
from ..sources.ticks import ROW, TickGate, format_rejections
from ..streams.codec import CodecError, decode_table, tables_to_frames
from ..streams.redis_streams import (
    REDIS_ERRORS,
    Backoff,
    connect,
    describe,
    ensure_group,
    parse_id,
    stream_name,
)
from ..timefmt import from_epoch_ms, to_epoch_ms
from .heap import LongLived
from .lock_guard import LockGuard
from .observe import Observer
from .reload import Rejections, rebuild, watch, watched_paths
from .console import ConsoleAlerts
from .runner import warm_for_feed
from .snapshots import SnapshotEncoder, SnapshotMismatch, encode_snapshot, slice_budget
from .status import RunStats, StatusLine

logger = logging.getLogger("tradeassist.run")

#: How long one XREADGROUP waits for entries (ms): also how often snapshots fall due when idle.
READ_BLOCK_MS = 100
ZERO_ID = "0-0"


def parse_shards(values: tuple[str, ...], configured: int) -> list[int]:
    """``--shard 0/4 --shard 2/4`` or ``--shard 0,2/4`` -> [0, 2]; ValueError with a clear message."""
    out: list[int] = []
    for value in values:
        head, sep, total = value.partition("/")
        if not sep:
            raise ValueError(f"{value!r}: write I/N, e.g. 0/{configured}")
        try:
            n = int(total)
            picked = [int(x) for x in head.split(",")]
        except ValueError:
            raise ValueError(f"{value!r}: I and N must be whole numbers, e.g. 0/{configured}") from None
        if n != configured:
            raise ValueError(f"{value!r}: the config has source.shards: {configured}, not {n}")
        for i in picked:
            if not 0 <= i < n:
                raise ValueError(f"{value!r}: shard {i} is not in 0..{n - 1}")
            if i not in out:
                out.append(i)
    if not out:
        raise ValueError("no shard given")
    return sorted(out)


@dataclass
class Shard:
    """One shard as this runner serves it."""

    index: int
    stream: str
    engine: Engine
    gate: TickGate
    store: SnapshotStore
    finger: dict[str, Any]
    last_id: str = ZERO_ID  # last stream entry evaluated
    committed_id: str = ZERO_ID  # last entry covered by a snapshot
    last_row: int = 0  # last tick number evaluated
    unacked: list[bytes] = field(default_factory=list)  # evaluated or skipped, not acknowledged yet
    dirty: bool = False  # evaluated since the last snapshot


def open_shard_state(loaded: LoadedConfig, shard: int, shards: int) -> SnapshotStore:
    """The shard's own snapshot, whichever runner serves it: PostgreSQL scope ``shard-I-of-N``
    (shared by every runner, so a shard restarts anywhere), or a file beside the SQLite log."""
    url = postgres_url(loaded)
    if url is not None:
        from ..sinks.postgres_state import PostgresStateStore

        return PostgresStateStore(url, f"shard-{shard}-of-{shards}")
    base = sqlite_state_path(loaded)
    return StateStore(base.with_name(f"{base.stem}.shard-{shard}-of-{shards}{base.suffix}"))


def _restore(shard: Shard, loaded: LoadedConfig) -> None:
    """Install the shard's snapshot; a damaged one starts the shard afresh (logged ids stay no-ops)."""
    store = shard.store
    problem: SnapshotDamaged | None = store.set_aside
    snapshot = None
    if problem is None:
        try:
            snapshot = store.load()
        except SnapshotDamaged as exc:
            problem = exc
    if problem is not None:
        log(logger, logging.ERROR, "state snapshot is damaged; this shard starts fresh", shard=shard.index,
            path=str(problem.path), problem=problem.problem)
        return
    if snapshot is None:
        return
    if snapshot.fingerprint != shard.finger:
        raise SnapshotMismatch(
            f"state snapshot {store.path} was saved for another stream or config "
            f"(saved: {json.dumps(snapshot.fingerprint, sort_keys=True)}; now: {json.dumps(shard.finger, sort_keys=True)}); "
            f"move it away to start this shard fresh"
        )
    try:
        run = json.loads(snapshot.parts["run"])
        state = load_state(snapshot.parts)
        marks = {str(s): from_epoch_ms(int(ms)) for s, ms in run["marks"].items()}
        last_id, last_row = str(run["last_id"]), int(run["last_row"])
        parse_id(last_id)
    except Exception as exc:  # noqa: BLE001 - a sound checksum over parts this version cannot decode
        log(logger, logging.ERROR, "state snapshot cannot be decoded; this shard starts fresh", shard=shard.index,
            path=str(store.path), problem=f"{type(exc).__name__}: {exc}")
        return
    shard.engine.state = state
    shard.gate.restore_marks(marks)
    shard.last_id = shard.committed_id = last_id
    shard.last_row = last_row
    log(logger, logging.INFO, "shard state restored", shard=shard.index, last_id=last_id, last_row=last_row,
        saved_at=run.get("saved_at", "?"))


@dataclass(frozen=True)
class _TakenShard:
    """A shard's state at one point between batches, by reference (engine states are never
    mutated, see :class:`.snapshots.TakenSnapshot`): encoded a slice at a time afterwards."""

    state: EngineState
    marks: dict[str, int]
    last_id: str  # the last stream id the snapshot covers
    last_row: int
    plan: str
    saved_at: str

    def run_part(self) -> bytes:
        return json.dumps({
            "marks": self.marks, "last_id": self.last_id, "last_row": self.last_row, "plan": self.plan,
            "saved_at": self.saved_at,
        }).encode()


def _take(shard: Shard) -> _TakenShard:
    """The shard's state now (only between batches; cheap: no copy, no encoding)."""
    return _TakenShard(
        shard.engine.state, {s: to_epoch_ms(ts) for s, ts in shard.gate.marks().items()}, shard.last_id,
        shard.last_row, shard.engine.plan.version, datetime.now(timezone.utc).isoformat(),
    )


def _write(shard: Shard, parts: dict[str, bytes]) -> float:
    """Write encoded parts to the shard's store (worker thread); the CPU seconds it took (of
    this thread: what other threads and processes do is not its cost)."""
    t0 = time.thread_time()
    shard.store.save(parts, shard.finger)
    return time.thread_time() - t0


def _save(shard: Shard) -> None:
    _write(shard, encode_snapshot(_take(shard)))


@dataclass
class _Encoding:
    """A shard's snapshot being encoded between batches."""

    unit: Shard
    covers: str  # the last stream id the snapshot covers
    encoder: SnapshotEncoder
    parts: dict[str, bytes] | None = None  # once encoded, until the write before it is done


@dataclass
class _Writing:
    """A shard's snapshot being written while the runner reads and evaluates on."""

    unit: Shard
    covers: str  # the last stream id the snapshot covers
    task: asyncio.Future[float]


#: How the log write of a read's alerts went: the alerts, and their deliveries or the error.
_Written = tuple[pl.DataFrame, "list[tuple[dict[str, Any], tuple[str, ...]]] | SinkError"]


def _row_range(fields: dict[bytes, bytes]) -> tuple[int | None, int | None]:
    """The entry's first and last tick number as the ingest wrote them (``f``, ``l``); None if absent."""
    out: list[int | None] = []
    for key in (b"f", b"l"):
        try:
            out.append(int(fields[key]))
        except (KeyError, ValueError):
            out.append(None)
    return out[0], out[1]


def fresh_ticks(unit: Shard, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[pa.Table]:
    """The ticks of a shard's entries not evaluated before, entry by entry in order (worker
    thread); the shard's position moves past them (they are evaluated right after)."""
    tables: list[pa.Table] = []
    for entry_id, fields in entries:
        text = entry_id.decode()
        if parse_id(text) <= parse_id(unit.last_id):
            unit.unacked.append(entry_id)  # seen before (a re-delivery): acknowledged with the next commit
            continue
        first, last = _row_range(fields)
        table = None
        if last is None or last > unit.last_row:  # an entry evaluated whole before is not even decoded
            try:
                table = decode_table(fields[b"d"])
            except (CodecError, KeyError) as exc:
                log(logger, logging.ERROR, "stream entry is not a tick frame; skipped", stream=unit.stream,
                    entry=text, problem=str(exc))
        if table is not None:
            # Rows only grow within an entry's range: one entirely after the last tick
            # evaluated (the usual case) is fresh as it is, with no filter to run, and its
            # last tick number is the one the ingest wrote beside it.
            whole = first is not None and first > unit.last_row
            if not whole:
                table = table.filter(pc.greater(table[ROW], unit.last_row))
            if table.num_rows:
                unit.last_row = last if whole and last is not None else int(pc.max(table[ROW]).as_py())
                tables.append(table)
        unit.last_id = text
        unit.unacked.append(entry_id)
        unit.dirty = True
    return tables


def _plan_for(loaded: LoadedConfig, assignment: dict[str, int], index: int) -> Plan:
    return compile_plan(shard_rules(loaded.rules, assignment, index), loaded.instruments)


def _warm_all(plans: list[Plan], loaded: LoadedConfig) -> None:
    """Warm every shard's plan in one worker-thread call (see ``warm_for_feed``)."""
    for plan in plans:
        warm_for_feed(plan, loaded)


async def run_sharded(
    loaded: LoadedConfig,
    shards: list[int],
    *,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
    status_every: float = 5.0,
    watch_files: bool = True,
    rules_cache: RulesFileCache | None = None,
) -> int:
    """Run the ``shards`` of a Redis source until it ends or ``stop`` is set; ``rules_cache``
    as for :func:`run_service`."""
    rules_cache = rules_cache if rules_cache is not None else RulesFileCache()
    source = loaded.config.source
    assert isinstance(source, RedisSource)
    console = ConsoleAlerts(out or sys.stdout)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    settings = load_settings()
    observer = Observer()
    long_lived = LongLived()
    assignment = symbol_shards(loaded.rules, loaded.instruments, source.shards)
    storage = loaded.config.storage
    data_lock, alert_log = await asyncio.to_thread(open_locked_log, loaded)
    units: list[Shard] = []
    try:
        for i in shards:
            store = await asyncio.to_thread(open_shard_state, loaded, i, source.shards)
            symbols = [s for s, k in assignment.items() if k == i]
            unit = Shard(
                i, stream_name(source, i), Engine(_plan_for(loaded, assignment, i)), TickGate(symbols), store,
                {"config": str(loaded.path.resolve()), "source": "redis", "stream": stream_name(source, i),
                 "shards": source.shards, "group": source.group},
            )
            units.append(unit)
            _restore(unit, loaded)
    except BaseException:
        for u in units:
            u.store.close()
        alert_log.close()
        data_lock.release()
        raise
    by_stream = {u.stream.encode(): u for u in units}
    await asyncio.to_thread(alert_log.catch_up)
    await asyncio.to_thread(_warm_all, [u.engine.plan for u in units], loaded)
    notifier = Notifier(loaded, alert_log)
    notifier.on_outcome = observer.on_delivery
    observer.channel_health = notifier.health
    observer.source_type = "redis"
    observer.parquet_status = alert_log.parquet_status
    observer.engine_state = lambda: EngineState(
        rules={k: v for u in units for k, v in u.engine.state.rules.items()}
    )
    served = tuple(r for r in loaded.rules if assignment.get(r.rule.instrument) in shards)
    observer.on_plan(loaded, compile_plan(served, loaded.instruments))
    await notifier.start()
    current = {"loaded": loaded}
    full_plan = {"plan": compile_plan(loaded.rules, loaded.instruments)}  # what a reload compares with

    rejections = Rejections(logger)

    async def reload(reason: str) -> None:
        def apply(new: LoadedConfig) -> LoadedConfig:
            return apply_settings(new, settings)

        rebuilt = await asyncio.to_thread(rebuild, full_plan["plan"], current["loaded"].path, apply, rules_cache)
        result = rebuilt.result
        if not result.ok or rebuilt.loaded is None:
            observer.on_reload(result)
            rejections.report(reason, result.errors)
            return
        rejections.clear()
        new = rebuilt.loaded
        if not rebuilt.changed_anything and reason != "SIGHUP" and {i.symbol for i in new.instruments} == {
            i.symbol for i in current["loaded"].instruments
        }:
            if observer.config_invalid:
                observer.on_reload(result)  # the files are valid again
            return  # a file event that changed nothing the runner uses
        observer.on_reload(result)
        regrouped = symbol_shards(new.rules, new.instruments, source.shards)
        if regrouped != assignment:
            moved = sorted(s for s in set(regrouped) | set(assignment) if regrouped.get(s) != assignment.get(s))
            log(logger, logging.WARNING,
                "the symbol groups changed (spread rules or instruments); shards keep the placement they started "
                "with until the ingest and the runners restart", symbols=",".join(moved[:10]))
        await notifier.reconfigure(new)
        plans = [_plan_for(new, assignment, u.index) for u in units]
        await asyncio.to_thread(_warm_all, plans, new)
        for u, plan in zip(units, plans):  # every shard swaps between the same two batches
            u.engine.swap(plan)
        current["loaded"] = new
        if rebuilt.plan is not None:
            full_plan["plan"] = rebuilt.plan
        observer.on_plan(new, compile_plan(
            tuple(r for r in new.rules if assignment.get(r.rule.instrument) in shards), new.instruments))
        long_lived.settle()  # the new plans and config live until the next reload
        log(logger, logging.INFO, "rules reloaded", reason=reason, plan=result.plan_version,
            added=",".join(result.added) or "-", changed=",".join(result.changed) or "-",
            removed=",".join(result.removed) or "-")

    tasks: set[asyncio.Task[None]] = set()

    def request_reload(reason: str) -> None:
        task = loop.create_task(reload(reason))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        loop.add_signal_handler(signal.SIGHUP, request_reload, "SIGHUP")
    except (NotImplementedError, RuntimeError, AttributeError):
        pass
    if watch_files:
        tasks.add(loop.create_task(watch(watched_paths(loaded), reload, stop, 300)))

    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    client = connect(source, password)
    backoff = Backoff(source.reconnect_initial.total_seconds(), source.reconnect_max.total_seconds())
    stats = RunStats()
    status_line = StatusLine(sys.stderr, enabled=sys.stderr.isatty())
    status_line.route_logs()
    unlogged: list[pl.DataFrame] = []
    state: dict[str, Any] = {"up": False, "error": None, "recovered": False}
    # A snapshot or an acknowledgement is what two holders of one scope would corrupt: the
    # scope lock is confirmed (taken again after a lost session) before each round.
    guard = LockGuard(data_lock, stop.set)
    next_snapshot = time.monotonic()
    earliest_snapshot = next_snapshot
    last_status = time.monotonic()
    interval = storage.snapshot_interval.total_seconds()
    log(logger, logging.INFO, "runner started", source="redis", shards=",".join(map(str, shards)),
        of=source.shards, rules=len(served), storage=describe_storage(loaded))

    def evaluate(unit: Shard, batch: pl.DataFrame, t0: float) -> pl.DataFrame:
        """Evaluate a shard's fresh ticks (worker thread); its alerts. ``t0``: when the batch's
        work started (its conversion included)."""
        admitted = unit.gate.admit(batch)
        alerts = unit.engine.process(admitted.accepted)
        stats.batch(admitted.accepted.height, time.perf_counter() - t0)
        if admitted.rejections:
            stats.rejected += len(admitted.rejections)
            for line in format_rejections(admitted.rejections, limit=3):
                log(logger, logging.WARNING, "tick rejected", shard=unit.index, detail=line)
        observer.on_batch(admitted.accepted, len(admitted.rejections), admitted.unknown_symbols,
                          time.perf_counter() - t0)
        return alerts

    async def flush_log(written: _Written | None = None) -> bool:
        """Log every alert waiting, unless ``written`` says how the worker thread's write of
        them went (:func:`evaluate_and_log`); then report, print and queue them for sending."""
        if not unlogged:
            return True
        if written is None:
            pending = pl.concat(unlogged)
            try:
                _report, deliveries = await asyncio.to_thread(notifier.write_outbox, pending)
            except SinkError as exc:
                written = pending, exc
            else:
                written = pending, deliveries
        pending, outcome = written
        if isinstance(outcome, SinkError):
            stats.alerts_unlogged = pending.height
            log(logger, logging.ERROR, "alert log write failed; alerts kept in memory, will retry",
                error=str(outcome), pending=pending.height)
            unlogged[:] = [pending]
            return False
        deliveries = outcome
        recovered = stats.alerts_unlogged > 0
        unlogged.clear()
        stats.alerts_unlogged = 0
        # Committed: now it may be seen and sent (as the single runner does). Printed and
        # reported before the write, a read's alerts waited for the console and the
        # observer's events before they were committed.
        observer.on_alerts(pending)
        with status_line.above():
            console.print(pending)
        notifier.enqueue(deliveries)
        if recovered and notifier.enabled:
            # a write reported as failed may have committed all the same (a database connection
            # lost before the answer): read the outbox again (sent deliveries are skipped)
            await notifier.refill(None)
        if alert_log.roll_due():  # the Parquet copy rolls by time (storage.parquet_roll), off the loop
            await asyncio.to_thread(alert_log.roll)
        return True

    async def acknowledge(u: Shard) -> None:
        """XACK what the shard's last snapshot covers (on the loop: no evaluation runs meanwhile)."""
        if u.unacked and state["up"]:
            ids = [i for i in u.unacked if parse_id(i.decode()) <= parse_id(u.committed_id)]
            if ids:
                await client.xack(u.stream, source.group, *ids)
                done = set(ids)
                u.unacked = [i for i in u.unacked if i not in done]

    async def commit() -> None:
        """Snapshot every shard that moved, then acknowledge what the snapshots cover (at exit)."""
        if unlogged or guard.lost is not None or not await guard.confirm():
            return
        for u in units:
            if u.dirty:
                try:
                    await asyncio.to_thread(_save, u)
                except SinkError as exc:
                    log(logger, logging.ERROR, "state snapshot failed; will retry", shard=u.index, error=str(exc))
                    continue
                u.dirty = False
                u.committed_id = u.last_id
            await acknowledge(u)

    # The round of snapshots in progress: the shards still to take (None: no round), the one
    # being encoded, the one being written, and what the round cost so far (seconds).
    commit_round: dict[str, Any] = {"todo": None, "encoding": None, "writing": None, "cost": 0.0, "started": 0.0}

    async def finish_write(writing: _Writing) -> None:
        commit_round["writing"] = None
        try:
            commit_round["cost"] += await writing.task
        except SinkError as exc:
            log(logger, logging.ERROR, "state snapshot failed; will retry", shard=writing.unit.index, error=str(exc))
            writing.unit.dirty = True
            return
        writing.unit.committed_id = writing.covers
        if guard.lost is None:  # another runner holds the scope now: its acknowledgements, not ours
            await acknowledge(writing.unit)

    def abandon_encoding() -> None:
        """Drop a snapshot not written yet (at exit): its shard is saved whole by :func:`commit`."""
        encoding: _Encoding | None = commit_round["encoding"]
        if encoding is not None:
            commit_round["encoding"] = None
            encoding.unit.dirty = True

    async def commit_step(idle: bool, budget: float) -> None:
        """Advance the snapshot round by at most one slice of encoding, then back to reading.

        A snapshot of a big rule set takes a while (a 1,000-rule state is megabytes of
        JSON), and everything the loop does meanwhile waits: alerts of the next entries
        came out that much later. So a shard's state is taken by reference between batches
        (it must not move under the snapshot, and engine states never do), encoded about
        ``budget`` seconds at a time between the next batches on the loop (in a thread it
        held the GIL beside the engine's), and written by the store while the runner reads
        and evaluates on, one shard at a time; its entries are acknowledged once it is written.
        The next round is due after ``snapshot_interval`` or ten times what this one cost
        (CPU time, which a write that waits for the GIL or a busy machine does not inflate),
        whichever is longer: snapshots never take more than a tenth of the runner's time,
        only what a restart re-reads grows. ``idle`` (the last read found nothing new)
        starts a round before the interval is up, and finishes it in one go: the runner has
        nothing else to do, and holding the acknowledgements back would only keep the lag
        above zero and make a restart re-read more (the tenth-of-the-time bound still holds,
        so a trickling feed does not snapshot on every quiet read).
        """
        nonlocal next_snapshot, earliest_snapshot
        while True:
            writing: _Writing | None = commit_round["writing"]
            if writing is not None and (idle or writing.task.done()):
                await finish_write(writing)
                writing = None
            encoding: _Encoding | None = commit_round["encoding"]
            if encoding is not None:
                if encoding.parts is None:
                    t0 = time.thread_time()
                    encoding.parts = encoding.encoder.step(None if idle else budget)
                    commit_round["cost"] += time.thread_time() - t0
                    if encoding.parts is None:
                        return
                if writing is not None:
                    return  # one write at a time: this one starts once the write before it is done
                commit_round["encoding"] = None
                unit = encoding.unit
                commit_round["writing"] = _Writing(
                    unit, encoding.covers, asyncio.ensure_future(asyncio.to_thread(_write, unit, encoding.parts))
                )
                if not idle:
                    return
                continue
            todo: list[Shard] | None = commit_round["todo"]
            if todo is None:
                now = time.monotonic()
                due = now >= next_snapshot or (idle and now >= earliest_snapshot and any(u.dirty for u in units))
                if unlogged or guard.lost is not None or not due:
                    return
                t0 = time.monotonic()
                if not await guard.confirm():
                    return
                commit_round["cost"], commit_round["started"] = time.monotonic() - t0, t0
                todo = commit_round["todo"] = [u for u in units if u.dirty]
                for u in units:
                    if not u.dirty:
                        await acknowledge(u)  # re-deliveries skipped since the last round
            if not todo:
                if writing is not None and not idle:
                    return  # the round ends with its last write
                commit_round["todo"] = None
                cost = commit_round["cost"]
                next_snapshot = time.monotonic() + max(interval, 10 * cost)
                # from the round's start: a round spread over batches does not hold the
                # shards it left dirty back any longer than one taken in a go
                earliest_snapshot = commit_round["started"] + 10 * cost
                return
            if unlogged or guard.lost is not None:
                return  # alerts evaluated but not logged yet: no snapshot may cover them
            u = todo.pop(0)
            t0 = time.thread_time()
            taken = _take(u)
            commit_round["cost"] += time.thread_time() - t0
            u.dirty = False
            commit_round["encoding"] = _Encoding(u, taken.last_id, SnapshotEncoder(taken))

    consumer = "shards-" + "-".join(str(u.index) for u in units)

    async def read_new() -> list[tuple[Shard, list[tuple[bytes, dict[bytes, bytes]]]]]:
        reply: Any = await client.xreadgroup(source.group, consumer, {u.stream: ">" for u in units},
                                             count=source.read_count, block=READ_BLOCK_MS)
        return [(by_stream[bytes(name)], list(entries)) for name, entries in (reply or []) if entries]

    def evaluate_all(read: list[tuple[Shard, list[tuple[bytes, dict[bytes, bytes]]]]]) -> list[pl.DataFrame]:
        """Each shard's fresh ticks of one read, converted to polars in one call (its fixed cost
        is most of a small entry's), then evaluated shard by shard with the shard's own engine."""
        t0 = time.perf_counter()
        # where each shard was: a shard whose fresh ticks were taken but not evaluated (an
        # error in another's) must not be snapshotted past them at exit
        before = [(u, u.last_id, u.last_row, len(u.unacked), u.dirty) for u, _ in read]
        done: set[int] = set()
        try:
            picked = [(unit, tables) for unit, tables in ((u, fresh_ticks(u, entries)) for u, entries in read) if tables]
            out = []
            for (unit, _), batch in zip(picked, tables_to_frames([tables for _, tables in picked])):
                alerts = evaluate(unit, batch, t0)
                done.add(unit.index)
                t0 = time.perf_counter()
                if alerts.height:
                    out.append(alerts)
            return out
        except BaseException:
            for u, last_id, last_row, unacked, dirty in before:
                if u.index not in done:
                    u.last_id, u.last_row, u.dirty = last_id, last_row, dirty
                    del u.unacked[unacked:]
            raise

    def evaluate_and_log(read: list[tuple[Shard, list[tuple[bytes, dict[bytes, bytes]]]]],
                         write: bool) -> tuple[list[pl.DataFrame], _Written | None]:
        """:func:`evaluate_all`, then (``write``: no older alert waits to be logged) the log
        write of its alerts in the same worker thread, not in a second trip from the loop."""
        found = evaluate_all(read)
        if not (write and found):
            return found, None
        pending = pl.concat(found)
        try:
            return found, (pending, notifier.write_outbox(pending)[1])
        except SinkError as exc:
            return found, (pending, exc)

    async def handle(*read: tuple[Shard, list[tuple[bytes, dict[bytes, bytes]]]]) -> bool:
        """Evaluate what one read brought and log its alerts, every shard of it in one trip to
        a worker thread (each trip is a wake-up that, on a busy machine, waits its turn for a
        core). False: nothing was logged here (:func:`flush_log` does it, or retries)."""
        if not read:
            return False
        found, written = await asyncio.to_thread(evaluate_and_log, list(read), not unlogged)
        for alerts in found:
            stats.alerts += alerts.height
            unlogged.append(alerts)
        if written is None:
            return False
        await flush_log(written)
        return True

    async def recover() -> None:
        """Create the groups, then take over and re-read every shard's pending entries.

        XAUTOCLAIM moves the entries another incarnation of this shard was delivered (on
        another machine, under another consumer name) to this one, in id order: everything
        after the shard's last snapshot, since nothing later was acknowledged.
        """
        for u in units:
            await ensure_group(client, u.stream, source.group)
        for u in units:
            u.unacked.clear()
            cursor = ZERO_ID
            while not stop.is_set():
                reply = await client.xautoclaim(u.stream, source.group, consumer, min_idle_time=0,
                                                start_id=cursor, count=source.read_count)
                cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
                entries = [e for e in reply[1] if e and e[1] is not None]
                if entries and not await handle((u, entries)):
                    await flush_log()
                if cursor == ZERO_ID:
                    break

    def down(exc: BaseException) -> None:
        text = describe(exc)
        if state["up"] or state["error"] != text:
            log(logger, logging.WARNING, "redis unreachable; retrying with backoff", error=text,
                retry_in=f"{backoff.current:.1f}s")
        state["up"], state["error"] = False, text
        observer.source_connected = False

    def status_text() -> str:
        text = stats.line(notifier.health()) + f"  shards {','.join(str(u.index) for u in units)}/{source.shards}"
        if not state["up"]:
            text += f"  REDIS DOWN: {state['error'] or 'connecting'}"
        return text

    api = None
    try:
        if loaded.config.api.enabled:
            from ..api import start_api

            api = await start_api(loaded, observer, settings)
            status_line.route_logs()
        long_lived.settle()  # start-up is over: what it built lives for the run
        while not stop.is_set():
            try:
                if not state["recovered"]:
                    await recover()
                    state["recovered"] = True
                    if not state["up"]:
                        log(logger, logging.INFO, "redis connected", url=source.url)
                    state["up"], state["error"] = True, None
                    observer.source_connected = True
                    backoff.reset()
                read = await read_new()
                t0 = time.perf_counter()
                if not await handle(*read):
                    await flush_log()  # alerts an earlier write failed to log: tried again
                await commit_step(not read, slice_budget(time.perf_counter() - t0))
            except REDIS_ERRORS as exc:
                down(exc)
                state["recovered"] = False
                await backoff.wait(stop)
            except RedisError as exc:  # a refused command, not a lost connection
                state["recovered"] = False  # recreate the groups and re-read what is pending
                if "NOGROUP" in str(exc):  # Redis lost the group (restarted empty)
                    log(logger, logging.WARNING, "consumer group missing; recreating it", error=describe(exc))
                    continue
                log(logger, logging.ERROR, "redis refused a command; retrying", error=describe(exc))
                await backoff.wait(stop)
            now = time.monotonic()
            if now - last_status >= status_every:
                last_status = now
                if status_line.enabled:
                    status_line.show(status_text())
                else:
                    log(logger, logging.INFO, "status", detail=status_text())
    finally:
        stop.set()
        if api is not None:
            await api.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for attempt in range(5):
            if await flush_log():
                break
            await asyncio.sleep(0.1 * 2**attempt)
        abandon_encoding()
        try:
            writing = commit_round["writing"]
            if writing is not None:  # never two writes of one store at once: wait for this one
                await asyncio.wait_for(asyncio.shield(writing.task), 5.0)
                await finish_write(writing)
            await asyncio.wait_for(commit(), 5.0)
        except (TimeoutError, *REDIS_ERRORS):  # type: ignore[misc]
            pass  # the snapshot is saved; the acknowledgements follow at the next start
        await notifier.close()
        try:
            await client.aclose()
        except REDIS_ERRORS:
            pass
        for u in units:
            await asyncio.to_thread(u.store.close)
        status_line.close()
        await asyncio.to_thread(alert_log.roll, force=True)
        await asyncio.to_thread(alert_log.close)
        long_lived.release()  # after the last commit: a full collection of everything is slow
        data_lock.release()
        log(logger, logging.INFO, "runner stopped", detail=status_text())
    if unlogged:
        lost = pl.concat(unlogged)
        log(logger, logging.ERROR, "alerts could not be logged before exit; dumping them to stderr", count=lost.height)
        for line in format_jsonl(lost):
            sys.stderr.write(f"UNLOGGED {line}\n")
        return 1
    return 1 if guard.lost is not None else 0

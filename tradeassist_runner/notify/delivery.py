"""The delivery engine: alert log first (outbox), then apprise, asynchronously.

    engine ─ alerts ─> write_outbox: alert rows + "pending" per routed channel (one thread call)
                   └─> enqueue: per-channel bounded queue (never blocks; overflow waits in the log)
    per channel: rate limit -> single message, or a digest when a storm exceeds it
                 -> circuit breaker -> apprise.async_notify (timeout) -> retries with backoff
                 -> delivery status in the alert log: sent | failed (error, attempts, time)

Evaluation never waits for a channel: the runner only writes the outbox and puts jobs
on queues with ``put_nowait``. Nothing is lost: an alert is ``pending`` in SQLite before
any send, and pending rows are picked up again at start (at-least-once delivery).

Outages: a message's retries count only tries made while the channel looked healthy.
The breaker's half-open trials do not use them up, and a message whose retries ran out
with no success on the channel meanwhile (the channel is down, not the message bad)
stays ``pending`` and waits for the channel to come back. Only a message that keeps
failing while others get through ends ``failed``. Every channel's state (breaker,
pending, waiting, last error) is in :meth:`Notifier.health`, which the status line,
``/api/status`` and ``/metrics`` read; retries are logged at most once per
:data:`RETRY_LOG_EVERY` seconds per channel, with the count of lines held back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

import polars as pl

from ..config.loaded import LoadedConfig
from ..config.notify_models import DeliverySettings, Notifications
from ..errors import SinkError
from ..logs import log, redact
from ..sinks.alert_log import AlertLog, WriteReport
from .channels import NOTIFY_TYPE, ChannelRuntime, build_channels, expand
from .policy import (
    SYSTEM_CLOCK,
    BreakerState,
    CircuitBreaker,
    Clock,
    Pacer,
    RateLimiter,
    backoff,
)
from .templates import Renderer, alert_fields

logger = logging.getLogger("tradeassist.notify")
T = TypeVar("T")

#: Lines of a digest message before "... and N more".
DIGEST_LINES = 20
#: Finished alert ids remembered per channel, so a refill from the log does not resend them.
FINISHED_MEMORY = 50_000
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
#: At most one "retry" log line per channel in this many seconds (the others are counted).
RETRY_LOG_EVERY = 30.0

ChannelState = Literal["closed", "open", "half-open", "unavailable"]


@dataclass(frozen=True)
class ChannelHealth:
    """One channel as the status line, ``/api/status`` and ``/metrics`` show it.

    A plain snapshot, so the composition root can hand it to the API and the status line
    without the notify layer knowing about either.
    """

    channel: str
    state: ChannelState  # breaker state; "unavailable": this machine cannot use the channel
    pending: int  # alerts queued or being sent
    waiting: int  # of those, alerts whose retries ran out while the channel is down
    sent: int  # alerts delivered since start
    failed: int  # alerts given up on since start
    consecutive_failures: int
    circuit_opens: int  # times the breaker opened since start
    last_error: str | None
    last_error_at: datetime | None
    last_sent_at: datetime | None
    down_since: datetime | None  # when the breaker opened, while it is not closed


@dataclass(frozen=True)
class Job:
    """One alert for one channel, with the fields its templates need."""

    alert_id: str
    severity: str
    fields: dict[str, Any]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Router:
    """Which channels an alert goes to: the rule's ``notify:``, else its severity's route."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.notifications: Notifications = loaded.config.notifications
        self.rules = {r.rule.id: r.rule for r in loaded.rules}
        self.instruments = {i.symbol: i for i in loaded.instruments}
        self.renderer = Renderer(self.notifications.templates)

    def channels_for(self, rule_id: str, severity: str) -> tuple[str, ...]:
        channels = self.notifications.channels
        rule = self.rules.get(rule_id)
        names = rule.notify if rule is not None and rule.notify is not None else None
        if names is None:
            names = self.notifications.routes.get(severity, [])  # type: ignore[call-overload]
        return tuple(expand(list(names), channels))

    def job(self, row: Mapping[str, Any]) -> Job:
        fields = alert_fields(row, self.instruments.get(row["symbol"]), self.rules.get(row["rule_id"]))
        return Job(row["alert_id"], row["severity"] or "warning", fields)


class ChannelWorker:
    """Sends one channel's jobs: bounded queue, rate limit + digest, breaker, retries."""

    def __init__(
        self,
        runtime: ChannelRuntime,
        delivery: DeliverySettings,
        notifier: Notifier,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.runtime = runtime
        self.delivery = delivery
        self.notifier = notifier
        self.clock = clock
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=delivery.queue_size)
        rl = runtime.rate_limit
        self.limiter = RateLimiter(rl.max, rl.per.total_seconds(), clock)
        cb = delivery.circuit_breaker
        self.breaker = CircuitBreaker(cb.failures, cb.reset.total_seconds(), clock, self._breaker_changed)
        self.slots = asyncio.Semaphore(runtime.concurrency)
        self.sends: set[asyncio.Task[None]] = set()
        self.messages: dict[asyncio.Task[None], list[Job]] = {}  # what each send carries
        #: Sends waiting (breaker or backoff), not talking to the service: a reload may
        #: take their jobs over without risking a message sent twice.
        self.idle: set[asyncio.Task[None]] = set()
        #: Sends that gave their concurrency slot back while waiting for a down channel.
        self.slot_returned: set[asyncio.Task[None]] = set()
        # Alert ids queued or being sent, and the last ones finished: a job read back from
        # the log (refill) while the runner or a send also holds it is not sent twice.
        self.known: set[str] = set()
        self.finished: OrderedDict[str, None] = OrderedDict()
        self.overflowed = False
        self.refilling = False  # reading the log's pending jobs back after an overflow
        self.task: asyncio.Task[None] | None = None
        # health
        self.waiting: set[str] = set()  # retries used up while the channel is down
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_sent_at: datetime | None = None
        self.down_since: datetime | None = None
        self._down_clock: float | None = None
        self.retry_log = Pacer(RETRY_LOG_EVERY, clock)

    def health(self) -> ChannelHealth:
        return ChannelHealth(
            channel=self.name, state=self.breaker.state, pending=len(self.known), waiting=len(self.waiting),
            sent=self.sent, failed=self.failed, consecutive_failures=self.breaker.consecutive,
            circuit_opens=self.breaker.opened, last_error=self.last_error, last_error_at=self.last_error_at,
            last_sent_at=self.last_sent_at, down_since=self.down_since,
        )

    def _breaker_changed(self, state: BreakerState) -> None:
        if state == "open" and self.down_since is None:
            self.down_since, self._down_clock = _now(), self.clock.now()
            log(logger, logging.WARNING, "channel down: circuit open, sends paused", channel=self.name,
                failures=self.breaker.consecutive, retry_in=f"{self.breaker.reset:g}s", pending=len(self.known),
                error=self.last_error)
        elif state == "half-open":
            log(logger, logging.DEBUG, "channel circuit half-open: one trial send", channel=self.name)
        elif state == "closed":
            down = self.clock.now() - self._down_clock if self._down_clock is not None else 0.0
            log(logger, logging.INFO, "channel back: circuit closed, sending again", channel=self.name,
                down_for=f"{down:.0f}s", pending=len(self.known))
            self.down_since = self._down_clock = None

    def _log_retry(self, jobs: list[Job], tries: int, error: str | None, what: str) -> None:
        go, held = self.retry_log.tick()
        if go:
            log(logger, logging.WARNING, f"delivery {what}", channel=self.name, alerts=len(jobs), attempt=tries,
                state=self.breaker.state, pending=len(self.known), waiting=len(self.waiting), error=error,
                suppressed=held)

    @property
    def name(self) -> str:
        return self.runtime.name

    def offer(self, job: Job, from_log: bool = False) -> bool:
        if job.alert_id in self.known or (from_log and job.alert_id in self.finished):
            return True
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        self.known.add(job.alert_id)
        return True

    def _drain(self, into: list[Job]) -> None:
        while True:
            try:
                into.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                return

    async def run(self) -> None:
        while True:
            jobs = [await self.queue.get()]
            self._drain(jobs)
            await self.limiter.wait_slot()
            self._drain(jobs)  # what arrived while the window was full joins the digest
            room = self.limiter.remaining()
            messages = [[j] for j in jobs] if len(jobs) <= room else [jobs]
            for message in messages:
                await self.slots.acquire()
                self.limiter.take()
                task = asyncio.create_task(self._deliver(message))
                self.sends.add(task)
                self.messages[task] = message
                task.add_done_callback(self._sent)
            if self.overflowed and self.queue.qsize() < self.queue.maxsize // 2:
                self.overflowed = False
                self.refilling = True
                try:
                    await self.notifier.refill(self)
                finally:
                    self.refilling = False

    def _sent(self, task: asyncio.Task[None]) -> None:
        self.sends.discard(task)
        self.messages.pop(task, None)
        if task in self.slot_returned:
            self.slot_returned.discard(task)
        else:
            self.slots.release()
        if not task.cancelled() and task.exception() is not None:
            log(logger, logging.ERROR, "delivery task crashed", channel=self.name, error=redact(repr(task.exception())))

    def render(self, jobs: list[Job]) -> tuple[str, str, str]:
        """(title, body, apprise notify_type) of one message: one alert, or a digest of many."""
        worst = max((j.severity for j in jobs), key=lambda s: _SEVERITY_RANK.get(s, 1))
        if len(jobs) == 1:
            r = self.notifier.router.renderer.render(jobs[0].fields)
            return r.title, r.body, NOTIFY_TYPE.get(worst, "warning")
        symbols = sorted({str(j.fields["symbol"]) for j in jobs})
        title = f"{worst.upper()} {len(jobs)} alerts ({', '.join(symbols[:5])}{', ...' if len(symbols) > 5 else ''})"
        lines = [
            f"{j.fields['time_utc']} {j.severity.upper():8} {j.fields['rule_id']}: {j.fields['message']}"
            for j in jobs[:DIGEST_LINES]
        ]
        if len(jobs) > DIGEST_LINES:
            lines.append(f"... and {len(jobs) - DIGEST_LINES} more (tradeassist alerts CONFIG shows them all)")
        rl = self.runtime.rate_limit
        head = (
            f"{len(jobs)} alerts grouped into one message: this channel sends at most {rl.max} "
            f"per {rl.per.total_seconds():g}s."
        )
        return title, "\n".join([head, *lines]), NOTIFY_TYPE.get(worst, "warning")

    async def _deliver(self, jobs: list[Job]) -> None:
        try:
            await self._deliver_now(jobs)
        finally:
            for job in jobs:
                self.known.discard(job.alert_id)
                self.finished[job.alert_id] = None
            while len(self.finished) > FINISHED_MEMORY:
                self.finished.popitem(last=False)

    async def _waiting(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` marked idle: the send holds no request to the service meanwhile."""
        task = asyncio.current_task()
        if task is None:
            return await awaitable
        self.idle.add(task)
        try:
            return await awaitable
        finally:
            self.idle.discard(task)

    def _return_slot(self) -> None:
        task = asyncio.current_task()
        if task is not None and task in self.sends and task not in self.slot_returned:
            self.slot_returned.add(task)
            self.slots.release()

    def hand_over(self) -> list[Job]:
        """Stop (at a reload) the sends that are only waiting, and give back their jobs and the queue's."""
        jobs: list[Job] = []
        for task in list(self.idle):
            jobs += self.messages.get(task, [])
            task.cancel()
        self._drain(jobs)
        return jobs

    async def _deliver_now(self, jobs: list[Job]) -> None:
        title, body, notify_type = self.render(jobs)
        retry = self.delivery.retry
        error: str | None = None
        tries = 0  # every try, for the delivery log
        used = 0  # failed tries that count against this message's retries
        since = self.breaker.successes  # a success after this: the channel works, the message fails
        ids = [j.alert_id for j in jobs]
        while True:
            trial = await self._waiting(self.breaker.acquire())
            if not trial and self.waiting.intersection(ids):
                # the channel is back (another send got through): a fresh set of retries; if
                # they run out too, it is this message that fails (``since`` is kept)
                self.waiting.difference_update(ids)
                used = 0
            tries += 1
            try:
                error = await self._send_once(title, body, notify_type, retry.timeout.total_seconds())
            except asyncio.CancelledError:
                if trial:
                    self.breaker.abandon()
                raise
            if error is None:
                self.breaker.success()
                self.waiting.difference_update(ids)
                self.sent += len(jobs)
                self.last_sent_at = _now()
                done = asyncio.ensure_future(self.notifier.record(jobs, self.name, "sent", tries, None))
                self.notifier.recording.add(done)
                done.add_done_callback(self.notifier.recording.discard)
                await asyncio.shield(done)
                return
            self.last_error, self.last_error_at = error, _now()
            self.breaker.failure()
            if (trial or self.waiting.intersection(ids)) and self.breaker.successes == since:
                # the channel is still down (nothing got through since this message's first
                # try): this says nothing about the message; no retry used. Once another message
                # got through, a refused trial counts against this one, whatever order the
                # concurrent sends finished in.
                await self.notifier.record(jobs, self.name, "pending", tries, error)
                self._log_retry(jobs, tries, error, "still failing, waiting for the channel")
                continue
            used += 1
            if used < retry.attempts:
                await self.notifier.record(jobs, self.name, "pending", tries, error)
                self._log_retry(jobs, tries, error, "retry")
                await self._waiting(self.clock.sleep(
                    backoff(used, retry.initial_delay.total_seconds(), retry.max_delay.total_seconds(),
                            self.notifier.rng)
                ))
                continue
            if self.breaker.successes == since:
                # nothing got through on this channel since the first try: it is down; wait for it,
                # without its concurrency slot, so a message the service always refuses cannot
                # keep the others from their turn at the breaker's trial
                self.waiting.update(ids)
                self._return_slot()
                await self.notifier.record(jobs, self.name, "pending", tries, error)
                self._log_retry(jobs, tries, error, "retries used up while the channel is down; waiting for it")
                self.breaker.trip()
                continue
            break
        self.breaker.absolve()  # the channel works (another message got through): this one is refused
        self.failed += len(jobs)
        await self.notifier.record(jobs, self.name, "failed", tries, error)
        log(logger, logging.WARNING, "delivery failed", channel=self.name, alerts=len(jobs),
            attempts=tries, error=error)

    async def _send_once(self, title: str, body: str, notify_type: str, timeout: float) -> str | None:
        """None when sent; else why not (secrets masked)."""
        ap = self.runtime.apprise
        if ap is None:
            return self.runtime.unavailable or "channel unavailable"
        try:
            result = await asyncio.wait_for(
                ap.async_notify(body=body, title=title, notify_type=notify_type, timeout=timeout), timeout + 5
            )
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the worker
            return redact(f"{type(exc).__name__}: {exc}")
        try:
            if result.status.name == "SUCCESS":
                return None
            said = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
            return redact("; ".join(dict.fromkeys(said)) or f"apprise reported {result.status.name}")
        finally:
            result.close()


class Notifier:
    """Owns the channel workers; the runner calls ``write_outbox``, ``enqueue`` and ``close``."""

    def __init__(self, loaded: LoadedConfig, alert_log: AlertLog, *, env: Mapping[str, str] | None = None,
                 rng: Callable[[], float] = random.random, clock: Clock = SYSTEM_CLOCK) -> None:
        self.alert_log = alert_log
        self.env = env
        self.rng = rng
        self.clock = clock  # backoff, breaker and rate limit time (virtual in tests)
        self.router = Router(loaded)
        self.workers: dict[str, ChannelWorker] = {}
        self.runtimes: dict[str, ChannelRuntime] = {}
        self._delivery = loaded.config.notifications.delivery
        self._loaded = loaded  # the config the workers run with
        self.dropped_to_log = 0  # jobs left pending in the log because a queue was full
        #: "sent" records in flight: a stop never cancels one (a delivered alert left ``pending``
        #: would be sent again at the next start).
        self.recording: set[asyncio.Future[None]] = set()
        #: Told (channel, status, count) of every delivery outcome recorded in the log, for
        #: metrics; may be called from a worker thread (the outbox write), so keep it cheap.
        self.on_outcome: Callable[[str, str, int], None] | None = None

    def _report(self, outcomes: Iterable[tuple[str, str]]) -> None:
        if self.on_outcome is None:
            return
        counts: dict[tuple[str, str], int] = {}
        for key in outcomes:
            counts[key] = counts.get(key, 0) + 1
        for (channel, status), n in counts.items():
            self.on_outcome(channel, status, n)

    @property
    def enabled(self) -> bool:
        return bool(self._loaded.config.notifications.channels)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Build the channels, start the workers, and re-queue what is still pending in the log."""
        await self._configure(self._loaded)
        await self.refill(None)

    async def _configure(self, loaded: LoadedConfig) -> None:
        """(Re)build channels; a channel whose settings did not change keeps its worker and queue."""
        notifications = loaded.config.notifications
        before = self._loaded.config.notifications
        same_delivery = before.delivery == notifications.delivery
        keep = {
            name for name, w in self.workers.items()
            if same_delivery and before.channels.get(name) == notifications.channels.get(name)
        }
        changed = notifications.model_copy(
            update={"channels": {n: c for n, c in notifications.channels.items() if n not in keep}}
        )
        built = await asyncio.to_thread(build_channels, changed, loaded.path.parent, self.env)
        for name, rt in built.items():
            if rt.unavailable:
                log(logger, logging.INFO if rt.optional else logging.WARNING,
                    "channel unavailable on this machine", channel=name, optional=rt.optional,
                    reason=rt.unavailable)
            elif rt.notes:
                log(logger, logging.INFO, "channel partly available", channel=name, dropped="; ".join(rt.notes))
        old, self.workers = self.workers, {}
        self.runtimes = {n: self.runtimes[n] for n in keep} | built
        self._delivery = notifications.delivery
        self.router = Router(loaded)
        self._loaded = loaded
        carried: dict[str, list[Job]] = {}
        for name, worker in old.items():
            if name in keep:
                self.workers[name] = worker
                continue
            if worker.task is not None:
                worker.task.cancel()  # sends talking to the service finish and record their outcome
            carried.setdefault(name, []).extend(worker.hand_over())  # waiting ones move to the new worker
        for name, rt in built.items():
            if rt.apprise is None:
                continue
            worker = ChannelWorker(rt, self._delivery, self, self.clock)
            for job in carried.pop(name, []):
                worker.offer(job)
            worker.task = asyncio.create_task(worker.run(), name=f"notify-{name}")
            self.workers[name] = worker
        for name, jobs in carried.items():  # channel removed or now unavailable
            now_rt = self.runtimes.get(name)
            why = now_rt.unavailable if now_rt is not None else f"channel '{name}' was removed from the config"
            status = now_rt.skip_status if now_rt is not None else "failed"
            await self._update([(j.alert_id, name, status, 0, why) for j in jobs])

    async def reconfigure(self, loaded: LoadedConfig) -> None:
        """After a hot reload: new channels, routes and templates; queued jobs carry over."""
        if loaded.config.notifications != self._loaded.config.notifications:
            await self._configure(loaded)
        else:
            self.router = Router(loaded)
            self._loaded = loaded

    async def close(self, grace: float | None = None) -> None:
        """Finish what can be finished within ``grace``; the rest stays ``pending`` for the next start.

        A channel that is down (breaker not closed) is not waited for: its alerts are in
        the log as ``pending`` and go out at the next start.
        """
        grace = self._delivery.shutdown_grace.total_seconds() if grace is None else grace
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(
            (w.queue.qsize() or w.sends or w.overflowed or w.refilling) and not w.breaker.is_open
            for w in self.workers.values()
        ):
            await asyncio.sleep(0.02)
        tasks: list[asyncio.Task[None]] = []
        for w in self.workers.values():
            tasks += [t for t in (w.task, *w.sends) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.recording:  # deliveries that succeeded are written down before the log closes
            await asyncio.gather(*list(self.recording), return_exceptions=True)
        left = sum(w.queue.qsize() for w in self.workers.values())
        if left or self.dropped_to_log:
            log(logger, logging.WARNING, "notifications still pending at stop; they are sent at the next start",
                queued=left)

    # -- the outbox --------------------------------------------------------------------

    def write_outbox(self, alerts: pl.DataFrame) -> tuple[WriteReport, list[tuple[dict[str, Any], tuple[str, ...]]]]:
        """Log a batch with ``pending`` for each routed channel (blocking: call in a thread).

        Returns the write report and (alert row, channels to send) for the alerts new to
        the log; alerts already logged (a replay after a crash) were queued back then, or
        are picked up as pending at start. Raises ``SinkError`` like ``AlertLog.write``.
        """
        if not self.enabled or alerts.height == 0:
            return self.alert_log.write(alerts), []
        routed = [
            self.router.channels_for(rid, sev)
            for rid, sev in zip(alerts["rule_id"].to_list(), alerts["severity"].to_list())
        ]
        keys = pl.Series("_channels", ["\x1f".join(r) for r in routed], dtype=pl.String)
        frame = alerts.with_columns(keys)
        new_rows: list[tuple[dict[str, Any], tuple[str, ...]]] = []
        received = inserted = 0
        parquet_error: SinkError | None = None
        for (key,), group in frame.group_by("_channels", maintain_order=True):
            channels = tuple(str(key).split("\x1f")) if key else ()
            status = {ch: self._initial_status(ch) for ch in channels}
            report = self.alert_log.write(group.drop("_channels"), status)
            received += report.received
            inserted += report.inserted
            parquet_error = report.parquet_error or parquet_error
            if report.new is not None:
                self._report(  # channels this machine cannot do: settled at write time
                    (ch, st["status"]) for ch, st in status.items() if st["status"] != "pending"
                    for _ in range(report.new.height)
                )
                sendable = tuple(ch for ch in channels if status[ch]["status"] == "pending")
                new_rows += [(row, sendable) for row in report.new.iter_rows(named=True)]
        return WriteReport(received=received, inserted=inserted, parquet_error=parquet_error), new_rows

    def _initial_status(self, channel: str) -> dict[str, Any]:
        rt = self.runtimes.get(channel)
        if rt is not None and rt.apprise is None:
            return {"status": rt.skip_status, "attempts": 0, "error": rt.unavailable}
        return {"status": "pending", "attempts": 0}

    def enqueue(self, rows: Iterable[tuple[dict[str, Any], tuple[str, ...]]]) -> None:
        """Hand logged alerts to their channels' queues; never blocks, never raises on a full queue."""
        for row, channels in rows:
            job: Job | None = None
            for ch in channels:
                worker = self.workers.get(ch)
                if worker is None:
                    continue
                job = job or self.router.job(row)
                if not worker.offer(job):
                    self.dropped_to_log += 1  # stays pending in the log; refill() picks it up

    async def refill(self, only: ChannelWorker | None) -> None:
        """Queue again the log's pending deliveries (at start, or after a queue overflowed)."""
        try:
            pending = await asyncio.to_thread(self.alert_log.pending_deliveries)
        except SinkError as exc:
            log(logger, logging.ERROR, "cannot read pending deliveries", error=str(exc))
            return
        if pending.height == 0:
            return
        import json

        orphaned: list[tuple[str, str, dict[str, Any]]] = []
        count = 0
        for row in pending.iter_rows(named=True):
            status = json.loads(row.pop("delivery_status") or "{}")
            for ch, entry in status.items():
                if entry.get("status") != "pending":
                    continue
                if only is not None and ch != only.name:
                    continue
                worker = self.workers.get(ch)
                if worker is None:
                    rt = self.runtimes.get(ch)
                    why = rt.unavailable if rt is not None else f"channel '{ch}' is no longer configured"
                    orphaned.append((row["alert_id"], ch, {"status": rt.skip_status if rt else "failed",
                                                            "error": why, "attempts": entry.get("attempts", 0)}))
                    continue
                if worker.offer(self.router.job(row), from_log=True):
                    count += 1
        for alert_id, ch, st in orphaned:
            await self._update([(alert_id, ch, st["status"], st["attempts"], st["error"])])
        if count and only is None:
            log(logger, logging.INFO, "pending notifications from the last run queued", deliveries=count)

    # -- status ------------------------------------------------------------------------

    def health(self) -> list[ChannelHealth]:
        """Every configured channel's state, by name (a snapshot: safe to keep or serialise)."""
        out: list[ChannelHealth] = []
        for name in sorted(self.runtimes):
            worker = self.workers.get(name)
            if worker is not None:
                out.append(worker.health())
                continue
            why = self.runtimes[name].unavailable
            out.append(ChannelHealth(
                channel=name, state="unavailable", pending=0, waiting=0, sent=0, failed=0,
                consecutive_failures=0, circuit_opens=0, last_error=why, last_error_at=None,
                last_sent_at=None, down_since=None,
            ))
        return out

    async def record(self, jobs: list[Job], channel: str, status: str, attempts: int, error: str | None) -> None:
        await self._update([(j.alert_id, channel, status, attempts, error) for j in jobs])

    async def _update(self, updates: list[tuple[str, str, str, int, str | None]]) -> None:
        at = _now()

        def write() -> None:
            for alert_id, channel, status, attempts, error in updates:
                self.alert_log.update_delivery(
                    alert_id, channel, status, attempts=attempts, error=redact(error) if error else None, at=at
                )

        try:
            await asyncio.to_thread(write)
        except SinkError as exc:
            log(logger, logging.ERROR, "cannot record delivery status", error=str(exc), updates=len(updates))
        self._report((channel, status) for _, channel, status, _, _ in updates)

"""The live Schwab feed: schwab-py's ``StreamClient`` plus what it leaves to its users.

schwab-py logs in, subscribes and dispatches frames, but does not reconnect, and it
raises on any unexpected frame. This module adds: a token check before every connect
(clear :class:`SourceError` when it is missing, expired or rejected), reconnects with
exponential backoff and jitter, a resubscription of every wanted symbol, gap tracking
(:class:`FeedStatus`), explicit handling of Schwab's response codes, skipping symbols
Schwab refuses, and adding/removing symbols on a live connection (``update_symbols``).

Failure modes it meets on purpose: another client on the account (code 12: stop with a
named cause, or wait, never fight); one service refused (code 11: the other keeps
streaming); nothing subscribable (an error, not a reconnect loop); delayed, silent and
implausibly timed data (reported, refused for alerting); a revoked access token (one
forced refresh); a streamer that never answers (reply timeouts).

Ticks come out of :meth:`SchwabFeed.stream` as canonical tick frames, one per frame
that carried trades; :mod:`.quotes` decides what a trade is.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import random
import sys
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import httpx
import polars as pl
import schwab.contrib.util  # noqa: F401  (StreamClient.set_json_decoder looks it up)
from schwab.contrib.util import HeuristicJsonDecoder
from schwab.streaming import (
    StreamClient,
    StreamJsonDecoder,
    UnexpectedResponse,
    UnexpectedResponseCode,
)
from websockets.exceptions import WebSocketException

from ...config.loaded import LoadedConfig
from ...config.models import Instrument, SchwabSource
from ...errors import SourceError
from ...logs import log, redact
from .auth import TokenStore, check_token, format_span, login_hint, open_client
from .credentials import SchwabCredentials, load_credentials
from .protocol import CONNECTION_CODES, Code, explain, response_content
from .quotes import EQUITIES, FUTURES, FUTURES_FIELDS, QuoteBook, Service, TickRow, fields_for, rows_to_frame, service_for
from .status import FeedStatus, Roll

logger = logging.getLogger("tradeassist.schwab")

_SHOWN_CHARS = 200
#: How often a long-lived connection re-reads the token to warn before its 7 days end.
TOKEN_CHECK_EVERY = 3600.0

#: Transport for schwab-py's REST/OAuth session when built from a config (``None``: the
#: real network). Tests point it at a fake Schwab, since schwab-py's host is fixed.
HTTP_TRANSPORT: httpx.AsyncBaseTransport | None = None


class StreamDropped(Exception):
    """The connection is gone or unusable; the feed reconnects."""


class LoginDenied(StreamDropped):
    """The streamer refused our LOGIN; repeated denials end the feed."""


class Replaced(StreamDropped):
    """Code 12: another client opened a streamer connection on the same account."""


REPLACED_HELP = (
    "another client is streaming with the same Schwab account, and Schwab keeps one streamer "
    "connection per account: most likely a second `tradeassist run`, a `tradeassist record`, or "
    "another app logged in with this Schwab login. Stop the other client, or set "
    "`source.on_replaced: wait` to let it have the stream and connect again later"
)


_SILENCE_CHECK_EVERY = timedelta(seconds=1)
#: Level-one fields that make an update carry data (a content item with only its key does not).
_DATA_FIELDS = frozenset(FUTURES_FIELDS) - {"SYMBOL"}


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def plan_symbols(instruments: Iterable[Instrument]) -> tuple[dict[Service, set[str]], dict[str, str]]:
    """Wanted symbols per service, and the symbols this source cannot stream (with why)."""
    wanted: dict[Service, set[str]] = {FUTURES: set(), EQUITIES: set()}
    skipped: dict[str, str] = {}
    for inst in instruments:
        service = service_for(inst.symbol, inst.type)
        if service is None:
            skipped[inst.symbol] = f"a {inst.type} symbol is not streamed by the schwab source"
        else:
            wanted[service].add(inst.symbol)
    return wanted, skipped


class _Decoder(StreamJsonDecoder):
    """Sees every raw frame before schwab-py does (its public decoder hook).

    A frame that is not JSON gets schwab-py's own repair (``HeuristicJsonDecoder``) first;
    one that still does not parse, or is malformed, is counted and replaced by ``{}``,
    which schwab-py ignores, so one bad frame never tears down the connection. Codes the server
    pushes on its own (``notify``) are queued for the feed to act on.
    """

    def __init__(self, status: FeedStatus) -> None:
        self.status = status
        self.events: list[tuple[int, str]] = []
        self._heuristic = HeuristicJsonDecoder()

    def _bad(self, raw: str, why: str) -> dict[str, Any]:
        self.status.unparsable_frames += 1
        shown = raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "..."
        log(logger, logging.WARNING, "schwab frame skipped", reason=why, frame=redact(shown))
        return {}

    def decode_json_string(self, raw: Any) -> dict[str, Any]:
        self.status.frames += 1
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
        try:
            msg = json.loads(text)
        except ValueError:
            try:  # schwab-py's repair for over-escaped backslashes, seen in real frames
                msg = self._heuristic.decode_json_string(text)
            except ValueError:
                return self._bad(text, "not JSON")
            self.status.repaired_frames += 1
        if not isinstance(msg, dict):
            return self._bad(text, "not a JSON object")
        if "response" in msg and not _valid_response(msg["response"]):
            return self._bad(text, "malformed response")
        if "data" in msg:
            data = msg["data"]
            if not isinstance(data, list):
                return self._bad(text, "malformed data")
            kept = [d for d in data if isinstance(d, dict) and isinstance(d.get("service"), str)]
            self.status.malformed_items += len(data) - len(kept)
            msg["data"] = kept
        if "notify" in msg:
            notify = msg["notify"]
            if not isinstance(notify, list):
                return self._bad(text, "malformed notify")
            for entry in notify:
                content = entry.get("content") if isinstance(entry, dict) else None
                if isinstance(content, dict) and isinstance(content.get("code"), int):
                    self.events.append((content["code"], str(content.get("msg", ""))))
            # schwab-py only needs the heartbeats; anything else it would look up as a service.
            msg["notify"] = [e for e in notify if isinstance(e, dict) and "heartbeat" in e]
        return msg


def _valid_response(entries: Any) -> bool:
    if not isinstance(entries, list) or not entries:
        return False
    first = entries[0]
    return (
        isinstance(first, dict)
        and all(k in first for k in ("requestid", "service", "command"))
        and isinstance(first.get("content"), dict)
        and isinstance(first["content"].get("code"), int)
    )


class SchwabFeed:
    """Level-one ticks for the configured instruments, reconnecting until stopped."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        source: SchwabSource,
        *,
        token_path: Path,
        credentials: SchwabCredentials | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        config_name: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _wall_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.status = FeedStatus(allow_delayed=source.allow_delayed, silent_not_ready=source.silent_not_ready)
        self._clock = clock
        self._monotonic = monotonic
        self._watch_since: dict[str, datetime] = {}
        self._silence_checked: datetime | None = None
        self.book = QuoteBook()
        self._store = TokenStore(token_path)
        self._credentials = credentials
        self._transport = transport
        self._config_name = config_name
        self._rng = rng or random.Random()
        self._wanted: dict[Service, set[str]] = {FUTURES: set(), EQUITIES: set()}
        self._subscribed: dict[Service, set[str]] = {FUTURES: set(), EQUITIES: set()}
        self._refused: set[str] = set()  # refused by Schwab on this set of wanted symbols
        self._suspects: set[str] = set()  # in a refused batch, no verdict of their own yet
        self._rows: list[TickRow] = []
        self._sc: StreamClient | None = None
        self._client: Any = None
        self._force_refresh = False
        self._sub_lock = asyncio.Lock()
        #: Set when the wanted symbols changed while no subscription could be sent.
        self._resync = asyncio.Event()
        #: The read loop's pending wait for a frame (``update_symbols`` interrupts it).
        self._reader: asyncio.Future[None] | None = None
        self._set_wanted(instruments)

    @classmethod
    def from_config(cls, loaded: LoadedConfig, source: SchwabSource, **kwargs: Any) -> SchwabFeed:
        kwargs.setdefault("transport", HTTP_TRANSPORT)
        return cls(
            loaded.instruments, source, token_path=loaded.resolve(source.token_path),
            config_name=str(loaded.path), **kwargs,
        )

    # ------------------------------------------------------------------ symbols

    def _set_wanted(self, instruments: Iterable[Instrument]) -> None:
        wanted, skipped = plan_symbols(instruments)
        for symbol, why in skipped.items():
            if symbol not in self.status.skipped_symbols:
                log(logger, logging.WARNING, "symbol skipped", symbol=symbol, reason=why)
        self._wanted = wanted
        self._refused &= set().union(*wanted.values())
        self._suspects &= set().union(*wanted.values())
        self.status.skipped_symbols = {
            **skipped, **{s: r for s, r in self.status.skipped_symbols.items() if s in self._refused}
        }

    @property
    def symbols(self) -> set[str]:
        return self._wanted[FUTURES] | self._wanted[EQUITIES]

    async def update_symbols(self, instruments: Iterable[Instrument]) -> None:
        """New instrument list (hot reload): subscribe/unsubscribe on the live connection.

        No reconnect, and no wait for the next frame: schwab-py holds its socket lock
        while it waits for one (a heartbeat comes every ~10 s), so the read loop's pending
        wait is cancelled first (safe: websockets keeps an arriving frame for the next
        read, and the loop reads again once the change is acknowledged). If the stream is
        down or still connecting, the connection subscribes the new set.
        """
        self._set_wanted(list(instruments))
        sc = self._sc
        if sc is None or not self.status.connected:
            self._resync.set()  # the read loop applies it as soon as it runs
            return
        async with self._sub_lock:
            reader = self._reader
            if reader is not None and not reader.done():
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            try:
                await self._sync(sc)
            except (StreamDropped, WebSocketException, OSError) as exc:
                # Half applied on a connection that no longer answers: start over on a new one.
                log(logger, logging.WARNING, "subscription update failed; will apply on reconnect", error=str(exc))
                await _close(sc)

    async def _sync(self, sc: StreamClient) -> None:
        self._resync.clear()
        for service in (FUTURES, EQUITIES):
            want = self._wanted[service] - self._refused
            have = self._subscribed[service]
            remove = sorted(have - want)
            if remove:
                await self._request(sc, service, "UNSUBS", remove)
                have.difference_update(remove)
                self.book.forget(remove)
                for s in remove:  # no longer watched: nothing to report about it
                    for known in (self.status.silent, self.status.silent_why, self.status.delayed,
                                  self.status.last_update, self.status.contracts, self._watch_since):
                        known.pop(s, None)
                log(logger, logging.INFO, "unsubscribed", service=service, symbols=",".join(remove))
            add = sorted(want - have)
            # Symbols of a refused batch go one by one, across reconnects too: Schwab may
            # end a session that has nothing subscribed, and each verdict must stick.
            batch = [s for s in add if s not in self._suspects]
            if batch:
                await self._add(sc, service, batch)
            for s in add:
                if s in self._suspects:
                    await self._add(sc, service, [s])
            self.status.subscribed[service] = sorted(have)

    async def _add(self, sc: StreamClient, service: Service, symbols: list[str]) -> None:
        have = self._subscribed[service]
        try:
            await self._request(sc, service, "ADD" if have else "SUBS", symbols)
        except UnexpectedResponseCode as exc:
            code, msg = response_content(exc.response) or (-1, str(exc))
            if code == Code.SERVICE_NOT_AVAILABLE:  # this service only: the other keeps streaming
                reason = explain(code, msg)
                self.status.refused_services[service] = f"{reason}; not streaming {', '.join(sorted(symbols))}"
                log(logger, logging.ERROR, "schwab service refused", service=service,
                    symbols=",".join(sorted(symbols)), reason=reason)
                for s in symbols:
                    self._refused.add(s)
                    self.status.skipped_symbols[s] = f"{service} refused: {reason}"
                return
            if code in CONNECTION_CODES:
                raise StreamDropped(explain(code, msg)) from None
            if code == Code.REACHED_SYMBOL_LIMIT:
                for s in symbols:
                    self._refuse(s, explain(code, msg) + ": not subscribed", logging.ERROR)
                return
            if len(symbols) > 1:  # find the symbol(s) Schwab refuses; keep the rest
                self._suspects.update(symbols)
                for s in symbols:
                    await self._add(sc, service, [s])
                return
            self._suspects.discard(symbols[0])
            self._refuse(symbols[0], f"unknown or unavailable symbol: {explain(code, msg)}", logging.WARNING)
            return
        have.update(symbols)
        self._suspects.difference_update(symbols)
        now = self._clock()
        for s in symbols:
            self._watch_since[s] = now
        log(logger, logging.INFO, "subscribed", service=service, symbols=",".join(symbols))

    def _refuse(self, symbol: str, reason: str, level: int) -> None:
        self._refused.add(symbol)
        self.status.skipped_symbols[symbol] = reason
        log(logger, level, "symbol skipped", symbol=symbol, reason=reason)

    async def _request(self, sc: StreamClient, service: Service, command: str, symbols: list[str]) -> None:
        wanted_fields = fields_for(service)
        if service == FUTURES:
            enum: Any = StreamClient.LevelOneFuturesFields
            ops = {"SUBS": sc.level_one_futures_subs, "ADD": sc.level_one_futures_add}
            unsubs = sc.level_one_futures_unsubs
        else:
            enum = StreamClient.LevelOneEquityFields
            ops = {"SUBS": sc.level_one_equity_subs, "ADD": sc.level_one_equity_add}
            unsubs = sc.level_one_equity_unsubs
        timeout = self.source.reply_timeout.total_seconds()
        try:
            if command == "UNSUBS":
                await asyncio.wait_for(unsubs(symbols), timeout)
            else:
                await asyncio.wait_for(ops[command](symbols, fields=[enum[name] for name in wanted_fields]), timeout)
        except TimeoutError:
            raise StreamDropped(f"no reply to {service} {command} within {timeout:g}s") from None
        except UnexpectedResponse as exc:  # an ack for something else: the stream is confused
            raise StreamDropped(f"unexpected streamer response: {exc}") from None

    # ------------------------------------------------------------------ stream

    def _on_level_one(self, message: Mapping[str, Any]) -> None:
        now = self._clock()
        content = message.get("content")
        for entry in content if isinstance(content, list) else ():
            symbol = entry.get("key") if isinstance(entry, Mapping) else None
            if not isinstance(symbol, str):
                continue
            if any(name in entry for name in _DATA_FIELDS):  # a bare key is no data
                self.status.last_update[symbol] = now
                if symbol in self.status.silent:
                    since = self.status.silent.pop(symbol)
                    self.status.silent_why.pop(symbol, None)
                    log(logger, logging.INFO, "schwab symbol updating again", symbol=symbol,
                        silent_since=since.isoformat(timespec="seconds"))
            delayed = entry.get("delayed")
            if isinstance(delayed, bool) and self.status.delayed.get(symbol) != delayed:
                known = symbol in self.status.delayed
                self.status.delayed[symbol] = delayed
                if delayed:
                    log(logger, logging.WARNING, "schwab data is delayed", symbol=symbol,
                        used_for_alerts=self.source.allow_delayed,
                        hint="" if self.source.allow_delayed else
                        "delayed ticks are refused; subscribe to real-time data or set source.allow_delayed: true")
                elif known:
                    log(logger, logging.INFO, "schwab data is real-time again", symbol=symbol)
        before = self.book.malformed
        rows = self.book.apply_message(
            message, now_ms=int(now.timestamp() * 1000),
            max_skew_ms=int(self.source.max_clock_skew.total_seconds() * 1000),
        )
        self.status.malformed_items += self.book.malformed - before
        for entry in content if isinstance(content, list) else ():
            key = entry.get("key") if isinstance(entry, Mapping) else None
            if not isinstance(key, str):
                continue
            quote = self.book.quotes.get(key)
            if quote is not None and quote.contract is not None:
                self.status.contracts[key] = quote.contract
        self.status.seeded = self.book.seeded
        self.status.implausible_ticks = self.book.implausible
        self.status.restamped_ticks = self.book.restamped
        for symbol, what in self.book.notes:
            if what.startswith("roll "):
                _, old, new = what.split(" ", 2)
                self.status.rolls.append(Roll(symbol, old, new, now))
                log(logger, logging.WARNING, "schwab contract roll", symbol=symbol, old_contract=old,
                    new_contract=new, note="the price steps to the new contract; its first trade's volume "
                    "is its last size, not the difference of the two contracts' totals")
            elif what == "restamped":
                log(logger, logging.WARNING, "schwab trade without a new trade time: stamped with the message time",
                    symbol=symbol)
            else:
                log(logger, logging.WARNING, "schwab tick refused", symbol=symbol, reason=what,
                    clock=now.isoformat(timespec="seconds"),
                    max_clock_skew=f"{self.source.max_clock_skew.total_seconds():g}s")
        self.book.notes.clear()
        wanted = self.symbols
        for r in rows:
            if r.symbol not in wanted:
                continue
            if not self.source.allow_delayed and self.status.delayed.get(r.symbol):
                self.status.delayed_ticks_refused += 1
                continue
            self._rows.append(r)

    def _check_silence(self) -> None:
        """Report, once per silence, subscribed symbols that produce no data.

        Two kinds, because a quiet market is not a fault: a symbol that sent nothing at
        all for ``silence_after`` since it was subscribed (Schwab acknowledges unknown
        symbols such as ``$SPX.X`` or an expired contract and then stays quiet; a real
        one gets a snapshot at once, even on a weekend), and a symbol that stopped for
        ``silence_after`` while its market is evidently open: another symbol of the same
        service updated within that time. The feed has no exchange calendar; the other
        symbols of the service are its evidence of trading hours.
        """
        limit = self.source.silence_after
        if limit.total_seconds() <= 0:
            return
        now = self._clock()
        if self._silence_checked is not None and now - self._silence_checked < _SILENCE_CHECK_EVERY:
            return  # it runs on every message: at most once a second is plenty for minutes of silence
        self._silence_checked = now
        for service in (FUTURES, EQUITIES):
            symbols = self._subscribed[service]
            live = {s for s in symbols
                    if (t := self._data_since_subscribe(s)) is not None and now - t < limit}
            for symbol in symbols:
                if symbol in self.status.silent:
                    continue
                last = self._data_since_subscribe(symbol)
                if last is None:
                    since = self._watch_since.get(symbol, now)
                    if now - since < limit:
                        continue
                    why = ("no data at all since it was subscribed: check the symbol (indices are written "
                           "$SPX, not $SPX.X; an expired futures contract sends nothing)")
                    self._silent(symbol, since, why, limit)
                elif now - last >= limit and live - {symbol}:
                    why = f"no update while {', '.join(sorted(live - {symbol}))} kept updating"
                    self._silent(symbol, last, why, limit)

    def _data_since_subscribe(self, symbol: str) -> datetime | None:
        last = self.status.last_update.get(symbol)
        since = self._watch_since.get(symbol)
        return None if last is None or (since is not None and last < since) else last

    def _silent(self, symbol: str, since: datetime, why: str, limit: timedelta) -> None:
        self.status.silent[symbol] = since
        self.status.silent_why[symbol] = why
        log(logger, logging.WARNING, "schwab symbol silent", symbol=symbol,
            since=since.isoformat(timespec="seconds"), reason=why, silence_after=f"{limit.total_seconds():g}s")

    def _nothing_to_stream(self) -> SourceError:
        refused = "; ".join(f"{s}: {why}" for s, why in sorted(self.status.skipped_symbols.items()))
        return SourceError(f"Schwab streams none of the configured symbols, nothing to do: {refused or 'no symbols'}")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: many runners do not reconnect in lockstep."""
        initial = self.source.reconnect_initial.total_seconds()
        cap = self.source.reconnect_max.total_seconds()
        return min(cap, initial * 2.0**attempt) * self._rng.uniform(0.5, 1.0)

    def _check_token(self) -> None:
        now = datetime.now(timezone.utc)
        info = check_token(self._store, now)
        self.status.token_expires = info.refresh_expires
        remaining = info.remaining(now)
        if remaining <= self.source.refresh_warning:
            log(
                logger, logging.WARNING,
                f"Schwab refresh token expires in {format_span(remaining)}: {login_hint(self._config_name)}",
                expires=info.refresh_expires.isoformat(timespec="seconds"),
            )

    async def _connect(self, decoder: _Decoder) -> StreamClient:
        """Token check, REST client, streamer login; raises SourceError when retrying cannot help.

        A 401 from Schwab on a token that looks valid gets one forced refresh (the access
        token may have been revoked early) before it is reported.
        """
        creds = self._credentials or load_credentials()
        self._credentials = creds
        await asyncio.to_thread(self._check_token)
        client = await asyncio.to_thread(open_client, creds, self._store, transport=self._transport)
        self._client = client
        if self._force_refresh:
            _expire_access_token(client)
        sc = StreamClient(client, enforce_enums=False)
        sc.set_json_decoder(decoder)
        sc.add_level_one_futures_handler(self._on_level_one)
        sc.add_level_one_equity_handler(self._on_level_one)
        timeout = self.source.reply_timeout.total_seconds()
        try:
            await asyncio.wait_for(sc.login(), timeout)
        except TimeoutError:
            raise StreamDropped(f"no reply to the streamer login within {timeout:g}s") from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status in (400, 401, 403):
                if not self._force_refresh:
                    self._force_refresh = True
                    raise StreamDropped(f"Schwab rejected the access token (HTTP {status}); refreshing it") from None
                raise SourceError(
                    f"Schwab rejected the token in {self._store.path} (HTTP {status}) even after refreshing it: "
                    f"{_BOTH_CAUSES}: {login_hint(self._config_name)}"
                ) from None
            raise StreamDropped(f"Schwab API error HTTP {status}") from None
        except UnexpectedResponseCode as exc:
            code, msg = response_content(exc.response) or (-1, str(exc))
            if code == Code.LOGIN_DENIED:
                self._force_refresh = True  # the next attempt logs in with a fresh access token
                raise LoginDenied(explain(code, msg)) from None
            raise StreamDropped(explain(code, msg)) from None
        except Exception as exc:
            _raise_if_auth_error(exc, self._store.path, self._config_name)
            raise
        self._force_refresh = False
        return sc

    async def stream(self) -> AsyncGenerator[pl.DataFrame, None]:
        """Tick frames until cancelled or closed; :class:`SourceError` when it cannot go on.

        While it runs it holds a lock next to the token file, so that a second process
        streaming on the same file (``run`` and ``record`` side by side) is warned about:
        Schwab keeps one streamer connection per account and the two would replace each other.
        """
        claim = _claim_token_file(self._store.path)
        inner = self._stream()
        try:
            async for frame in inner:
                yield frame
        finally:
            await inner.aclose()
            if claim is not None:
                claim.close()

    async def _stream(self) -> AsyncGenerator[pl.DataFrame, None]:
        attempt = 0
        denials = 0
        heartbeat = self.source.heartbeat_timeout.total_seconds()
        while True:
            decoder = _Decoder(self.status)
            sc: StreamClient | None = None
            live = False
            up_since: float | None = None
            replaced = False
            reader: asyncio.Future[None] | None = None
            try:
                sc = await self._connect(decoder)
                live = True
                self._sc = sc
                self.book.new_connection()
                self._subscribed = {FUTURES: set(), EQUITIES: set()}
                await self._sync(sc)
                if not any(self._subscribed.values()):
                    raise self._nothing_to_stream()
                up_since = self._monotonic()
                gap = self.status.resumed()
                if gap is not None:
                    log(
                        logger, logging.WARNING, "schwab stream resumed after a gap",
                        start=gap.start.isoformat(timespec="milliseconds"),
                        end=gap.end.isoformat(timespec="milliseconds"),
                        seconds=round(gap.duration.total_seconds(), 3), reason=gap.reason,
                    )
                else:
                    log(logger, logging.INFO, "schwab stream connected",
                        symbols=",".join(sorted(self.symbols - self._refused)))
                # The retry counter is NOT reset here: a stream that is dropped right after
                # each subscribe (another client on the account) must still back off.
                denials = 0
                next_token_check = time.monotonic() + TOKEN_CHECK_EVERY
                loop = asyncio.get_running_loop()
                last_message = loop.time()
                while True:
                    if time.monotonic() >= next_token_check:  # a stream can outlive the 7 days
                        next_token_check = time.monotonic() + TOKEN_CHECK_EVERY
                        try:
                            await asyncio.to_thread(self._check_token)
                        except SourceError as exc:  # the open stream still works: say so, keep going
                            log(logger, logging.ERROR, str(exc))
                    if self._resync.is_set():
                        async with self._sub_lock:
                            await self._sync(sc)
                    if reader is None:
                        async with self._sub_lock:  # a subscription update in progress goes first
                            reader = self._reader = asyncio.ensure_future(sc.handle_message())
                    left = last_message + heartbeat - loop.time()
                    done, _ = await asyncio.wait((reader,), timeout=max(0.0, left))
                    if not done:
                        raise StreamDropped(f"no message (not even a heartbeat) for {heartbeat:g}s")
                    if reader.cancelled():  # interrupted by update_symbols: read again
                        reader = None
                        continue
                    finished, reader = reader, None
                    last_message = loop.time()
                    try:
                        finished.result()
                    except UnexpectedResponse as exc:
                        code, msg = response_content(exc.response) or (-1, str(exc))
                        if code != Code.SUCCESS:
                            raise StreamDropped(explain(code, msg)) from None
                    for code, msg in decoder.events:
                        if code == Code.CLOSE_CONNECTION:
                            raise Replaced(explain(code, msg))
                        if code == Code.STOP_STREAMING and not any(self._subscribed.values()):
                            raise self._nothing_to_stream()
                        if code in CONNECTION_CODES:
                            raise StreamDropped(explain(code, msg))
                        log(logger, logging.WARNING, "schwab notice", detail=explain(code, msg))
                    decoder.events.clear()
                    self._check_silence()
                    if self._rows:
                        rows, self._rows = self._rows, []
                        self.status.ticks += len(rows)
                        yield rows_to_frame(rows)
            except LoginDenied as exc:
                denials += 1
                reason = str(exc)
                if denials >= self.source.max_login_failures:
                    self.status.disconnected(reason)
                    raise SourceError(
                        f"{reason}; gave up after {denials} attempts (the last one with a refreshed access token): "
                        f"{_BOTH_CAUSES}: {login_hint(self._config_name)}"
                    ) from None
            except Replaced as exc:
                reason = f"{exc}: {REPLACED_HELP}"
                if self.source.on_replaced == "stop":
                    self.status.disconnected(redact(reason))
                    raise SourceError(f"Schwab closed the stream: {REPLACED_HELP}") from None
                replaced = True
            except SourceError:
                raise
            except (TimeoutError, StreamDropped, WebSocketException, OSError, httpx.TransportError) as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:
                _raise_if_auth_error(exc, self._store.path, self._config_name)
                reason = f"{type(exc).__name__}: {exc}"
                if not live:  # cannot even connect for an unforeseen reason: retrying will not help
                    raise SourceError(f"cannot start the Schwab stream: {redact(reason)}") from None
                # once live, anything odd from the wire is retried: never kill a running feed
            finally:
                if reader is not None and not reader.done():
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                reader = self._reader = None
                self._sc = None
                if sc is not None and getattr(sc, "_socket", None) is not None:
                    await _close(sc)
                await self._close_session()
            self.status.disconnected(redact(reason))
            if up_since is not None and self._monotonic() - up_since >= self.source.healthy_after.total_seconds():
                attempt = 0  # it was healthy for a while: this is a fresh failure
            if replaced:
                delay = self.source.replaced_wait.total_seconds()
                log(logger, logging.WARNING, "schwab stream taken by another client; waiting",
                    reason=redact(reason), retry_in=f"{delay:g}s")
            else:
                delay = self._backoff(attempt)
                attempt += 1
                log(logger, logging.WARNING, "schwab stream lost; reconnecting",
                    reason=redact(reason), retry_in=f"{delay:.2f}s", attempt=attempt)
            await asyncio.sleep(delay)

    async def _close_session(self) -> None:
        """schwab-py's HTTP session is per client; every reconnect builds a new one."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close_async_session()
            except Exception as exc:  # closing must never mask why the stream ended
                log(logger, logging.DEBUG, "closing the Schwab HTTP session failed", error=str(exc))


_BOTH_CAUSES = (
    "either the Schwab login expired or was revoked, or the app at developer.schwab.com lacks the "
    '"Accounts and Trading Production" product (streaming needs it)'
)


def _claim_token_file(token: Path) -> IO[str] | None:
    """Lock ``<token>.streaming``; when another process holds it, warn who (pid, command)."""
    path = token.with_name(token.name + ".streaming")
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115  (held for the stream's life)
    except OSError:
        return None  # no place for the lock: the warning is best effort
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        log(
            logger, logging.WARNING,
            f"another process ({holder}) is streaming with the same Schwab token file {token}: Schwab keeps "
            "one streamer connection per account, so the two will replace each other (code 12); "
            "run `tradeassist record` and `tradeassist run` on one account one at a time",
        )
        return None
    command = " ".join(Path(a).name for a in sys.argv[:2]) or "python"
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}: {command}\n")
    handle.flush()
    return handle


def _expire_access_token(client: Any) -> None:
    """Make authlib refresh the access token before the next request (it may be revoked early)."""
    token = dict(client.session.token or {})
    token["expires_at"] = 0
    client.session.token = token


def _raise_if_auth_error(exc: BaseException, path: Path, config_name: str | None) -> None:
    """authlib's refresh errors (invalid_grant...) mean the refresh token was rejected."""
    from authlib.common.errors import AuthlibBaseError

    if isinstance(exc, AuthlibBaseError):
        raise SourceError(
            f"Schwab rejected the refresh token in {path} ({exc}): {login_hint(config_name)}"
        ) from None


async def _close(sc: StreamClient) -> None:
    try:
        await asyncio.wait_for(sc._socket.close(), timeout=1.0)  # schwab-py has no public close
    except Exception:
        pass

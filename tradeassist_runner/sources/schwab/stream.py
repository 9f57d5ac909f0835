"""The live Schwab feed: schwab-py's ``StreamClient`` plus what it leaves to its users.

schwab-py logs in, subscribes and dispatches frames, but does not reconnect, and it
raises on any unexpected frame. This module adds: a token check before every connect
(clear :class:`SourceError` when it is missing, expired or rejected), reconnects with
exponential backoff and jitter, a resubscription of every wanted symbol, gap tracking
(:class:`FeedStatus`), explicit handling of Schwab's response codes, skipping symbols
Schwab refuses, and adding/removing symbols on a live connection (``update_symbols``).

Ticks come out of :meth:`SchwabFeed.stream` as canonical tick frames, one per frame
that carried trades; :mod:`.quotes` decides what a trade is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import schwab.contrib.util  # noqa: F401  (StreamClient.set_json_decoder looks it up)
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
from .quotes import EQUITIES, FUTURES, NEEDED_FIELDS, QuoteBook, Service, TickRow, rows_to_frame, service_for
from .status import FeedStatus

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

    Unparsable or malformed frames are counted and replaced by ``{}``, which schwab-py
    ignores, so one bad frame never tears down the connection. Codes the server
    pushes on its own (``notify``) are queued for the feed to act on.
    """

    def __init__(self, status: FeedStatus) -> None:
        self.status = status
        self.events: list[tuple[int, str]] = []

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
            return self._bad(text, "not JSON")
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
    ) -> None:
        self.source = source
        self.status = FeedStatus()
        self.book = QuoteBook()
        self._store = TokenStore(token_path)
        self._credentials = credentials
        self._transport = transport
        self._config_name = config_name
        self._rng = rng or random.Random()
        self._wanted: dict[Service, set[str]] = {FUTURES: set(), EQUITIES: set()}
        self._subscribed: dict[Service, set[str]] = {FUTURES: set(), EQUITIES: set()}
        self._refused: set[str] = set()  # refused by Schwab on this set of wanted symbols
        self._rows: list[TickRow] = []
        self._sc: StreamClient | None = None
        self._sub_lock = asyncio.Lock()
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
        self.status.skipped_symbols = {
            **skipped, **{s: r for s, r in self.status.skipped_symbols.items() if s in self._refused}
        }

    @property
    def symbols(self) -> set[str]:
        return self._wanted[FUTURES] | self._wanted[EQUITIES]

    async def update_symbols(self, instruments: Iterable[Instrument]) -> None:
        """New instrument list (hot reload): subscribe/unsubscribe on the live connection.

        No reconnect. If the stream is down, the next connection subscribes the new set.
        """
        self._set_wanted(list(instruments))
        sc = self._sc
        if sc is None or not self.status.connected:
            return
        try:
            await self._sync(sc)
        except (StreamDropped, WebSocketException, OSError) as exc:
            # The stream loop sees the broken connection too and resubscribes on reconnect.
            log(logger, logging.WARNING, "subscription update failed; will apply on reconnect", error=str(exc))

    async def _sync(self, sc: StreamClient) -> None:
        async with self._sub_lock:
            for service in (FUTURES, EQUITIES):
                want = self._wanted[service] - self._refused
                have = self._subscribed[service]
                remove = sorted(have - want)
                if remove:
                    await self._request(sc, service, "UNSUBS", remove)
                    have.difference_update(remove)
                    self.book.forget(remove)
                    log(logger, logging.INFO, "unsubscribed", service=service, symbols=",".join(remove))
                add = sorted(want - have)
                if add:
                    await self._add(sc, service, add)
                self.status.subscribed[service] = sorted(have)

    async def _add(self, sc: StreamClient, service: Service, symbols: list[str]) -> None:
        have = self._subscribed[service]
        try:
            await self._request(sc, service, "ADD" if have else "SUBS", symbols)
        except UnexpectedResponseCode as exc:
            code, msg = response_content(exc.response) or (-1, str(exc))
            if code in CONNECTION_CODES:
                raise StreamDropped(explain(code, msg)) from None
            if code == Code.REACHED_SYMBOL_LIMIT:
                for s in symbols:
                    self._refuse(s, explain(code, msg) + ": not subscribed", logging.ERROR)
                return
            if len(symbols) > 1:  # find the symbol(s) Schwab refuses; keep the rest
                for s in symbols:
                    await self._add(sc, service, [s])
                return
            self._refuse(symbols[0], f"unknown or unavailable symbol: {explain(code, msg)}", logging.WARNING)
            return
        have.update(symbols)
        log(logger, logging.INFO, "subscribed", service=service, symbols=",".join(symbols))

    def _refuse(self, symbol: str, reason: str, level: int) -> None:
        self._refused.add(symbol)
        self.status.skipped_symbols[symbol] = reason
        log(logger, level, "symbol skipped", symbol=symbol, reason=reason)

    async def _request(self, sc: StreamClient, service: Service, command: str, symbols: list[str]) -> None:
        if service == FUTURES:
            enum: Any = StreamClient.LevelOneFuturesFields
            ops = {"SUBS": sc.level_one_futures_subs, "ADD": sc.level_one_futures_add}
            unsubs = sc.level_one_futures_unsubs
        else:
            enum = StreamClient.LevelOneEquityFields
            ops = {"SUBS": sc.level_one_equity_subs, "ADD": sc.level_one_equity_add}
            unsubs = sc.level_one_equity_unsubs
        try:
            if command == "UNSUBS":
                await unsubs(symbols)
            else:
                await ops[command](symbols, fields=[enum[name] for name in NEEDED_FIELDS])
        except UnexpectedResponse as exc:  # an ack for something else: the stream is confused
            raise StreamDropped(f"unexpected streamer response: {exc}") from None

    # ------------------------------------------------------------------ stream

    def _on_level_one(self, message: Mapping[str, Any]) -> None:
        before = self.book.malformed
        rows = self.book.apply_message(message)
        self.status.malformed_items += self.book.malformed - before
        wanted = self.symbols
        self._rows.extend(r for r in rows if r.symbol in wanted)

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
        """Token check, REST client, streamer login; raises SourceError when retrying cannot help."""
        creds = self._credentials or load_credentials()
        self._credentials = creds
        await asyncio.to_thread(self._check_token)
        client = await asyncio.to_thread(open_client, creds, self._store, transport=self._transport)
        sc = StreamClient(client, enforce_enums=False)
        sc.set_json_decoder(decoder)
        sc.add_level_one_futures_handler(self._on_level_one)
        sc.add_level_one_equity_handler(self._on_level_one)
        try:
            await sc.login()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status in (400, 401, 403):
                raise SourceError(
                    f"Schwab rejected the token in {self._store.path} (HTTP {status}): "
                    f"{login_hint(self._config_name)}"
                ) from None
            raise StreamDropped(f"Schwab API error HTTP {status}") from None
        except UnexpectedResponseCode as exc:
            code, msg = response_content(exc.response) or (-1, str(exc))
            if code == Code.LOGIN_DENIED:
                raise LoginDenied(explain(code, msg)) from None
            raise StreamDropped(explain(code, msg)) from None
        except Exception as exc:
            _raise_if_auth_error(exc, self._store.path, self._config_name)
            raise
        return sc

    async def stream(self) -> AsyncIterator[pl.DataFrame]:
        """Tick frames until cancelled or closed; :class:`SourceError` when it cannot go on."""
        attempt = 0
        denials = 0
        heartbeat = self.source.heartbeat_timeout.total_seconds()
        while True:
            decoder = _Decoder(self.status)
            sc: StreamClient | None = None
            live = False
            try:
                sc = await self._connect(decoder)
                live = True
                self._sc = sc
                self.book.new_connection()
                self._subscribed = {FUTURES: set(), EQUITIES: set()}
                await self._sync(sc)
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
                attempt = denials = 0
                next_token_check = time.monotonic() + TOKEN_CHECK_EVERY
                while True:
                    if time.monotonic() >= next_token_check:  # a stream can outlive the 7 days
                        next_token_check = time.monotonic() + TOKEN_CHECK_EVERY
                        try:
                            await asyncio.to_thread(self._check_token)
                        except SourceError as exc:  # the open stream still works: say so, keep going
                            log(logger, logging.ERROR, str(exc))
                    try:
                        await asyncio.wait_for(sc.handle_message(), timeout=heartbeat)
                    except UnexpectedResponse as exc:
                        code, msg = response_content(exc.response) or (-1, str(exc))
                        if code != Code.SUCCESS:
                            raise StreamDropped(explain(code, msg)) from None
                    except TimeoutError:
                        raise StreamDropped(f"no message (not even a heartbeat) for {heartbeat:g}s") from None
                    for code, msg in decoder.events:
                        if code in CONNECTION_CODES:
                            raise StreamDropped(explain(code, msg))
                        log(logger, logging.WARNING, "schwab notice", detail=explain(code, msg))
                    decoder.events.clear()
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
                        f"{reason}; gave up after {denials} attempts: {login_hint(self._config_name)}"
                    ) from None
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
                self._sc = None
                if sc is not None and getattr(sc, "_socket", None) is not None:
                    await _close(sc)
            self.status.disconnected(redact(reason))
            delay = self._backoff(attempt)
            attempt += 1
            log(logger, logging.WARNING, "schwab stream lost; reconnecting",
                reason=redact(reason), retry_in=f"{delay:.2f}s", attempt=attempt)
            await asyncio.sleep(delay)


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

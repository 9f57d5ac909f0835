"""Level-one messages -> canonical ticks: merge partial updates, emit only on trades.

Schwab sends a full snapshot of the requested fields when a symbol is subscribed and
afterwards only the fields that changed. So a quote is the merge of everything seen
for its symbol, and an update is a *trade* when it carries evidence of one: a changed
last price, last size or trade time, or a grown cumulative volume. Bid/ask-only
updates refresh the book but emit nothing, because the engine's rules are about trades.

Volume of a tick is the quantity traded in that update, never the day's cumulative
figure: the growth of ``TOTAL_VOLUME`` since the previous update when both are known
(Schwab conflates several trades into one update, and the growth counts them all),
else ``LAST_SIZE``. A futures root (``/ES``) streams its front contract; when
``FUTURE_ACTIVE_SYMBOL`` changes (a roll) the old contract's total is no baseline for
the new one's, so the first trade after a roll has its ``LAST_SIZE`` as volume.

The first update of a symbol on a new connection is the subscription snapshot: the
last known values, possibly hours old (the last trade before the close). It seeds the
book and is never emitted as a trade; the next update that carries a trade is.

``ts`` is the exchange's trade time (``TRADE_TIME_MILLIS``), falling back to the quote
time and then the message's server timestamp; never the local clock, so a recorded
session backtests to the same alerts. Schwab sends 0 as a placeholder for times it does
not have: those are not times and are ignored. A trade whose time is far from the
caller's clock (``now_ms``/``max_skew_ms``) is refused, and a changed price that comes
without a new trade time is stamped with the message's server time, and noted, rather
than given the previous trade's time.

Pure and synchronous: no network, no clock; unit-tested with plain dicts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import polars as pl

from ..ticks import TICK_SCHEMA, empty_ticks

Service = Literal["LEVELONE_FUTURES", "LEVELONE_EQUITIES"]
FUTURES: Service = "LEVELONE_FUTURES"
EQUITIES: Service = "LEVELONE_EQUITIES"

#: schwab-py field names requested on both services (they share these names).
NEEDED_FIELDS: tuple[str, ...] = (
    "SYMBOL",
    "BID_PRICE",
    "ASK_PRICE",
    "LAST_PRICE",
    "BID_SIZE",
    "ASK_SIZE",
    "TOTAL_VOLUME",
    "LAST_SIZE",
    "QUOTE_TIME_MILLIS",
    "TRADE_TIME_MILLIS",
)
#: Futures also carry the contract a root symbol (``/ES``) currently streams: a change is a roll.
FUTURES_FIELDS: tuple[str, ...] = (*NEEDED_FIELDS, "FUTURE_ACTIVE_SYMBOL")


def fields_for(service: Service) -> tuple[str, ...]:
    return FUTURES_FIELDS if service == FUTURES else NEEDED_FIELDS

# schwab-py field name -> (Quote attribute, kind)
_FIELD_MAP: dict[str, tuple[str, str]] = {
    "LAST_PRICE": ("price", "float"),
    "LAST_SIZE": ("last_size", "int"),
    "TOTAL_VOLUME": ("total_volume", "int"),
    "BID_PRICE": ("bid", "float"),
    "ASK_PRICE": ("ask", "float"),
    "BID_SIZE": ("bid_size", "int"),
    "ASK_SIZE": ("ask_size", "int"),
    "TRADE_TIME_MILLIS": ("trade_time", "int"),
    "QUOTE_TIME_MILLIS": ("quote_time", "int"),
}
_UNSUPPORTED_TYPES = {"option", "forex"}


def service_for(symbol: str, instrument_type: str) -> Service | None:
    """Which level-one service streams ``symbol``; ``None`` when this source cannot.

    Futures are written with a leading ``/`` (``/ES``); indices and market internals
    (``$SPX``, ``$TICK``, ``$ADD``) are served on the equities service with their ``$``.
    """
    if instrument_type in _UNSUPPORTED_TYPES:
        return None
    if symbol.startswith("/"):
        return FUTURES if len(symbol) > 1 else None
    if instrument_type == "future":
        return None  # a future without the slash would be looked up as a stock
    return EQUITIES if symbol.strip() == symbol and symbol else None


@dataclass
class Quote:
    """The last known value of every needed field of one symbol (None: not seen yet)."""

    price: float | None = None
    last_size: int | None = None
    total_volume: int | None = None
    bid: float | None = None
    ask: float | None = None
    bid_size: int | None = None
    ask_size: int | None = None
    trade_time: int | None = None
    quote_time: int | None = None
    contract: str | None = None  # futures: the contract streamed for this symbol (``/ESH26``)
    fresh: bool = True  # next update is the snapshot of a (re)subscription


_QUOTE_FIELDS = tuple(f.name for f in fields(Quote) if f.name != "fresh")


def _coerce(value: Any, kind: str) -> float | int | None:
    """A JSON value as float/int, or None if it is not a usable number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return None
    if kind == "float":
        return float(value)
    if isinstance(value, float):
        if not value.is_integer():
            return None
        return int(value)
    return value


@dataclass(frozen=True)
class TickRow:
    ts_ms: int
    symbol: str
    price: float
    volume: int | None
    bid: float | None
    ask: float | None
    bid_size: int | None
    ask_size: int | None


_TIME_ATTRS = frozenset({"trade_time", "quote_time"})


@dataclass
class QuoteBook:
    """Last-known quote per symbol; turns labeled level-one messages into tick rows.

    Kept across reconnects so that the snapshot a resubscription sends does not repeat
    a trade already emitted.
    """

    quotes: dict[str, Quote] = field(default_factory=dict)
    malformed: int = 0  # content items or field values that could not be used
    seeded: int = 0  # snapshots merged without emitting a tick
    placeholders: int = 0  # 0 sent for a time Schwab does not have
    implausible: int = 0  # trades refused for a time far from the clock
    restamped: int = 0  # changed prices without a new trade time, stamped with the message time
    rolls: int = 0  # futures contract changes seen (volume baseline reset each time)
    #: (symbol, what) for the caller to log: "implausible <ts>", "restamped", "roll OLD NEW";
    #: drained by the caller.
    notes: list[tuple[str, str]] = field(default_factory=list)

    def new_connection(self) -> None:
        """The next update of every symbol is a snapshot (see the module docstring)."""
        for q in self.quotes.values():
            q.fresh = True

    def forget(self, symbols: Iterable[str]) -> None:
        for s in symbols:
            self.quotes.pop(s, None)

    def apply_message(
        self, message: Mapping[str, Any], now_ms: int | None = None, max_skew_ms: int | None = None
    ) -> list[TickRow]:
        """A labeled ``data`` entry (``service``, ``timestamp``, ``content`` list) -> ticks.

        Every content item is applied in order; one message carries many symbols and
        may carry the same symbol twice, and none of them is dropped.
        """
        content = message.get("content")
        if not isinstance(content, list):
            self.malformed += 1
            return []
        envelope_ts = _coerce(message.get("timestamp"), "int")
        rows: list[TickRow] = []
        for item in content:
            row = self.apply(item, envelope_ts if isinstance(envelope_ts, int) else None)
            if row is None:
                continue
            if now_ms is not None and max_skew_ms is not None and abs(row.ts_ms - now_ms) > max_skew_ms:
                self.implausible += 1
                self.notes.append((row.symbol, f"implausible trade time {row.ts_ms}"))
                continue
            rows.append(row)
        return rows

    def apply(self, item: Any, envelope_ts: int | None = None) -> TickRow | None:
        """Merge one content item; return a tick if it carries a trade."""
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str) or not item["key"]:
            self.malformed += 1
            return None
        symbol: str = item["key"]
        update: dict[str, float | int] = {}
        for name, (attr, kind) in _FIELD_MAP.items():
            if name not in item:
                continue
            value = _coerce(item[name], kind)
            if value is None:
                self.malformed += 1
                continue
            if attr in _TIME_ATTRS and value <= 0:
                self.placeholders += 1  # "no such time", not 1970
                continue
            update[attr] = value
        quote = self.quotes.get(symbol)
        if quote is None:
            quote = self.quotes[symbol] = Quote()
        contract = item.get("FUTURE_ACTIVE_SYMBOL")
        if isinstance(contract, str) and contract:
            if quote.contract is not None and contract != quote.contract:
                # A roll: the new contract's cumulative volume has nothing to do with the old
                # one's, so its growth is no tick's volume (the baseline starts over here).
                self.rolls += 1
                self.notes.append((symbol, f"roll {quote.contract} {contract}"))
                quote.total_volume = None
            quote.contract = contract
        prev = {name: getattr(quote, name) for name in _QUOTE_FIELDS}
        snapshot = quote.fresh
        quote.fresh = False
        for attr, value in update.items():
            setattr(quote, attr, value)
        if snapshot:
            self.seeded += 1
            return None

        if not _is_trade(update, prev) or quote.price is None:
            return None
        ts = quote.trade_time if quote.trade_time is not None else quote.quote_time
        if "trade_time" not in update and prev["trade_time"] is not None and envelope_ts is not None \
                and envelope_ts > prev["trade_time"]:
            # a new trade still carrying the previous trade's time: that time is not this trade's
            ts = envelope_ts
            self.restamped += 1
            self.notes.append((symbol, "restamped"))
        if ts is None:
            ts = envelope_ts
        if ts is None:
            self.malformed += 1
            return None
        return TickRow(
            ts_ms=int(ts),
            symbol=symbol,
            price=float(quote.price),
            volume=_volume(update, prev, snapshot),
            bid=quote.bid,
            ask=quote.ask,
            bid_size=quote.bid_size,
            ask_size=quote.ask_size,
        )


def _changed(update: Mapping[str, float | int], prev: Mapping[str, Any], attr: str) -> bool:
    return attr in update and update[attr] != prev[attr]


def _is_trade(update: Mapping[str, float | int], prev: Mapping[str, Any]) -> bool:
    if _changed(update, prev, "price") or _changed(update, prev, "last_size"):
        return True
    if _changed(update, prev, "trade_time"):
        return True
    total, before = update.get("total_volume"), prev["total_volume"]
    return total is not None and before is not None and total > before


def _volume(update: Mapping[str, float | int], prev: Mapping[str, Any], snapshot: bool) -> int | None:
    total, before = update.get("total_volume"), prev["total_volume"]
    if not snapshot and total is not None and before is not None and total >= before:
        return int(total - before)
    size = update.get("last_size")
    if size is not None and size >= 0:
        return int(size)
    return None  # unknown; the cumulative figure is never a tick's volume


def rows_to_frame(rows: list[TickRow]) -> pl.DataFrame:
    """Tick rows -> the canonical tick frame (docs/semantics.md, "Ticks")."""
    if not rows:
        return empty_ticks()
    frame = pl.DataFrame(
        {
            "ts": [r.ts_ms for r in rows],
            "symbol": [r.symbol for r in rows],
            "price": [r.price for r in rows],
            "volume": [r.volume for r in rows],
            "bid": [r.bid for r in rows],
            "ask": [r.ask for r in rows],
            "bid_size": [r.bid_size for r in rows],
            "ask_size": [r.ask_size for r in rows],
        },
        schema={**TICK_SCHEMA, "ts": pl.Int64()},
    )
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"))

"""Merging partial level-one updates into ticks: pure logic, no network."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from tradeassist_runner.sources.schwab.quotes import (
    EQUITIES,
    FUTURES,
    QuoteBook,
    rows_to_frame,
    service_for,
)
from tradeassist_runner.sources.ticks import TICK_SCHEMA

T0 = 1_767_623_400_000  # 2026-01-05T14:30:00Z


def msg(*items: dict, ts: int = T0 + 999) -> dict:
    return {"service": "LEVELONE_FUTURES", "timestamp": ts, "command": "SUBS", "content": list(items)}


SNAPSHOT = {
    "key": "/ES", "BID_PRICE": 6000.0, "ASK_PRICE": 6000.25, "LAST_PRICE": 6000.25, "BID_SIZE": 10,
    "ASK_SIZE": 12, "TOTAL_VOLUME": 1000, "LAST_SIZE": 2, "QUOTE_TIME_MILLIS": T0 + 5,
    "TRADE_TIME_MILLIS": T0,
}


def seeded(*symbols: str) -> QuoteBook:
    """A book past each symbol's subscription snapshot (here one carrying nothing but the key)."""
    book = QuoteBook()
    book.apply_message(msg(*({"key": s} for s in symbols)))
    return book


def test_snapshot_seeds_the_book_and_is_not_a_tick() -> None:
    book = QuoteBook()
    assert book.apply_message(msg(SNAPSHOT)) == []  # possibly hours old: not a fresh trade
    assert book.seeded == 1 and book.quotes["/ES"].price == 6000.25
    [row] = book.apply_message(msg({"key": "/ES", "LAST_SIZE": 3, "TOTAL_VOLUME": 1003, "TRADE_TIME_MILLIS": T0 + 9}))
    assert (row.symbol, row.price, row.volume, row.ts_ms) == ("/ES", 6000.25, 3, T0 + 9)
    assert (row.bid, row.ask, row.bid_size, row.ask_size) == (6000.0, 6000.25, 10, 12)


def test_zero_times_are_placeholders_not_1970() -> None:
    book = QuoteBook()
    book.apply_message(msg({"key": "/ES", "LAST_PRICE": 6000.0, "TRADE_TIME_MILLIS": 0, "QUOTE_TIME_MILLIS": 0}))
    assert book.placeholders == 2 and book.quotes["/ES"].trade_time is None
    [row] = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 6000.5, "TRADE_TIME_MILLIS": 0}, ts=T0 + 3))
    assert row.ts_ms == T0 + 3  # the message's server time, not epoch 0


def test_trade_time_far_from_the_clock_is_refused_and_noted() -> None:
    book = seeded("/ES")
    hour = 3_600_000
    ok = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 1.0, "TRADE_TIME_MILLIS": T0}), now_ms=T0 + 5, max_skew_ms=hour)
    assert [r.ts_ms for r in ok] == [T0]
    bogus = {"key": "/ES", "LAST_PRICE": 2.0, "TRADE_TIME_MILLIS": T0 - 30 * 86_400_000}
    assert book.apply_message(msg(bogus), now_ms=T0 + 10, max_skew_ms=hour) == []
    assert book.implausible == 1 and book.notes[-1][0] == "/ES" and "implausible" in book.notes[-1][1]


def test_changed_price_without_a_new_trade_time_is_restamped_and_noted() -> None:
    book = seeded("/ES")
    book.apply_message(msg({"key": "/ES", "LAST_PRICE": 1.0, "TRADE_TIME_MILLIS": T0}))
    [row] = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 1.25}, ts=T0 + 700))
    assert row.ts_ms == T0 + 700  # not T0: that was the previous trade
    assert book.restamped == 1 and book.notes == [("/ES", "restamped")]


def test_partial_update_merges_into_last_known_quote() -> None:
    book = QuoteBook()
    book.apply_message(msg(SNAPSHOT))
    # only the changed fields: new trade price, total volume +3, trade time
    [row] = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 6000.5, "TOTAL_VOLUME": 1003,
                                    "TRADE_TIME_MILLIS": T0 + 100}))
    assert (row.price, row.volume, row.ts_ms) == (6000.5, 3, T0 + 100)
    assert (row.bid, row.ask, row.bid_size) == (6000.0, 6000.25, 10)  # carried from the snapshot


def test_quote_only_updates_emit_nothing_but_update_the_book() -> None:
    book = QuoteBook()
    book.apply_message(msg(SNAPSHOT))
    assert book.apply_message(msg({"key": "/ES", "BID_PRICE": 6000.25, "BID_SIZE": 3,
                                   "QUOTE_TIME_MILLIS": T0 + 50})) == []
    [row] = book.apply_message(msg({"key": "/ES", "LAST_SIZE": 4, "TOTAL_VOLUME": 1004,
                                    "TRADE_TIME_MILLIS": T0 + 60}))
    assert (row.price, row.volume, row.bid, row.bid_size) == (6000.25, 4, 6000.25, 3)


def test_same_price_and_size_trade_is_seen_through_volume_and_trade_time() -> None:
    book = QuoteBook()
    book.apply_message(msg(SNAPSHOT))
    [row] = book.apply_message(msg({"key": "/ES", "TOTAL_VOLUME": 1002, "TRADE_TIME_MILLIS": T0 + 7}))
    assert (row.price, row.volume, row.ts_ms) == (6000.25, 2, T0 + 7)


def test_volume_is_never_the_cumulative_total() -> None:
    book = seeded("/ES")
    [first] = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 1.0, "TOTAL_VOLUME": 500_000,
                                      "TRADE_TIME_MILLIS": T0}))
    assert first.volume is None  # no size, no earlier total: unknown, not 500000
    [row] = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 1.25, "TOTAL_VOLUME": 500_007,
                                    "LAST_SIZE": 1, "TRADE_TIME_MILLIS": T0 + 1}))
    assert row.volume == 7  # conflated trades: the growth counts them all
    [reset] = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 1.5, "TOTAL_VOLUME": 3,
                                      "LAST_SIZE": 3, "TRADE_TIME_MILLIS": T0 + 2}))
    assert reset.volume == 3  # session reset: the total went down, use the last size


def test_several_symbols_in_one_message_none_dropped_and_negative_values_kept() -> None:
    book = seeded("$TICK", "$ADD", "$SPX")
    rows = book.apply_message({
        "service": "LEVELONE_EQUITIES", "timestamp": T0, "content": [
            {"key": "$TICK", "LAST_PRICE": -612.0, "TRADE_TIME_MILLIS": T0 + 1},
            {"key": "$ADD", "LAST_PRICE": -1450.0, "TRADE_TIME_MILLIS": T0 + 2},
            {"key": "$SPX", "LAST_PRICE": 6001.5, "TRADE_TIME_MILLIS": T0 + 3},
            {"key": "$TICK", "LAST_PRICE": -580.0, "TRADE_TIME_MILLIS": T0 + 4},
        ]})
    assert [(r.symbol, r.price) for r in rows] == [
        ("$TICK", -612.0), ("$ADD", -1450.0), ("$SPX", 6001.5), ("$TICK", -580.0)]
    assert all(r.volume is None for r in rows)


def test_ts_falls_back_to_quote_time_then_message_time_never_local_clock() -> None:
    book = seeded("/NQ", "/YM")
    [a] = book.apply_message(msg({"key": "/NQ", "LAST_PRICE": 2.0, "QUOTE_TIME_MILLIS": T0 + 9}))
    assert a.ts_ms == T0 + 9
    [b] = book.apply_message(msg({"key": "/YM", "LAST_PRICE": 2.0}, ts=T0 + 42))
    assert b.ts_ms == T0 + 42


def test_resubscription_snapshot_does_not_repeat_a_trade() -> None:
    book = QuoteBook()
    book.apply_message(msg(SNAPSHOT))
    book.new_connection()
    assert book.apply_message(msg(SNAPSHOT)) == []  # same trade as before the reconnect
    book.new_connection()
    later = {**SNAPSHOT, "LAST_PRICE": 6010.0, "TOTAL_VOLUME": 5000, "LAST_SIZE": 1, "TRADE_TIME_MILLIS": T0 + 60_000}
    assert book.apply_message(msg(later)) == []  # seeds the book: 6010 is the last known price
    [row] = book.apply_message(msg({"key": "/ES", "LAST_PRICE": 6010.25, "TOTAL_VOLUME": 5002,
                                    "TRADE_TIME_MILLIS": T0 + 61_000}))
    assert row.volume == 2  # not the 4000 traded while disconnected


def test_malformed_items_and_values_are_counted_and_skipped() -> None:
    book = seeded("/ES", "/NQ")
    rows = book.apply_message(msg(
        "junk", {"no": "key"},
        {"key": "/ES", "LAST_PRICE": "abc", "TRADE_TIME_MILLIS": T0},
        {"key": "/NQ", "LAST_PRICE": 21000.0, "LAST_SIZE": 1.5, "TRADE_TIME_MILLIS": T0},
    ))
    assert [(r.symbol, r.volume) for r in rows] == [("/NQ", None)]
    assert book.malformed == 4
    assert book.apply_message({"service": "X", "content": "nope"}) == []


def test_rows_to_frame_has_the_canonical_schema() -> None:
    book = seeded("/ES")
    frame = rows_to_frame(book.apply_message(msg(SNAPSHOT)))
    assert dict(frame.schema) == TICK_SCHEMA
    assert frame["ts"][0] == datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
    assert rows_to_frame([]).schema == pl.DataFrame(schema=TICK_SCHEMA).schema


def test_service_for_symbols() -> None:
    assert service_for("/ES", "future") == FUTURES
    assert service_for("$TICK", "internal") == EQUITIES
    assert service_for("$SPX", "index") == EQUITIES
    assert service_for("AAPL", "equity") == EQUITIES
    assert service_for("ES", "future") is None
    assert service_for("EUR/USD", "forex") is None
    assert service_for("AAPL  260116C00200000", "option") is None


def test_contract_roll_resets_the_volume_baseline_and_is_noted() -> None:
    book = QuoteBook()
    book.apply_message(msg({**SNAPSHOT, "FUTURE_ACTIVE_SYMBOL": "/ESH26", "TOTAL_VOLUME": 1_200_000}))
    [row] = book.apply_message(msg({"key": "/ES", "LAST_SIZE": 3, "TOTAL_VOLUME": 1_200_003, "TRADE_TIME_MILLIS": T0 + 1}))
    assert row.volume == 3
    # the root now streams the next contract, whose day volume is larger than the old one's
    [rolled] = book.apply_message(msg({"key": "/ES", "FUTURE_ACTIVE_SYMBOL": "/ESM26", "LAST_PRICE": 6050.0,
                                       "LAST_SIZE": 2, "TOTAL_VOLUME": 1_500_000, "TRADE_TIME_MILLIS": T0 + 2}))
    assert (rolled.price, rolled.volume) == (6050.0, 2)  # not 299,997
    assert book.rolls == 1 and book.notes == [("/ES", "roll /ESH26 /ESM26")]
    [after] = book.apply_message(msg({"key": "/ES", "LAST_SIZE": 1, "TOTAL_VOLUME": 1_500_004, "TRADE_TIME_MILLIS": T0 + 3}))
    assert after.volume == 4  # the new contract's total is the baseline now
    assert book.quotes["/ES"].contract == "/ESM26"


def test_roll_seen_in_a_resubscription_snapshot_still_resets_the_baseline() -> None:
    book = QuoteBook()
    book.apply_message(msg({**SNAPSHOT, "FUTURE_ACTIVE_SYMBOL": "/ESH26", "TOTAL_VOLUME": 1_200_000}))
    book.new_connection()  # reconnected after the roll (e.g. overnight)
    assert book.apply_message(msg({"key": "/ES", "FUTURE_ACTIVE_SYMBOL": "/ESM26", "TOTAL_VOLUME": 90_000})) == []
    [row] = book.apply_message(msg({"key": "/ES", "LAST_SIZE": 1, "TOTAL_VOLUME": 90_006, "TRADE_TIME_MILLIS": T0 + 1}))
    assert row.volume == 6 and book.rolls == 1

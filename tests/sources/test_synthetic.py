"""The synthetic feed: reproducible, plausible, and clean enough to pass the tick gate."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from tradeassist_runner.config.models import Instrument, SyntheticSource
from tradeassist_runner.sources.synthetic import SyntheticFeed
from tradeassist_runner.sources.ticks import TICK_SCHEMA, TickGate, normalize

from ..virtual_time import run_virtual

START = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
SYMBOLS = ["/ES", "/NQ", "/YM", "/CL", "/GC", "$SPX", "$NDX", "$RUT", "$VIX", "$TRIN", "$TICK", "$ADD", "AAPL"]


def feed(seed: int = 7, symbols: list[str] = SYMBOLS, **kw: object) -> SyntheticFeed:
    return SyntheticFeed(symbols, SyntheticSource(type="synthetic", seed=seed, **kw), start=START)  # type: ignore[arg-type]


def test_same_seed_same_ticks_different_seed_different_ticks() -> None:
    a, b, c = feed(1).generate(5000), feed(1).generate(5000), feed(2).generate(5000)
    assert a.equals(b)
    assert not a["price"].equals(c["price"])


def test_output_is_canonical_and_passes_normalize_and_the_gate_untouched() -> None:
    ticks = feed().generate(20_000)
    assert dict(ticks.schema) == TICK_SCHEMA
    good, bad = normalize(ticks)
    assert bad == [] and good.height == ticks.height
    result = TickGate(SYMBOLS).admit(ticks)
    assert result.rejections == [] and result.accepted.height == ticks.height


def test_clock_starts_at_start_and_runs_at_the_configured_rate_per_instrument() -> None:
    ticks = feed(symbols=["/ES", "/NQ"], ticks_per_second=100.0).generate(2000)  # ~10 s
    assert ticks["ts"].min() >= START
    span = (ticks["ts"].max() - START).total_seconds()
    assert 9.0 < span < 11.0
    counts = dict(ticks.group_by("symbol").len().iter_rows())
    assert counts == {"/ES": 1000, "/NQ": 1000}
    assert ticks.select((pl.col("ts").diff().over("symbol") >= timedelta(0)).all()).item()


def test_successive_calls_continue_the_walk_and_the_clock() -> None:
    f = feed(symbols=["/ES"])
    first, second = f.generate(100), f.generate(100)
    assert second["ts"].min() >= first["ts"].max()
    assert abs(second["price"][0] - first["price"][-1]) < 10


def test_prices_start_near_real_levels_and_sit_on_the_tick_grid() -> None:
    ticks = feed().generate(13 * 20)
    first = dict(ticks.group_by("symbol", maintain_order=True).agg(pl.col("price").first()).iter_rows())
    expected = {"/ES": 6000, "/NQ": 21000, "/YM": 44000, "/CL": 70, "/GC": 2650, "$SPX": 6000,
                "$NDX": 21000, "$RUT": 2300, "$VIX": 16, "AAPL": 100}
    for symbol, level in expected.items():
        assert abs(first[symbol] - level) / level < 0.02, symbol
    assert 0.8 < first["$TRIN"] < 1.25  # mean-reverting around 1.0, moves faster
    es = ticks.filter(pl.col("symbol") == "/ES")["price"]
    assert ((es * 4).round(9) % 1 == 0).all()
    ym = ticks.filter(pl.col("symbol") == "/YM")["price"]
    assert (ym % 1 == 0).all()


def test_internals_mean_revert_around_zero_and_can_go_negative() -> None:
    ticks = feed().generate(13 * 5000)
    stats = dict(
        ticks.group_by("symbol")
        .agg(pl.struct(pl.col("price").min().alias("lo"), pl.col("price").max().alias("hi"), pl.col("price").mean().alias("mean")))
        .iter_rows()
    )
    tick, add = stats["$TICK"], stats["$ADD"]
    assert tick["lo"] < 0 < tick["hi"] and tick["lo"] > -2000 and tick["hi"] < 2000
    assert add["lo"] < 0 < add["hi"] and add["lo"] > -4000 and add["hi"] < 4000
    assert abs(tick["mean"]) < 300
    assert stats["$TRIN"]["lo"] > 0.3 and stats["$TRIN"]["hi"] < 3.0


def test_volumes_are_positive_with_spikes_and_null_for_internals() -> None:
    ticks = feed().generate(13 * 5000)
    internals = ticks.filter(pl.col("symbol").is_in(["$TICK", "$ADD", "$TRIN", "$VIX"]))
    assert internals["volume"].null_count() == internals.height
    es = ticks.filter(pl.col("symbol") == "/ES")["volume"]
    assert es.null_count() == 0 and es.min() >= 1  # type: ignore[operator]
    assert es.max() >= 5 * es.median()  # type: ignore[operator]


def test_instrument_models_and_unknown_symbols_are_accepted() -> None:
    instruments = [Instrument(symbol="XYZ", type="equity"), Instrument(symbol="$TICK", type="internal")]
    ticks = SyntheticFeed(instruments, start=START).generate(10)
    assert set(ticks["symbol"]) == {"XYZ", "$TICK"}


def test_a_million_ticks_come_in_one_vectorized_call() -> None:
    # How fast is a benchmark's business (benchmarks/ generates its workloads with this feed);
    # here: one call, every tick, every instrument its share, the clock only moving forward.
    ticks = feed().generate(1_000_000)
    assert ticks.height == 1_000_000
    shares = ticks["symbol"].value_counts()["count"]
    assert shares.len() == len(SYMBOLS) and shares.max() - shares.min() <= 1
    assert ticks["ts"].is_sorted()


def test_no_instruments_means_no_ticks() -> None:
    assert feed(symbols=[]).generate(100).height == 0


def test_stream_tracks_the_wall_clock_and_stops_after_duration() -> None:
    f = SyntheticFeed(
        ["/ES", "/NQ"],
        SyntheticSource(type="synthetic", ticks_per_second=200.0, duration=timedelta(milliseconds=400)),
    )

    async def run() -> tuple[list[tuple[float, pl.DataFrame]], datetime]:
        loop = asyncio.get_running_loop()
        began = datetime.now(timezone.utc)
        t0 = loop.time()
        return [(loop.time() - t0, frame) async for frame in f.stream(batch_interval=0.02)], began

    timed, began = run_virtual(run())  # the feed paces itself by the loop's clock: virtual here
    frames = [frame for _, frame in timed]
    ticks = pl.concat(frames)
    # paced: a hand-over every 20 ms, each with the ticks the clock reached, then the end
    assert [t for t, _ in timed] == pytest.approx([0.02 * (i + 1) for i in range(20)])
    assert all(4 <= frame.height <= 12 for frame in frames)  # 2 symbols x 200/s x 20 ms = 8 on average
    assert 140 <= ticks.height <= 180  # 2 symbols x 200/s x 0.4 s = 160 on average
    assert abs((ticks["ts"].min() - began).total_seconds()) < 1.0
    assert (ticks["ts"].max() - ticks["ts"].min()).total_seconds() <= 0.4


def test_live_stream_hands_each_tick_over_when_it_comes_due_and_a_slow_reader_gets_all_that_came_due() -> None:
    f = SyntheticFeed(
        ["/ES", "/NQ"], SyntheticSource(type="synthetic", ticks_per_second=50.0, duration=timedelta(seconds=2)),
        start=START,
    )
    start_ms = START.timestamp() * 1000

    async def run() -> list[tuple[float, pl.DataFrame]]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        got: list[tuple[float, pl.DataFrame]] = []
        async for frame in f.stream():
            now_ms = start_ms + (loop.time() - t0) * 1000
            got.append((now_ms, frame))
            if len(got) == 10:
                await asyncio.sleep(0.3)  # a slow consumer: the next frame holds what came due meanwhile
        return got

    got = run_virtual(run())
    ticks = pl.concat([frame for _, frame in got])
    assert ticks.height == pytest.approx(200, abs=30)  # 2 symbols x 50/s x 2 s
    assert ticks["ts"].is_sorted()
    for now_ms, frame in got:
        ts = frame["ts"].dt.epoch("ms")
        assert ts.max() <= now_ms  # never handed over before it is due
    # No fixed cadence: while the reader keeps up, a tick waits about a millisecond at most
    # (a tick's ts is its time floored to the ms), not 20-50 ms for a batch to fill.
    keeping_up = [(now_ms, frame) for now_ms, frame in got[:10]] + got[11:]
    assert all(now_ms - frame["ts"].dt.epoch("ms").min() <= 2.0 for now_ms, frame in keeping_up)
    slow_now, slow_frame = got[10]
    assert slow_frame.height >= 20  # ~300 ms at 100 ticks/s came due during the slow read
    assert slow_now - slow_frame["ts"].dt.epoch("ms").min() >= 250

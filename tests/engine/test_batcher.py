"""Micro-batching: full batches go out at once, partial ones after max_delay, nothing is lost.

The batcher paces itself by its event loop's clock; these tests run it on a virtual clock
(tests/virtual_time.py), so the times below are exact and no test waits for real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import polars as pl
import pytest

from tradeassist_runner.engine.batcher import micro_batches

from ..virtual_time import run_virtual


def rows(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"price": pl.Series(range(start, start + n), dtype=pl.Int64)})


async def feed(sizes: Sequence[int], gaps: Sequence[float] | float = 0.0) -> AsyncIterator[pl.DataFrame]:
    """Frames of consecutive numbers, ``gaps[i]`` seconds before frame i."""
    start = 0
    for i, n in enumerate(sizes):
        gap = gaps if isinstance(gaps, float) else gaps[i]
        if gap:
            await asyncio.sleep(gap)
        yield rows(start, n)
        start += n


async def drain(source: AsyncIterator[pl.DataFrame], max_size: int, max_delay: float) -> list[tuple[float, list[int]]]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    return [
        (loop.time() - t0, batch["price"].to_list())
        async for batch in micro_batches(source, max_size=max_size, max_delay=max_delay)
    ]


def run(source: AsyncIterator[pl.DataFrame], max_size: int, max_delay: float) -> list[tuple[float, list[int]]]:
    return run_virtual(drain(source, max_size, max_delay))


def test_frames_are_recut_into_batches_of_max_size_in_order() -> None:
    out = run(feed([3, 5, 7, 0, 2]), max_size=4, max_delay=10.0)
    assert [b for _, b in out] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15], [16]]


def test_one_big_frame_is_split_and_the_remainder_flushed_at_end_of_stream() -> None:
    out = run(feed([10]), max_size=3, max_delay=10.0)
    assert [len(b) for _, b in out] == [3, 3, 3, 1]
    assert [x for _, b in out for x in b] == list(range(10))


def test_a_partial_batch_is_flushed_once_its_oldest_row_waited_max_delay() -> None:
    out = run(feed([1, 1], gaps=[0.0, 0.5]), max_size=100, max_delay=0.05)
    assert out == [(pytest.approx(0.05), [0]), (pytest.approx(0.5), [1])]  # did not wait for the next frame


def test_frames_arriving_within_the_delay_share_a_batch() -> None:
    out = run(feed([1, 1, 1], gaps=[0.0, 0.01, 0.01]), max_size=100, max_delay=0.4)
    assert out == [(pytest.approx(0.02), [0, 1, 2])]  # together, as soon as the feed ended


def test_a_slow_feed_loses_nothing_when_the_delay_fires_while_a_read_is_pending() -> None:
    out = run(feed([2] * 8, gaps=0.03), max_size=100, max_delay=0.01)
    assert [x for _, b in out for x in b] == list(range(16))
    # each frame goes out alone after its 10 ms while the next read (30 ms away) is pending;
    # the last one when the feed ends
    assert out == [(pytest.approx(0.03 * (i + 1) + 0.01), [2 * i, 2 * i + 1]) for i in range(7)] + [
        (pytest.approx(0.24), [14, 15])]


def test_empty_stream_yields_nothing() -> None:
    assert run(feed([]), max_size=10, max_delay=0.01) == []


def test_buffered_rows_are_delivered_before_a_source_error() -> None:
    async def failing() -> AsyncIterator[pl.DataFrame]:
        yield rows(0, 2)
        raise RuntimeError("feed dropped")

    got: list[list[int]] = []

    async def consume() -> None:
        async for batch in micro_batches(failing(), max_size=10, max_delay=10.0):
            got.append(batch["price"].to_list())

    with pytest.raises(RuntimeError, match="feed dropped"):
        run_virtual(consume())
    assert got == [[0, 1]]


def test_closing_the_batches_cancels_the_pending_read_and_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[pl.DataFrame]:
        try:
            yield rows(0, 1)
            await asyncio.sleep(3600)
            yield rows(1, 1)
        finally:
            closed.set()

    async def consume() -> tuple[list[int], float]:
        loop = asyncio.get_running_loop()
        batches = micro_batches(endless(), max_size=10, max_delay=0.01)
        first = await anext(batches)
        await batches.aclose()
        assert closed.is_set()
        return first["price"].to_list(), loop.time()

    # closed at once: the hour-long read was cancelled, not waited for (on the virtual clock)
    assert run_virtual(consume()) == ([0], pytest.approx(0.01))


def test_max_size_must_be_positive() -> None:
    async def consume() -> None:
        async for _ in micro_batches(feed([1]), max_size=0, max_delay=0.01):
            pass

    with pytest.raises(ValueError, match="max_size"):
        run_virtual(consume())


def test_a_backlog_goes_out_in_batches_of_up_to_catch_up_size() -> None:
    async def go() -> list[list[int]]:
        return [b["price"].to_list() async for b in micro_batches(feed([25, 3]), max_size=4, max_delay=10.0,
                                                                  catch_up_size=10)]

    out = run_virtual(go())
    assert [len(b) for b in out] == [10, 10, 5, 3]  # 25 waiting: 10, 10, then the 5 left; then 3 (< catch-up)
    assert [x for b in out for x in b] == list(range(28))

"""The worker-thread stages of a backtest: order, errors where the sequential code raises them, clean stops."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from tradeassist_runner.pipeline import BackgroundWriter, ReadAhead, read_ahead


def test_read_ahead_keeps_order_and_raises_after_the_items_before_the_error() -> None:
    def items() -> Generator[int, None, None]:
        yield from range(5)
        raise ValueError("bad chunk")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad chunk"):
        for x in read_ahead(items(), depth=2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_closing_read_ahead_stops_the_worker_and_closes_its_source() -> None:
    closed = threading.Event()

    def items() -> Generator[int, None, None]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    ahead = read_ahead(items(), depth=1)
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()
    assert closed.is_set()


def test_read_ahead_says_whether_the_next_item_is_waiting() -> None:
    go, queued, finish = threading.Event(), threading.Event(), threading.Event()

    def items() -> Generator[int, None, None]:
        go.wait()
        yield 0
        queued.set()  # the worker asks for the next item once it has queued this one
        finish.wait()

    ahead = ReadAhead(items())
    assert not ahead.ready()
    go.set()
    queued.wait()
    assert ahead.ready()
    assert next(ahead) == 0
    assert not ahead.ready()
    finish.set()
    assert list(ahead) == []
    assert ahead.ready()  # the end: a step returns at once
    ahead.close()


def test_background_writer_writes_in_order_and_raises_its_error_to_the_caller() -> None:
    written: list[int] = []
    writer: BackgroundWriter[int] = BackgroundWriter(written.append, depth=2)
    for i in range(100):
        writer.put(i)
    writer.close()
    assert written == list(range(100))

    def fail(item: int) -> None:
        raise BrokenPipeError(item)

    broken: BackgroundWriter[int] = BackgroundWriter(fail, depth=2)
    with pytest.raises(BrokenPipeError):
        for i in range(100):
            broken.put(i)
        broken.close()
    broken.close()  # once raised, a second close is quiet

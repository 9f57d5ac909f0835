"""Run a stage of a backtest on a worker thread, next to the engine on the caller's.

A backtest reads and cleans the next chunk of ticks, evaluates this one, and encodes
the alerts of the last one: three stages that each spend most of their time inside
polars and numpy, which release the GIL. On a machine with two cores, running the
reading and the encoding beside the evaluation hides them almost entirely, where one
thread would pay for them in turn.

Both helpers are bounded (a few items ahead, never more), so memory stays a few chunks
whatever the file's size, and both hand a worker's exception to the caller at the point
the sequential code would have raised it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _End:
    """The producer is done; ``error`` is what stopped it, if anything did."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def read_ahead(items: Iterator[T], depth: int = 1, name: str = "read-ahead") -> Generator[T, None, None]:
    """``items`` in order, produced on a worker thread up to ``depth`` items ahead of the caller.

    The worker starts at the first step. An exception raised by ``items`` is raised here
    after the items before it. Closing the returned generator (or dropping it) stops the
    worker and closes ``items`` on it.
    """
    ahead = ReadAhead(items, depth, name)
    try:
        yield from ahead
    finally:
        ahead.close()


class ReadAhead(Generic[T]):
    """:func:`read_ahead` started at once: the worker runs from construction, before anyone
    asks for an item, and :meth:`close` stops it whether or not an item was taken."""

    def __init__(self, items: Iterator[T], depth: int = 1, name: str = "read-ahead") -> None:
        self._items = items
        self._slots: queue.Queue[T | _End] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._done = False
        self._worker = threading.Thread(target=self._produce, name=name, daemon=True)
        self._worker.start()

    def _produce(self) -> None:
        items, slots, stop = self._items, self._slots, self._stop
        error: BaseException | None = None
        try:
            for item in items:
                if stop.is_set():
                    break
                slots.put(item)
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the caller, who decides
            error = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        if not stop.is_set():
            slots.put(_End(error))

    def ready(self) -> bool:
        """Whether the next step would return at once (an item, the end or an error is waiting)."""
        return self._done or not self._slots.empty()

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        got = self._slots.get()
        if isinstance(got, _End):
            self._done = True
            if got.error is not None:
                raise got.error
            raise StopIteration
        return got

    def close(self) -> None:
        self._done = True
        self._stop.set()
        while self._worker.is_alive():  # unblock a worker waiting for room, then let it finish
            try:
                self._slots.get_nowait()
            except queue.Empty:
                self._worker.join(0.05)


class BackgroundWriter(Generic[T]):
    """Hands items to ``write`` on a worker thread, in order, at most ``depth`` waiting.

    ``write``'s first exception (a closed pipe) stops the worker; it is raised by the
    next :meth:`put` or by :meth:`close`, so the caller sees it where a direct call
    would have raised, give or take the few items in flight.
    """

    def __init__(self, write: Callable[[T], object], depth: int = 4, name: str = "writer") -> None:
        self._write = write
        self._slots: queue.Queue[T | _End] = queue.Queue(maxsize=max(depth, 1))
        self._error: BaseException | None = None
        self._raised = False
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while True:
            item = self._slots.get()
            if isinstance(item, _End):
                return
            if self._error is not None:
                continue  # drain: the caller learns of the error on its next call
            try:
                self._write(item)
            except BaseException as exc:  # handed to the caller
                self._error = exc
            del item  # (not kept alive, and all it built with it, while waiting for the next)

    def put(self, item: T) -> None:
        self._raise()
        self._slots.put(item)

    def close(self) -> None:
        """Wait for every item to be written; raise the writer's error, if any."""
        if self._worker.is_alive():
            self._slots.put(_End(None))
            self._worker.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

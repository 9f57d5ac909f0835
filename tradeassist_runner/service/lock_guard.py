"""The storage lock checked before every write it guards, the same for every runner.

A PostgreSQL scope lock lives in a server session: a server restart or a broken
connection drops it, and the runner only learns so by asking. A runner that wrote on
regardless could share its scope with one started meanwhile, and the two would
overwrite each other's snapshots and resume each other's deliveries. So before a
snapshot (or a stream acknowledgement) the runner confirms the lock: still held, or taken
again on a new session; while the server cannot be reached the guarded write waits; when
another runner holds the scope now, this one stops (exit code 1). SQLite's ``flock``
cannot be lost, so with SQLite a confirmation never fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..errors import SinkError
from ..logs import log
from ..sinks.backend import RunnerLock
from ..sinks.pg_conn import ScopeLost

__all__ = ["LockGuard"]

logger = logging.getLogger("tradeassist.run")


class LockGuard:
    """Confirms a runner's :class:`RunnerLock`, says what came of it once per change, and
    calls ``on_lost`` (the runner's stop) when the scope was taken by another runner."""

    def __init__(self, lock: RunnerLock, on_lost: Callable[[], None]) -> None:
        self._lock = lock
        self._on_lost = on_lost
        self._error: str | None = None  # why the last confirmation failed, until one succeeds
        #: Set once another runner took the scope: nothing it guards may be written again.
        self.lost: ScopeLost | None = None

    async def confirm(self) -> bool:
        """True when the guarded write may go ahead; False while the lock cannot be
        confirmed (retry later) and for good once the scope is lost (the runner stops)."""
        if self.lost is not None:
            return False
        try:
            await asyncio.to_thread(self._lock.confirm)
        except ScopeLost as exc:
            self.lost = exc
            log(logger, logging.ERROR, "storage scope lost; stopping", error=str(exc))
            self._on_lost()
            return False
        except SinkError as exc:
            if self._error != str(exc):
                log(logger, logging.WARNING, "storage lock cannot be confirmed; snapshots wait", error=str(exc))
            self._error = str(exc)
            return False
        if self._error is not None:
            log(logger, logging.INFO, "storage lock confirmed again")
            self._error = None
        return True

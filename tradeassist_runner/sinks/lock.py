"""One runner per alert log: an exclusive ``flock`` on ``<alert log>.lock`` holding the pid.

Two runners writing one SQLite log, its Parquet copy and its snapshot would interleave
snapshots and copy marks and restore each other's state. The kernel releases a
``flock`` when its process dies, even by SIGKILL, so a crash never leaves the folder
locked; the file itself stays (removing it would race with the next runner).
Taking the lock is also the first write into the data folder, so a folder that
cannot be written stops ``run`` here, before anything else is opened.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from ..errors import SinkError


class DataLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process ends)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, alert_log: Path) -> DataLock:
        """Lock ``alert_log``'s data; ``SinkError`` naming the holder's pid if it is taken."""
        path = alert_log.with_name(alert_log.name + ".lock")
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SinkError(
                f"data folder {folder} is not writable ({exc.strerror}); "
                "the runner needs it for the alert log, its lock and its state"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                who = f"pid {holder}" if holder else "another process"
                raise SinkError(
                    f"another runner ({who}) is already using the alert log {alert_log} "
                    f"(lock {path}); stop it first, or give this config its own storage"
                ) from None
            raise SinkError(f"cannot lock {path}: {exc.strerror}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise SinkError(f"data folder {folder} is not writable ({exc.strerror})") from exc
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DataLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None

"""One line redrawn in place at the bottom of a terminal: the run status, a progress bar.

The line has no newline (it is overwritten), so anything else written to the terminal
must first erase it and draw it again below, or the next line lands on its end.  It is
kept one column narrower than the terminal: a line that wraps leaves its first rows on
screen, where ``\\r`` and erase-line no longer reach them.  Writers on other threads (log
handlers of delivery workers) take the same lock, so an erase, a write and a redraw are
never interleaved with another.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

#: Carriage return, then erase the whole line: the cursor is back at column 0 of a blank line.
ERASE = "\r\x1b[2K"


def terminal_width(stream: TextIO) -> int:
    """Columns of the terminal ``stream`` writes to (80 when it cannot say)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return shutil.get_terminal_size((80, 24)).columns


def fit(text: str, width: int) -> str:
    """``text`` cut to fit in ``width - 1`` columns (the last column would wrap on some terminals)."""
    room = max(width - 1, 1)
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


class TerminalLine:
    """The redrawn line; disabled (not a terminal) every method does nothing."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.text = ""
        self.lock = threading.RLock()

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.text = fit(text, terminal_width(self.stream))
            self.stream.write(ERASE + self.text)
            self.stream.flush()

    @contextmanager
    def above(self) -> Iterator[None]:
        """Write the lines inside the block above the redrawn line (they must end in a newline)."""
        if not self.enabled:
            yield
            return
        with self.lock:
            if not self.text:
                yield
                return
            self.stream.write(ERASE)
            self.stream.flush()
            try:
                yield
            finally:
                self.stream.write(self.text)
                self.stream.flush()

    def clear(self) -> None:
        """Erase the line and leave the cursor at the start of the (now blank) line."""
        if not self.enabled:
            return
        with self.lock:
            if self.text:
                self.stream.write(ERASE)
                self.stream.flush()
                self.text = ""


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A progress bar for long offline work over a tick file (stderr, terminals only).

    Shows rows read (of the file's estimated total), ticks per second, alerts so far and
    the time left; redrawn at most every ``interval`` seconds, erased by :meth:`close`
    so that what follows (the summary lines) starts on a clean line.
    """

    def __init__(self, stream: TextIO, enabled: bool, total: int | None, label: str = "",
                 interval: float = 0.2) -> None:
        self.line = TerminalLine(stream, enabled)
        self.total = total if total and total > 0 else None
        self.label = label
        self.interval = interval
        self.started = time.monotonic()
        self._last = 0.0

    @property
    def enabled(self) -> bool:
        return self.line.enabled

    def text(self, rows: int, alerts: int, elapsed: float) -> str:
        rate = rows / elapsed if elapsed > 0 else 0.0
        head = f"{self.label}: " if self.label else ""
        if self.total is not None:
            done = min(rows / self.total, 1.0)
            filled = int(done * 20)
            bar = "[" + "#" * filled + "." * (20 - filled) + f"] {done:4.0%}  "
            counts = f"{rows:,}/{self.total:,} rows"
            left = f"  {_clock((self.total - rows) / rate)} left" if rate > 0 and rows < self.total else ""
        else:
            bar, counts, left = "", f"{rows:,} rows", ""
        return f"{head}{bar}{counts}  {rate:,.0f} ticks/s  alerts {alerts:,}{left}"

    def update(self, rows: int, alerts: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.line.show(self.text(rows, alerts, now - self.started))

    def close(self) -> None:
        self.line.clear()

"""Counters of a run and the one-line status shown on stderr."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from ..terminal import TerminalLine

if TYPE_CHECKING:
    from ..notify.delivery import ChannelHealth

#: Loggers whose handlers write to the terminal while the status line is up.
_TERMINAL_LOGGERS = ("tradeassist", "apprise", "uvicorn")

#: Characters of a channel's last error shown in the one-line status.
ERROR_WIDTH = 60


def channels_text(channels: Sequence[ChannelHealth]) -> str:
    """``notify slack ok, mail OPEN 3 pending (Connection refused ...)``; empty without channels."""
    parts = []
    for h in channels:
        if h.state == "unavailable":  # said once at start, with how to install what is missing
            parts.append(f"{h.channel} unavailable")
            continue
        if h.state == "closed" and not h.waiting:
            parts.append(f"{h.channel} ok" + (f" {h.pending} pending" if h.pending else ""))
            continue
        text = f"{h.channel} {h.state.upper()} {h.pending} pending"
        if h.last_error:
            error = h.last_error if len(h.last_error) <= ERROR_WIDTH else h.last_error[: ERROR_WIDTH - 3] + "..."
            text += f" ({error})"
        parts.append(text)
    return "notify " + ", ".join(parts) if parts else ""


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
    ticks: int = 0
    rejected: int = 0
    unknown_symbol_ticks: int = 0
    batches: int = 0
    alerts: int = 0
    alerts_unlogged: int = 0  # fired but waiting for the alert log (e.g. disk full)
    parquet_behind: int = 0  # logged in SQLite, not yet in the Parquet copy
    last_batch_ms: float = 0.0
    max_batch_ms: float = 0.0
    _window_start: float = field(default_factory=time.monotonic)
    _window_ticks: int = 0

    def batch(self, ticks: int, seconds: float) -> None:
        self.batches += 1
        self.ticks += ticks
        self._window_ticks += ticks
        self.last_batch_ms = seconds * 1000
        self.max_batch_ms = max(self.max_batch_ms, self.last_batch_ms)

    def line(self, channels: Sequence[ChannelHealth] = ()) -> str:
        now = time.monotonic()
        rate = self._window_ticks / max(now - self._window_start, 1e-9)
        self._window_start, self._window_ticks = now, 0
        up = int(now - self.started)
        text = (
            f"up {up // 60}m{up % 60:02d}s  {rate:,.0f} ticks/s  ticks {self.ticks:,}  "
            f"alerts {self.alerts:,}  rejected {self.rejected:,}  "
            f"batch {self.last_batch_ms:.1f} ms (max {self.max_batch_ms:.1f})"
        )
        if self.alerts_unlogged:
            text += f"  UNLOGGED {self.alerts_unlogged}"
        if self.parquet_behind:
            text += f"  PARQUET BEHIND {self.parquet_behind}"
        if notify := channels_text(channels):
            text += "  " + notify
        return text


class StatusLine:
    """The status redrawn in place on a terminal, with every other line scrolling above it.

    The status has no newline (it is overwritten every few seconds), so anything else
    written to the terminal would land on its end. Every writer therefore goes through
    :meth:`above`: erase the status, write the line(s), draw the status again below them
    (``terminal.TerminalLine``: cut to the terminal's width, so it never wraps, and
    locked, so a log line from a delivery thread cannot split an erase from its redraw).
    Log handlers on the same stream are routed through it while the line is up.
    Disabled (not a terminal) it does nothing and the caller logs the status instead.
    """

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self._stream = stream
        self._line = TerminalLine(stream, enabled)
        self.enabled = enabled
        self._rerouted: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []

    def show(self, text: str) -> None:
        self._line.show(text)

    @contextmanager
    def above(self) -> Iterator[None]:
        """Write the lines inside the block above the status line."""
        with self._line.above():
            yield

    def route_logs(self) -> None:
        """Send log handlers that write to this terminal through :meth:`above` (again: only new ones)."""
        if not self.enabled:
            return
        for name in _TERMINAL_LOGGERS:
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is self._stream:
                    previous = handler.setStream(_Above(self._stream, self))
                    if previous is not None:
                        self._rerouted.append((handler, previous))

    def close(self) -> None:
        """Leave the last status on its own line and give the handlers their stream back."""
        for handler, stream in self._rerouted:
            handler.setStream(stream)
        self._rerouted.clear()
        with self._line.lock:
            if self.enabled and self._line.text:
                self._stream.write("\n")
                self._stream.flush()
                self._line.text = ""


class _Above:
    """A text stream for a log handler: each write is a line written above the status."""

    def __init__(self, stream: TextIO, status: StatusLine) -> None:
        self._stream = stream
        self._status = status

    def write(self, text: str) -> int:
        with self._status.above():
            return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

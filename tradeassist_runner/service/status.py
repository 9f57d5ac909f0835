"""Counters of a run and the one-line status shown on stderr."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..notify.delivery import ChannelHealth

#: Characters of a channel's last error shown in the one-line status.
ERROR_WIDTH = 60


def channels_text(channels: Sequence[ChannelHealth]) -> str:
    """``notify slack ok, mail OPEN 3 pending (Connection refused ...)``; empty without channels."""
    parts = []
    for h in channels:
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
        if notify := channels_text(channels):
            text += "  " + notify
        return text

"""Counters of a run and the one-line status shown on stderr."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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

    def line(self) -> str:
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
        return text

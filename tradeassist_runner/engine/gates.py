"""(placeholder until the gates module lands)"""
from __future__ import annotations
from dataclasses import dataclass
import numpy as np
import numpy.typing as npt

@dataclass(frozen=True)
class GateResult:
    allowed: npt.NDArray[np.bool_]
    uncovered: npt.NDArray[np.bool_]

class Gate:
    def __init__(self, timezone: str, hours: tuple[str, ...] = (), days: tuple[str, ...] = (), calendar: str | None = None) -> None:
        self.timezone, self.hours, self.days, self.calendar = timezone, hours, days, calendar
    def mask(self, t_ms: npt.NDArray[np.int64]) -> GateResult:
        n = len(t_ms)
        return GateResult(np.ones(n, np.bool_), np.zeros(n, np.bool_))

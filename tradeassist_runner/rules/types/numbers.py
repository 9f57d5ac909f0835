"""How rule types spell numbers and durations in ``describe`` and ``explain`` sentences.

``explain`` is read by someone checking an alert against their own arithmetic, so a
float is shown in full (its shortest round-tripping form), never rounded to a few
digits that would make the sum look wrong; whole numbers drop the ``.0``.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from ...config.durations import format_duration
from ..seam import F64


def number(x: float) -> str:
    """``6000``, ``0.25``, ``-1.5e-07``; ``undefined`` for NaN."""
    if math.isnan(x):
        return "undefined"
    if math.isinf(x):
        return "infinity" if x > 0 else "-infinity"
    if x == int(x) and abs(x) < 1e16:
        return str(int(x))
    return repr(float(x))


def duration_ms(ms: int) -> str:
    """``5m``, ``1500ms``: the spelling a user writes in a rule file."""
    return format_duration(timedelta(milliseconds=int(ms)))


def param_int(p: float | str | None) -> int:
    """A series parameter that is an integer (the tuple is typed as any JSON scalar)."""
    if isinstance(p, bool) or not isinstance(p, int):
        raise TypeError(f"expected an integer parameter, got {p!r}")
    return p


def param_float(p: float | str | None) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"expected a number parameter, got {p!r}")
    return float(p)


def param_str(p: float | str | None) -> str:
    if not isinstance(p, str):
        raise TypeError(f"expected a text parameter, got {p!r}")
    return p


def finite(x: F64) -> F64:
    """``x`` with every infinite element undefined (NaN).

    A percentage of a base near the smallest float (``1e-308``) overflows to infinity;
    no alert can show that value, so it is undefined like a division by 0.  The caller
    computes ``x`` under ``np.errstate(over="ignore")`` so the overflow is no warning.
    """
    return np.where(np.isinf(x), np.nan, x)


def finite_scalar(x: float) -> float:
    """``finite`` for one value (``replay``)."""
    return math.nan if math.isinf(x) else x

"""Durations as users write them (``30s``, ``5m``, ``1h``, ``1500ms``, ``1h30m``).

Kept strict on purpose: a bare number is rejected because ``window: 5`` is ambiguous
(seconds? minutes?) and a wrong guess would silently change when alerts fire.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ``ValueError`` with a message fit for a user."""
    s = text.strip().replace(" ", "")
    if not s or not _WHOLE.match(s):
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit, e.g. 1500ms, 30s, 5m, 1h, 1d"
        )
    total_ms = 0.0
    for number, unit in _PART.findall(s):
        total_ms += float(number) * _UNITS_MS[unit]
    if total_ms != int(total_ms):
        raise ValueError(f"invalid duration {text!r}: finer than a millisecond")
    return timedelta(milliseconds=int(total_ms))


def to_ms(value: timedelta) -> int:
    """Whole milliseconds, the engine's time unit."""
    return (value.days * 86_400_000) + (value.seconds * 1_000) + (value.microseconds // 1_000)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling, so canonical dumps and messages read naturally."""
    ms = to_ms(value)
    if ms == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        if ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"

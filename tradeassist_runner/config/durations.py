"""Durations as users write them (``30s``, ``5m``, ``1h``, ``1500ms``, ``1h30m``).

Kept strict on purpose: a bare number is rejected because ``window: 5`` is ambiguous
(seconds? minutes?) and a wrong guess would silently change when alerts fire.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")
#: The longest duration anything accepts: what a ``timedelta`` holds (and far inside int64 ms).
LONGEST = timedelta(days=999_999_999)


def _shown(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def parse_duration(text: str, longest: timedelta = LONGEST) -> timedelta:
    """Parse a duration of at most ``longest``; raise ``ValueError`` with a message fit for a user."""
    s = text.strip().replace(" ", "")
    if not s or not _WHOLE.match(s):
        raise ValueError(
            f"invalid duration {_shown(text)}: use a number with a unit, e.g. 1500ms, 30s, 5m, 1h, 1d"
        )
    # Exact decimal arithmetic: a float would turn '9' * 400 + 's' into inf, and 0.1s + 0.2s
    # into 300.00000000000006 ms.  (Only digits and one '.' reach Decimal: no exponent blow-up.)
    longest_ms = to_ms(min(longest, LONGEST))
    too_long = f"must be at most {format_duration(min(longest, LONGEST))}, got {_shown(text)}"
    total_ms = Decimal(0)
    for number, unit in _PART.findall(s):
        if len(number) > 40:
            raise ValueError(too_long)
        total_ms += Decimal(number) * _UNITS_MS[unit]
    if total_ms > longest_ms:
        raise ValueError(too_long)
    if total_ms != total_ms.to_integral_value():
        raise ValueError(f"invalid duration {_shown(text)}: finer than a millisecond")
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

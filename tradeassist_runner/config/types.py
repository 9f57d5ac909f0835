"""Field types shared by every config model: durations, finite numbers, periods, severities.

One definition, so a duration means the same (and has the same JSON Schema) in a rule,
a source and a notification setting.  Each type is bounded to what the engine can hold:
``validate`` accepting a value that ``run`` then cannot compile (an int64 overflow in
polars, a window longer than the timestamps can express) would pass a broken file through
CI.  Rule modules import these (``Period``, ``Duration``, ``Number``) rather than
restating the bounds.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, StrictInt, WithJsonSchema

from .durations import format_duration, parse_duration

Severity = Literal["info", "warning", "critical"]

#: The longest duration a config may hold: a year and a day of look-back or cooldown is
#: already far beyond any use, and it keeps every millisecond count well inside int64.
MAX_DURATION = timedelta(days=366)

#: Most earlier ticks a rule may average over (a volume_spike ``period``).
MAX_PERIOD = 1_000_000


def no_items() -> list[Any]:
    """``default_factory`` of a list field that starts empty.

    pydantic reads a default factory's signature when it builds a validator; for the
    builtin ``list`` (or ``dict``) that means parsing its text signature with ``tokenize``,
    about 0.1 ms a field and twice that the first time, on every command that loads a config.
    """
    return []


def no_entries() -> dict[Any, Any]:
    """``default_factory`` of a dict field that starts empty (see :func:`no_items`)."""
    return {}


def _duration(value: Any) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (str, timedelta)):
        raise ValueError(
            f"invalid duration {value!r}: write it as a string with a unit, e.g. 30s, 5m, 1500ms"
        )
    parsed = value if isinstance(value, timedelta) else parse_duration(value, MAX_DURATION)
    if parsed > MAX_DURATION:
        raise ValueError(f"must be at most {format_duration(MAX_DURATION)}, got {format_duration(parsed)}")
    return parsed


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$",
            "description": f"A duration with a unit: 1500ms, 30s, 5m, 1h, 1d (or 1h30m); at most {format_duration(MAX_DURATION)}",
            "examples": ["30s", "5m", "1500ms"],
        }
    ),
]


def _finite_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {type(value).__name__} {value!r}")
    try:
        f = float(value)
    except OverflowError:  # an integer beyond float64 (pydantic only turns ValueError into a message)
        f = math.inf
    if not math.isfinite(f):
        raise ValueError("must be a finite number")
    return f


Number = Annotated[
    float, BeforeValidator(_finite_number), WithJsonSchema({"type": "number", "examples": [6000, -500, 0.25]})
]

#: A count of earlier ticks: a whole number from 1 to :data:`MAX_PERIOD`.
Period = Annotated[StrictInt, Field(ge=1, le=MAX_PERIOD)]

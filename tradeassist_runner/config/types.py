"""Field types shared by every config model: durations, finite numbers, severities.

One definition, so a duration means the same (and has the same JSON Schema) in a rule,
a source and a notification setting.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from .durations import format_duration, parse_duration

Severity = Literal["info", "warning", "critical"]


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"invalid duration {value!r}: write it as a string with a unit, e.g. 30s, 5m, 1500ms"
        )
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$",
            "description": "A duration with a unit: 1500ms, 30s, 5m, 1h, 1d (or 1h30m)",
            "examples": ["30s", "5m", "1500ms"],
        }
    ),
]


def _finite_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {type(value).__name__} {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError("must be a finite number")
    return f


Number = Annotated[
    float, BeforeValidator(_finite_number), WithJsonSchema({"type": "number", "examples": [6000, -500, 0.25]})
]

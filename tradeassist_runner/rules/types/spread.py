"""``spread``: the instrument against a second symbol, as a difference or a ratio.

Samples are the ticks of both symbols merged in arrival order (``source`` 0 = the
instrument, 1 = ``other``).  ``a`` and ``b`` are each symbol's latest price at or
before the sample: a forward fill, done with one running maximum of "index of the
latest tick of that source", falling back to the carried latest price (and its ``ts``)
for samples before the batch's first tick of that source.

Undefined until both symbols have a tick; with ``max_age``, while their latest ticks'
``ts`` are more than ``max_age`` apart (one of the feeds has gone quiet, so the spread
would compare a live price with a stale one).  A ratio is undefined when ``b`` is 0; a
result beyond the float64 range (only with an extreme ``factor``) is undefined too,
rather than an infinite value no alert could show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from ...config.durations import to_ms
from ...config.models import Condition, Strict
from ...config.types import Duration, Number
from ..seam import F64, I64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values
from .numbers import duration_ms, number, param_float, param_int, param_str

Mode = Literal["difference", "ratio"]


class SpreadBody(Strict):
    """Two instruments: ``a - factor*b`` (difference) or ``a / (factor*b)`` (ratio)."""

    type: Literal["spread"]
    condition: Condition = Field(description="above | below | crosses_above | crosses_below")
    threshold: Number = Field(description="Difference (in price points) or ratio compared with each sample's value")
    other: str = Field(min_length=1, description="The second symbol (b): a declared instrument other than this rule's")
    mode: Mode = Field(default="difference", description="difference: a - factor*b; ratio: a / (factor*b)")
    factor: Number = Field(default=1.0, description="Multiplies b, e.g. 10 to compare /ES with $SPX/10; not 0")
    max_age: Duration | None = Field(
        default=None,
        description="Undefined while the two symbols' latest ticks are further apart than this, e.g. 5s",
    )

    @field_validator("factor")
    @classmethod
    def _factor_not_zero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("factor must not be 0")
        return v

    @field_validator("max_age")
    @classmethod
    def _max_age_positive(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v <= timedelta(0):
            raise ValueError("max_age must be greater than 0")
        return v


#: The name the registry and tests use.
Body = SpreadBody


def _latest(is_mine: Any, price: F64, ts: I64, carried: tuple[float, int] | None) -> tuple[F64, F64]:
    """Per sample, the price and ts (as float) of the latest tick of one source so far."""
    n = len(price)
    idx = np.maximum.accumulate(np.where(is_mine, np.arange(n), -1)) if n else np.zeros(0, np.int64)
    seen = idx >= 0
    safe = np.maximum(idx, 0)
    before_p, before_ts = (np.nan, np.nan) if carried is None else (float(carried[0]), float(carried[1]))
    latest_p = np.where(seen, price[safe], before_p) if n else np.zeros(0)
    latest_ts = np.where(seen, ts[safe].astype(np.float64), before_ts) if n else np.zeros(0)
    return latest_p, latest_ts


def _carried(state: State | None, side: str) -> tuple[float, int] | None:
    if not state or state[side] is None:
        return None
    return float(state[side]), int(state[f"{side}_ts"])


def _spread(params: Params, state: State | None, price: F64, a: F64, a_ts: F64, b: F64, b_ts: F64
        ) -> tuple[Values, State]:
    """One series' values from both symbols' latest prices and ticks' ts per sample."""
    mode, factor = param_str(params[1]), param_float(params[2])
    max_age = None if params[3] is None else param_int(params[3])
    fb = factor * b
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if mode == "ratio":
            raw = np.full(len(price), np.nan)
            np.divide(a, fb, out=raw, where=(b != 0.0) & ~np.isnan(b))
        else:
            raw = a - fb
    defined = np.isfinite(raw)
    if max_age is not None:
        defined &= ~(np.abs(a_ts - b_ts) > float(max_age))
    value = np.where(defined, raw, np.nan)
    new_state: State = state
    if len(price):
        new_state = {
            "a": None if math.isnan(a[-1]) else float(a[-1]),
            "a_ts": None if math.isnan(a_ts[-1]) else int(a_ts[-1]),
            "b": None if math.isnan(b[-1]) else float(b[-1]),
            "b_ts": None if math.isnan(b_ts[-1]) else int(b_ts[-1]),
        }
    inputs = {"a": a, "b": b, "a_ts": a_ts, "b_ts": b_ts, "factor": np.full(len(price), factor)}
    return Values(value, inputs), new_state


class SpreadType:
    """params = (other, mode, factor, max_age_ms or None)."""

    name: ClassVar[str] = "spread"
    Body: ClassVar[type[BaseModel]] = SpreadBody
    bars: ClassVar[bool] = False
    in_conjunctions: ClassVar[bool] = False
    input_names: ClassVar[tuple[str, ...]] = ("a", "b", "a_ts", "b_ts", "factor")
    placeholder_names: ClassVar[tuple[str, ...]] = ('other', 'mode', 'factor', 'max_age')
    chart: ClassVar[Chart] = Chart(panel="spread")

    def params(self, body: Any, timezone: str) -> Params:
        max_age = None if body.max_age is None else to_ms(body.max_age)
        return (str(body.other), str(body.mode), float(body.factor), max_age)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return (str(body.other),)

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        price = np.asarray(samples.price, dtype=np.float64)
        ts = np.asarray(samples.ts, dtype=np.int64)
        source = np.asarray(samples.source, dtype=np.int64)
        a, a_ts = _latest(source == 0, price, ts, _carried(state, "a"))
        b, b_ts = _latest(source == 1, price, ts, _carried(state, "b"))
        return _spread(params, state, price, a, a_ts, b, b_ts)

    def values_many(self, items: Sequence[tuple[Params, State | None]], samples: Samples) -> list[tuple[Values, State]]:
        """``values`` of several spreads of one pair on the same samples: both symbols'
        latest prices are found once for the series that carry the same latest ticks
        (every series of a pair does, once each has seen a batch), not once per series."""
        price = np.asarray(samples.price, dtype=np.float64)
        ts = np.asarray(samples.ts, dtype=np.int64)
        source = np.asarray(samples.source, dtype=np.int64)
        latest: dict[tuple[tuple[float, int] | None, tuple[float, int] | None], tuple[F64, F64, F64, F64]] = {}
        out: list[tuple[Values, State]] = []
        for params, state in items:
            key = (_carried(state, "a"), _carried(state, "b"))
            if key not in latest:
                latest[key] = (*_latest(source == 0, price, ts, key[0]), *_latest(source == 1, price, ts, key[1]))
            out.append(_spread(params, state, price, *latest[key]))
        return out


    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        mode, max_age = param_str(params[1]), params[3]
        a, b, factor = float(inputs["a"]), float(inputs["b"]), float(inputs["factor"])
        a_ts, b_ts = float(inputs["a_ts"]), float(inputs["b_ts"])
        if math.isnan(a) or math.isnan(b):
            return math.nan
        if max_age is not None and abs(a_ts - b_ts) > float(param_int(max_age)):
            return math.nan
        fb = factor * b
        if mode == "ratio":
            if b == 0.0 or fb == 0.0:
                return math.nan
            raw = a / fb
        else:
            raw = a - fb
        return raw if math.isfinite(raw) else math.nan

    def describe(self, params: Params) -> str:
        other, mode, factor = param_str(params[0]), param_str(params[1]), number(param_float(params[2]))
        text = f"price - {factor}×{other}" if mode == "difference" else f"price / ({factor}×{other})"
        if params[3] is not None:
            text += f" (max age {duration_ms(param_int(params[3]))})"
        return text

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        other, mode = param_str(params[0]), param_str(params[1])
        a, b, f = inputs["a"], inputs["b"], number(inputs["factor"])
        if math.isnan(a) or math.isnan(b):
            missing = "this instrument" if math.isnan(a) else other
            return f"No tick of {missing} yet, so there is no spread."
        gap = abs(inputs["a_ts"] - inputs["b_ts"])
        if params[3] is not None and gap > param_int(params[3]):
            age = duration_ms(param_int(params[3]))
            return f"The latest ticks were {number(gap)} ms apart, more than the max age {age}: no spread."
        both = f"The price was {number(a)} and {other} {number(b)}"
        if mode == "ratio":
            if b == 0:
                return f"{both}: no ratio to 0."
            return f"{both}: {number(a)} / ({f} × {number(b)}) = {number(value)}."
        return f"{both}: {number(a)} - {f} × {number(b)} = {number(value)}."

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        max_age = "none" if params[3] is None else duration_ms(param_int(params[3]))
        return {
            "other": param_str(params[0]), "mode": param_str(params[1]),
            "factor": param_float(params[2]), "max_age": max_age,
        }

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """``factor × other`` in the instrument's units, and the instrument's price at which
        the spread would equal ``threshold``."""
        other, mode, factor = param_str(params[0]), param_str(params[1]), param_float(params[2])
        with np.errstate(over="ignore", invalid="ignore"):
            fb = factor * np.asarray(inputs["b"], np.float64)
            at = fb * float(threshold) if mode == "ratio" else fb + float(threshold)
        return {f"{number(factor)}×{other}": fb, THRESHOLD_PRICE: at}


RULE_TYPE = SpreadType()

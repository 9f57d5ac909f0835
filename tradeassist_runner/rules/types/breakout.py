"""``breakout``: how far the price is beyond the prior N-sample range, in price points.

high side: p_i - H, H = the highest high of samples i-N .. i-1; low side: L - p_i, L the
lowest low.  Undefined for i < N.  Positive means a breakout, so ``above 0`` holds on
every sample beyond the range and ``crosses_above 0`` on the first one.  Tick samples
have high = low = price; bars have their real highs and lows.

Carried state: the sample count and the last N highs (or lows).  Max and min are exact,
so no cut can change a bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import isnan
from typing import Annotated, Any, ClassVar, Literal, TypedDict

import numpy as np
from pydantic import BaseModel, Field, StrictInt

from ...config.models import Condition, Strict
from ...config.types import Number
from ..indicators import MAX_PERIOD, fmt, joined, keep_last, window_max, window_min
from ..seam import F64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values

Side = Literal["high", "low"]


class BreakoutBody(Strict):
    type: Literal["breakout"]
    condition: Condition
    threshold: Number
    period: Annotated[
        StrictInt, Field(ge=1, le=MAX_PERIOD, description="N: earlier samples whose range is broken out of")
    ]
    side: Side = Field(
        default="high", description="high: price above the highest high; low: price below the lowest low"
    )


Body = BreakoutBody


class BreakoutState(TypedDict):
    count: int
    tail: list[float]  # the last N highs (side high) or lows (side low)


def _unpack(params: Params) -> tuple[Side, int]:
    side, period = params
    assert isinstance(period, int)
    if side == "low":
        return "low", period
    assert side == "high"
    return "high", period


class BreakoutType:
    name: ClassVar[str] = "breakout"
    Body: ClassVar[type[BaseModel]] = BreakoutBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price", "level")
    placeholder_names: ClassVar[tuple[str, ...]] = ('period', 'side')
    chart: ClassVar[Chart] = Chart(panel="points beyond the range")

    def params(self, body: Any, timezone: str) -> Params:
        """``(side, period)``, e.g. ``("high", 20)``."""
        assert isinstance(body, BreakoutBody)
        return (body.side, body.period)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        side, period = _unpack(params)
        carried: BreakoutState = state if state is not None else {"count": 0, "tail": []}
        price = np.asarray(samples.price, dtype=np.float64)
        extreme = np.asarray(samples.high if side == "high" else samples.low, dtype=np.float64)
        n = len(price)
        buf = joined(carried["tail"], extreme)
        # the level of the sample at buf position q is over buf[q-N .. q-1]
        window = window_max if side == "high" else window_min
        levels = window(buf[:-1], period) if len(buf) else buf
        level = np.full(n, np.nan)
        if len(levels):
            level[n - len(levels):] = levels
        with np.errstate(over="ignore", invalid="ignore"):
            value = price - level if side == "high" else level - price
        new_state: BreakoutState = {"count": carried["count"] + n, "tail": keep_last(buf, period)}
        return Values(value, {"price": price, "level": level}), new_state

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        side, _ = _unpack(params)
        price, level = inputs["price"], inputs["level"]
        return price - level if side == "high" else level - price

    def describe(self, params: Params) -> str:
        side, period = _unpack(params)
        return f"{period}-sample {side} breakout"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        side, period = _unpack(params)
        price, level = inputs["price"], inputs["level"]
        what = "highest high" if side == "high" else "lowest low"
        if isnan(level):
            return f"the {what} of the previous {period} samples is undefined until {period} samples have been seen."
        unit = "point" if abs(value) == 1.0 else "points"
        if side == "high":
            return (
                f"price {fmt(price)} - {what} of the previous {period} samples {fmt(level)} = {fmt(value)} {unit}."
            )
        return f"{what} of the previous {period} samples {fmt(level)} - price {fmt(price)} = {fmt(value)} {unit}."

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        side, period = _unpack(params)
        return {"period": period, "side": side}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """The prior range's edge, and the price ``threshold`` points beyond it."""
        side, period = _unpack(params)
        level = np.asarray(inputs["level"], np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            at = level + float(threshold) if side == "high" else level - float(threshold)
        return {f"{period}-sample {side}": level, THRESHOLD_PRICE: at}


RULE_TYPE = BreakoutType()

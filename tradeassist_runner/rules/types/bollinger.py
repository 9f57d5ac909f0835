"""``bollinger``: the price's distance from its N-sample mean in standard deviations.

value_i = (p_i - m) / s, m and s the mean and population standard deviation of p over
samples i-N+1 .. i; undefined for i < N-1 or s = 0.  ``s = 0`` is decided exactly: the
window's prices are all equal (a rounded two-pass std can come out a hair above 0 then).
``above 2`` is "above the upper 2-sigma band".

Carried state: the sample count and the last N-1 prices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import isnan
from typing import Annotated, Any, ClassVar, Literal, TypedDict

import numpy as np
from pydantic import BaseModel, Field, StrictInt

from ...config.models import Condition, Strict
from ...config.types import Number
from ..indicators import MAX_PERIOD, fmt, joined, keep_last, ratio_rows, window_mean_std
from ..seam import F64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values, exact_ratio


class BollingerBody(Strict):
    type: Literal["bollinger"]
    condition: Condition
    threshold: Number
    period: Annotated[
        StrictInt,
        Field(ge=2, le=MAX_PERIOD, description="N: samples in the window of the mean and standard deviation"),
    ]


Body = BollingerBody


class BollingerState(TypedDict):
    count: int
    tail: list[float]  # the last N-1 prices


def _period(params: Params) -> int:
    (period,) = params
    assert isinstance(period, int)
    return period


def _mean_std(period: int, state: State | None, price: F64) -> tuple[F64, F64, BollingerState]:
    """Mean and standard deviation at every batch sample (NaN before the first full
    window), and the state after the batch."""
    carried: BollingerState = state if state is not None else {"count": 0, "tail": []}
    n = len(price)
    buf = joined(carried["tail"], price)
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        m, s, _ = window_mean_std(buf, period)
    if len(m):
        mean[n - len(m):] = m
        std[n - len(s):] = s
    return mean, std, {"count": carried["count"] + n, "tail": keep_last(buf, period - 1)}


class BollingerType:
    name: ClassVar[str] = "bollinger"
    Body: ClassVar[type[BaseModel]] = BollingerBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price", "mean", "std")
    placeholder_names: ClassVar[tuple[str, ...]] = ('period',)
    chart: ClassVar[Chart] = Chart(panel="σ from the mean")

    def params(self, body: Any, timezone: str) -> Params:
        """``(period,)``, e.g. ``(20,)``."""
        assert isinstance(body, BollingerBody)
        return (body.period,)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        price = np.asarray(samples.price, dtype=np.float64)
        mean, std, new_state = _mean_std(_period(params), state, price)
        with np.errstate(over="ignore", invalid="ignore"):
            value = exact_ratio(price - mean, std)
        return Values(value, {"price": price, "mean": mean, "std": std}), new_state

    def values_many(self, items: Sequence[tuple[Params, State | None]], samples: Samples) -> list[tuple[Values, State]]:
        """``values`` of several periods on the same samples, every series' ratio in one pass."""
        price = np.asarray(samples.price, dtype=np.float64)
        done = [_mean_std(_period(params), state, price) for params, state in items]
        with np.errstate(over="ignore", invalid="ignore"):
            value = ratio_rows(price - np.stack([m for m, _, _ in done]), np.stack([s for _, s, _ in done]))
        return [(Values(value[row], {"price": price, "mean": m, "std": s}), st)
                for row, (m, s, st) in enumerate(done)]

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        price, mean, std = inputs["price"], inputs["mean"], inputs["std"]
        if isnan(price) or isnan(mean) or isnan(std) or std == 0.0:
            return float("nan")
        return (price - mean) / std

    def describe(self, params: Params) -> str:
        return f"Bollinger({_period(params)})"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        period = _period(params)
        price, mean, std = inputs["price"], inputs["mean"], inputs["std"]
        if isnan(std):
            return f"Bollinger({period}) is undefined until {period} samples have been seen."
        if std == 0.0:
            return f"the last {period} prices are all {fmt(mean)}: the standard deviation is 0, so the value is undefined."
        side = "above" if value > 0 else "below" if value < 0 else "at"
        unit = "standard deviation" if abs(value) == 1.0 else "standard deviations"
        return (
            f"price {fmt(price)} is {fmt(abs(value))} {unit} {side} the {period}-sample mean {fmt(mean)}: "
            f"({fmt(price)} - {fmt(mean)}) / {fmt(std)} = {fmt(value)}."
        )

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        return {"period": _period(params)}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """The mean, and the band ``mean + threshold·s`` the price crosses when the value does."""
        mean, std = np.asarray(inputs["mean"], np.float64), np.asarray(inputs["std"], np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            band = mean + float(threshold) * std
        return {f"mean({_period(params)})": mean, THRESHOLD_PRICE: band}


RULE_TYPE = BollingerType()

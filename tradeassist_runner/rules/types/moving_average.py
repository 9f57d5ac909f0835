"""``moving_average``: how far the price is from its moving average, in percent.

value_i = (p_i - MA_i) / |MA_i| * 100, undefined for i < N-1 or MA_i = 0.  Dividing by
the absolute value keeps ``above 0`` meaning "above the average" for a negative-valued
internal such as $TICK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field, StrictInt

from ...config.models import Condition, Strict
from ...config.types import Number
from ..indicators import (
    MAX_PERIOD,
    Average,
    AverageState,
    explain_distance,
    moving_average,
    moving_averages,
    moving_averages_of_sources,
    percent_rows,
)
from ..seam import F64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values, percent_level, percent_of, percent_scalar


class MovingAverageBody(Strict):
    type: Literal["moving_average"]
    condition: Condition
    threshold: Number
    period: Annotated[
        StrictInt,
        Field(ge=1, le=MAX_PERIOD, description="N: samples averaged (the average is defined from the N-th sample)"),
    ]
    average: Average = Field(
        default="sma", description="sma: mean of the last N prices; ema: exponential, alpha = 2/(N+1), seeded with the SMA"
    )


Body = MovingAverageBody


def _unpack(params: Params) -> tuple[Average, int]:
    average, period = params
    assert isinstance(period, int)
    if average == "ema":
        return "ema", period
    assert average == "sma"
    return "sma", period


def _label(average: str, period: int) -> str:
    return f"{average.upper()}({period})"


class MovingAverageType:
    name: ClassVar[str] = "moving_average"
    Body: ClassVar[type[BaseModel]] = MovingAverageBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price", "ma")
    placeholder_names: ClassVar[tuple[str, ...]] = ('period', 'average')
    chart: ClassVar[Chart] = Chart(panel="% from the average")

    def params(self, body: Any, timezone: str) -> Params:
        """``(average, period)``, e.g. ``("ema", 21)``."""
        assert isinstance(body, MovingAverageBody)
        return (body.average, body.period)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        average, period = _unpack(params)
        carried: AverageState | None = state
        price = np.asarray(samples.price, dtype=np.float64)
        ma, new_state = moving_average(average, period, carried, price)
        with np.errstate(over="ignore", invalid="ignore"):
            value = percent_of(price, ma)
        return Values(value, {"price": price, "ma": ma}), new_state

    def values_many(self, items: Sequence[tuple[Params, State | None]], samples: Samples) -> list[tuple[Values, State]]:
        """``values`` of several (average, period) series on the same samples: the EMA
        recursions in one call, the distances of all of a kind in one pass."""
        price = np.asarray(samples.price, dtype=np.float64)
        out: list[tuple[Values, State] | None] = [None] * len(items)
        for kind in ("sma", "ema"):
            picked = [(k, _unpack(p)[1], st) for k, (p, st) in enumerate(items) if _unpack(p)[0] == kind]
            if not picked:
                continue
            average: Average = "ema" if kind == "ema" else "sma"
            done = moving_averages(average, [(n, st) for _, n, st in picked], price)
            value = percent_rows(price, np.stack([ma for ma, _ in done]))  # every series' distance at once
            for row, ((k, _, _), (ma, new_state)) in enumerate(zip(picked, done)):
                out[k] = (Values(value[row], {"price": price, "ma": ma}), new_state)
        return [o for o in out if o is not None]

    def values_all(self, groups: Sequence[tuple[Sequence[tuple[Params, State | None, Any]], Samples]]
                   ) -> list[list[tuple[Values, State, Any]]]:
        """``values_many`` of every source of a batch: the EMA recursions of all of them in
        one polars call (one per source costs more than their arithmetic); nothing kept."""
        prices = [np.asarray(samples.price, dtype=np.float64) for _, samples in groups]
        out: list[list[tuple[Values, State, Any] | None]] = [[None] * len(items) for items, _ in groups]
        for kind in ("sma", "ema"):
            average: Average = "ema" if kind == "ema" else "sma"
            picked = [[(k, _unpack(p)[1], st) for k, (p, st, _) in enumerate(items) if _unpack(p)[0] == kind]
                      for items, _ in groups]
            sources = [([(n, st) for _, n, st in mine], price) for mine, price in zip(picked, prices) if mine]
            if not sources:
                continue
            done_of = iter(moving_averages_of_sources(average, sources))
            for mine, price, got in zip(picked, prices, out):
                if not mine:
                    continue
                done = next(done_of)
                value = percent_rows(price, np.stack([ma for ma, _ in done]))  # every series' distance at once
                for row, ((k, _, _), (ma, new_state)) in enumerate(zip(mine, done)):
                    got[k] = (Values(value[row], {"price": price, "ma": ma}), new_state, None)
        return [[o for o in got if o is not None] for got in out]

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        return percent_scalar(inputs["price"], inputs["ma"])

    def describe(self, params: Params) -> str:
        average, period = _unpack(params)
        return f"{_label(average, period)} distance %"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        average, period = _unpack(params)
        return explain_distance("price", inputs["price"], _label(average, period), inputs["ma"], value, period)

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        average, period = _unpack(params)
        return {"period": period, "average": average}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """The average, and the price ``threshold`` percent away from it."""
        average, period = _unpack(params)
        ma = np.asarray(inputs["ma"], np.float64)
        return {_label(average, period): ma, THRESHOLD_PRICE: percent_level(ma, float(threshold))}


RULE_TYPE = MovingAverageType()

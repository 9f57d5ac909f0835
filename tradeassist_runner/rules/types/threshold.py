"""``threshold``: the value is the sample's price (a tick's price, a bar's close).

The simplest type, and the one most rules use: it carries no state, so a series of
thresholds costs one copy of the price column however many rules share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from ...config.models import Condition, Strict
from ...config.types import Number
from ..seam import F64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values
from .numbers import number


class ThresholdBody(Strict):
    """A price level: fires when the price is above/below or crosses ``threshold``."""

    type: Literal["threshold"]
    condition: Condition = Field(description="above | below | crosses_above | crosses_below")
    threshold: Number = Field(description="The price level compared with each sample's price")


#: The name the registry and tests use.
Body = ThresholdBody


class ThresholdType:
    """value = price."""

    name: ClassVar[str] = "threshold"
    Body: ClassVar[type[BaseModel]] = ThresholdBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price",)
    placeholder_names: ClassVar[tuple[str, ...]] = ()
    #: The value is the price: drawn on the price panel, no panel of its own.
    chart: ClassVar[Chart] = Chart(panel=None)

    def params(self, body: Any, timezone: str) -> Params:
        return ()

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        price = np.array(samples.price, dtype=np.float64)
        return Values(price.copy(), {"price": price}), None

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        return float(inputs["price"])

    def describe(self, params: Params) -> str:
        return "price"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        return f"The price was {number(inputs['price'])}."

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        return {}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        return {THRESHOLD_PRICE: np.full(len(inputs["price"]), float(threshold))}


RULE_TYPE = ThresholdType()

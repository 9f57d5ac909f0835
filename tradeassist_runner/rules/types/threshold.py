"""(temporary) threshold: value = price."""
from __future__ import annotations
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
import numpy as np
from ...config.models import Condition, Strict
from ...config.types import Number
from ..seam import Params, Samples, State, Values

class Body(Strict):
    type: Literal["threshold"]
    condition: Condition
    threshold: Number

class ThresholdType:
    name: ClassVar[str] = "threshold"
    Body: ClassVar[type[Body]] = Body
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price",)
    def params(self, body: Any, timezone: str) -> Params: return ()
    def other_symbols(self, body: Any) -> tuple[str, ...]: return ()
    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        return Values(samples.price.copy(), {"price": samples.price}), None
    def replay(self, params: Params, inputs: Mapping[str, float]) -> float: return float(inputs["price"])
    def describe(self, params: Params) -> str: return "price"
    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str: return f"price {value}"
    def placeholders(self, params: Params) -> dict[str, str | int | float]: return {}

RULE_TYPE = ThresholdType()

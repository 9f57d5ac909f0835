"""``rate_of_change``: percent change of the price against the price ``window`` earlier.

``ref`` is the price of the most recent earlier sample with ``t <= t(s) - window`` (the
last of several at that ``t``).  Because ``window > 0`` and ``t`` never decreases within
a series, every sample at or before ``t(s) - window`` is earlier than ``s``: the look-up
is one binary search over the (t, last price at t) pairs, carried tail first.

The carried state is that tail trimmed to what a later sample (``t >= last t``) can
still look up: every pair newer than ``last t - window`` plus the newest pair at or
before it.  A later sample at the same ``t`` as the last one can only replace the
price of the last pair, which the merge below handles (last one at a ``t`` wins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from ...config.durations import to_ms
from ...config.models import Condition, Strict
from ...config.types import Duration, Number
from ...timefmt import iso_ms
from ..seam import F64, I64, Params, Samples, State, Values, percent_of, percent_scalar
from .numbers import duration_ms, number, param_int

#: Longest look-back accepted: a year and a day covers "change over the year" while
#: keeping the carried tail of a tick series bounded.
MAX_WINDOW = timedelta(days=366)


class Body(Strict):
    """Percent change over a look-back ``window``: ``(price - ref) / |ref| * 100``."""

    type: Literal["rate_of_change"]
    condition: Condition = Field(description="above | below | crosses_above | crosses_below")
    threshold: Number = Field(description="Percent change compared with each sample's value, e.g. 0.5")
    window: Duration = Field(
        description="Look-back in sample time, e.g. 30s, 5m, 1h; greater than 0, at most 366d"
    )

    @field_validator("window")
    @classmethod
    def _window_range(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("window must be greater than 0")
        if v > MAX_WINDOW:
            raise ValueError("window must be at most 366d")
        return v


def _merge_last_at_t(t: I64, price: F64) -> tuple[I64, F64]:
    """Keep, for each run of equal ``t`` (``t`` sorted), only its last price."""
    if len(t) == 0:
        return t, price
    last = np.empty(len(t), dtype=np.bool_)
    last[:-1] = t[1:] != t[:-1]
    last[-1] = True
    return t[last], price[last]


class RateOfChangeType:
    """value = (price - ref) / |ref| * 100; params = (window_ms,)."""

    name: ClassVar[str] = "rate_of_change"
    Body: ClassVar[type[BaseModel]] = Body
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price", "ref", "ref_t")

    def params(self, body: Any, timezone: str) -> Params:
        return (to_ms(body.window),)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        window = param_int(params[0])
        t = np.asarray(samples.t, dtype=np.int64)
        price = np.asarray(samples.price, dtype=np.float64)
        carried_t = np.asarray(state["t"] if state else [], dtype=np.int64)
        carried_p = np.asarray(state["price"] if state else [], dtype=np.float64)
        all_t, all_p = _merge_last_at_t(np.concatenate((carried_t, t)), np.concatenate((carried_p, price)))
        at = np.searchsorted(all_t, t - window, side="right") - 1
        found = at >= 0
        safe = np.maximum(at, 0)
        if len(all_t):
            ref = np.where(found, all_p[safe], np.nan)
            ref_t = np.where(found, all_t[safe].astype(np.float64), np.nan)
        else:
            ref = np.full(len(t), np.nan)
            ref_t = np.full(len(t), np.nan)
        value = percent_of(price, ref)
        new_state: State = state
        if len(all_t):
            cutoff = int(all_t[-1]) - window
            recent = all_t > cutoff
            first = int(np.argmax(recent)) if recent.any() else len(all_t)
            keep = max(first - 1, 0)  # the newest pair at or before the cutoff, if any
            new_state = {"t": all_t[keep:].tolist(), "price": all_p[keep:].tolist()}
        return Values(value, {"price": price, "ref": ref, "ref_t": ref_t}), new_state

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        return percent_scalar(float(inputs["price"]), float(inputs["ref"]))

    def describe(self, params: Params) -> str:
        return f"{duration_ms(param_int(params[0]))} change %"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        window = duration_ms(param_int(params[0]))
        price, ref, ref_t = inputs["price"], inputs["ref"], inputs["ref_t"]
        if math.isnan(ref_t):
            return f"The price was {number(price)}, with no earlier price {window} or more before it yet."
        at = iso_ms(int(ref_t))
        if ref == 0:
            return f"The price was {number(price)} against 0 at {at} ({window} or more earlier): no percentage of 0."
        return (
            f"The price was {number(price)} against {number(ref)} at {at} ({window} or more earlier): "
            f"({number(price)} - {number(ref)}) / |{number(ref)}| * 100 = {number(value)} %."
        )

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        return {"window": duration_ms(param_int(params[0]))}


RULE_TYPE = RateOfChangeType()

"""``ma_cross``: the fast moving average's distance from the slow one, in percent.

value_i = (MA_fast,i - MA_slow,i) / |MA_slow,i| * 100, undefined for i < slow-1 or
MA_slow,i = 0; each average uses its own period (an EMA is seeded at its own N-1), so
``crosses_above 0`` is the classic golden cross.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, TypedDict

import numpy as np
from pydantic import BaseModel, Field, StrictInt, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from ...config.models import Condition, Strict
from ...config.types import Number
from ..indicators import (
    MAX_PERIOD,
    Average,
    AverageState,
    explain_distance,
    moving_averages,
    moving_averages_of_sources,
    percent_rows,
)
from ..seam import F64, Chart, Params, Samples, State, Values, percent_of, percent_scalar


class MaCrossBody(Strict):
    type: Literal["ma_cross"]
    condition: Condition
    threshold: Number
    fast: Annotated[
        StrictInt, Field(ge=1, le=MAX_PERIOD, description="Period of the fast average (less than slow)")
    ]
    slow: Annotated[
        StrictInt, Field(ge=1, le=MAX_PERIOD, description="Period of the slow average (greater than fast)")
    ]
    average: Average = Field(
        default="sma", description="sma or ema, for both averages (ema: alpha = 2/(N+1), seeded with the SMA)"
    )

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MaCrossBody:
        # Raised as a located ValidationError so the problem points at `fast`, not at the
        # whole rule; pydantic merges its line errors under the current location.
        if self.fast >= self.slow:
            raise ValidationError.from_exception_data(
                "MaCrossBody",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "value_error",
                            "must be less than slow ({slow}), got {fast}",
                            {"fast": self.fast, "slow": self.slow},
                        ),
                        loc=("fast",),
                        input=self.fast,
                    )
                ],
            )
        return self


Body = MaCrossBody


class CrossState(TypedDict):
    fast: AverageState | None
    slow: AverageState | None


def _unpack(params: Params) -> tuple[Average, int, int]:
    average, fast, slow = params
    assert isinstance(fast, int) and isinstance(slow, int)
    if average == "ema":
        return "ema", fast, slow
    assert average == "sma"
    return "sma", fast, slow


class MaCrossType:
    name: ClassVar[str] = "ma_cross"
    Body: ClassVar[type[BaseModel]] = MaCrossBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("fast_ma", "slow_ma")
    placeholder_names: ClassVar[tuple[str, ...]] = ('fast', 'slow', 'average')
    chart: ClassVar[Chart] = Chart(panel="% fast from slow")

    def params(self, body: Any, timezone: str) -> Params:
        """``(average, fast, slow)``, e.g. ``("ema", 9, 21)``."""
        assert isinstance(body, MaCrossBody)
        return (body.average, body.fast, body.slow)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        average, fast, slow = _unpack(params)
        carried: CrossState = state if state is not None else {"fast": None, "slow": None}
        price = np.asarray(samples.price, dtype=np.float64)
        (fast_ma, fast_state), (slow_ma, slow_state) = moving_averages(
            average, [(fast, carried["fast"]), (slow, carried["slow"])], price
        )
        with np.errstate(over="ignore", invalid="ignore"):
            value = percent_of(fast_ma, slow_ma)
        new_state: CrossState = {"fast": fast_state, "slow": slow_state}
        return Values(value, {"fast_ma": fast_ma, "slow_ma": slow_ma}), new_state

    def values_many(self, items: Sequence[tuple[Params, State | None]], samples: Samples) -> list[tuple[Values, State]]:
        """``values`` of several crosses on the same samples: every fast and slow average
        of one kind in one ``moving_averages`` call (its EMA recursions grouped), the
        distances of all of a kind in one pass."""
        price = np.asarray(samples.price, dtype=np.float64)
        out: list[tuple[Values, State] | None] = [None] * len(items)
        for kind in ("sma", "ema"):
            picked = []
            for k, (p, st) in enumerate(items):
                average, fast, slow = _unpack(p)
                if average == kind:
                    carried: CrossState = st if st is not None else {"fast": None, "slow": None}
                    picked.append((k, fast, slow, carried))
            if not picked:
                continue
            avg: Average = "ema" if kind == "ema" else "sma"
            jobs: list[tuple[int, AverageState | None]] = []
            for _, fast, slow, carried in picked:
                jobs += [(fast, carried["fast"]), (slow, carried["slow"])]
            done = moving_averages(avg, jobs, price)
            value = percent_rows(np.stack([ma for ma, _ in done[0::2]]), np.stack([ma for ma, _ in done[1::2]]))
            for q, (k, _, _, _) in enumerate(picked):
                (fast_ma, fast_state), (slow_ma, slow_state) = done[2 * q], done[2 * q + 1]
                new_state: CrossState = {"fast": fast_state, "slow": slow_state}
                out[k] = (Values(value[q], {"fast_ma": fast_ma, "slow_ma": slow_ma}), new_state)
        return [o for o in out if o is not None]

    def values_all(self, groups: Sequence[tuple[Sequence[tuple[Params, State | None, Any]], Samples]]
                   ) -> list[list[tuple[Values, State, Any]]]:
        """``values_many`` of every source of a batch: the EMA recursions of all of them in
        one polars call (one per source costs more than their arithmetic); nothing kept."""
        prices = [np.asarray(samples.price, dtype=np.float64) for _, samples in groups]
        out: list[list[tuple[Values, State, Any] | None]] = [[None] * len(items) for items, _ in groups]
        for kind in ("sma", "ema"):
            picked_of: list[list[tuple[int, CrossState]]] = []
            sources: list[tuple[list[tuple[int, AverageState | None]], F64]] = []
            for (items, _), price in zip(groups, prices):
                picked: list[tuple[int, CrossState]] = []
                jobs: list[tuple[int, AverageState | None]] = []
                for k, (p, st, _) in enumerate(items):
                    average, fast, slow = _unpack(p)
                    if average == kind:
                        carried: CrossState = st if st is not None else {"fast": None, "slow": None}
                        picked.append((k, carried))
                        jobs += [(fast, carried["fast"]), (slow, carried["slow"])]
                picked_of.append(picked)
                if picked:
                    sources.append((jobs, price))
            if not sources:
                continue
            avg: Average = "ema" if kind == "ema" else "sma"
            done_of = iter(moving_averages_of_sources(avg, sources))
            for picked, got in zip(picked_of, out):
                if not picked:
                    continue
                done = next(done_of)
                value = percent_rows(np.stack([ma for ma, _ in done[0::2]]), np.stack([ma for ma, _ in done[1::2]]))
                for q, (k, _) in enumerate(picked):
                    (fast_ma, fast_state), (slow_ma, slow_state) = done[2 * q], done[2 * q + 1]
                    new_state: CrossState = {"fast": fast_state, "slow": slow_state}
                    got[k] = (Values(value[q], {"fast_ma": fast_ma, "slow_ma": slow_ma}), new_state, None)
        return [[o for o in got if o is not None] for got in out]

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        return percent_scalar(inputs["fast_ma"], inputs["slow_ma"])

    def describe(self, params: Params) -> str:
        average, fast, slow = _unpack(params)
        kind = average.upper()
        return f"{kind}({fast})/{kind}({slow}) cross"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        average, fast, slow = _unpack(params)
        kind = average.upper()
        return explain_distance(f"{kind}({fast})", inputs["fast_ma"], f"{kind}({slow})", inputs["slow_ma"],
                                value, slow)

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        average, fast, slow = _unpack(params)
        return {"fast": fast, "slow": slow, "average": average}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """Both averages (the threshold compares them with each other, not with the price)."""
        average, fast, slow = _unpack(params)
        kind = average.upper()
        return {f"{kind}({fast})": np.asarray(inputs["fast_ma"], np.float64),
                f"{kind}({slow})": np.asarray(inputs["slow_ma"], np.float64)}


RULE_TYPE = MaCrossType()

"""``vwap``: percent distance of the price from the volume-weighted average price since the
latest anchor (``anchor`` local time in the instrument's timezone).

The anchor of a tick is the latest instant at or before its ``ts`` whose local wall
clock reads ``anchor``.  Those instants are computed once per distinct date of the batch
(zoneinfo, a handful per batch), never per tick: a date whose clock skips ``anchor`` (a
daylight-saving jump forward) has none, one whose clock shows it twice anchors at the
first (``fold=0``).  Each tick then finds its anchor by one binary search.  The state
carries the current anchor and the next one, so a live batch that stays inside one
anchored period (nearly all of them) needs no time-zone arithmetic at all.

Σ price·volume and Σ volume are running sums in arrival order.  Float addition is not
associative, so the sums are sequential cumulative sums that *start from the carried
float* (``cumsum([carried, x1, x2, ...])``): the same additions in the same order
wherever the stream was cut, hence bit-identical values.  A null-volume tick adds
nothing (``+ 0.0`` leaves a sum unchanged) yet still has a value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, Field, field_validator

from ...config.models import Condition, Strict
from ...config.types import Number
from ..seam import F64, I64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values, percent_level, percent_of, percent_scalar
from .numbers import finite, finite_scalar, number, param_str

_ANCHOR = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
#: Local dates searched around each UTC date of a batch: the local date is within a day
#: of the UTC date (offsets are under 24h), and a date without an anchor (skipped by a
#: clock change) sends the look-up one date further back (or, for the next anchor, on).
_DATES_AROUND = 3
#: Anchor of ticks before every candidate, and next anchor after every candidate (never
#: in practice): instants before and after any tick.
_NO_ANCHOR, _NO_NEXT = -(2**62), 2**62


class VwapBody(Strict):
    """Distance from the anchored VWAP: ``(price - VWAP) / |VWAP| * 100`` (tick samples only)."""

    type: Literal["vwap"]
    condition: Condition = Field(description="above | below | crosses_above | crosses_below")
    threshold: Number = Field(description="Percent distance from VWAP compared with each tick's value, e.g. 0.5")
    anchor: str = Field(
        default="00:00",
        description="Local time (HH:MM, 00:00 to 23:59, in the instrument's timezone) at which the VWAP restarts",
        examples=["09:30", "18:00"],
    )

    @field_validator("anchor", mode="before")
    @classmethod
    def _anchor_format(cls, v: Any) -> Any:
        if not isinstance(v, str) or not _ANCHOR.match(v):
            shown = f"'{v}'" if isinstance(v, str) else repr(v)
            raise ValueError(f"anchor must be a local time HH:MM from 00:00 to 23:59 (in quotes), got {shown}")
        return v


#: The name the registry and tests use.
Body = VwapBody


def anchor_instants(days: I64, anchor: str, timezone: str) -> I64:
    """Epoch ms of every anchor on the local dates around the UTC dates ``days`` (epoch
    days), sorted; dates whose clock never shows ``anchor`` contribute none."""
    zone = ZoneInfo(timezone)
    hour, minute = int(anchor[:2]), int(anchor[3:])
    wanted = np.unique(days)
    dates = np.unique((wanted[:, None] + np.arange(-_DATES_AROUND, _DATES_AROUND + 1)[None, :]).ravel())
    out: list[int] = []
    for day in dates.tolist():
        local = datetime.combine(date.fromordinal(_EPOCH_ORDINAL + day), time(hour, minute), tzinfo=zone)
        instant = local.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
            continue  # the clock skips anchor on this date
        out.append((instant - _EPOCH) // timedelta(milliseconds=1))
    return np.array(sorted(out), dtype=np.int64)


def _running(start: float, x: F64) -> F64:
    """``start + x1``, ``start + x1 + x2``, ... added one by one (never re-associated)."""
    return np.cumsum(np.concatenate(([start], x)))[1:]


class VwapType:
    """value = (price - VWAP) / |VWAP| * 100; params = (anchor "HH:MM", timezone)."""

    name: ClassVar[str] = "vwap"
    Body: ClassVar[type[BaseModel]] = VwapBody
    bars: ClassVar[bool] = False
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price", "vwap", "volume_sum", "pv_sum")
    placeholder_names: ClassVar[tuple[str, ...]] = ('anchor', 'timezone')
    chart: ClassVar[Chart] = Chart(panel="% from VWAP")

    def params(self, body: Any, timezone: str) -> Params:
        return (str(body.anchor), timezone)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        anchor, timezone = param_str(params[0]), param_str(params[1])
        ts = np.asarray(samples.t, dtype=np.int64)
        price = np.asarray(samples.price, dtype=np.float64)
        volume = np.asarray(samples.volume, dtype=np.float64)
        n = len(ts)
        carried_anchor = int(state["anchor"]) if state else None
        next_anchor = int(state["next_anchor"]) if state else _NO_NEXT
        pv_start = float(state["pv_sum"]) if state else 0.0
        v_start = float(state["volume_sum"]) if state else 0.0
        pv_sum = np.zeros(n)
        v_sum = np.zeros(n)
        if n:
            if carried_anchor is not None and int(ts[-1]) < next_anchor:
                anchors = np.full(n, carried_anchor, dtype=np.int64)  # still the carried period
            else:
                instants = anchor_instants(ts // _DAY_MS, anchor, timezone)
                at = np.searchsorted(instants, ts, side="right") - 1
                anchors = np.where(at >= 0, instants[np.maximum(at, 0)], _NO_ANCHOR)
                after = at[-1] + 1
                next_anchor = int(instants[after]) if after < len(instants) else _NO_NEXT
            has = ~np.isnan(volume)
            v_in = np.where(has, volume, 0.0)
            with np.errstate(over="ignore"):
                pv_in = np.where(has, price * v_in, 0.0)
            # One sequential running sum per anchored period (at most one per date).
            starts = np.flatnonzero(np.concatenate(([True], anchors[1:] != anchors[:-1])))
            ends = np.append(starts[1:], n)
            for s, e in zip(starts.tolist(), ends.tolist()):
                continuing = s == 0 and carried_anchor == int(anchors[0])
                pv_sum[s:e] = _running(pv_start if continuing else 0.0, pv_in[s:e])
                v_sum[s:e] = _running(v_start if continuing else 0.0, v_in[s:e])
            new_state: State = {
                "anchor": int(anchors[-1]), "next_anchor": next_anchor,
                "pv_sum": float(pv_sum[-1]), "volume_sum": float(v_sum[-1]),
            }
        else:
            new_state = state
        vwap = np.full(n, np.nan)
        with np.errstate(over="ignore"):
            np.divide(pv_sum, v_sum, out=vwap, where=v_sum != 0.0)
            value = finite(percent_of(price, vwap))
        inputs = {"price": price, "vwap": vwap, "volume_sum": v_sum, "pv_sum": pv_sum}
        return Values(value, inputs), new_state

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        pv_sum, v_sum = float(inputs["pv_sum"]), float(inputs["volume_sum"])
        if math.isnan(pv_sum) or math.isnan(v_sum) or v_sum == 0.0:
            return math.nan
        return finite_scalar(percent_scalar(float(inputs["price"]), pv_sum / v_sum))

    def describe(self, params: Params) -> str:
        return f"distance from VWAP (anchor {param_str(params[0])} {param_str(params[1])}) %"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        anchor = f"{param_str(params[0])} {param_str(params[1])}"
        price, vwap = number(inputs["price"]), inputs["vwap"]
        v_sum, pv_sum = number(inputs["volume_sum"]), number(inputs["pv_sum"])
        if inputs["volume_sum"] == 0.0:
            return f"The price was {price}, with no volume traded since the {anchor} anchor yet: no VWAP."
        if vwap == 0.0:
            return f"The price was {price} against a VWAP of 0 since the {anchor} anchor: no percentage of 0."
        w = number(vwap)
        return (
            f"The price was {price} against a VWAP of {w} since the {anchor} anchor "
            f"(Σ price·volume {pv_sum} / Σ volume {v_sum}): ({price} - {w}) / |{w}| * 100 = {number(value)} %."
        )

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        return {"anchor": param_str(params[0]), "timezone": param_str(params[1])}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """VWAP, and the price ``threshold`` percent away from it."""
        vwap = np.asarray(inputs["vwap"], np.float64)
        return {"VWAP": vwap, THRESHOLD_PRICE: percent_level(vwap, float(threshold))}


RULE_TYPE = VwapType()

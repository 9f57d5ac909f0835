"""The seam every rule type plugs into (second edition).

A rule type owns everything about its type and nothing else: the pydantic model of its
parameters, the value it computes per *sample*, the carried state that computation
needs, the numbers an alert records so `explain` can redo the value bit for bit, its
words, and its template placeholders.  Conditions, crossings, ``for``, re-arm, gates,
cooldown, bars and alert ids are the engine's and are the same for every type, so the
engine never branches on a type's name.

Rules that share a *series* (symbols, bar, type, parameters) share one computation and
one carried state: a thousand thresholds on /ES 5m RSI(14) cost one RSI.  The state
belongs to the series, so it survives a reload that edits a threshold or a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: A series' parameters: JSON scalars, hashable, stable across reloads.
Params = tuple[int | float | str | None, ...]

#: A series' carried state: JSON-serializable (dicts, lists, str, int, float incl. NaN, None),
#: so a snapshot stores it as text and restores it exactly (floats round-trip by repr).
State = Any


@dataclass(frozen=True)
class Samples:
    """The samples of one series in one batch, in evaluation order.

    Tick samples: one per accepted tick (price = high = low = the tick's price).  Bar
    samples: one per closed bar (price = close), evaluated at its closing tick.  A
    two-symbol series (``spread``) gets the ticks of both symbols merged in arrival
    order, ``source`` telling which (0 = the rule's instrument, 1 = the other).
    """

    t: I64  # sample time, epoch ms: the tick's ts, or the bar's start
    price: F64
    high: F64
    low: F64
    volume: F64  # NaN where the volume is null
    ts: I64  # ts of the tick the sample is evaluated at (the alert's ts)
    source: I64  # index into the series' symbols

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def of_ticks(
        cls, ts: I64, price: F64, volume: F64, source: I64 | None = None
    ) -> Samples:
        """Tick samples (handy in tests): t = ts, high = low = price."""
        ts = np.asarray(ts, dtype=np.int64)
        price = np.asarray(price, dtype=np.float64)
        src = np.zeros(len(ts), np.int64) if source is None else np.asarray(source, dtype=np.int64)
        return cls(ts, price, price, price, np.asarray(volume, dtype=np.float64), ts, src)

    def slice(self, start: int, stop: int) -> Samples:
        return Samples(self.t[start:stop], self.price[start:stop], self.high[start:stop], self.low[start:stop],
                       self.volume[start:stop], self.ts[start:stop], self.source[start:stop])


@dataclass(frozen=True)
class Values:
    """A series' value at each sample (NaN = undefined) and the numbers behind it.

    ``inputs`` holds, per sample, every number ``RuleType.replay`` needs to recompute the
    value with the same arithmetic (for example ``price`` and ``ma``): `explain` shows
    them and checks the logged value bit for bit.
    """

    value: F64
    inputs: Mapping[str, F64]


@dataclass(frozen=True)
class Chart:
    """How a chart draws a type's value (``tradeassist backtest --chart``).

    ``panel``: the title of the indicator panel the value gets under the price, in the
    value's own unit (``RSI``, ``% from the average``); ``None`` when the value is the
    instrument's price itself, drawn on the price panel.  ``value_range``: a fixed axis
    for values with natural bounds (RSI's 0-100), else the axis follows the data.
    """

    panel: str | None
    value_range: tuple[float, float] | None = None


#: The key of ``RuleType.chart_lines`` for the price at which the value would equal the
#: rule's threshold (the threshold drawn on the price panel).
THRESHOLD_PRICE = "threshold"


class RuleType(Protocol):
    """What the engine, the config loader, explain and the API need from a rule type."""

    #: The ``type:`` a user writes.
    name: ClassVar[str]
    #: The type's body: ``type``, ``condition``, ``threshold`` and its parameters
    #: (pydantic, extra="forbid").  A rule is the common fields plus this; a conjunction
    #: holds bare bodies.
    Body: ClassVar[type[BaseModel]]
    #: Whether ``bar:`` may be used with the type.
    bars: ClassVar[bool]
    #: Whether the type may appear inside ``type: all``.
    in_conjunctions: ClassVar[bool]
    #: Names of the arrays in ``Values.inputs``, in the order explain shows them.
    input_names: ClassVar[tuple[str, ...]]
    #: The keys ``placeholders`` returns (known before any rule exists, so templates can
    #: be checked at load time).
    placeholder_names: ClassVar[tuple[str, ...]]

    #: How charts draw the value.
    chart: ClassVar[Chart]

    def params(self, body: Any, timezone: str) -> Params:
        """What, besides symbols and bar, determines the value series (``timezone``: the
        instrument's IANA zone, for types that need local time)."""
        ...

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        """Symbols the type reads besides the rule's instrument (``spread``: its ``other``)."""
        ...

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        """Value at every sample of this batch, and the state the next batch needs.

        ``state`` is what the previous call returned (``None`` for a new series).  The
        result must not depend on how the stream was cut into batches: bit-identical
        values whatever the cut.  Vectorized (numpy/polars); no Python loop per sample.
        """
        ...

    # Optional: ``values_many(items, samples) -> list[(Values, State)]`` with ``items`` a
    # list of ``(params, state)``: ``values`` of several series of the type on the same
    # samples in one pass (shared arithmetic, one recursion call for all), bit-identical
    # to calling ``values`` for each.  The engine uses it when a type defines it.
    #
    # Optional: ``values_all(groups) -> list[list[(Values, State, Any)]]`` with ``groups``
    # one ``(items, samples)`` per source of a batch and ``items`` a list of ``(params,
    # state, kept)``: ``values_many`` of every source at once, each result with what the
    # type keeps beside its new state for the next batch (None: nothing).  The engine holds
    # that beside the state, never snapshots it, and hands it back only with that very
    # state object (None otherwise: a restored or a shared state), so it is the state in a
    # form cheaper to read (arrays rather than JSON lists) and must never change a result.
    # The engine uses it, when a type defines it, for a batch touching several sources.

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        """The value recomputed from one sample's ``inputs`` (NaN if undefined), with the
        same float operations as ``values``, so explain can compare bit for bit."""
        ...

    def describe(self, params: Params) -> str:
        """Short words for the series, e.g. ``RSI(14)``, ``EMA(21) distance %``."""
        ...

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        """One sentence with the numbers: how ``value`` came from ``inputs``."""
        ...

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        """Template fields the type adds to ``message`` (e.g. ``period``), beside the
        sample's ``inputs`` which are placeholders too."""
        ...

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """Lines in the instrument's price units that a chart draws over the price, per
        sample of a batch, from the ``Values.inputs`` of that batch: what the value
        measures the price against (the average, the prior range, VWAP), named, and under
        ``THRESHOLD_PRICE`` the price at which the value would equal ``threshold`` (NaN
        where there is none).  Empty when the value has no price counterpart (RSI)."""
        ...


def exact_ratio(numerator: F64, denominator: F64) -> F64:
    """``numerator / denominator`` element by element; NaN where either is NaN or the
    denominator is 0 (undefined, never inf)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    valid = ~np.isnan(num) & ~np.isnan(den) & (den != 0.0)
    out = np.full(len(num), np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        np.divide(num, den, out=out, where=valid)
    out[np.isinf(out)] = np.nan  # beyond float64 (a reference price of 1e-308): undefined, never inf
    return out


def percent_of(x: F64, base: F64) -> F64:
    """``(x - base) / |base| * 100``: the percentage convention of every type (a rise is
    positive even when the base is negative, e.g. $TICK); NaN where base is 0 or NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = exact_ratio(np.asarray(x, np.float64) - np.asarray(base, np.float64), np.abs(base)) * 100.0
    out[np.isinf(out)] = np.nan
    return out


def finite_ratio(numerator: F64, denominator: F64) -> F64:
    """``exact_ratio`` in fewer passes, for a series' per-batch arithmetic: a denominator
    of 0 or NaN makes the plain division inf or NaN, undefined like an overflow, so one
    division and one pass over what is not finite give the same values bit for bit
    (every NaN being the same undefined)."""
    with np.errstate(all="ignore"):
        out: F64 = np.divide(np.asarray(numerator, np.float64), np.asarray(denominator, np.float64))
    out[~np.isfinite(out)] = np.nan
    return out


def finite_percent(x: F64, base: F64) -> F64:
    """``percent_of`` in fewer passes (see ``finite_ratio``): the same subtraction, division
    and multiplication per element, then NaN wherever the result is not finite."""
    base = np.asarray(base, np.float64)
    with np.errstate(all="ignore"):
        out: F64 = np.subtract(np.asarray(x, np.float64), base)
        np.divide(out, np.abs(base), out=out)
        np.multiply(out, 100.0, out=out)
    out[~np.isfinite(out)] = np.nan
    return out


def percent_scalar(x: float, base: float) -> float:
    """``percent_of`` for one sample (replay): the same float operations."""
    if base != base or x != x or base == 0.0:
        return float("nan")
    try:
        out = (x - base) / abs(base) * 100.0
    except OverflowError:
        return float("nan")
    return float("nan") if out in (float("inf"), float("-inf")) else out


def percent_level(base: F64, threshold: float) -> F64:
    """The ``x`` at which ``percent_of(x, base)`` equals ``threshold``: a percentage
    threshold as a price, for charts (NaN where base is NaN)."""
    base = np.asarray(base, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        out: F64 = base + np.abs(base) * (threshold / 100.0)
    return out

"""``rate_of_change``: percent change of the price against the price ``window`` earlier.

``ref`` is the price of the most recent earlier sample with ``t <= t(s) - window`` (the
last of several at that ``t``).  Because ``window > 0`` and ``t`` never decreases within
a series, every sample at or before ``t(s) - window`` is earlier than ``s``: the look-up
is one binary search over the (t, last price at t) pairs, carried tail first.

The carried state is that tail trimmed to what a later sample (``t >= last t``) can
still look up: every pair newer than ``last t - window`` plus the newest pair at or
before it (give or take the rest of its chunk).  A later sample at the same ``t`` as the
last one can only replace the price of the last pair (last one at a ``t`` wins).

A one-hour window over a busy tick stream is tens of thousands of pairs, and the state
is plain JSON lists; converting all of it to arrays and back on every small live batch
would cost milliseconds.  So the tail is kept in chunks of ``CHUNK`` pairs: a batch
converts only the chunks its look-ups can land in (one or two when the batch is short)
and copies only the newest chunk.

A chunk is built as tuples (JSON writes them as lists; a restored state has lists, read
the same way): a tuple of numbers is dropped from the garbage collector's tracking, a
list never is, and a live runner's full collections would otherwise walk every carried
pair of every series (tens of milliseconds once a one-minute window at 10,000 ticks/s
fills, stalling the batch it lands in).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from ...config.durations import to_ms
from ...config.models import Condition, Strict
from ...config.types import Duration, Number
from ...timefmt import iso_ms
from ..seam import F64, I64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values, percent_level, percent_of, percent_scalar
from .numbers import duration_ms, finite, finite_scalar, number, param_int

#: Longest look-back accepted: a year and a day covers "change over the year" while
#: keeping the carried tail of a tick series bounded.
MAX_WINDOW = timedelta(days=366)
#: Pairs per carried chunk: a small batch reads (and converts from JSON lists) only the
#: one or two chunks its look-ups land in, and copies only the newest chunk.
CHUNK = 256


class RateOfChangeBody(Strict):
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


#: The name the registry and tests use.
Body = RateOfChangeBody


def _merge_last_at_t(t: I64, price: F64) -> tuple[I64, F64]:
    """Keep, for each run of equal ``t`` (``t`` sorted), only its last price."""
    if len(t) == 0:
        return t, price
    last = np.empty(len(t), dtype=np.bool_)
    last[:-1] = t[1:] != t[:-1]
    last[-1] = True
    return t[last], price[last]


#: One piece of the carried tail: ``((t, ...), (price, ...))``, t increasing (lists
#: ``[[t, ...], [price, ...]]`` when restored from a snapshot).
Chunk = Sequence[Sequence[Any]]


def _look_up_set(chunks: list[Chunk], bt: I64, bp: F64, lo: int, hi: int) -> tuple[I64, F64]:
    """The (t, price) pairs any target in ``[lo, hi]`` can land on: the carried chunks
    from the one holding the newest pair at or before ``lo``, up to the one holding the
    newest at or before ``hi``, then the batch's own pairs if the targets can reach them."""
    firsts = [c[0][0] for c in chunks]
    first = max(bisect_right(firsts, lo) - 1, 0)
    last = bisect_right(firsts, hi) - 1
    picked = chunks[first : last + 1] if last >= 0 else []
    parts_t = [np.asarray(c[0], dtype=np.int64) for c in picked]
    parts_p = [np.asarray(c[1], dtype=np.float64) for c in picked]
    if not chunks or last == len(chunks) - 1:
        parts_t.append(bt)
        parts_p.append(bp)
    if not parts_t:
        return np.zeros(0, np.int64), np.zeros(0)
    return _merge_last_at_t(np.concatenate(parts_t), np.concatenate(parts_p))


def _appended(chunks: list[Chunk], bt: I64, bp: F64, cutoff: int) -> list[Chunk]:
    """The carried tail after this batch, trimmed to what a later sample can look up.

    Never mutates ``chunks`` (the caller's previous state); only the newest chunk is
    copied, so a small batch costs a small list, not the whole window.
    """
    chunks = list(chunks)
    if chunks and chunks[-1][0][-1] == int(bt[0]):  # the batch's first t continues the last one
        last_t, last_p = chunks[-1]
        chunks[-1] = (tuple(last_t), (*last_p[:-1], float(bp[0])))
        bt, bp = bt[1:], bp[1:]
    start = max(int(np.searchsorted(bt, cutoff, side="right")) - 1, 0)
    new_t, new_p = tuple(bt[start:].tolist()), tuple(bp[start:].tolist())
    if new_t and chunks and len(chunks[-1][0]) < CHUNK:
        room = CHUNK - len(chunks[-1][0])
        chunks[-1] = ((*chunks[-1][0], *new_t[:room]), (*chunks[-1][1], *new_p[:room]))
        new_t, new_p = new_t[room:], new_p[room:]
    for k in range(0, len(new_t), CHUNK):
        chunks.append((new_t[k : k + CHUNK], new_p[k : k + CHUNK]))
    firsts = [c[0][0] for c in chunks]
    return chunks[max(bisect_right(firsts, cutoff) - 1, 0) :]


def _arrays(window: int, t: I64, price: F64, chunks: list[Chunk]) -> tuple[Values, State]:
    """``values`` of a batch of samples (at least one)."""
    bt, bp = _merge_last_at_t(t, price)
    look_t, look_p = _look_up_set(chunks, bt, bp, int(t[0]) - window, int(t[-1]) - window)
    at = np.searchsorted(look_t, t - window, side="right") - 1
    found = at >= 0
    safe = np.maximum(at, 0)
    if len(look_t):
        ref = np.where(found, look_p[safe], np.nan)
        ref_t = np.where(found, look_t[safe].astype(np.float64), np.nan)
    else:
        ref = np.full(len(t), np.nan)
        ref_t = np.full(len(t), np.nan)
    with np.errstate(over="ignore"):
        value = finite(percent_of(price, ref))
    new_state = {"chunks": _appended(chunks, bt, bp, int(bt[-1]) - window)}
    return Values(value, {"price": price, "ref": ref, "ref_t": ref_t}), new_state


def _one(window: int, t: int, price: float, chunks: list[Chunk]) -> tuple[Values, State]:
    """``values`` of one sample (a live batch of one tick) in plain Python: the same
    look-up, the same float operations as ``replay`` (bit-identical to the arrays'), the
    same new tail as ``_appended``, without a dozen small numpy calls."""
    target = t - window
    ref = ref_t = math.nan
    at = bisect_right([c[0][0] for c in chunks], target) - 1
    if at >= 0:  # the batch's own pair is newer than ``target``: only the tail can hold ref
        ts, ps = chunks[at]
        j = bisect_right(ts, target) - 1
        ref, ref_t = float(ps[j]), float(ts[j])
    value = finite_scalar(percent_scalar(price, ref))
    if chunks and chunks[-1][0][-1] == t:  # the same t as the last pair: its price is replaced
        last_t, last_p = chunks[-1]
        chunks[-1] = (tuple(last_t), (*last_p[:-1], price))
    elif chunks and len(chunks[-1][0]) < CHUNK:
        chunks[-1] = ((*chunks[-1][0], t), (*chunks[-1][1], price))
    else:
        chunks.append(((t,), (price,)))
    firsts = [c[0][0] for c in chunks]
    chunks = chunks[max(bisect_right(firsts, target) - 1, 0) :]
    one = np.empty(4)
    one[:] = (value, price, ref, ref_t)
    return Values(one[0:1], {"price": one[1:2], "ref": one[2:3], "ref_t": one[3:4]}), {"chunks": chunks}


class RateOfChangeType:
    """value = (price - ref) / |ref| * 100; params = (window_ms,)."""

    name: ClassVar[str] = "rate_of_change"
    Body: ClassVar[type[BaseModel]] = RateOfChangeBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("price", "ref", "ref_t")
    placeholder_names: ClassVar[tuple[str, ...]] = ('window',)
    chart: ClassVar[Chart] = Chart(panel="% change")

    def params(self, body: Any, timezone: str) -> Params:
        return (to_ms(body.window),)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        window = param_int(params[0])
        t = np.asarray(samples.t, dtype=np.int64)
        price = np.asarray(samples.price, dtype=np.float64)
        chunks: list[Chunk] = list(state["chunks"]) if state else []
        if len(t) == 0:
            return Values(np.zeros(0), {k: np.zeros(0) for k in self.input_names}), state
        if len(t) == 1:
            return _one(window, int(t[0]), float(price[0]), chunks)
        return _arrays(window, t, price, chunks)

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        return finite_scalar(percent_scalar(float(inputs["price"]), float(inputs["ref"])))

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

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        """The price that would have moved ``threshold`` percent from the reference price."""
        return {THRESHOLD_PRICE: percent_level(np.asarray(inputs["ref"], np.float64), float(threshold))}


RULE_TYPE = RateOfChangeType()

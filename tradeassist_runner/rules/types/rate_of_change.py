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
from itertools import chain
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from ...config.durations import to_ms
from ...config.models import Condition, Strict
from ...config.types import Duration, Number
from ...timefmt import iso_ms
from ..seam import F64, I64, THRESHOLD_PRICE, Chart, Params, Samples, State, Values, finite_percent, percent_level, percent_scalar
from .numbers import duration_ms, finite_scalar, number, param_int

#: Longest look-back accepted: a year and a day covers "change over the year" while
#: keeping the carried tail of a tick series bounded.
MAX_WINDOW = timedelta(days=366)
#: Pairs per carried chunk: a small batch reads (and converts from JSON lists) only the
#: one or two chunks its look-ups land in, and copies only the newest chunk.
CHUNK = 256
#: Up to this many samples a batch is computed in plain Python (``_few``): a live batch
#: of a hundred to a thousand ticks over a dozen symbols gives each series from a handful
#: to about eighty samples, for which the arrays' path costs more in the fixed overhead
#: of its few dozen numpy calls than the loop does (measured: the loop loses past ~150).
FEW = 96


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


def _first_t(chunk: Chunk) -> Any:
    return chunk[0][0]


def _chunks_at_or_before(chunks: Sequence[Chunk], t: int) -> int:
    """How many chunks begin at or before ``t``.  A long tail (a one-minute window at
    10,000 ticks/s is two hundred chunks per symbol) is searched reading a few first t's
    rather than a list of all of them built per search; a short one faster by that list."""
    if len(chunks) <= 8:
        return bisect_right([c[0][0] for c in chunks], t)
    return bisect_right(chunks, t, key=_first_t)


def _look_up_set(chunks: list[Chunk], bt: I64, bp: F64, lo: int, hi: int) -> tuple[I64, F64]:
    """The (t, price) pairs any target in ``[lo, hi]`` can land on: the carried chunks
    from the one holding the newest pair at or before ``lo``, up to the one holding the
    newest at or before ``hi``, then the batch's own pairs if the targets can reach them."""
    first = max(_chunks_at_or_before(chunks, lo) - 1, 0)
    last = _chunks_at_or_before(chunks, hi) - 1
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
    return _grown(chunks, tuple(bt[start:].tolist()), tuple(bp[start:].tolist()), cutoff)


def _grown(chunks: list[Chunk], new_t: tuple[int, ...], new_p: tuple[float, ...], cutoff: int) -> list[Chunk]:
    """``chunks`` (a list the caller owns) with the batch's kept pairs appended, the newest
    chunk filled up to ``CHUNK`` first, then trimmed to the chunks a later look-up at or
    after ``cutoff`` can reach: shared by the array and the plain-Python paths, so both
    carry the same tail."""
    if new_t and chunks and len(chunks[-1][0]) < CHUNK:
        room = CHUNK - len(chunks[-1][0])
        chunks[-1] = ((*chunks[-1][0], *new_t[:room]), (*chunks[-1][1], *new_p[:room]))
        new_t, new_p = new_t[room:], new_p[room:]
    for k in range(0, len(new_t), CHUNK):
        chunks.append((new_t[k : k + CHUNK], new_p[k : k + CHUNK]))
    return chunks[max(_chunks_at_or_before(chunks, cutoff) - 1, 0) :]


def _last_at_or_before(keys: I64, targets: I64) -> I64:
    """Per target, the position of the last key at or before it (-1: none); ``keys`` and
    ``targets`` ascending.  One merge of the two: a stable sort of them end to end finds
    the two runs and merges them, cheaper than a binary search per target; a key equal
    to a target stays before it."""
    order = np.argsort(np.concatenate((keys, targets)), kind="stable")
    at: I64 = np.flatnonzero(order >= len(keys)) - np.arange(len(targets), dtype=np.int64) - 1
    return at


def _refs(look_t: I64, look_p: F64, t: I64, window: int) -> tuple[F64, F64]:
    """Per sample, the price and time of the last look-up pair at or before ``t - window``
    (NaN: none)."""
    at = _last_at_or_before(look_t, t - window) + 1  # 0: none
    pick = np.empty((2, len(look_t) + 1))
    pick[:, 0] = np.nan
    pick[0, 1:] = look_p
    pick[1, 1:] = look_t
    return pick[0][at], pick[1][at]


def _arrays(window: int, t: I64, price: F64, chunks: list[Chunk],
            pairs: tuple[I64, F64] | None = None) -> tuple[Values, State]:
    """``values`` of a batch of samples (at least one); ``pairs``: ``_merge_last_at_t(t,
    price)``, when the caller has it."""
    bt, bp = pairs or _merge_last_at_t(t, price)
    look_t, look_p = _look_up_set(chunks, bt, bp, int(t[0]) - window, int(t[-1]) - window)
    ref, ref_t = _refs(look_t, look_p, t, window)
    value = finite_percent(price, ref)  # an overflow to infinity is undefined there already
    new_state = {"chunks": _appended(chunks, bt, bp, int(bt[-1]) - window)}
    return Values(value, {"price": price, "ref": ref, "ref_t": ref_t}), new_state


#: The carried tail as arrays, every chunk's t and prices end to end (read-only): what a
#: batch of the arrays' path keeps beside the state it returns, so that the next one
#: need not convert the chunks' numbers back (about half of a big batch's cost).
Tail = tuple[I64, F64]

#: One series of a batch for ``_arrays_held``: its window, the source's samples (t,
#: price, their ``_merge_last_at_t`` pairs), its carried tail and that tail as arrays
#: (None: not at hand).
Job = tuple[int, I64, F64, tuple[I64, F64], list[Chunk], Tail | None]


def _arrays_held(job: Job) -> tuple[Values, State, Tail | None]:
    """``_arrays`` of one series (at least one sample) with its tail as arrays when at
    hand, and beside the new state its tail as arrays.

    The look-up set is ``_arrays``': the carried chunks the targets can land in, then the
    batch's own pairs if the targets can reach them.  Both hold distinct, increasing t,
    so merging them by the last price at each t only drops the carried pair whose t the
    batch's first pair repeats.
    """
    window, t, price, (bt, bp), chunks, tail = job
    first = max(_chunks_at_or_before(chunks, int(t[0]) - window) - 1, 0)
    last = _chunks_at_or_before(chunks, int(t[-1]) - window) - 1
    picked = chunks[first : last + 1] if last >= 0 else []
    with_batch = not chunks or last == len(chunks) - 1
    count = sum(len(c[0]) for c in picked)
    if tail is None:
        ct = np.fromiter(chain.from_iterable(c[0] for c in picked), np.int64, count)
        cp = np.fromiter(chain.from_iterable(c[1] for c in picked), np.float64, count)
    else:
        offset = sum(len(c[0]) for c in chunks[:first])
        ct, cp = tail[0][offset : offset + count], tail[1][offset : offset + count]
    keep = count - int(with_batch and count > 0 and picked[-1][0][-1] == int(bt[0]))
    if with_batch:
        look_t = np.concatenate((ct[:keep], bt))
        look_p = np.concatenate((cp[:keep], bp))
    else:
        look_t, look_p = ct, cp
    ref, ref_t = _refs(look_t, look_p, t, window)
    value = finite_percent(price, ref)
    cutoff = int(bt[-1]) - window
    new_chunks = _appended(chunks, bt, bp, cutoff)
    # the old pairs the new tail keeps are a suffix of the picked ones when the targets
    # reached the batch's own pairs; otherwise only a tail at hand has them all
    held = tail if tail is not None else (ct, cp) if with_batch else None
    new_tail = None if held is None else _tail_after(held, chunks, bt, bp, cutoff, new_chunks)
    return Values(value, {"price": price, "ref": ref, "ref_t": ref_t}), {"chunks": new_chunks}, new_tail


def _tail_after(old: Tail, chunks: list[Chunk], bt: I64, bp: F64, cutoff: int, new_chunks: list[Chunk]) -> Tail | None:
    """``new_chunks`` (``_appended(chunks, bt, bp, cutoff)``) end to end as arrays, from
    ``old``: the newest of the old tail's pairs as arrays (None: not all of them there)."""
    old_t, old_p = old
    if chunks and chunks[-1][0][-1] == int(bt[0]):  # the batch's first t continues the last one
        old_p = old_p.copy()
        old_p[-1] = bp[0]
        bt, bp = bt[1:], bp[1:]
    start = max(int(np.searchsorted(bt, cutoff, side="right")) - 1, 0)
    size = sum(len(c[0]) for c in new_chunks)
    from_old = size - (len(bt) - start)
    if from_old > len(old_t):
        return None
    tail_t = np.concatenate((old_t[len(old_t) - from_old :], bt[start:]))
    tail_p = np.concatenate((old_p[len(old_p) - from_old :], bp[start:]))
    tail_t.flags.writeable = False
    tail_p.flags.writeable = False
    return tail_t, tail_p


def _one(window: int, t: int, price: float, chunks: list[Chunk]) -> tuple[Values, State]:
    """``values`` of one sample (a live batch of one tick) in plain Python: the same
    look-up, the same float operations as ``replay`` (bit-identical to the arrays'), the
    same new tail as ``_appended``, without a dozen small numpy calls."""
    target = t - window
    ref = ref_t = math.nan
    at = _chunks_at_or_before(chunks, target) - 1
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
    chunks = chunks[max(_chunks_at_or_before(chunks, target) - 1, 0) :]
    one = np.empty(4)
    one[:] = (value, price, ref, ref_t)
    return Values(one[0:1], {"price": one[1:2], "ref": one[2:3], "ref_t": one[3:4]}), {"chunks": chunks}


def _pairs_of(t: list[int], price: list[float]) -> tuple[list[int], list[float]]:
    """``_merge_last_at_t`` on lists: the batch's (t, last price at t) pairs."""
    pt: list[int] = []
    pp: list[float] = []
    for ti, pi in zip(t, price):
        if pt and pt[-1] == ti:
            pp[-1] = pi
        else:
            pt.append(ti)
            pp.append(pi)
    return pt, pp


def _few(window: int, t: list[int], price: list[float], price_arr: F64, chunks: list[Chunk],
         pairs: tuple[list[int], list[float]]) -> tuple[Values, State]:
    """``_arrays`` of a few samples (``t``, ``price``: the samples as lists, ``pairs``:
    ``_pairs_of(t, price)``) in plain Python: per sample the same look-up (the batch's own
    pairs first, as the merged look-up set lets them win at an equal ``t``, then the
    carried tail), the same float operations, and the same new tail as ``_appended``."""
    bt, bp = pairs
    firsts = [c[0][0] for c in chunks]
    value: list[float] = []
    ref: list[float] = []
    ref_t: list[float] = []
    nan, isfinite, bt0 = math.nan, math.isfinite, bt[0]
    for ti, pi in zip(t, price):
        target = ti - window
        if bt0 <= target:
            j = bisect_right(bt, target) - 1
            r, rt = bp[j], float(bt[j])
        else:
            at = bisect_right(firsts, target) - 1
            if at >= 0:
                ts, ps = chunks[at]
                j = bisect_right(ts, target) - 1
                r, rt = float(ps[j]), float(ts[j])
            else:
                r = rt = nan
        # percent_scalar inlined (the same float operations; inf and NaN: undefined)
        if r == r and r != 0.0 and pi == pi:
            v = (pi - r) / abs(r) * 100.0
            value.append(v if isfinite(v) else nan)
        else:
            value.append(nan)
        ref.append(r)
        ref_t.append(rt)
    out = np.array((value, ref, ref_t), dtype=np.float64)
    cutoff = bt[-1] - window
    tail = list(chunks)
    if tail and tail[-1][0][-1] == bt[0]:  # the batch's first t continues the last one
        last_t, last_p = tail[-1]
        tail[-1] = (tuple(last_t), (*last_p[:-1], float(bp[0])))
        bt, bp = bt[1:], bp[1:]
    start = max(bisect_right(bt, cutoff) - 1, 0)
    new_state = {"chunks": _grown(tail, tuple(bt[start:]), tuple(bp[start:]), cutoff)}
    return Values(out[0], {"price": price_arr, "ref": out[1], "ref_t": out[2]}), new_state


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
        if len(t) <= FEW:
            t_list, p_list = t.tolist(), price.tolist()
            return _few(window, t_list, p_list, price, chunks, _pairs_of(t_list, p_list))
        return _arrays(window, t, price, chunks)

    def values_many(self, items: Sequence[tuple[Params, State | None]], samples: Samples) -> list[tuple[Values, State]]:
        """``values`` of several windows on the same samples: the batch's (t, last price at
        t) pairs are found once for all."""
        if len(samples) <= 1:
            return [self.values(params, samples, state) for params, state in items]
        t = np.asarray(samples.t, dtype=np.int64)
        price = np.asarray(samples.price, dtype=np.float64)
        if len(t) <= FEW:
            t_list, p_list = t.tolist(), price.tolist()
            few = _pairs_of(t_list, p_list)
            return [_few(param_int(params[0]), t_list, p_list, price, list(state["chunks"]) if state else [], few)
                    for params, state in items]
        pairs = _merge_last_at_t(t, price)
        return [_arrays(param_int(params[0]), t, price, list(state["chunks"]) if state else [], pairs)
                for params, state in items]

    def values_all(self, groups: Sequence[tuple[Sequence[tuple[Params, State | None, Any]], Samples]]
                   ) -> list[list[tuple[Values, State, Any]]]:
        """``values_many`` of every source of a batch, each item with the tail as arrays that
        the last batch returned beside its state (or None): the series of sources of more
        than ``FEW`` samples in one pass (``_arrays_all``), the others as ``values_many``."""
        out: list[list[tuple[Values, State, Any]]] = []
        jobs: list[Job] = []
        for items, samples in groups:
            if len(samples) <= FEW:
                out.append([(*got, None) for got in self.values_many([(p, st) for p, st, _ in items], samples)])
                continue
            out.append([])
            t = np.asarray(samples.t, dtype=np.int64)
            price = np.asarray(samples.price, dtype=np.float64)
            pairs = _merge_last_at_t(t, price)
            jobs.extend((param_int(params[0]), t, price, pairs, list(state["chunks"]) if state else [], tail)
                        for params, state, tail in items)
        if jobs:
            done = map(_arrays_held, jobs)
            for (items, samples), got in zip(groups, out):
                if len(samples) > FEW:
                    got.extend(next(done) for _ in items)
        return out

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

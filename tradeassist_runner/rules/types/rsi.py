"""``rsi``: Wilder's relative strength index, in [0, 100].

d_j = p_j - p_{j-1}; gain = max(d, 0), loss = max(-d, 0).  At i = N the averages AG, AL
are the plain means of gain_1 .. gain_N (loss likewise); after that
AG_i = (AG_{i-1}*(N-1) + gain_i) / N, computed as the equivalent exponential smoothing
with alpha = 1/N (the two agree up to rounding).  RSI = 100 - 100/(1 + AG/AL), 100 when
AL = 0 < AG, 50 when AG = AL = 0; undefined for i < N.

Carried state: the sample count, the last price (for the next d), the gains and losses
before the seed, then only AG and AL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import isnan
from typing import Annotated, Any, ClassVar, Literal, TypedDict

import numpy as np
from pydantic import BaseModel, Field, StrictInt

from ...config.models import Condition, Strict
from ...config.types import Number
from ..indicators import (
    EMPTY,
    MAX_PERIOD,
    fmt,
    joined,
    rsi_of,
    rsi_scalar,
    smooth_many,
    window_sums,
)
from ..seam import F64, Chart, Params, Samples, State, Values


class RsiBody(Strict):
    type: Literal["rsi"]
    condition: Condition
    threshold: Number
    period: Annotated[
        StrictInt,
        Field(default=14, ge=1, le=MAX_PERIOD, description="N: Wilder smoothing period (defined from the N+1-th sample)"),
    ]


Body = RsiBody


class RsiState(TypedDict):
    count: int
    last: float | None
    gains: list[float]  # gain_1 .. before the seed; [] once seeded
    losses: list[float]
    avg_gain: float | None
    avg_loss: float | None


def _period(params: Params) -> int:
    (period,) = params
    assert isinstance(period, int)
    return period


def _fresh() -> RsiState:
    return {"count": 0, "last": None, "gains": [], "losses": [], "avg_gain": None, "avg_loss": None}


def _moves(price: F64, last: float | None) -> tuple[F64, F64, int]:
    """Gains and losses of the batch's moves, and the batch index of the first move's
    sample (1 when nothing was carried: sample 0 has no move)."""
    if last is None:
        d, offset = np.diff(price), 1
    else:
        d, offset = np.diff(np.concatenate(([last], price))), 0
    return np.where(d > 0.0, d, 0.0), np.where(d < 0.0, -d, 0.0), offset


def _seeded(
    period: int, pending: list[float], moves: F64, offset: int, count: int, seed: float | None
) -> tuple[F64, list[float], float | None, int, F64]:
    """Where Wilder's average of ``moves`` (gains or losses) stands before its recursion.

    ``moves[k]`` belongs to batch sample ``k + offset``; ``pending`` holds the moves
    before the seed carried from earlier batches.  Returns the averages so far (NaN before
    the seed, the plain mean at sample N), the moves still pending, the average the
    recursion starts from (``None`` while unseeded), the batch index its first output
    goes to and the moves it runs over.
    """
    out = np.full(len(moves) + offset, np.nan)
    if seed is not None:
        return out, [], seed, offset, moves
    every = joined(pending, moves)  # move_1 .. move_{count+n-1}
    if len(every) < period:
        return out, [float(v) for v in every.tolist()], None, len(out), EMPTY
    first = float(window_sums(every[:period], period)[0] / float(period))
    at = period - count  # batch index of sample N
    out[at] = first
    return out, [], first, at + 1, moves[at - offset + 1:]


def _prepare(items: Sequence[tuple[Params, State | None]], price: F64
             ) -> tuple[list[tuple[RsiState, F64, F64]], list[tuple[int, int, int, int]], list[tuple[float, F64, float]]]:
    """``values_many`` (``price``: at least one sample) up to its recursions: per item its
    new state and averages as far as numpy takes them, per seeded item (item, first job,
    gain start, loss start), and the recursions for ``smooth_many``."""
    n = len(price)
    moves: dict[bytes | None, tuple[F64, F64, int]] = {}
    done: list[tuple[RsiState, F64, F64]] = []
    pending: list[tuple[int, int, int, int]] = []  # (item, first job, gain start, loss start)
    jobs: list[tuple[float, F64, float]] = []
    for params, state in items:
        period = _period(params)
        carried: RsiState = state if state is not None else _fresh()
        count, last = carried["count"], carried["last"]
        key = None if last is None else np.float64(last).tobytes()
        if key not in moves:
            moves[key] = _moves(price, last)
        gain, loss, offset = moves[key]
        avg_gain, gains, ag, g_at, g_moves = _seeded(period, carried["gains"], gain, offset, count,
                                                     carried["avg_gain"])
        avg_loss, losses, al, l_at, l_moves = _seeded(period, carried["losses"], loss, offset, count,
                                                      carried["avg_loss"])
        new_state: RsiState = {
            "count": count + n, "last": float(price[-1]), "gains": gains, "losses": losses,
            "avg_gain": ag, "avg_loss": al,
        }
        if ag is not None and al is not None:  # seeded together: both recursions join the call
            pending.append((len(done), len(jobs), g_at, l_at))
            jobs.append((ag, g_moves, 1.0 / period))
            jobs.append((al, l_moves, 1.0 / period))
        done.append((new_state, avg_gain, avg_loss))
    return done, pending, jobs


def _finish(done: list[tuple[RsiState, F64, F64]], pending: list[tuple[int, int, int, int]],
            smoothed: Sequence[F64]) -> list[tuple[Values, State]]:
    """``values_many``'s results from ``_prepare``'s and its recursions' (``smoothed``)."""
    for item, at, g_at, l_at in pending:
        new_state, avg_gain, avg_loss = done[item]
        g_smooth, l_smooth = smoothed[at], smoothed[at + 1]
        avg_gain[g_at:], avg_loss[l_at:] = g_smooth, l_smooth
        if len(g_smooth):
            new_state["avg_gain"], new_state["avg_loss"] = float(g_smooth[-1]), float(l_smooth[-1])
    rsi = rsi_of(np.stack([g for _, g, _ in done]), np.stack([lo for _, _, lo in done]))
    return [(Values(rsi[row], {"avg_gain": g, "avg_loss": lo}), st) for row, (st, g, lo) in enumerate(done)]


class RsiType:
    name: ClassVar[str] = "rsi"
    Body: ClassVar[type[BaseModel]] = RsiBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("avg_gain", "avg_loss")
    placeholder_names: ClassVar[tuple[str, ...]] = ('period',)
    chart: ClassVar[Chart] = Chart(panel="RSI", value_range=(0.0, 100.0))

    def params(self, body: Any, timezone: str) -> Params:
        """``(period,)``, e.g. ``(14,)``."""
        assert isinstance(body, RsiBody)
        return (body.period,)

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        period = _period(params)
        price = np.asarray(samples.price, dtype=np.float64)
        carried: RsiState = state if state is not None else _fresh()
        if len(price) == 0:
            return Values(np.zeros(0), {"avg_gain": np.zeros(0), "avg_loss": np.zeros(0)}), carried
        gain, loss, offset = _moves(price, carried["last"])
        count = carried["count"]
        avg_gain, gains, ag, g_at, g_moves = _seeded(period, carried["gains"], gain, offset, count, carried["avg_gain"])
        avg_loss, losses, al, l_at, l_moves = _seeded(period, carried["losses"], loss, offset, count,
                                                      carried["avg_loss"])
        if ag is not None and al is not None:
            g_smooth, l_smooth = smooth_many([(ag, g_moves, 1.0 / period), (al, l_moves, 1.0 / period)])
            avg_gain[g_at:], avg_loss[l_at:] = g_smooth, l_smooth
            if len(g_smooth):
                ag, al = float(g_smooth[-1]), float(l_smooth[-1])
        new_state: RsiState = {
            "count": count + len(price), "last": float(price[-1]), "gains": gains, "losses": losses,
            "avg_gain": ag, "avg_loss": al,
        }
        return Values(rsi_of(avg_gain, avg_loss), {"avg_gain": avg_gain, "avg_loss": avg_loss}), new_state

    def values_many(self, items: Sequence[tuple[Params, State | None]], samples: Samples) -> list[tuple[Values, State]]:
        """``values`` of several periods on the same samples: the moves computed once per
        carried last price (every period of a source shares it), every seeded series'
        gains and losses recursions (all of one batch length) in one call, and every
        series' RSI in one pass."""
        price = np.asarray(samples.price, dtype=np.float64)
        n = len(price)
        if n == 0:
            return [(Values(np.zeros(0), {"avg_gain": np.zeros(0), "avg_loss": np.zeros(0)}),
                     state if state is not None else _fresh()) for _, state in items]
        done, pending, jobs = _prepare(items, price)
        return _finish(done, pending, smooth_many(jobs) if jobs else [])

    def values_all(self, groups: Sequence[tuple[Sequence[tuple[Params, State | None, Any]], Samples]]
                   ) -> list[list[tuple[Values, State, Any]]]:
        """``values_many`` of every source of a batch: the gains and losses recursions of
        all of them in one polars call (one per source costs more than their arithmetic);
        nothing kept."""
        prepared: list[tuple[list[tuple[RsiState, F64, F64]], list[tuple[int, int, int, int]], int] | None] = []
        out: list[list[tuple[Values, State, Any]]] = []
        jobs: list[tuple[float, F64, float]] = []
        for items, samples in groups:
            pairs = [(p, st) for p, st, _ in items]
            price = np.asarray(samples.price, dtype=np.float64)
            if len(price) == 0:
                out.append([(*got, None) for got in self.values_many(pairs, samples)])
                prepared.append(None)
                continue
            done, pending, own = _prepare(pairs, price)
            prepared.append((done, pending, len(jobs)))
            jobs.extend(own)
            out.append([])
        smoothed = smooth_many(jobs) if jobs else []
        for got, ready in zip(out, prepared):
            if ready is not None:
                done, pending, first = ready
                got.extend((*r, None) for r in _finish(done, pending, smoothed[first:]))
        return out

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        return rsi_scalar(inputs["avg_gain"], inputs["avg_loss"])

    def describe(self, params: Params) -> str:
        return f"RSI({_period(params)})"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        period = _period(params)
        ag, al = inputs["avg_gain"], inputs["avg_loss"]
        label = f"RSI({period})"
        if isnan(ag) or isnan(al):
            return f"{label} is undefined until {period + 1} samples have been seen."
        if al == 0.0:
            if ag > 0.0:
                return f"{label} = 100: average gain {fmt(ag)}, no average loss."
            return f"{label} = 50: no average gain and no average loss."
        return (
            f"{label} = 100 - 100 / (1 + {fmt(ag)} / {fmt(al)}) = {fmt(value)} "
            f"(average gain {fmt(ag)}, average loss {fmt(al)})."
        )

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        return {"period": _period(params)}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        return {}  # an RSI level has no single price counterpart


RULE_TYPE = RsiType()

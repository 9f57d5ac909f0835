"""Arithmetic shared by the indicator rule types (moving averages, RSI, breakout, Bollinger).

Every value must be bit-identical however the stream was cut into batches, so nothing
here carries a running sum from one batch to the next: a window's sum is computed from
the window's own elements (``np.add.reduce`` over a sliding-window view, ``windows_of``, of the
carried tail followed by the batch, which sums each window with the same pairwise order
whichever batch it falls in), and the only floats carried are the recursions' last values
(an EMA, Wilder's averages), which a sequential recursion continues exactly.

The recursions run in polars' ``ewm_mean(adjust=False)``, a compiled sequential loop
(no Python per sample): seeded with the carried float as its first element it yields
``y_0 = seed``, then ``y_i = y_{i-1} + (x_i - y_{i-1}) * (alpha / ((1 - alpha) + alpha))``
(polars' current formula), where ``(1 - alpha) + alpha`` rounds to exactly 1.  That is
``alpha * x_i + (1 - alpha) * y_{i-1}`` up to rounding (a few units in the last place per
step, damped by ``1 - alpha``: within 1e-12 of the literal recursion over thousands of
samples), and it depends on nothing but the seed and the inputs, so a cut changes no bit.

Carried state is plain JSON (lists of floats, ints, ``None``) so a snapshot stores it as
text and restores it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from math import isnan
from typing import Any, Literal, TypedDict

import numpy as np

from .seam import F64

Average = Literal["sma", "ema"]

#: Elements of the (windows x period) temporary the two-pass deviation sum materializes
#: at once: bounds memory whatever the period and batch size, and keeps the buffer in
#: cache between its three passes.
_CHUNK_ELEMENTS = 1 << 15

EMPTY = np.zeros(0, np.float64)


def joined(tail: list[float], x: F64) -> F64:
    """The carried values followed by the batch's, as one float64 array."""
    if not tail:
        return np.ascontiguousarray(x, dtype=np.float64)
    return np.concatenate((np.asarray(tail, dtype=np.float64), x))


def keep_last(x: F64, k: int) -> list[float]:
    """The last ``k`` values as Python floats (all of them when there are fewer)."""
    if k <= 0:
        return []
    return [float(v) for v in x[max(len(x) - k, 0):].tolist()]


def windows_of(x: F64, n: int) -> F64:
    """Every length-``n`` window of ``x`` as a read-only (windows x n) view, the layout of
    ``sliding_window_view`` (so reductions over it run in the same order) without its
    argument checks, which cost more than a live batch's arithmetic."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    view: F64 = np.ndarray((len(x) - n + 1, n), np.float64, x, 0, (x.itemsize, x.itemsize))
    view.flags.writeable = False
    return view


def window_sums(x: F64, n: int) -> F64:
    """Sum of every length-``n`` window of ``x`` (``len(x) - n + 1`` of them), each from
    its own elements, so a window's sum is the same whichever batch it is computed in."""
    if len(x) < n:
        return EMPTY
    sums: F64 = np.add.reduce(windows_of(x, n), axis=1)
    return sums


#: From this window length on, window extremes are taken blockwise (below) rather than
#: by reducing every window (``n`` comparisons per window).
_BLOCKWISE = 8


def window_max(x: F64, n: int) -> F64:
    """Largest element of every length-``n`` window (NaN if the window holds one)."""
    return _window_extreme(x, n, np.maximum, -np.inf)


def window_min(x: F64, n: int) -> F64:
    """Smallest element of every length-``n`` window (NaN if the window holds one)."""
    return _window_extreme(x, n, np.minimum, np.inf)


def _window_extreme(x: F64, n: int, op: np.ufunc, neutral: float) -> F64:
    """Max (or min) of every window in a few passes whatever ``n`` (van Herk / Gil-Werman):
    cut ``x`` into blocks of ``n``; a window spans the end of one block and the start of
    the next, so its extreme is ``op`` of a running extreme from the right within the first
    block and one from the left within the second.  Extremes are exact, so the result is
    the same as reducing each window."""
    size = len(x)
    if size < n:
        return EMPTY
    if n < _BLOCKWISE:
        out: F64 = op.reduce(windows_of(x, n), axis=1)
        return out
    blocks = -(-size // n)
    padded = np.full(blocks * n, neutral)
    padded[:size] = x
    cols = padded.reshape(blocks, n).T  # (n, blocks): each running pass is n vector ops
    ahead = op.accumulate(cols, axis=0).T.reshape(-1)
    behind = op.accumulate(cols[::-1], axis=0)[::-1].T.reshape(-1)
    out = op(behind[:size - n + 1], ahead[n - 1:size])
    return out


def window_mean_std(x: F64, n: int) -> tuple[F64, F64, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Mean, population standard deviation and flatness of every length-``n`` window.

    Two passes (the mean, then the mean of squared deviations from it), never
    ``E[x^2] - E[x]^2``, which cancels catastrophically at prices near 6000.  ``flat``
    marks windows whose elements are all equal: their exact deviation is 0 even when the
    rounded mean makes the computed one a hair above it, so they get mean = that price
    and std = 0 exactly.
    """
    if len(x) < n:
        return EMPTY, EMPTY, np.zeros(0, np.bool_)
    windows = windows_of(x, n)
    mean = np.add.reduce(windows, axis=1) / float(n)
    flat = window_flat(x, n)
    var = np.empty(len(mean))
    step = max(1, _CHUNK_ELEMENTS // n)
    dev = np.empty((min(step, len(mean)), n))  # reused: a fresh temporary per chunk costs more than its arithmetic
    for start in range(0, len(mean), step):  # chunks of windows, not samples
        part = dev[:len(mean[start:start + step])]
        np.subtract(windows[start:start + step], mean[start:start + step, None], out=part)
        np.multiply(part, part, out=part)
        var[start:start + step] = np.add.reduce(part, axis=1) / float(n)
    std = np.sqrt(var)
    mean = np.where(flat, windows[:, 0], mean)
    std = np.where(flat, 0.0, std)
    return mean, std, flat


def window_flat(x: F64, n: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Whether every length-``n`` window holds one value ``n`` times (NaN never counts).

    A window is flat when no neighbouring pair inside it differs, counted with one
    running sum of integers (exact), rather than comparing the window's max and min: a
    pair holding a NaN differs, so only a one-element window of NaN needs its own test.
    """
    if len(x) < n:
        return np.zeros(0, np.bool_)
    changes = np.zeros(len(x), np.int64)
    np.cumsum(x[1:] != x[:-1], out=changes[1:])
    flat: np.ndarray[Any, np.dtype[np.bool_]] = changes[n - 1:] == changes[:len(x) - n + 1]
    if n == 1:
        flat &= ~np.isnan(x)
    return flat


def smooth(seed: float, x: F64, alpha: float) -> F64:
    """``y_i = alpha*x_i + (1-alpha)*y_{i-1}`` from ``y_0 = seed``, for every element of ``x``
    (the seed itself is not repeated).  ``alpha = 1`` is ``y_i = x_i`` exactly."""
    return smooth_many([(seed, x, alpha)])[0]


def smooth_many(jobs: Sequence[tuple[float, F64, float]]) -> list[F64]:
    """``smooth`` of several (seed, x, alpha) in one polars call.

    A polars call costs far more than its arithmetic on a live micro-batch, so every job
    goes into one frame.  Jobs shorter than the longest (a batch in which averages get
    their seeds at different samples) are padded after their end: the recursion is
    causal, so what follows a job's last element changes none of its outputs, and each
    column is its own sequential recursion, so grouping changes no bit.
    """
    import polars as pl  # here, not at import: validating a config needs the rule types, not polars

    out: list[F64] = [EMPTY] * len(jobs)
    run: list[int] = []
    for k, (_, x, alpha) in enumerate(jobs):
        if len(x) == 0:
            continue
        if alpha == 1.0:
            out[k] = np.array(x, dtype=np.float64)
        else:
            run.append(k)
    if not run:
        return out
    longest = max(len(jobs[k][1]) for k in run)
    columns: dict[str, F64] = {}
    for k in run:
        seed, x, _ = jobs[k]
        column = np.zeros(1 + longest)
        column[0] = seed
        column[1:1 + len(x)] = x
        columns[f"c{k}"] = column
    smoothed = pl.DataFrame(columns).select(
        pl.col(f"c{k}").ewm_mean(alpha=jobs[k][2], adjust=False, min_samples=1) for k in run
    )
    for k in run:
        out[k] = np.array(smoothed[f"c{k}"].to_numpy()[1:1 + len(jobs[k][1])], dtype=np.float64)
    return out


class AverageState(TypedDict):
    """One moving average's carried state.

    ``count``: samples seen; ``tail``: the last N-1 prices (an SMA's next windows, or the
    prices before an EMA's seed; an EMA drops them once seeded); ``ema``: the EMA's last
    value, ``None`` before its seed or for an SMA.
    """

    count: int
    tail: list[float]
    ema: float | None


def ema_alpha(period: int) -> float:
    return 2.0 / (period + 1)


def moving_average(
    average: Average, period: int, state: AverageState | None, price: F64
) -> tuple[F64, AverageState]:
    """MA_i of every batch sample (NaN for i < N-1) and the state after the batch.

    SMA_i = mean of p over i-N+1 .. i.  EMA_{N-1} = SMA_{N-1}, then
    EMA_i = alpha*p_i + (1-alpha)*EMA_{i-1} with alpha = 2/(N+1).
    """
    return moving_averages(average, [(period, state)], price)[0]


def moving_averages(
    average: Average, items: Sequence[tuple[int, AverageState | None]], price: F64
) -> list[tuple[F64, AverageState]]:
    """``moving_average`` for several (period, state) over the same prices, the EMA
    recursions in as few polars calls as their lengths allow.

    Items with the same period and the same carried state, bit for bit, have the same
    averages (crosses on one instrument share their fast or slow average: 9/21 and
    9/50), so each distinct one is computed once; every item still gets its own state.
    """
    return moving_averages_of_sources(average, [(items, price)])[0]


def moving_averages_of_sources(
    average: Average, sources: Sequence[tuple[Sequence[tuple[int, AverageState | None]], F64]]
) -> list[list[tuple[F64, AverageState]]]:
    """``moving_averages`` of several sources' items and prices, every EMA recursion of
    all of them in one polars call: a call costs more than a source's arithmetic."""
    slots: list[list[int]] = []
    done_of: list[list[tuple[F64, AverageState]]] = []
    jobs: list[tuple[float, F64, float]] = []
    fill: list[tuple[int, int, int]] = []  # (source, item, first batch index the job's output goes to)
    for src, (items, price) in enumerate(sources):
        first: dict[tuple[int, bytes | None], int] = {}
        distinct: list[tuple[int, AverageState | None]] = []
        slot: list[int] = []
        for period, state in items:
            key = (period, _state_bits(state))
            if key not in first:
                first[key] = len(distinct)
                distinct.append((period, state))
            slot.append(first[key])
        slots.append(slot)
        done, own_jobs, own_fill = _average_jobs(average, distinct, price)
        done_of.append(done)
        jobs.extend(own_jobs)
        fill.extend((src, item, start) for item, start in own_fill)
    for (src, item, start), smoothed in zip(fill, smooth_many(jobs)):
        ma, new_state = done_of[src][item]
        ma[start:] = smoothed
        if len(smoothed):
            new_state["ema"] = float(smoothed[-1])
    out: list[list[tuple[F64, AverageState]]] = []
    for slot, done in zip(slots, done_of):
        mine: list[tuple[F64, AverageState]] = []
        for i in slot:
            ma, st = done[i]
            mine.append((ma, {"count": st["count"], "tail": list(st["tail"]), "ema": st["ema"]}))
        out.append(mine)
    return out


def _state_bits(state: AverageState | None) -> bytes | None:
    """The carried state as exact bits (NaN and the sign of zero included): equal bits,
    equal averages."""
    if state is None:
        return None
    ema = state["ema"]
    floats = [*state["tail"], math.nan if ema is None else ema]
    return np.asarray([state["count"], ema is None], np.int64).tobytes() + np.asarray(floats, np.float64).tobytes()


def _average_jobs(
    average: Average, items: Sequence[tuple[int, AverageState | None]], price: F64
) -> tuple[list[tuple[F64, AverageState]], list[tuple[float, F64, float]], list[tuple[int, int]]]:
    """Per item its average and state as far as numpy takes them, the EMA recursions left
    to ``smooth_many``, and per recursion (item, first batch index its output goes to)."""
    n = len(price)
    done: list[tuple[F64, AverageState]] = []
    jobs: list[tuple[float, F64, float]] = []
    fill: list[tuple[int, int]] = []
    for period, state in items:
        count = 0 if state is None else state["count"]
        tail = [] if state is None else state["tail"]
        ema = None if state is None else state["ema"]
        ma = np.full(n, np.nan)
        done.append((ma, {"count": count + n, "tail": [], "ema": ema}))
        if average == "sma" or ema is None:
            buf = joined(tail, price)
            done[-1][1]["tail"] = keep_last(buf, period - 1)
            if average == "sma":
                sums = window_sums(buf, period)
                if len(sums):
                    ma[n - len(sums):] = sums / float(period)
                continue
            if len(buf) < period:
                continue
            seed_at = period - 1 - len(tail)  # batch index of sample N-1
            seed = float(window_sums(buf[:period], period)[0] / float(period))
            ma[seed_at] = seed
            done[-1][1]["tail"] = []
            done[-1][1]["ema"] = seed
            jobs.append((seed, price[seed_at + 1:], ema_alpha(period)))
            fill.append((len(done) - 1, seed_at + 1))
        else:
            jobs.append((ema, price, ema_alpha(period)))
            fill.append((len(done) - 1, 0))
    return done, jobs, fill


def ratio_rows(numerator: F64, denominator: F64) -> F64:
    """``seam.exact_ratio`` of every row of (k x n) arrays in one pass (a 1-d numerator is
    every row's): the same element-wise operations, so the same bits, without one set of
    numpy calls per series."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    valid = ~np.isnan(num) & ~np.isnan(den) & (den != 0.0)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        np.divide(num, den, out=out, where=valid)
    out[np.isinf(out)] = np.nan
    return out


def percent_rows(x: F64, base: F64) -> F64:
    """``seam.percent_of`` of every row of (k x n) arrays in one pass (a 1-d ``x`` is every
    row's), with its operations in its order."""
    base = np.asarray(base, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        out = ratio_rows(np.asarray(x, np.float64) - base, np.abs(base))
        out *= 100.0
    out[np.isinf(out)] = np.nan
    return out


def rsi_of(avg_gain: F64, avg_loss: F64) -> F64:
    """Wilder's RSI = 100 - 100/(1 + AG/AL); 100 when AL = 0 < AG, 50 when AG = AL = 0,
    NaN where the averages are undefined.  ``AG/AL`` overflowing to inf gives 100."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        safe = np.where(avg_loss > 0.0, avg_loss, 1.0)
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / safe)
    no_loss = avg_loss == 0.0
    rsi = np.where(no_loss, np.where(avg_gain > 0.0, 100.0, 50.0), rsi)
    out: F64 = np.where(np.isnan(avg_gain) | np.isnan(avg_loss), np.nan, rsi)
    return out


def rsi_scalar(avg_gain: float, avg_loss: float) -> float:
    """``rsi_of`` for one sample, with the same float operations."""
    if isnan(avg_gain) or isnan(avg_loss):
        return float("nan")
    if avg_loss == 0.0:
        return 100.0 if avg_gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def fmt(x: float) -> str:
    """A number for a sentence: up to 10 significant digits, "undefined" for NaN."""
    if isnan(x):
        return "undefined"
    text = f"{x:.10g}"
    return text


#: The largest period a type accepts: every window and carried tail stays a size the
#: engine can hold and a snapshot can store.
MAX_PERIOD = 100_000


def explain_distance(label: str, x: float, base_label: str, base: float, value: float, period: int) -> str:
    """The words for a percentage distance from an average (moving_average, ma_cross)."""
    if isnan(base):
        return f"{base_label} is undefined until {period} samples have been seen, so the value is undefined."
    if base == 0.0:
        return f"{base_label} is 0, so the distance from it is undefined."
    side = "above" if value > 0 else "below" if value < 0 else "at"
    return (
        f"{label} {fmt(x)} is {fmt(abs(value))}% {side} {base_label} {fmt(base)}: "
        f"({fmt(x)} - {fmt(base)}) / |{fmt(base)}| * 100 = {fmt(value)}."
    )

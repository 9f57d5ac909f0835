"""``volume_spike``: this sample's volume over the mean of the last ``period`` earlier ones.

Null volumes are skipped (they neither count nor break the window); 0 is a volume.
Volumes are integers (a tick's quantity, a bar's sum), held as float64 by ``Samples``
and exact below 2**53, so the window sums are taken in int64 from an exclusive running
sum: exact whatever the order, hence ``mean = sum / period`` is the same one division a
per-sample loop does, wherever the stream was cut.

The carried state is the last ``period`` non-null volumes (as integers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field, StrictInt

from ...config.models import Condition, Strict
from ...config.types import Number
from ..seam import B, F64, I64, Chart, Params, Samples, State, Values, finite_ratio
from .numbers import number, param_int

MAX_PERIOD = 100_000


class VolumeSpikeBody(Strict):
    """Volume relative to its recent mean: ``volume / mean of the last period volumes``."""

    type: Literal["volume_spike"]
    condition: Condition = Field(description="above | below | crosses_above | crosses_below")
    threshold: Number = Field(description="Ratio compared with each sample's value, e.g. 3 for three times the mean")
    period: StrictInt = Field(
        ge=1, le=MAX_PERIOD, description="How many earlier samples with a volume are averaged (1 to 100000)"
    )


#: The name the registry and tests use.
Body = VolumeSpikeBody


VOLUME_CAP = float(2**53)
#: Up to this many samples, and this many carried volumes, a batch is computed in plain
#: Python (``_few``): a live batch of a hundred to a thousand ticks over a dozen symbols
#: gives each series from a handful to about eighty samples, for which the arrays' path
#: costs a dozen numpy calls of fixed overhead each; a long carried history is summed
#: faster by numpy.
FEW = 96
FEW_CARRIED = 1024


@dataclass(frozen=True)
class _Volumes:
    """What every period needs of one batch's volumes, found once for all of them."""

    volume: F64
    has: B  # the sample has a volume
    own: I64  # the batch's volumes, as integers (past 2**53: 2**53)
    seen: I64  # per sample, the batch's volumes before it
    most: int  # the largest of ``own`` (0: none), for every period's overflow check

    @staticmethod
    def of(volume: F64) -> _Volumes:
        has = ~np.isnan(volume)
        # Volumes are integers: sums are exact in int64.  A volume past 2**53 (beyond what a
        # float64 tick holds exactly) counts as 2**53.
        own = np.minimum(volume[has], VOLUME_CAP).astype(np.int64)
        return _Volumes(volume, has, own, np.cumsum(has) - has, int(own.max()) if len(own) else 0)


def _arrays(period: int, volume: F64, carried_volumes: list[int], shared: _Volumes | None = None) -> tuple[Values, State]:
    """``values`` of a batch of samples (``shared``: ``_Volumes.of(volume)``, when the caller has it)."""
    volumes = shared or _Volumes.of(volume)
    carried = np.asarray(carried_volumes, dtype=np.int64)
    # If the running sum could overflow int64 the windows are summed one by one instead
    # (exact again for real volumes).
    history = np.concatenate((carried, volumes.own))
    before = len(carried) + volumes.seen
    if len(history) and max(volumes.most, int(carried.max()) if len(carried) else 0) * len(history) >= 2**62:
        ready = before >= period
        hi = np.where(ready, before, 0)
        windows = np.lib.stride_tricks.sliding_window_view(history.astype(np.float64), period) \
            if len(history) >= period else np.zeros((0, period))
        sums = np.concatenate(([0.0], windows.sum(axis=1)))  # sums[j + 1] = window ending at j
        total_f = np.where(ready, sums[np.where(ready, hi - period + 1, 0)], 0.0)
        mean = np.where(ready, total_f / float(period), np.nan)
    else:
        # cum[k] = sum of the first k history volumes; sample i has `before[i]` of them
        # earlier.  ``before`` never decreases, so the samples with a full window are a
        # suffix, from the first with ``period`` volumes before it.
        cum = np.zeros(len(history) + 1, dtype=np.int64)
        np.cumsum(history, out=cum[1:])
        full = int(np.searchsorted(before, period))
        mean = np.full(len(before), np.nan)
        hi = before[full:]
        total = cum[hi] - cum[hi - period]
        np.divide(total.astype(np.float64), float(period), out=mean[full:])
    value = finite_ratio(volume, mean)
    new_state = {"volumes": history[-period:].tolist()}
    return Values(value, {"volume": volume, "mean": mean}), new_state


def _one(period: int, volume: float, carried: list[int]) -> tuple[Values, State] | None:
    """``values`` of one sample (a live batch of one tick) in plain Python: the same exact
    integer sum and the same one division, without a dozen small numpy calls (None: a
    volume so large that the arrays' float path applies)."""
    has = volume == volume
    history = [*carried, int(min(volume, VOLUME_CAP))] if has else carried
    if history and max(history) * len(history) >= 2**62:
        return None
    mean = sum(carried[-period:]) / float(period) if len(carried) >= period else math.nan
    value = volume / mean if has and mean == mean and mean != 0.0 else math.nan
    if math.isinf(value):
        value = math.nan
    out = np.empty(3)
    out[:] = (value, volume, mean)
    return Values(out[0:1], {"volume": out[1:2], "mean": out[2:3]}), {"volumes": history[-period:]}


@dataclass(frozen=True)
class _FewVolumes:
    """``_Volumes`` of a few samples, as lists (found once for every period)."""

    volume: list[float]
    own: list[int]  # the batch's volumes, as integers (past 2**53: 2**53)
    seen: list[int]  # per sample, the batch's volumes before it

    @staticmethod
    def of(volume: list[float]) -> _FewVolumes:
        own: list[int] = []
        seen: list[int] = []
        for v in volume:
            seen.append(len(own))
            if v == v:
                own.append(int(min(v, VOLUME_CAP)))
        return _FewVolumes(volume, own, seen)


def _few(period: int, volume: F64, few: _FewVolumes, carried: list[int]) -> tuple[Values, State] | None:
    """``_arrays`` of a few samples in plain Python: the same exact integer window sums
    (Python integers, exact where int64 is) and the same one division per sample (None:
    a sum that could overflow int64, where the arrays take their float path)."""
    history = [*carried, *few.own]
    if history and max(history) * len(history) >= 2**62:
        return None
    # cum[j] = sum of history[off : off + j]: only the last ``period`` carried volumes are read
    off = max(len(carried) - period, 0)
    cum = [0, *accumulate(history[off:])]
    nan = math.nan
    value: list[float] = []
    mean: list[float] = []
    for v, seen in zip(few.volume, few.seen):
        before = len(carried) + seen
        if before >= period:
            m = (cum[before - off] - cum[before - off - period]) / float(period)
            r = v / m if v == v and m != 0.0 else nan
            value.append(nan if math.isinf(r) else r)
        else:
            m = nan
            value.append(nan)
        mean.append(m)
    out = np.array((value, mean), dtype=np.float64)
    return Values(out[0], {"volume": volume, "mean": out[1]}), {"volumes": history[-period:]}


#: ``values_all`` lays end to end the sources of a batch with more than ``ALONE`` and at
#: most ``JOINT_MOST`` samples: below, a source has the plain-Python path of a live batch;
#: above, each numpy call of its own arrays' path is long enough that one pass over all
#: of them saves nothing (the extra gathers cost more).
ALONE = FEW
JOINT_MOST = 1500


@dataclass(frozen=True)
class _Joint:
    """``_Volumes`` of several sources' samples laid end to end, found once for every
    period: ``starts[j]`` is where source ``j``'s samples begin, ``own_starts[j]`` where
    its volumes do."""

    volume: F64
    own: I64
    counted: I64  # per sample, the volumes before it, of every source
    starts: I64
    own_starts: I64
    most: int

    @staticmethod
    def of(volumes: list[F64]) -> _Joint:
        sizes = np.array([len(v) for v in volumes], dtype=np.int64)
        starts = np.zeros(len(volumes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=starts[1:])
        volume = np.concatenate(volumes)
        has = ~np.isnan(volume)
        counted = np.zeros(len(volume) + 1, dtype=np.int64)
        np.cumsum(has, out=counted[1:])
        own_starts = counted[starts]
        own = np.minimum(volume[has], VOLUME_CAP).astype(np.int64)
        return _Joint(volume, own, counted[:-1], starts, own_starts, int(own.max()) if len(own) else 0)


def _joint(period: int, joint: _Joint, picked: list[tuple[int, int, int]],
           groups: Sequence[tuple[Sequence[tuple[Params, State | None, Any]], Samples]]
           ) -> list[tuple[Values, State]]:
    """``_arrays`` of one period for several sources (``picked``: (index into ``joint``,
    group, row)) in one pass: every source's carried volumes then its own, end to end,
    with one running sum.  Window sums are exact integer differences, so where a source's
    history begins in the running sum changes no bit; the division and the ratio are
    element by element.  (A history whose running sum could overflow int64: each source
    alone, on the arrays' float path where it needs it.)"""
    carried = [groups[k][0][row][1] for _, k, row in picked]
    tails = [np.asarray(st["volumes"] if st else [], dtype=np.int64) for st in carried]
    pieces: list[I64] = []
    for (j, _, _), tail in zip(picked, tails):
        pieces.append(tail)
        pieces.append(joint.own[joint.own_starts[j]:joint.own_starts[j + 1]])
    history = np.concatenate(pieces)
    most = max([joint.most, *(int(t.max()) for t in tails if len(t))])
    if len(history) and most * len(history) >= 2**62:
        return [_arrays(period, joint.volume[joint.starts[j]:joint.starts[j + 1]], st["volumes"] if st else [])
                for (j, _, _), st in zip(picked, carried)]
    index = [j for j, _, _ in picked]
    lens = (joint.starts[1:] - joint.starts[:-1])[index]
    carried_lens = np.array([len(t) for t in tails], dtype=np.int64)
    own_lens = (joint.own_starts[1:] - joint.own_starts[:-1])[index]
    begins = np.zeros(len(picked) + 1, dtype=np.int64)
    np.cumsum(carried_lens + own_lens, out=begins[1:])
    if index == list(range(index[0], index[0] + len(index))):
        lo, up = int(joint.starts[index[0]]), int(joint.starts[index[-1] + 1])
        volume, counted = joint.volume[lo:up], joint.counted[lo:up]
    else:
        volume = np.concatenate([joint.volume[joint.starts[j]:joint.starts[j + 1]] for j in index])
        counted = np.concatenate([joint.counted[joint.starts[j]:joint.starts[j + 1]] for j in index])
    # position in ``history`` just past the sample's earlier volumes, and past the start
    # of its source's history once ``period`` of them are there
    hi = counted + np.repeat(begins[:-1] + carried_lens - joint.own_starts[:-1][index], lens)
    first = np.repeat(begins[:-1] + period, lens)
    cum = np.zeros(len(history) + 1, dtype=np.int64)
    np.cumsum(history, out=cum[1:])
    ready = hi >= first
    low = np.where(ready, hi - period, hi)
    with np.errstate(invalid="ignore"):
        mean = np.where(ready, (cum[hi] - cum[low]).astype(np.float64) / float(period), np.nan)
    value = finite_ratio(volume, mean)
    out: list[tuple[Values, State]] = []
    at = 0
    edges = begins.tolist()
    for n, begin, end in zip(lens.tolist(), edges, edges[1:]):
        out.append((Values(value[at:at + n], {"volume": volume[at:at + n], "mean": mean[at:at + n]}),
                    {"volumes": history[max(begin, end - period):end].tolist()}))
        at += n
    return out


class VolumeSpikeType:
    """value = volume / mean; params = (period,)."""

    name: ClassVar[str] = "volume_spike"
    Body: ClassVar[type[BaseModel]] = VolumeSpikeBody
    bars: ClassVar[bool] = True
    in_conjunctions: ClassVar[bool] = True
    input_names: ClassVar[tuple[str, ...]] = ("volume", "mean")
    placeholder_names: ClassVar[tuple[str, ...]] = ('period',)
    chart: ClassVar[Chart] = Chart(panel="× mean volume")

    def params(self, body: Any, timezone: str) -> Params:
        return (int(body.period),)

    def never_fires(self, condition: str, threshold: float) -> str | None:
        """volume / mean is never negative, so some rules are dead (or fire on every sample):
        almost surely a sign typo, so validation reports them."""
        shown = f"{threshold:g}"
        why = {
            "below": (threshold <= 0, f"it is never below {shown}"),
            "crosses_below": (threshold <= 0, f"it never crosses below {shown}"),
            "crosses_above": (threshold < 0, f"it is never at or below {shown}, which crossing above {shown} needs first"),
        }.get(condition)
        if why is not None and why[0]:
            return ("this rule can never fire: a volume_spike value (volume / mean volume) is never "
                    f"negative, so {why[1]}")
        if condition == "above" and threshold < 0:
            return ("this rule fires on every sample: a volume_spike value (volume / mean volume) is never "
                    f"negative, so it is always above {shown} (did you mean a positive threshold?)")
        return None

    def other_symbols(self, body: Any) -> tuple[str, ...]:
        return ()

    def values(self, params: Params, samples: Samples, state: State | None) -> tuple[Values, State]:
        period = param_int(params[0])
        volume = np.asarray(samples.volume, dtype=np.float64)
        if len(volume) == 1:
            one = _one(period, float(volume[0]), state["volumes"] if state else [])
            if one is not None:
                return one
        carried = state["volumes"] if state else []
        if len(volume) <= FEW and len(carried) <= FEW_CARRIED:
            few = _few(period, volume, _FewVolumes.of(volume.tolist()), carried)
            if few is not None:
                return few
        return _arrays(period, volume, carried)

    def values_many(self, items: Sequence[tuple[Params, State | None]], samples: Samples) -> list[tuple[Values, State]]:
        """``values`` of several periods on the same samples: which samples have a volume,
        the volumes as integers and their running count are found once for all."""
        volume = np.asarray(samples.volume, dtype=np.float64)
        if len(volume) == 1:
            return [self.values(params, samples, state) for params, state in items]
        if len(volume) <= FEW:
            few = _FewVolumes.of(volume.tolist())
            out: list[tuple[Values, State]] = []
            for params, state in items:
                carried = state["volumes"] if state else []
                got = _few(param_int(params[0]), volume, few, carried) if len(carried) <= FEW_CARRIED else None
                out.append(got or _arrays(param_int(params[0]), volume, carried))
            return out
        volumes = _Volumes.of(volume)
        return [_arrays(param_int(params[0]), volume, state["volumes"] if state else [], volumes)
                for params, state in items]

    def values_all(self, groups: Sequence[tuple[Sequence[tuple[Params, State | None, Any]], Samples]]
                   ) -> list[list[tuple[Values, State, Any]]]:
        """``values_many`` of every source of a batch: the sources with more than ``ALONE``
        and at most ``JOINT_MOST`` samples get each period's window sums for all of them
        at once (see ``_joint``), the others their own path; nothing kept."""
        joined_up = [k for k, (_, samples) in enumerate(groups) if ALONE < len(samples) <= JOINT_MOST]
        if len(joined_up) < 2:
            joined_up = []
        done: dict[tuple[int, int], tuple[Values, State]] = {}
        if joined_up:
            joint = _Joint.of([np.asarray(groups[k][1].volume, dtype=np.float64) for k in joined_up])
            periods = sorted({param_int(params[0]) for k in joined_up for params, _, _ in groups[k][0]})
            for period in periods:
                picked = [(j, k, row) for j, k in enumerate(joined_up)
                          for row, (params, _, _) in enumerate(groups[k][0]) if param_int(params[0]) == period]
                for (_, k, row), got in zip(picked, _joint(period, joint, picked, groups)):
                    done[k, row] = got
        out: list[list[tuple[Values, State, Any]]] = []
        for k, (items, samples) in enumerate(groups):
            if done and (k, 0) in done:
                out.append([(*done[k, row], None) for row in range(len(items))])
            else:
                out.append([(v, st, None) for v, st in self.values_many([(p, st) for p, st, _ in items], samples)])
        return out

    def replay(self, params: Params, inputs: Mapping[str, float]) -> float:
        volume, mean = float(inputs["volume"]), float(inputs["mean"])
        if math.isnan(volume) or math.isnan(mean) or mean == 0.0:
            return math.nan
        return volume / mean

    def describe(self, params: Params) -> str:
        return f"volume / mean of {param_int(params[0])}"

    def explain(self, params: Params, inputs: Mapping[str, float], value: float) -> str:
        period = param_int(params[0])
        volume, mean = inputs["volume"], inputs["mean"]
        if math.isnan(volume):
            return "The sample had no volume."
        if math.isnan(mean):
            return f"The volume was {number(volume)}, with fewer than {period} earlier volumes to average yet."
        if mean == 0:
            return f"The volume was {number(volume)} against a mean of 0 over the last {period} volumes: no ratio."
        return (
            f"The volume was {number(volume)} against a mean of {number(mean)} over the last {period} "
            f"volumes: {number(volume)} / {number(mean)} = {number(value)}."
        )

    def placeholders(self, params: Params) -> dict[str, str | int | float]:
        return {"period": param_int(params[0])}

    def chart_lines(self, params: Params, inputs: Mapping[str, F64], threshold: float) -> dict[str, F64]:
        return {}  # a volume ratio has no price counterpart


RULE_TYPE = VolumeSpikeType()

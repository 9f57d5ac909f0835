"""``volume_spike``: volume / mean volume of the last ``period`` earlier ticks with volume.

Null-volume ticks are skipped (they neither count nor break the window); 0 is a volume.
Sums come from an exclusive running sum over the symbol's non-null volumes, in integer
arithmetic, so ``mean = sum / period`` is exactly what a per-tick loop computes.
Carried state is the last ``max_period`` non-null volumes of each symbol.

Computed on numpy arrays (one stable sort by symbol, one running sum), because a
polars formulation of the same windows cost several milliseconds per micro-batch
whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from ..config.loaded import AnyRule
from ..config.models import VolumeSpikeRule
from .base import CarriedTails, exact_ratio, pairs_by_symbol, symbol_codes

I64 = npt.NDArray[np.int64]

_HISTORY_SCHEMA: dict[str, pl.DataType] = {"symbol": pl.String(), "volume": pl.Int64()}

#: The carried volumes as arrays too (see ``CarriedTails``).
_TAILS = CarriedTails(("volume",), (np.int64,))


@dataclass(frozen=True)
class VolumeSeries:
    """Each symbol's non-null volumes in arrival order (carried ones first), grouped by symbol."""

    sym: I64
    volume: I64
    pos: I64  # position within the symbol's series
    cum: I64  # exclusive running sum within the whole array
    batch_at: I64  # per batch row: its index here, or -1 (null volume / not watched)

    @classmethod
    def build(cls, state: pl.DataFrame | None, batch: pl.DataFrame, names: dict[int, str]) -> VolumeSeries:
        wanted = np.fromiter(names, dtype=np.int64, count=len(names))
        hsym, hvol = _TAILS.arrays(state, names)
        bsym = batch["sym"].to_numpy().astype(np.int64)
        bvol_s = batch["volume"]
        take = np.isin(bsym, wanted) & bvol_s.is_not_null().to_numpy()
        rows = np.flatnonzero(take)
        sym = np.concatenate((hsym, bsym[rows]))
        volume = np.concatenate((hvol, bvol_s.fill_null(0).to_numpy().astype(np.int64)[rows]))
        order = np.argsort(sym, kind="stable")
        sym, volume = sym[order], volume[order]
        where = np.empty(len(order), dtype=np.int64)
        where[order] = np.arange(len(order), dtype=np.int64)
        batch_at = np.full(len(bsym), -1, dtype=np.int64)
        batch_at[rows] = where[len(hsym):]
        start = np.concatenate(([True], sym[1:] != sym[:-1])) if len(sym) else np.zeros(0, np.bool_)
        seg_first = np.maximum.accumulate(np.where(start, np.arange(len(sym)), 0)) if len(sym) else sym
        pos = np.arange(len(sym), dtype=np.int64) - seg_first
        cum = np.concatenate(([0], np.cumsum(volume)[:-1])).astype(np.int64) if len(sym) else sym
        return cls(sym, volume, pos, cum, batch_at)

    def kept(self, max_period: dict[int, int], names: dict[int, str]) -> pl.DataFrame:
        """The last ``max_period`` volumes of each symbol: all a later tick can average."""
        if not len(self.sym):
            return pl.DataFrame(schema=_HISTORY_SCHEMA)
        end = np.concatenate((self.sym[1:] != self.sym[:-1], [True]))
        length = np.zeros(int(self.sym.max()) + 1, dtype=np.int64)
        length[self.sym[end]] = self.pos[end] + 1
        periods = np.zeros_like(length)
        for code, p in max_period.items():
            if code < len(periods):
                periods[code] = p
        keep = self.pos >= (length - periods)[self.sym]
        return _TAILS.frame(_HISTORY_SCHEMA, names, self.sym[keep], self.volume[keep])

    def before(self, batch_row: I64, period: I64) -> tuple[I64, I64]:
        """The (up to) ``period`` volumes before each batch row: (owner index, volume), oldest first."""
        at = self.batch_at[batch_row]
        n = np.where(at >= 0, np.minimum(self.pos[np.maximum(at, 0)], period), 0)
        owner = np.repeat(np.arange(len(batch_row), dtype=np.int64), n)
        first = np.cumsum(n) - n
        idx = np.repeat(at - n - first, n) + np.arange(int(n.sum()), dtype=np.int64)
        return owner, self.volume[idx]


class VolumeSpikeType:
    name = "volume_spike"

    def param(self, rule: AnyRule) -> int:
        assert isinstance(rule, VolumeSpikeRule)
        return rule.period

    def values(
        self, batch: pl.DataFrame, keys: pl.DataFrame, state: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        names = symbol_codes(keys)
        series = VolumeSeries.build(state, batch, names)
        key_sym = keys["sym"].to_numpy().astype(np.int64)
        period = keys["param"].to_numpy().astype(np.int64)
        tick, k = pairs_by_symbol(batch["sym"].to_numpy().astype(np.int64), key_sym)
        at = series.batch_at[tick]
        p = period[k]
        safe = np.maximum(at, 0)
        pos = series.pos[safe] if len(series.pos) else np.zeros(len(at), np.int64)
        ok = (at >= 0) & (pos >= p)
        value = np.full(len(tick), np.nan)
        if ok.any():
            a = safe[ok]
            total = series.cum[a] - series.cum[a - p[ok]]
            mean = exact_ratio(total.astype(np.float64), p[ok].astype(np.float64))
            value[ok] = exact_ratio(series.volume[a].astype(np.float64), mean)
        out = pl.DataFrame(
            {
                "seq": batch["seq"].to_numpy()[tick],
                "ts_ms": batch["ts_ms"].to_numpy()[tick],
                "key": keys["key"].gather(pl.Series(k)),
                "value": pl.Series(value, dtype=pl.Float64, nan_to_null=True),
            }
        )
        max_period: dict[int, int] = {}
        for code, q in zip(key_sym.tolist(), period.tolist()):
            max_period[code] = max(max_period.get(code, 0), q)
        return out, series.kept(max_period, names)


RULE_TYPE = VolumeSpikeType()

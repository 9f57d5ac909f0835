"""``rate_of_change``: percent change of price against the price ``window`` earlier.

``ref`` is the price of the most recent earlier tick with ``ts <= tick.ts - window``
(the last of several at that ts).  Carried state is the per-symbol look-back tail:
every (ts, last price at ts) newer than ``last_ts - max_window`` plus the newest one at
or before it, which is exactly what any later tick (ts >= last_ts) can look up.

The look-up is a binary search in numpy over (symbol, ts) keys rather than a polars
as-of join: it is the same arithmetic, without re-sorting the carried tail through a
query plan on every micro-batch (that fixed cost dominated small live batches).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from ..config.durations import to_ms
from ..config.loaded import AnyRule
from ..config.models import RateOfChangeRule
from .base import CarriedTails, exact_ratio, pairs_by_symbol, symbol_codes

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ref_ts": pl.Int64(),
    "ref": pl.Float64(),
}


#: The carried look-back tail as arrays too (see ``CarriedTails``).
_TAILS = CarriedTails(("ref_ts", "ref"), (np.int64, np.float64))


@dataclass(frozen=True)
class PriceSeries:
    """Every symbol's (ts, last price at ts): carried tail + this batch, sorted by (symbol, ts)."""

    sym: I64
    ts: I64
    price: F64
    tmin: int
    span: int

    @classmethod
    def build(cls, state: pl.DataFrame | None, batch: pl.DataFrame, names: dict[int, str]) -> PriceSeries:
        """``batch`` carries plan symbol codes in ``sym``; ``names`` maps the codes wanted."""
        wanted = np.fromiter(names, dtype=np.int64, count=len(names))
        hsym, hts, href = _TAILS.arrays(state, names)
        bsym = batch["sym"].to_numpy()
        mine = np.isin(bsym, wanted)
        sym = np.concatenate((hsym, bsym[mine])).astype(np.int64)
        ts = np.concatenate((hts, batch["ts_ms"].to_numpy()[mine])).astype(np.int64)
        price = np.concatenate((href, batch["price"].to_numpy()[mine])).astype(np.float64)
        # Stable by symbol: the carried tail (sorted) then the batch (per-symbol time order).
        order = np.argsort(sym, kind="stable")
        sym, ts, price = sym[order], ts[order], price[order]
        if len(sym):
            last_at_ts = np.concatenate(((sym[1:] != sym[:-1]) | (ts[1:] != ts[:-1]), [True]))
            sym, ts, price = sym[last_at_ts], ts[last_at_ts], price[last_at_ts]
        tmin = int(ts.min()) if len(ts) else 0
        span = (int(ts.max()) - tmin + 2) if len(ts) else 2
        return cls(sym, ts, price, tmin, span)

    def lookup(self, sym: I64, target: I64) -> tuple[I64, F64, npt.NDArray[np.bool_]]:
        """(ts, price, found) of the last entry of ``sym`` with ts <= ``target``."""
        key = self.sym * self.span + (self.ts - self.tmin)
        probe = sym * self.span + np.clip(target - self.tmin, -1, self.span - 1)
        j = np.searchsorted(key, probe, side="right") - 1
        at = np.maximum(j, 0)
        found = (j >= 0) & (self.sym[at] == sym) if len(self.sym) else np.zeros(len(sym), dtype=np.bool_)
        if not len(self.sym):
            return np.zeros(len(sym), np.int64), np.full(len(sym), np.nan), found
        return self.ts[at], np.where(found, self.price[at], np.nan), found

    def trimmed(self, max_window: dict[int, int], names: dict[int, str]) -> pl.DataFrame:
        """What a later tick can still look up (module docstring)."""
        if not len(self.sym):
            return pl.DataFrame(schema=_HISTORY_SCHEMA)
        seg_end = np.concatenate((self.sym[1:] != self.sym[:-1], [True]))
        last_ts = np.zeros(int(self.sym.max()) + 1, dtype=np.int64)
        last_ts[self.sym[seg_end]] = self.ts[seg_end]
        window = np.zeros_like(last_ts)
        for code, w in max_window.items():
            if code < len(window):
                window[code] = w
        cutoff = (last_ts - window)[self.sym]
        recent = self.ts > cutoff
        # The anchor: the newest entry at or before the cutoff (time-sorted within a symbol).
        nxt_recent = np.concatenate((recent[1:], [True])) | seg_end
        keep = recent | (~recent & nxt_recent)
        return _TAILS.frame(_HISTORY_SCHEMA, names, self.sym[keep], self.ts[keep], self.price[keep])


class RateOfChangeType:
    name = "rate_of_change"

    def param(self, rule: AnyRule) -> int:
        assert isinstance(rule, RateOfChangeRule)
        return to_ms(rule.window)

    def values(
        self, batch: pl.DataFrame, keys: pl.DataFrame, state: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        names = symbol_codes(keys)
        series = PriceSeries.build(state, batch, names)
        key_sym = keys["sym"].to_numpy().astype(np.int64)
        param = keys["param"].to_numpy().astype(np.int64)
        tick, k = pairs_by_symbol(batch["sym"].to_numpy().astype(np.int64), key_sym)
        ts = batch["ts_ms"].to_numpy()[tick]
        _, ref, found = series.lookup(key_sym[k], ts - param[k])
        price = batch["price"].to_numpy()[tick]
        change = exact_ratio(np.where(found, price - ref, np.nan), ref) * 100.0
        out = pl.DataFrame(
            {
                "seq": batch["seq"].to_numpy()[tick],
                "ts_ms": ts,
                "key": keys["key"].gather(pl.Series(k)),
                "value": pl.Series(change, dtype=pl.Float64, nan_to_null=True),
            }
        )
        max_window: dict[int, int] = {}
        for code, w in zip(key_sym.tolist(), param.tolist()):
            max_window[code] = max(max_window.get(code, 0), w)
        return out, series.trimmed(max_window, names)


RULE_TYPE = RateOfChangeType()

"""The seam every rule type plugs into.

A rule type only defines the *value* series of docs/semantics.md (price, percent change,
volume ratio).  Conditions, crossings and cooldowns are the same for every type and
live in the engine, so adding a type means one module here plus its tests.

Rules that share a value series (same symbol, type and parameter) share one
computation: a thousand thresholds on /ES prices cost one ``price`` column, not a
thousand.  That series is named by a *value key*.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from ..config.loaded import AnyRule

#: Columns of the tick frame a rule type receives: arrival order ``seq``, event time
#: ``ts_ms`` (epoch milliseconds), ``symbol``, ``sym`` (the plan's code for the symbol),
#: ``price``, ``volume``.  ``keys`` frames carry ``sym`` too, and are sorted by it.
BATCH_COLUMNS = ("seq", "ts_ms", "symbol", "sym", "price", "volume")

#: Columns every ``values`` call returns, one row per (tick of the key's symbol, key).
VALUE_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "ts_ms": pl.Int64(),
    "key": pl.String(),
    "value": pl.Float64(),
}


def value_key(symbol: str, type_name: str, param: int) -> str:
    """Name of one value series; stable across reloads so its carried state survives."""
    return f"{symbol}|{type_name}|{param}"


class RuleType(Protocol):
    """What the engine needs from a rule type."""

    name: str

    def param(self, rule: AnyRule) -> int:
        """The one integer that, with the symbol, determines the value series."""
        ...

    def values(
        self, batch: pl.DataFrame, keys: pl.DataFrame, state: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """Value of every key at every tick of its symbol in ``batch``.

        ``keys`` has columns ``symbol``, ``key``, ``param`` (only this type's keys).
        ``state`` is what the previous call returned (``None`` at start); the returned
        state must be all that later batches need, so that results never depend on
        where the stream was cut into batches.  Undefined values are null.
        """
        ...


def exact_ratio(
    numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``numerator / denominator`` element by element, correctly rounded; NaN where undefined.

    polars may treat a column that a join filled with one value as a scalar and then
    divide by multiplying with the reciprocal, which is off by one ulp now and then.
    A value that lands one ulp on the other side of a threshold would fire (or not)
    differently from the documented arithmetic, so divisions that feed a comparison go
    through numpy's true division instead.  NaN (undefined) where either side is
    undefined or the denominator is 0.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    valid = np.isfinite(num) & np.isfinite(den) & (den != 0.0)
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=valid)
    return out


def symbol_codes(keys: pl.DataFrame) -> dict[int, str]:
    """Plan symbol code -> symbol, for the symbols ``keys`` watch."""
    return dict(zip(keys["sym"].to_list(), keys["symbol"].to_list()))


def pairs_by_symbol(
    tick_sym: npt.NDArray[np.int64], key_sym: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (tick, key) of the same symbol, as index arrays; ``key_sym`` must be sorted."""
    lo = np.searchsorted(key_sym, tick_sym, side="left")
    count = np.searchsorted(key_sym, tick_sym, side="right") - lo
    total = int(count.sum())
    tick = np.repeat(np.arange(len(tick_sym), dtype=np.int64), count)
    first = np.cumsum(count) - count
    key = np.repeat(lo - first, count) + np.arange(total, dtype=np.int64)
    return tick, key.astype(np.int64)


class CarriedTails:
    """A rule type's carried history frame, kept also as the numpy arrays it was built from.

    The engine hands a rule type back, as its state, the very frame it returned for the
    previous batch; re-deriving symbol codes from that frame's string column cost more
    than the rest of a small batch.  Entries are keyed by the frame's identity (and hold
    the frame, so the identity cannot be reused).  Two are kept: the decision-inputs step
    reads the tail from *before* a batch after the engine has produced the next one.
    """

    def __init__(self, columns: tuple[str, ...], dtypes: tuple[type, ...]) -> None:
        self.columns = columns
        self.dtypes = dtypes
        self._entries: dict[int, tuple[pl.DataFrame, dict[int, str], tuple[npt.NDArray[Any], ...]]] = {}

    def arrays(
        self, state: pl.DataFrame | None, names: dict[int, str]
    ) -> tuple[npt.NDArray[Any], ...]:
        """(symbol code, *columns) of the carried rows whose symbol is in ``names``."""
        wanted = np.fromiter(names, dtype=np.int64, count=len(names))
        cached = self._entries.get(id(state))
        if cached is not None and cached[0] is state and all(cached[1].get(c) == n for c, n in names.items()):
            arrays = cached[2]
            if len(names) != len(cached[1]):
                keep = np.isin(arrays[0], wanted)
                arrays = tuple(a[keep] for a in arrays)
            return arrays
        if state is None or state.height == 0:
            return (np.zeros(0, np.int64), *(np.zeros(0, d) for d in self.dtypes))
        codes = {name: code for code, name in names.items()}
        carried = state.filter(pl.col("symbol").is_in(list(codes)))
        sym = carried["symbol"].replace_strict(codes, return_dtype=pl.Int64).to_numpy()
        return (sym, *(carried[c].to_numpy().astype(d) for c, d in zip(self.columns, self.dtypes)))

    def frame(
        self, schema: dict[str, pl.DataType], names: dict[int, str], sym: npt.NDArray[np.int64],
        *columns: npt.NDArray[Any],
    ) -> pl.DataFrame:
        """The state frame (``symbol`` + columns) for these arrays, remembered for the next batch."""
        top = int(sym.max()) + 1 if len(sym) else 0
        sym_names = pl.Series("symbol", [names.get(c, "") for c in range(top)], dtype=pl.String)
        data: dict[str, Any] = {"symbol": sym_names.gather(pl.Series(sym, dtype=pl.Int64))}
        data.update(zip(self.columns, columns))
        out = pl.DataFrame(data, schema=schema)
        self._entries[id(out)] = (out, dict(names), (sym, *columns))
        while len(self._entries) > 2:
            del self._entries[next(iter(self._entries))]
        return out

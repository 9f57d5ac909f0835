"""The seam every rule type plugs into.

A rule type only defines the *value* series of SPEC section 3 (price, percent change,
volume ratio).  Conditions, crossings and cooldowns are the same for every type and
live in the engine, so adding a type means one module here plus its tests.

Rules that share a value series (same symbol, type and parameter) share one
computation: a thousand thresholds on /ES prices cost one ``price`` column, not a
thousand.  That series is named by a *value key*.
"""

from __future__ import annotations

from typing import Protocol

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


def exact_ratio(numerator: pl.Series, denominator: pl.Series) -> pl.Series:
    """``numerator / denominator`` element by element, correctly rounded; null where undefined.

    polars may treat a column that a join filled with one value as a scalar and then
    divide by multiplying with the reciprocal, which is off by one ulp now and then.
    A value that lands one ulp on the other side of a threshold would fire (or not)
    differently from the SPEC's arithmetic, so divisions that feed a comparison go
    through numpy's true division instead.  Zero or null denominators give null.
    """
    num = numerator.cast(pl.Float64).to_numpy()
    den = denominator.cast(pl.Float64).to_numpy()
    valid = np.isfinite(num) & np.isfinite(den) & (den != 0.0)
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=valid)
    return pl.Series(numerator.name, out, dtype=pl.Float64).set(pl.Series(~valid), None)


def exact_ratio_np(
    numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """:func:`exact_ratio` on numpy arrays: NaN (undefined) where either side is undefined or 0."""
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

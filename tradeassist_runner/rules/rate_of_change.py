"""``rate_of_change``: percent change of price against the price ``window`` earlier.

``ref`` is the price of the most recent earlier tick with ``ts <= tick.ts - window``
(the last of several at that ts).  Carried state is the per-symbol look-back tail:
every (ts, last price at ts) newer than ``last_ts - max_window`` plus the newest one at
or before it, which is exactly what any later tick (ts >= last_ts) can look up.
"""

from __future__ import annotations

import polars as pl

from ..config.durations import to_ms
from ..config.loaded import AnyRule
from ..config.models import RateOfChangeRule
from .base import exact_ratio

_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ref_ts": pl.Int64(),
    "ref": pl.Float64(),
}


class RateOfChangeType:
    name = "rate_of_change"

    def param(self, rule: AnyRule) -> int:
        assert isinstance(rule, RateOfChangeRule)
        return to_ms(rule.window)

    def values(
        self, batch: pl.DataFrame, keys: pl.DataFrame, state: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        symbols = keys.select("symbol").unique()
        ticks = batch.join(symbols, on="symbol", how="semi", maintain_order="left")
        previous = state if state is not None else pl.DataFrame(schema=_HISTORY_SCHEMA)
        history = (
            pl.concat(
                [
                    previous,
                    ticks.select(
                        "symbol", pl.col("ts_ms").alias("ref_ts"), pl.col("price").alias("ref")
                    ),
                ]
            )
            .unique(subset=["symbol", "ref_ts"], keep="last", maintain_order=True)
            .sort("ref_ts", maintain_order=True)
        )
        probes = (
            ticks.join(keys.select("symbol", "key", "param"), on="symbol", how="inner")
            .with_columns((pl.col("ts_ms") - pl.col("param")).alias("target"))
            .sort("target", maintain_order=True)
        )
        joined = probes.join_asof(
            history,
            left_on="target",
            right_on="ref_ts",
            by="symbol",
            strategy="backward",
            check_sortedness=False,
        )
        change = exact_ratio(joined["price"] - joined["ref"], joined["ref"]) * 100.0
        out = joined.select("seq", "ts_ms", "key", change.alias("value"))
        return out, _trim(history, keys)


def _trim(history: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """Keep only what a later tick can look up (see module docstring)."""
    max_window = keys.group_by("symbol").agg(pl.col("param").max().alias("max_window"))
    last_ts = history.group_by("symbol").agg(pl.col("ref_ts").max().alias("last_ts"))
    bounds = max_window.join(last_ts, on="symbol").with_columns(
        (pl.col("last_ts") - pl.col("max_window")).alias("cutoff")
    )
    h = history.join(bounds.select("symbol", "cutoff"), on="symbol", how="inner")
    anchor = (
        h.filter(pl.col("ref_ts") <= pl.col("cutoff"))
        .group_by("symbol")
        .agg(pl.col("ref_ts").max().alias("anchor"))
    )
    h = h.join(anchor, on="symbol", how="left")
    return h.filter(
        (pl.col("ref_ts") > pl.col("cutoff")) | (pl.col("ref_ts") == pl.col("anchor"))
    ).select(list(_HISTORY_SCHEMA))


RULE_TYPE = RateOfChangeType()

"""``volume_spike``: volume / mean volume of the last ``period`` earlier ticks with volume.

Null-volume ticks are skipped (they neither count nor break the window); 0 is a volume.
Sums come from an exclusive running sum over the symbol's non-null volumes, in integer
arithmetic, so ``mean = sum / period`` is exactly what a per-tick loop computes.
Carried state is the last ``max_period`` non-null volumes of each symbol.
"""

from __future__ import annotations

import polars as pl

from ..config.loaded import AnyRule
from ..config.models import VolumeSpikeRule
from .base import exact_ratio

_HISTORY_SCHEMA: dict[str, pl.DataType] = {"symbol": pl.String(), "volume": pl.Int64()}


class VolumeSpikeType:
    name = "volume_spike"

    def param(self, rule: AnyRule) -> int:
        assert isinstance(rule, VolumeSpikeRule)
        return rule.period

    def values(
        self, batch: pl.DataFrame, keys: pl.DataFrame, state: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        symbols = keys.select("symbol").unique()
        ticks = batch.join(symbols, on="symbol", how="semi", maintain_order="left")
        previous = state if state is not None else pl.DataFrame(schema=_HISTORY_SCHEMA)
        # The symbol's non-null volumes in order: carried ones first (seq null), then this batch's.
        series = pl.concat(
            [
                previous.select("symbol", pl.lit(None, pl.Int64).alias("seq"), "volume"),
                ticks.filter(pl.col("volume").is_not_null()).select("symbol", "seq", "volume"),
            ]
        ).with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).over("symbol").alias("pos"),
            (pl.col("volume").cum_sum().over("symbol") - pl.col("volume")).alias("before"),
        )
        current = series.filter(pl.col("seq").is_not_null())
        lookback = series.select("symbol", "pos", pl.col("before").alias("before_window"))
        spikes = (
            current.join(keys.select("symbol", "key", "param"), on="symbol", how="inner")
            .with_columns((pl.col("pos") - pl.col("param")).alias("start"))
            .filter(pl.col("start") >= 0)
            .join(lookback, left_on=["symbol", "start"], right_on=["symbol", "pos"], how="inner")
        )
        mean = exact_ratio(spikes["before"] - spikes["before_window"], spikes["param"])
        spikes = spikes.select("seq", "key", exact_ratio(spikes["volume"], mean).alias("value"))
        out = (
            ticks.join(keys.select("symbol", "key"), on="symbol", how="inner")
            .select("seq", "ts_ms", "key")
            .join(spikes, on=["seq", "key"], how="left")
        )
        max_period = keys.group_by("symbol").agg(pl.col("param").max().alias("max_period"))
        kept = (
            series.join(max_period, on="symbol", how="inner", maintain_order="left")
            .filter(pl.col("pos") >= pl.col("pos").max().over("symbol") + 1 - pl.col("max_period"))
            .select(list(_HISTORY_SCHEMA))
        )
        return out, kept


RULE_TYPE = VolumeSpikeType()

"""``threshold``: value = price."""

from __future__ import annotations

import polars as pl

from ..config.loaded import AnyRule


class ThresholdType:
    name = "threshold"

    def param(self, rule: AnyRule) -> int:
        return 0

    def values(
        self, batch: pl.DataFrame, keys: pl.DataFrame, state: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        out = batch.join(keys.select("symbol", "key"), on="symbol", how="inner").select(
            "seq", "ts_ms", "key", pl.col("price").alias("value")
        )
        return out, None


RULE_TYPE = ThresholdType()

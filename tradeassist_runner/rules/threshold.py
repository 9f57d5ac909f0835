"""``threshold``: value = price."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..config.loaded import AnyRule
from .base import pairs_by_symbol


class ThresholdType:
    name = "threshold"

    def param(self, rule: AnyRule) -> int:
        return 0

    def values(
        self, batch: pl.DataFrame, keys: pl.DataFrame, state: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        tick, k = pairs_by_symbol(batch["sym"].to_numpy().astype(np.int64), keys["sym"].to_numpy().astype(np.int64))
        out = pl.DataFrame(
            {
                "seq": batch["seq"].to_numpy()[tick],
                "ts_ms": batch["ts_ms"].to_numpy()[tick],
                "key": keys["key"].gather(pl.Series(k)),
                "value": batch["price"].to_numpy()[tick],
            }
        )
        return out, None


RULE_TYPE = ThresholdType()

"""Warm a plan before live ticks reach it.

Much of what a plan needs is built the first time a batch asks for it: its rule tables
and alert texts, and above all an exchange calendar's sessions (exchange_calendars
imports pandas and builds years of holidays: one to two seconds). A live runner that
waited for that on its first tick would report that tick's alerts seconds late, and
again after every reload. Warming evaluates one tick per symbol at the given time from
an empty state and throws the result away: the engine is pure, so the state the runner
carries is untouched, and every table that batch built stays with the plan.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl

from .evaluate import evaluate, prepare
from .plan import Plan
from .state import EngineState


def warm(plan: Plan, now_ms: int) -> None:
    """Build what the plan's first batch at ``now_ms`` (epoch ms) would build."""
    symbols = plan.symbol_list
    if not symbols:
        return
    prepare(plan)  # the tables and texts, whether or not a rule fires
    n = len(symbols)
    ticks = pl.DataFrame(
        {
            "ts": pl.Series(np.full(n, now_ms, np.int64)).cast(pl.Datetime("ms", "UTC")),
            "symbol": symbols,
            "price": np.ones(n, np.float64),
            "volume": np.zeros(n, np.int64),
            "bid": pl.Series([None] * n, dtype=pl.Float64),
            "ask": pl.Series([None] * n, dtype=pl.Float64),
            "bid_size": pl.Series([None] * n, dtype=pl.Int64),
            "ask_size": pl.Series([None] * n, dtype=pl.Int64),
        }
    )
    evaluate(plan, EngineState(), ticks, datetime.fromtimestamp(now_ms / 1000, timezone.utc))

"""Bring a batch of alerts into the exact shape the sinks store.

Both sinks check the same way so that a malformed batch (a bug upstream) fails loudly
with ``ValueError`` before anything is written, instead of being half stored or
silently dropped; only storage failures become ``SinkError`` (worth retrying).
"""

from __future__ import annotations

import polars as pl

from ..engine.alerts import ALERT_SCHEMA

REQUIRED_NON_NULL = ("alert_id", "rule_id", "symbol", "ts")
_NAMES = list(ALERT_SCHEMA)
_DTYPES = list(ALERT_SCHEMA.values())


def conform(alerts: pl.DataFrame) -> pl.DataFrame:
    """Select and cast to ``ALERT_SCHEMA``; reject missing columns and null keys."""
    if alerts.columns == _NAMES and alerts.dtypes == _DTYPES:
        # The engine's own frames already have the shape: a select and cast would cost a
        # live commit of a few alerts about a millisecond of polars query overhead.
        df = alerts
    else:
        missing = [name for name in ALERT_SCHEMA if name not in alerts.columns]
        if missing:
            raise ValueError(f"alert batch lacks column(s): {', '.join(missing)}")
        df = alerts.select(_NAMES).cast(ALERT_SCHEMA)  # type: ignore[arg-type]
    nulls = [name for name in REQUIRED_NON_NULL if df.get_column(name).null_count()]
    if nulls:
        raise ValueError(f"alert batch has null value(s) in: {', '.join(nulls)}")
    return df

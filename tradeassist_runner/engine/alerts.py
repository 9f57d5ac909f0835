"""The shape of a fired alert, shared by the engine, the sinks and the CLI.

One polars schema so that a batch of alerts travels as one DataFrame from the engine
to SQLite and Parquet without per-row Python objects.
"""

from __future__ import annotations

import polars as pl

TS = pl.Datetime("ms", "UTC")

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String(),  # "<rule_id>@<ts epoch ms>#<K>", K = earlier samples of the rule with this ts
    "rule_id": pl.String(),
    "rule_name": pl.String(),
    "symbol": pl.String(),
    "ts": TS,  # the tick's event time
    "seq": pl.Int64(),  # arrival index of the tick in this run (0-based)
    "price": pl.Float64(),
    "volume": pl.Int64(),
    "value": pl.Float64(),  # the rule's value at this tick
    "prev_value": pl.Float64(),  # the rule's value at the previous tick of the symbol (null if undefined)
    "threshold": pl.Float64(),
    "condition": pl.String(),
    "type": pl.String(),
    "severity": pl.String(),
    "message": pl.String(),
    "evaluated_at": TS,  # wall-clock time the engine produced the alert
    # JSON: what the decision used besides price/prev_value (rate_of_change: ref price and ts;
    # volume_spike: the volumes of the mean; all: cooldown), so `tradeassist explain` can redo it.
    "inputs": pl.String(),
    "bar_start": TS,  # bar rules: the start of the closed bar the alert is about (null for tick rules)
    "values": pl.String(),  # conjunctions: JSON list of every condition's value, in condition order
}


#: Built once: a frame from a schema costs about half a millisecond, which a live batch
#: without alerts would pay every time.  Never handed out itself, only empty copies.
_EMPTY = pl.DataFrame(schema=ALERT_SCHEMA)


def empty_alerts() -> pl.DataFrame:
    return _EMPTY.clear()

"""One micro-batch in, fired alerts out: pure and synchronous.

    ticks ─┬─ per rule type: value of each series at each tick (vectorized)
           ├─ prev = the series' value at the previous tick (carried across batches)
           ├─ threshold index: binary search finds the rules each value satisfies,
           │  cooldown over those only (tick time)                 → fires  (engine/fires.py)
           └─ alerts (declaration order within a tick) + the new carried state

No Python loop runs per tick or per rule; loops run per round of fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import numpy.typing as npt
import polars as pl

from ..rules.base import VALUE_SCHEMA
from ..rules.registry import RULE_TYPES
from .alerts import ALERT_SCHEMA, TS, empty_alerts
from .fires import Rows, find_fires
from .inputs import decision_inputs
from .messages import default_messages, render_templates
from .plan import Plan
from .state import LAST_VALUE_SCHEMA, EngineState


@dataclass(frozen=True)
class BatchResult:
    alerts: pl.DataFrame
    state: EngineState


#: Larger batches are evaluated in slices of this many ticks: results do not depend on
#: where a stream is cut (SPEC section 3), and it bounds the per-batch search tables.
MAX_SLICE = 65_536


def evaluate(
    plan: Plan, state: EngineState, ticks: pl.DataFrame, now: datetime | None = None
) -> BatchResult:
    """Evaluate accepted ticks (canonical columns, arrival order) against ``plan``."""
    if ticks.height > MAX_SLICE:
        alerts: list[pl.DataFrame] = []
        for start in range(0, ticks.height, MAX_SLICE):
            result = evaluate(plan, state, ticks.slice(start, MAX_SLICE), now)
            alerts.append(result.alerts)
            state = result.state
        return BatchResult(pl.concat(alerts), state)
    n = ticks.height
    if n == 0:
        return BatchResult(empty_alerts(), state)
    batch = ticks.select(
        (pl.int_range(pl.len(), dtype=pl.Int64) + state.next_seq).alias("seq"),
        pl.col("ts").dt.epoch("ms").alias("ts_ms"),
        "symbol",
        pl.col("price").cast(pl.Float64),
        pl.col("volume").cast(pl.Int64),
    ).filter(pl.col("symbol").is_in(plan.symbol_list))
    batch = batch.with_columns(
        pl.col("symbol").cast(pl.Enum(plan.symbol_list)).to_physical().cast(pl.Int64).alias("sym")
    )

    key_dtype = pl.Enum(list(plan.key_list))
    schema = {**VALUE_SCHEMA, "key": key_dtype}
    parts: list[pl.DataFrame] = []
    history = dict(state.history)
    for name, keys in plan.keys.items():
        vals, hist = RULE_TYPES[name].values(batch, keys, history.get(name))
        parts.append(vals.select(list(VALUE_SCHEMA)).cast(schema))  # type: ignore[arg-type]
        if hist is None:
            history.pop(name, None)
        else:
            history[name] = hist
    for name in list(history):
        if name not in plan.keys:
            del history[name]
    values = (
        pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    ).with_columns(pl.col("key").to_physical().cast(pl.Int64).alias("code")).sort(["code", "seq"])

    code = values["code"].to_numpy()
    value = values["value"].to_numpy().astype(np.float64)
    carried = _carried_values(plan, state)
    prev = np.empty_like(value)
    if len(value):
        prev[1:] = value[:-1]
        first = np.concatenate(([True], code[1:] != code[:-1]))
        prev[first] = carried[code[first]]
        last = np.concatenate((code[1:] != code[:-1], [True]))
        updated = pl.DataFrame(
            {"key": [plan.key_list[c] for c in code[last]],
             "value": pl.Series(value[last], dtype=pl.Float64, nan_to_null=True)},
            schema=LAST_VALUE_SCHEMA,
        )
        last_value = pl.concat([state.last_value, updated]).unique(
            subset="key", keep="last", maintain_order=True
        )
    else:
        last_value = state.last_value

    table = plan.table
    last_fire_ms = (
        table.select("state_key")
        .join(state.last_fire, on="state_key", how="left", maintain_order="left")["last_fire_ms"]
    )
    has_last = last_fire_ms.is_not_null().to_numpy()
    assert plan.index is not None
    ts = values["ts_ms"].to_numpy()
    slot, row = find_fires(
        plan.index, Rows(code=code, ts=ts, value=value, prev=prev),
        last_fire_ms.fill_null(0).to_numpy(), has_last,
    )
    rule_index = table["rule_index"].to_numpy()
    order = np.lexsort((row, rule_index[slot]))
    slot, row = slot[order], row[order]
    slot_s = pl.Series(slot)
    fired = pl.DataFrame(
        {
            "rule_index": rule_index[slot],
            "seq": values["seq"].to_numpy()[row],
            "ts_ms": ts[row],
            "value": value[row],
            "prev": pl.Series(prev[row], dtype=pl.Float64, nan_to_null=True),
            "threshold": table["threshold"].gather(slot_s),
            "cooldown_ms": table["cooldown_ms"].gather(slot_s),
            "state_key": table["state_key"].gather(slot_s),
            "last_fire_ms": last_fire_ms.gather(slot_s),
        },
        schema={"rule_index": pl.Int64, "seq": pl.Int64, "ts_ms": pl.Int64, "value": pl.Float64,
                "prev": pl.Float64, "threshold": pl.Float64, "cooldown_ms": pl.Int64,
                "state_key": pl.String, "last_fire_ms": pl.Int64},
    )
    fired = decision_inputs(plan, state.history, batch, fired)  # adds "inputs"; fires unchanged
    last_fire = pl.concat(
        [
            state.last_fire,
            fired.group_by("state_key").agg(pl.col("ts_ms").max().alias("last_fire_ms")),
        ]
    ).unique(subset="state_key", keep="last", maintain_order=True)

    new_state = EngineState(
        next_seq=state.next_seq + n, last_value=last_value, history=history, last_fire=last_fire
    )
    return BatchResult(_alerts(plan, fired, batch, now), new_state)


def _carried_values(plan: Plan, state: EngineState) -> npt.NDArray[np.float64]:
    """Each series' value at the last tick of an earlier batch (NaN: none or undefined)."""
    out = np.full(len(plan.key_list), np.nan)
    if state.last_value.height and plan.key_list:
        known = state.last_value.filter(pl.col("key").is_in(list(plan.key_list)))
        codes = known["key"].cast(pl.Enum(list(plan.key_list))).to_physical().to_numpy()
        out[codes] = known["value"].to_numpy().astype(np.float64)
    return out


def _alerts(plan: Plan, fired: pl.DataFrame, batch: pl.DataFrame, now: datetime | None) -> pl.DataFrame:
    if fired.height == 0:
        return empty_alerts()
    evaluated_at = now or datetime.now(timezone.utc)
    df = (
        fired.select("rule_index", "seq", "ts_ms", "value", "prev", "threshold", "inputs")
        .join(plan.meta, on="rule_index", how="left")
        .join(batch.select("seq", "price", "volume"), on="seq", how="left")
        .sort(["seq", "rule_index"])
        .with_columns(
            pl.col("ts_ms").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").alias("ts"),
            pl.col("prev").alias("prev_value"),
            pl.format("{}@{}#{}", "rule_id", "ts_ms", "seq").alias("alert_id"),
            pl.lit(evaluated_at).cast(TS).alias("evaluated_at"),
        )
        .with_columns(default_messages().alias("message"))
    )
    if plan.has_templates:
        df = df.with_columns(pl.Series("message", render_templates(plan, df), dtype=pl.String))
    return df.select(list(ALERT_SCHEMA)).cast(ALERT_SCHEMA)  # type: ignore[arg-type]


class Engine:
    """Convenience holder of (plan, state) for callers that run a stream in one place."""

    def __init__(self, plan: Plan, state: EngineState | None = None) -> None:
        self.plan = plan
        self.state = state or EngineState()

    def process(self, ticks: pl.DataFrame, now: datetime | None = None) -> pl.DataFrame:
        result = evaluate(self.plan, self.state, ticks, now)
        self.state = result.state
        return result.alerts

    def swap(self, plan: Plan) -> None:
        """Install a new plan between batches; state keyed by value key/fingerprint carries over."""
        self.plan = plan

"""One micro-batch in, fired alerts out: pure and synchronous.

    ticks ─┬─ per rule type: value of each series at each tick (vectorized)
           ├─ prev = the series' value at the previous tick (carried across batches)
           ├─ join the active rule table, condition mask  → candidates
           ├─ cooldown over candidates only (tick time)     → fires
           └─ alerts (declaration order within a tick) + the new carried state

No Python loop runs per tick or per rule; the cooldown loop runs per round of fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

from ..rules.base import VALUE_SCHEMA
from ..rules.registry import RULE_TYPES
from .alerts import ALERT_SCHEMA, TS, empty_alerts
from .cooldown import resolve_cooldowns
from .inputs import decision_inputs
from .messages import default_messages, render_templates
from .plan import Plan
from .state import EngineState


@dataclass(frozen=True)
class BatchResult:
    alerts: pl.DataFrame
    state: EngineState


def _with_prev(values: pl.DataFrame, state: EngineState) -> pl.DataFrame:
    carried = values.select("key").unique().join(state.last_value, on="key", how="inner")
    return (
        pl.concat(
            [
                carried.select(
                    pl.lit(-1, pl.Int64).alias("seq"),
                    pl.lit(None, pl.Int64).alias("ts_ms"),
                    "key",
                    "value",
                ),
                values,
            ]
        )
        .sort(["key", "seq"])
        .with_columns(pl.col("value").shift(1).over("key").alias("prev"))
        .filter(pl.col("seq") >= 0)
    )


def _conditions() -> pl.Expr:
    v, p, t, c = pl.col("value"), pl.col("prev"), pl.col("threshold"), pl.col("cond")
    return (
        pl.when(c == 0)
        .then(v > t)
        .when(c == 1)
        .then(v < t)
        .when(c == 2)
        .then((p <= t) & (v > t))
        .otherwise((p >= t) & (v < t))
        .fill_null(False)
    )


def evaluate(
    plan: Plan, state: EngineState, ticks: pl.DataFrame, now: datetime | None = None
) -> BatchResult:
    """Evaluate accepted ticks (canonical columns, arrival order) against ``plan``."""
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

    parts: list[pl.DataFrame] = []
    history = dict(state.history)
    for name, keys in plan.keys.items():
        vals, hist = RULE_TYPES[name].values(batch, keys, history.get(name))
        parts.append(vals.select(list(VALUE_SCHEMA)).cast(VALUE_SCHEMA))  # type: ignore[arg-type]
        if hist is None:
            history.pop(name, None)
        else:
            history[name] = hist
    for name in list(history):
        if name not in plan.keys:
            del history[name]
    values = pl.concat(parts) if parts else pl.DataFrame(schema=VALUE_SCHEMA)
    values = _with_prev(values, state)

    last_value = pl.concat(
        [state.last_value, values.group_by("key").agg(pl.col("value").sort_by("seq").last()).select("key", "value")]
    ).unique(subset="key", keep="last", maintain_order=True)

    candidates = (
        values.join(plan.table, on="key", how="inner")
        .filter(_conditions())
        .join(state.last_fire, on="state_key", how="left")
        .sort(["rule_index", "seq"])
    )
    fired_mask = resolve_cooldowns(
        candidates["rule_index"].to_numpy(),
        candidates["ts_ms"].to_numpy(),
        candidates["cooldown_ms"].to_numpy(),
        candidates["last_fire_ms"].fill_null(0).to_numpy(),
        candidates["last_fire_ms"].is_not_null().to_numpy(),
    )
    fired = candidates.filter(pl.Series(fired_mask, dtype=pl.Boolean))
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

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

from ..rules.registry import RULE_TYPES
from .alerts import ALERT_SCHEMA, TS, empty_alerts
from .fires import Rows, find_fires
from .inputs import decision_inputs
from .messages import default_messages, render_templates
from .plan import Plan
from .state import LAST_FIRE_SCHEMA, LAST_VALUE_SCHEMA, EngineState

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BatchResult:
    alerts: pl.DataFrame
    state: EngineState


#: Larger batches are evaluated in slices of this many ticks: results do not depend on
#: where a stream is cut (docs/semantics.md), and it bounds the per-batch search tables.
MAX_SLICE = 16_384


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
        pl.col("symbol").cast(plan.symbol_dtype).to_physical().cast(pl.Int64).alias("sym")
    )

    parts: list[pl.DataFrame] = []
    history = dict(state.history)
    for name, keys in plan.keys.items():
        vals, hist = RULE_TYPES[name].values(batch, keys, history.get(name))
        parts.append(vals)
        if hist is None:
            history.pop(name, None)
        else:
            history[name] = hist
    for name in list(history):
        if name not in plan.keys:
            del history[name]
    # Rows grouped by value series, arrival order within each (every rule type emits its
    # rows in arrival order per key, so a stable sort by key code is enough).
    seq, ts, code, value = _concat_values(parts)

    mirror = state.mirror if isinstance(state.mirror, _Mirror) and state.mirror.plan is plan else (
        _Mirror.from_frames(plan, state))
    carried, has_value = mirror.value.copy(), mirror.has_value.copy()
    prev = np.empty_like(value)
    if len(value):
        prev[1:] = value[:-1]
        first = np.concatenate(([True], code[1:] != code[:-1]))
        prev[first] = carried[code[first]]
        last = np.concatenate((code[1:] != code[:-1], [True]))
        carried[code[last]] = value[last]
        has_value[code[last]] = True

    assert plan.index is not None
    slot, row = find_fires(
        plan.index, Rows(code=code, ts=ts, value=value, prev=prev), mirror.fire, mirror.has_fire
    )
    table = plan.table
    rule_index = table["rule_index"].to_numpy()
    order = np.lexsort((row, rule_index[slot]))
    slot, row = slot[order], row[order]
    slot_s = pl.Series(slot)
    fired = pl.DataFrame(
        {
            "rule_index": rule_index[slot],
            "seq": seq[row],
            "ts_ms": ts[row],
            "value": value[row],
            "prev": pl.Series(prev[row], dtype=pl.Float64, nan_to_null=True),
            "threshold": table["threshold"].to_numpy()[slot],
            "cooldown_ms": table["cooldown_ms"].to_numpy()[slot],
            "state_key": table["state_key"].gather(slot_s),
            "last_fire_ms": pl.Series(mirror.fire[slot], dtype=pl.Int64).set(
                pl.Series(~mirror.has_fire[slot]), None
            ),
        },
        schema={"rule_index": pl.Int64, "seq": pl.Int64, "ts_ms": pl.Int64, "value": pl.Float64,
                "prev": pl.Float64, "threshold": pl.Float64, "cooldown_ms": pl.Int64,
                "state_key": pl.String, "last_fire_ms": pl.Int64},
    )
    fired = decision_inputs(plan, state.history, batch, fired)  # adds "inputs"; fires unchanged
    has_fire = mirror.has_fire.copy()
    fire = np.where(has_fire, mirror.fire, np.iinfo(np.int64).min)
    if len(slot):
        np.maximum.at(fire, slot, ts[row])
        has_fire[slot] = True
    fire = np.where(has_fire, fire, 0)
    new_mirror = _Mirror(plan, carried, has_value, fire, has_fire, mirror.extra_value, mirror.extra_fire)
    new_state = EngineState(
        next_seq=state.next_seq + n, last_value=new_mirror.last_value_frame(),
        history=history, last_fire=new_mirror.last_fire_frame(), mirror=new_mirror,
    )
    return BatchResult(_alerts(plan, fired, batch, now), new_state)


def _concat_values(parts: list[pl.DataFrame]) -> tuple[I64, I64, I64, F64]:
    """(seq, ts_ms, key code, value) of every rule type's rows, grouped by key code."""
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0, dtype=np.float64)
    seq = np.concatenate([p["seq"].to_numpy() for p in parts]).astype(np.int64)
    ts = np.concatenate([p["ts_ms"].to_numpy() for p in parts]).astype(np.int64)
    code = np.concatenate([p["key"].to_physical().to_numpy() for p in parts])
    value = np.concatenate([p["value"].to_numpy() for p in parts]).astype(np.float64)
    order = np.argsort(code, kind="stable")  # radix sort for the small unsigned codes
    return seq[order], ts[order], code[order].astype(np.int64), value[order]


@dataclass(frozen=True)
class _Mirror:
    """``last_value``/``last_fire`` of an EngineState as arrays over one plan's keys and slots.

    Deriving them from the frames costs a few polars joins per batch; a state the
    engine produced for the same plan carries them ready.  Entries for keys or rules
    the plan does not have (removed on reload, maybe restored later) ride along in
    ``extra_*`` so that nothing carried is dropped.
    """

    plan: Plan
    value: F64  # per key code; NaN: undefined
    has_value: B
    fire: I64  # per slot (plan.table row)
    has_fire: B
    extra_value: pl.DataFrame
    extra_fire: pl.DataFrame

    @classmethod
    def from_frames(cls, plan: Plan, state: EngineState) -> _Mirror:
        keys = list(plan.key_list)
        value = np.full(len(keys), np.nan)
        has_value = np.zeros(len(keys), dtype=np.bool_)
        in_plan = pl.col("key").is_in(keys)
        known = state.last_value.filter(in_plan)
        if known.height:
            codes = known["key"].cast(pl.Enum(keys)).to_physical().to_numpy().astype(np.int64)
            value[codes] = known["value"].to_numpy().astype(np.float64)
            has_value[codes] = True
        table = plan.table
        last = table.select("state_key").join(state.last_fire, on="state_key", how="left",
                                              maintain_order="left")["last_fire_ms"]
        return cls(
            plan, value, has_value,
            last.fill_null(0).to_numpy().astype(np.int64), last.is_not_null().to_numpy(),
            state.last_value.filter(~in_plan),
            state.last_fire.filter(~pl.col("state_key").is_in(table["state_key"].implode())),
        )

    def last_value_frame(self) -> pl.DataFrame:
        keys = pl.Series("key", self.plan.key_list, dtype=pl.String).filter(pl.Series(self.has_value))
        frame = pl.DataFrame(
            {"key": keys, "value": pl.Series(self.value[self.has_value], dtype=pl.Float64, nan_to_null=True)},
            schema=LAST_VALUE_SCHEMA,
        )
        return pl.concat([self.extra_value, frame]) if self.extra_value.height else frame

    def last_fire_frame(self) -> pl.DataFrame:
        frame = pl.DataFrame(
            {"state_key": self.plan.table["state_key"].filter(pl.Series(self.has_fire)),
             "last_fire_ms": self.fire[self.has_fire]},
            schema=LAST_FIRE_SCHEMA,
        )
        return pl.concat([self.extra_fire, frame]) if self.extra_fire.height else frame


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

"""``tradeassist explain``: why one logged alert fired, redone from what was recorded.

The alert log keeps, next to each alert, the inputs of its decision (``inputs`` JSON,
see :mod:`tradeassist_runner.engine.inputs`): the reference price and its time for a
rate of change, the volumes of the mean for a volume spike, the cooldown and the
previous fire. Here those inputs are turned back into the few ticks that produce them
and the rule type's own value code (the engine's, not a re-implementation) is run over
them; the recomputed value must equal the logged one bit for bit. Then the condition
and the cooldown are spelled out in words and numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..config.durations import format_duration
from ..config.loaded import LoadedConfig
from ..rules.base import value_key
from ..rules.registry import RULE_TYPES
from ..sinks.sqlite import SqliteAlertLog
from ..timefmt import iso_ms, parse_iso, to_epoch_ms


class ExplainError(Exception):
    """The alert cannot be found or its inputs cannot be read."""


@dataclass
class Explanation:
    alert: dict[str, Any]
    lines: list[tuple[str, str]] = field(default_factory=list)  # (label, text)
    recomputed: float | None = None
    reproduced: bool | None = None  # None: nothing recorded to recompute from

    def render(self) -> str:
        width = max(len(label) for label, _ in self.lines)
        out = []
        for label, text in self.lines:
            first, *rest = text.split("\n")
            out.append(f"{label:<{width}}  {first}")
            out.extend(f"{'':<{width}}  {line}" for line in rest)
        return "\n".join(out)


def find_alert(db: Path, alert_id: str) -> dict[str, Any]:
    if not db.exists():
        raise ExplainError(f"no alert log at {db} yet")
    rule_id = alert_id.rsplit("@", 1)[0] if "@" in alert_id else None
    with SqliteAlertLog(db) as log:
        df = log.query(rule_id=rule_id).filter(pl.col("alert_id") == alert_id)
    if df.height == 0:
        raise ExplainError(f"alert {alert_id!r} is not in the alert log {db} (see `tradeassist alerts`)")
    return df.row(0, named=True)


def _n(v: float | None) -> str:
    """Every digit that matters: the exact float, shortest round-trip spelling."""
    return "undefined" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))


def _defined(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def recompute(rule_type: str, symbol: str, ts_ms: int, price: float, volume: int | None, inputs: dict[str, Any]) -> float | None:
    """The value at the alert's tick, from the recorded inputs, by the rule type's own code."""
    rows: list[tuple[int, float, int | None]] = []
    param = 0
    if rule_type == "rate_of_change":
        param = int(inputs["window_ms"])
        if inputs.get("ref_ts") is not None:
            rows.append((to_epoch_ms(parse_iso(inputs["ref_ts"])), float(inputs["ref_price"]), None))
    elif rule_type == "volume_spike":
        param = int(inputs["period"])
        rows.extend((ts_ms, 0.0, int(v)) for v in inputs["volumes"])
    rows.append((ts_ms, price, volume))
    batch = pl.DataFrame(
        {
            "seq": list(range(len(rows))),
            "ts_ms": [r[0] for r in rows],
            "symbol": [symbol] * len(rows),
            "sym": [0] * len(rows),
            "price": [r[1] for r in rows],
            "volume": [r[2] for r in rows],
        },
        schema={"seq": pl.Int64, "ts_ms": pl.Int64, "symbol": pl.String, "sym": pl.Int64,
                "price": pl.Float64, "volume": pl.Int64},
    )
    key = value_key(symbol, rule_type, param)
    keys = pl.DataFrame({"symbol": [symbol], "key": [key], "param": [param], "sym": [0]},
                        schema={"symbol": pl.String, "key": pl.String, "param": pl.Int64, "sym": pl.Int64})
    values, _ = RULE_TYPES[rule_type].values(batch, keys, None)
    last = values.filter(pl.col("seq") == len(rows) - 1)["value"]
    return None if last.len() == 0 else last[0]


def _condition(condition: str, value: float | None, prev: float | None, threshold: float) -> str:
    t, v = _n(threshold), _n(value)
    if condition == "above":
        return f"above: value {v} > threshold {t} -> {_defined(value) and value > threshold}"  # type: ignore[operator]
    if condition == "below":
        return f"below: value {v} < threshold {t} -> {_defined(value) and value < threshold}"  # type: ignore[operator]
    p = _n(prev)
    if not _defined(prev):
        return f"{condition}: the previous value is undefined, so it cannot cross -> False"
    if condition == "crosses_above":
        ok = prev <= threshold and _defined(value) and value > threshold  # type: ignore[operator]
        return f"crosses_above: previous value {p} <= {t} and value {v} > {t} -> {ok}"
    ok = prev >= threshold and _defined(value) and value < threshold  # type: ignore[operator]
    return f"crosses_below: previous value {p} >= {t} and value {v} < {t} -> {ok}"


def _value_words(rule_type: str, row: dict[str, Any], inputs: dict[str, Any]) -> str:
    price, value = row["price"], row["value"]
    if rule_type == "threshold":
        return f"value = price = {_n(price)}"
    if rule_type == "rate_of_change":
        window = format_duration_ms(int(inputs["window_ms"]))
        if inputs.get("ref_ts") is None:
            return f"(price - ref) / ref * 100 over {window}: no reference tick recorded"
        ref = inputs["ref_price"]
        return (
            f"(price - ref) / ref * 100 = ({_n(price)} - {_n(ref)}) / {_n(ref)} * 100 = {_n(value)} %\n"
            f"ref = {_n(ref)}, the price at {inputs['ref_ts']}: the last tick at or before "
            f"tick time - {window} ({iso_ms(to_epoch_ms(row['ts']) - int(inputs['window_ms']))})"
        )
    volumes = inputs["volumes"]
    mean = sum(volumes) / len(volumes) if volumes else float("nan")
    shown = ", ".join(str(v) for v in volumes)
    return (
        f"volume / mean = {row['volume']} / {mean:.10g} = {_n(value)}\n"
        f"mean of the last {inputs['period']} volumes before this tick: sum {sum(volumes)} / {len(volumes)}\n"
        f"volumes (oldest first): {shown}"
    )


def format_duration_ms(ms: int) -> str:
    from datetime import timedelta

    return format_duration(timedelta(milliseconds=ms))


def _cooldown(row: dict[str, Any], inputs: dict[str, Any]) -> str:
    cooldown = int(inputs["cooldown_ms"])
    spelled = format_duration_ms(cooldown)
    last = inputs.get("last_fire_ts")
    if cooldown == 0:
        return "0s: no cooldown -> may fire"
    if last is None:
        return f"{spelled}: no earlier fire of this rule definition (in this run's state) -> may fire"
    gap = to_epoch_ms(row["ts"]) - to_epoch_ms(parse_iso(last))
    return (
        f"{spelled}: previous fire at {last}, {format_duration_ms(gap)} earlier "
        f"({gap} ms >= {cooldown} ms) -> may fire"
    )


def explain_alert(loaded: LoadedConfig, alert_id: str) -> Explanation:
    row = find_alert(loaded.resolve(loaded.config.storage.sqlite), alert_id)
    ex = Explanation(row)
    rule_type, symbol = row["type"], row["symbol"]
    ex.lines.append(("alert", f"{alert_id}"))
    ex.lines.append(
        ("fired", f"{iso_ms(row['ts'])} on {symbol}: rule {row['rule_id']} ({row['rule_name']}), severity {row['severity']}")
    )
    ex.lines.append(("message", str(row["message"])))
    ex.lines.append(("tick", f"price {_n(row['price'])}, volume {row['volume'] if row['volume'] is not None else 'none'}"))
    ex.lines.append(("rule", f"{rule_type} {row['condition']} {_n(row['threshold'])}"))
    try:
        inputs: dict[str, Any] | None = json.loads(row["inputs"]) if row.get("inputs") else None
    except ValueError:
        inputs = None
    if inputs is None and rule_type != "threshold":
        ex.lines.append(("value", f"{_n(row['value'])} (its inputs were not recorded: logged by an older version)"))
        ex.lines.append(("condition", _condition(row["condition"], row["value"], row["prev_value"], row["threshold"])))
        return ex
    inputs = inputs or {}
    ex.lines.append(("value", _value_words(rule_type, row, inputs)))
    ex.lines.append(("previous", f"value at the previous {symbol} tick: {_n(row['prev_value'])}"))
    ex.lines.append(("condition", _condition(row["condition"], row["value"], row["prev_value"], row["threshold"])))
    if "cooldown_ms" in inputs:
        ex.lines.append(("cooldown", _cooldown(row, inputs)))
    ex.recomputed = recompute(rule_type, symbol, to_epoch_ms(row["ts"]), row["price"], row["volume"], inputs)
    logged = row["value"]
    ex.reproduced = ex.recomputed == logged or (not _defined(ex.recomputed) and not _defined(logged))
    verdict = "exact match" if ex.reproduced else "MISMATCH"
    ex.lines.append(
        ("re-run", f"{rule_type} value code over the recorded inputs: {_n(ex.recomputed)} (logged {_n(logged)}): {verdict}")
    )
    current = {r.rule.id: r for r in loaded.rules}.get(row["rule_id"])
    if current is None:
        ex.lines.append(("now", f"rule {row['rule_id']} no longer exists in {loaded.path}"))
    else:
        r = current.rule
        now = (r.type, r.condition, float(r.threshold))
        if now != (rule_type, row["condition"], row["threshold"]):
            ex.lines.append(("now", f"the rule has changed since: {r.type} {r.condition} {_n(r.threshold)} ({current.source})"))
    return ex

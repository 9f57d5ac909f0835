"""``tradeassist explain``: why one logged alert fired, redone from what was recorded.

The alert log keeps, next to each alert, the inputs of its decision (``inputs`` JSON,
written by the engine): the series' parameters and the numbers its value is made of
(a reference price, a moving average, Wilder's averages...), the ``for`` run, the
cooldown and the previous fire.  The rule type's own ``replay`` (the type module's
code, not a re-implementation here) recomputes the value from them; it must equal the
logged one bit for bit.  Then each condition and the cooldown are spelled out.
"""

from __future__ import annotations

import json
import math
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from datetime import timedelta

import polars as pl

from ..config.durations import format_duration
from ..config.loaded import LoadedConfig
from ..rules.registry import REGISTRY
from ..errors import SinkError
from ..sinks.backend import open_store
from ..timefmt import iso_ms


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


def find_alert(loaded: LoadedConfig, alert_id: str) -> dict[str, Any]:
    """The logged alert, from whichever store the config uses."""
    rule_id = alert_id.rsplit("@", 1)[0] if "@" in alert_id else None
    try:
        with closing(open_store(loaded, create=False)) as log:
            df = log.query(rule_id=rule_id).filter(pl.col("alert_id") == alert_id)
            where = log.where
    except SinkError as exc:
        raise ExplainError(str(exc)) from None
    if df.height == 0:
        raise ExplainError(f"alert {alert_id!r} is not in the alert log {where} (see `tradeassist alerts`)")
    return df.row(0, named=True)


def _n(v: float | None) -> str:
    return "undefined" if not _defined(v) else repr(float(v))  # type: ignore[arg-type]


def _defined(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


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


def format_duration_ms(ms: int) -> str:
    return format_duration(timedelta(milliseconds=ms))


def _cooldown(row: dict[str, Any], inputs: dict[str, Any]) -> str:
    cooldown = int(inputs["cooldown_ms"])
    spelled = format_duration_ms(cooldown)
    last = inputs.get("last_fire_t")
    if cooldown == 0:
        return "0s: no cooldown -> may fire"
    if last is None:
        return f"{spelled}: no earlier fire of this rule definition (in this run's state) -> may fire"
    gap = int(inputs["t"]) - int(last)
    return (
        f"{spelled}: previous fire at sample time {iso_ms(int(last))}, {format_duration_ms(gap)} earlier "
        f"({gap} ms >= {cooldown} ms) -> may fire"
    )


def _replay(type_name: str, inputs: dict[str, Any]) -> float | None:
    """The type's own replay over the recorded inputs (NaN -> None)."""
    rt = REGISTRY.get(type_name)
    if rt is None or "params" not in inputs:
        return None
    params = tuple(inputs["params"])
    numbers = {k: (float("nan") if v is None else float(v)) for k, v in inputs.items()
               if k in rt.input_names}
    try:
        value = rt.replay(params, numbers)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return None if math.isnan(value) else value


def _same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == b)


def explain_alert(loaded: LoadedConfig, alert_id: str) -> Explanation:
    row = find_alert(loaded, alert_id)
    ex = Explanation(row)
    rule_type, symbol = row["type"], row["symbol"]
    ex.lines.append(("alert", f"{alert_id}"))
    ex.lines.append(
        ("fired", f"{iso_ms(row['ts'])} on {symbol}: rule {row['rule_id']} ({row['rule_name']}), severity {row['severity']}")
    )
    ex.lines.append(("message", str(row["message"])))
    try:
        inputs: dict[str, Any] | None = json.loads(row["inputs"]) if row.get("inputs") else None
    except ValueError:
        inputs = None
    if row.get("bar_start") is not None:
        ex.lines.append(("sample", f"the bar starting {iso_ms(row['bar_start'])}: close {_n(row['price'])}, "
                                   f"volume {row['volume'] if row['volume'] is not None else 'none'}; "
                                   f"closed by the tick at {iso_ms(row['ts'])}"))
    else:
        ex.lines.append(("sample", f"tick: price {_n(row['price'])}, "
                                   f"volume {row['volume'] if row['volume'] is not None else 'none'}"))
    if inputs is None or ("params" not in inputs and "conditions" not in inputs):
        ex.lines.append(("rule", f"{rule_type} {row['condition']} {_n(row['threshold'])}"))
        ex.lines.append(("value", f"{_n(row['value'])} (its inputs were not recorded: logged by an older version)"))
        ex.lines.append(("condition", _condition(row["condition"], row["value"], row["prev_value"], row["threshold"])))
        return ex
    if "conditions" in inputs:
        conds = inputs["conditions"]
        ex.lines.append(("rule", f"all of {len(conds)} conditions, each on the rule's own samples"))
        results: list[bool] = []
        for j, c in enumerate(conds, 1):
            rt = REGISTRY.get(c.get("type", ""))
            params = tuple(c.get("params", ()))
            words = rt.describe(params) if rt else c.get("type", "?")
            value = c.get("value")
            again = _replay(c.get("type", ""), c)
            same = _same(again, value)
            results.append(same)
            detail = rt.explain(params, {k: float("nan") if v is None else v for k, v in c.items()
                                         if rt and k in rt.input_names}, float(value)) if rt and value is not None else ""
            ex.lines.append((f"condition {j}", f"{words}: {detail}\n"
                             f"{c.get('condition')} {_n(c.get('threshold'))}: value {_n(value)} "
                             f"(re-run {_n(again)}: {'exact match' if same else 'MISMATCH'})"))
        ex.recomputed = _replay(conds[0].get("type", ""), conds[0])
        ex.reproduced = all(results)
    else:
        rt = REGISTRY.get(rule_type)
        params = tuple(inputs.get("params", ()))
        words = rt.describe(params) if rt else rule_type
        ex.lines.append(("rule", f"{words} {row['condition']} {_n(row['threshold'])}"))
        if rt is not None:
            numbers = {k: float("nan") if v is None else float(v) for k, v in inputs.items() if k in rt.input_names}
            ex.lines.append(("value", rt.explain(params, numbers, float(row["value"]))))
        ex.lines.append(("previous", f"value at the previous sample: {_n(row['prev_value'])}"))
        ex.lines.append(("condition", _condition(row["condition"], row["value"], row["prev_value"], row["threshold"])))
        ex.recomputed = _replay(rule_type, inputs)
        ex.reproduced = _same(ex.recomputed, row["value"])
    if "run_start_t" in inputs:
        held = int(inputs["t"]) - int(inputs["run_start_t"])
        ex.lines.append(("for", f"the condition has held since sample time {iso_ms(int(inputs['run_start_t']))}: "
                                f"{format_duration_ms(held)}"))
    if "cooldown_ms" in inputs:
        ex.lines.append(("cooldown", _cooldown(row, inputs)))
    verdict = "exact match" if ex.reproduced else "MISMATCH"
    ex.lines.append(("re-run", f"the {rule_type} value code over the recorded inputs: {_n(ex.recomputed)} "
                               f"(logged {_n(row['value'])}): {verdict}"))
    current = {r.rule.id: r for r in loaded.rules}.get(row["rule_id"])
    if current is None:
        ex.lines.append(("now", f"rule {row['rule_id']} no longer exists in {loaded.path}"))
    elif current.rule.type != rule_type:
        ex.lines.append(("now", f"the rule has changed since: it is now {current.rule.type} ({current.source})"))
    return ex

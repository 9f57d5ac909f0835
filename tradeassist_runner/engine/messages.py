"""Alert messages: a default that says what happened, or the rule's ``message`` template.

The default names the series in the type's own words (``RSI(14) on 5m bars``), so the
engine needs no per-type text.  Templates see the alert's fields, the type's
placeholders and the sample's inputs; a broken template still yields a message.
"""

from __future__ import annotations

import json
import string
from typing import Any

from ..config.durations import format_duration
from ..rules.registry import REGISTRY
from .plan import CompiledRule

VERB = {
    "above": "is above",
    "below": "is below",
    "crosses_above": "crossed above",
    "crosses_below": "crossed below",
}


def num(x: float | None, decimals: int = 6) -> str:
    """6001.25, 100 (not 100.0): how a trader writes a number."""
    if x is None or x != x:
        return "undefined"
    text = f"{round(float(x), decimals):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def describe(rule: CompiledRule, j: int = 0) -> str:
    """The words for condition ``j``'s series, bar included."""
    c = rule.conditions[j]
    words = REGISTRY[c.type_name].describe(c.params)
    if rule.rule.bar is not None:
        words += f" on {format_duration(rule.rule.bar)} bars"
    return words


def default_message(rule: CompiledRule, row: dict[str, Any]) -> str:
    symbol = row["symbol"]
    if len(rule.conditions) == 1:
        c = rule.conditions[0]
        return f"{symbol} {describe(rule)} {num(row['value'])} {VERB[c.condition]} {num(c.threshold)}"
    values = json.loads(row["values"]) if row.get("values") else [None] * len(rule.conditions)
    parts = [
        f"{describe(rule, j)} {num(v)} {VERB[c.condition]} {num(c.threshold)}"
        for j, (c, v) in enumerate(zip(rule.conditions, values))
    ]
    return f"{symbol}: all of " + "; ".join(parts)


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def template_fields(rule: CompiledRule, row: dict[str, Any]) -> dict[str, Any]:
    """What a ``message`` template may name: the alert, the type's placeholders, the inputs."""
    fields: dict[str, Any] = {
        "rule_id": row["rule_id"], "name": row["rule_name"], "symbol": row["symbol"],
        "price": row["price"], "volume": row["volume"], "value": row["value"],
        "prev_value": row["prev_value"], "threshold": row["threshold"],
        "condition": row["condition"], "type": row["type"], "severity": row["severity"],
        "ts": row["ts"], "bar_start": row.get("bar_start"), "alert_id": row["alert_id"],
    }
    c = rule.conditions[0]
    fields.update(REGISTRY[c.type_name].placeholders(c.params))
    try:
        inputs = json.loads(row["inputs"]) if row.get("inputs") else {}
    except ValueError:
        inputs = {}
    for k, v in inputs.items():
        if isinstance(v, (int, float)) and k not in fields:
            fields[k] = v
    return fields


def render(template: str, fields: dict[str, Any], fallback: str) -> str:
    try:
        return string.Formatter().vformat(template, (), _Lenient(fields))
    except (ValueError, TypeError, KeyError, IndexError, MemoryError, OverflowError) as exc:
        return f"{fallback} [template error: {exc}]"


def message_for(rule: CompiledRule, row: dict[str, Any]) -> str:
    fallback = default_message(rule, row)
    if not rule.rule.message:
        return fallback
    return render(rule.rule.message, template_fields(rule, row), fallback)

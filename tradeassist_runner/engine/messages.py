"""Alert messages: the rule's ``message`` template, or a default that says what happened.

Rendered per fired alert (not per tick), so plain Python formatting is cheap here.
"""

from __future__ import annotations

import string
from typing import Any

import polars as pl

from ..config.durations import format_duration
from ..config.models import RateOfChangeRule, VolumeSpikeRule
from .plan import Plan

_VERB = {
    "above": "is above",
    "below": "is below",
    "crosses_above": "crossed above",
    "crosses_below": "crossed below",
}


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.6f}".rstrip("0").rstrip(".")


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fields(row: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule_id": row["rule_id"],
        "name": row["rule_name"],
        "symbol": row["symbol"],
        "price": row["price"],
        "volume": row["volume"],
        "value": row["value"],
        "prev_value": row["prev_value"],
        "threshold": row["threshold"],
        "condition": row["condition"],
        "type": row["type"],
        "severity": row["severity"],
        "ts": row["ts"],
        **extra,
    }


def default_message(row: dict[str, Any], rule: Any) -> str:
    verb = _VERB[row["condition"]]
    if isinstance(rule, RateOfChangeRule):
        return (
            f"{row['symbol']} moved {row['value']:+.3f}% over {format_duration(rule.window)} "
            f"({verb} {_num(row['threshold'])}%), price {_num(row['price'])}"
        )
    if isinstance(rule, VolumeSpikeRule):
        return (
            f"{row['symbol']} volume {row['volume']} is {row['value']:.2f}x the mean of the last "
            f"{rule.period} ticks ({verb} {_num(row['threshold'])}x)"
        )
    return f"{row['symbol']} price {_num(row['value'])} {verb} {_num(row['threshold'])}"


def render_messages(plan: Plan, alerts: pl.DataFrame) -> list[str]:
    out: list[str] = []
    for row in alerts.iter_rows(named=True):
        rule = plan.rules[row["rule_index"]].rule
        if rule.message:
            extra: dict[str, Any] = {}
            if isinstance(rule, RateOfChangeRule):
                extra["window"] = format_duration(rule.window)
            if isinstance(rule, VolumeSpikeRule):
                extra["period"] = rule.period
            out.append(string.Formatter().vformat(rule.message, (), _Lenient(_fields(row, extra))))
        else:
            out.append(default_message(row, rule))
    return out

"""Alert messages: a default that says what happened, or the rule's ``message`` template.

Defaults are one vectorized polars expression (an alert storm costs no Python per
alert); only rules with their own template are formatted row by row.
"""

from __future__ import annotations

import string
from typing import Any

import polars as pl

from ..config.models import RateOfChangeRule, VolumeSpikeRule
from ..config.durations import format_duration
from .plan import Plan

_VERB = {
    "above": "is above",
    "below": "is below",
    "crosses_above": "crossed above",
    "crosses_below": "crossed below",
}


def _num(column: str, decimals: int = 6) -> pl.Expr:
    """6001.25, 100 (not 100.0): how a trader writes a price."""
    return pl.col(column).round(decimals).cast(pl.String).str.replace(r"\.0$", "")


def default_messages() -> pl.Expr:
    """Over the alert columns plus ``detail`` (window or period) from the plan's rule meta."""
    verb = pl.col("condition").replace_strict(_VERB, return_dtype=pl.String)
    signed = pl.when(pl.col("value") >= 0).then(pl.lit("+")).otherwise(pl.lit(""))
    return (
        pl.when(pl.col("type") == "rate_of_change")
        .then(
            pl.format(
                "{} moved {}{}% over {} ({} {}%), price {}",
                "symbol", signed, _num("value", 3), "detail", verb, _num("threshold"), _num("price"),
            )
        )
        .when(pl.col("type") == "volume_spike")
        .then(
            pl.format(
                "{} volume {} is {}x the mean of the last {} ticks ({} {}x)",
                "symbol", "volume", _num("value", 2), "detail", verb, _num("threshold"),
            )
        )
        .otherwise(pl.format("{} price {} {} {}", "symbol", _num("value"), verb, _num("threshold")))
    )


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_templates(plan: Plan, alerts: pl.DataFrame) -> list[str]:
    """The alerts' messages, with each templated rule's ``message`` filled in."""
    out: list[str] = []
    for row in alerts.iter_rows(named=True):
        rule = plan.rules[row["rule_index"]].rule
        if not rule.message:
            out.append(row["message"])
            continue
        fields: dict[str, Any] = {
            "rule_id": row["rule_id"], "name": row["rule_name"], "symbol": row["symbol"],
            "price": row["price"], "volume": row["volume"], "value": row["value"],
            "prev_value": row["prev_value"], "threshold": row["threshold"],
            "condition": row["condition"], "type": row["type"], "severity": row["severity"],
            "ts": row["ts"],
        }
        if isinstance(rule, RateOfChangeRule):
            fields["window"] = format_duration(rule.window)
        if isinstance(rule, VolumeSpikeRule):
            fields["period"] = rule.period
        try:
            out.append(string.Formatter().vformat(rule.message, (), _Lenient(fields)))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            out.append(f"{row['message']} [template error: {exc}]")
    return out

"""The compiled evaluation plan: immutable, built once per (re)load, never per batch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

import polars as pl

from ..config.durations import format_duration, to_ms
from ..config.loaded import AnyRule, LoadedRule
from ..config.models import RateOfChangeRule, VolumeSpikeRule
from ..rules.base import value_key
from ..rules.registry import RULE_TYPES
from .index import ThresholdIndex, build_index

#: Condition codes used in the rule table (cheaper to compare than strings per row).
CONDITIONS: dict[str, int] = {"above": 0, "below": 1, "crosses_above": 2, "crosses_below": 3}


def fingerprint(rule: AnyRule) -> str:
    """Canonical identity of a rule's definition: equal iff the definition is unchanged.

    Used to key cooldown state, so an edited rule starts fresh on reload while an
    untouched one keeps its cooldown.
    """
    dump = json.dumps(rule.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return f"{rule.id}#{hashlib.sha256(dump.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class CompiledRule:
    index: int  # declaration order; breaks ties between alerts on the same tick
    rule: AnyRule
    key: str
    state_key: str
    location: str


@dataclass(frozen=True)
class Plan:
    rules: tuple[CompiledRule, ...]
    #: Active rules only: rule_index, key, cond, threshold, cooldown_ms, state_key.
    table: pl.DataFrame
    #: Per rule type, its value keys: symbol, key, param.
    keys: dict[str, pl.DataFrame]
    symbols: frozenset[str]
    version: str = field(default="")
    #: Per rule (all of them): what an alert shows; joined once per batch with fires.
    meta: pl.DataFrame = field(default_factory=pl.DataFrame)
    has_templates: bool = False
    #: Every value key of an active rule; a key's code is its position (``keys`` use this Enum).
    key_list: tuple[str, ...] = ()
    index: ThresholdIndex | None = None

    @cached_property
    def symbol_list(self) -> list[str]:
        """Symbols of active rules, sorted: a symbol's position is its code (``sym``)."""
        return sorted(self.symbols)

    @cached_property
    def symbol_dtype(self) -> pl.Enum:
        return pl.Enum(self.symbol_list)


def compile_plan(rules: tuple[LoadedRule, ...] | list[LoadedRule]) -> Plan:
    """Turn validated rules into the tables the engine joins against."""
    compiled: list[CompiledRule] = []
    for i, loaded in enumerate(rules):
        r = loaded.rule
        rtype = RULE_TYPES[r.type]
        compiled.append(
            CompiledRule(
                index=i,
                rule=r,
                key=value_key(r.instrument, r.type, rtype.param(r)),
                state_key=fingerprint(r),
                location=str(loaded.source),
            )
        )
    active = [c for c in compiled if c.rule.active]
    table = pl.DataFrame(
        {
            "rule_index": [c.index for c in active],
            "key": [c.key for c in active],
            "cond": [CONDITIONS[c.rule.condition] for c in active],
            "threshold": [c.rule.threshold for c in active],
            "cooldown_ms": [to_ms(c.rule.cooldown) for c in active],
            "state_key": [c.state_key for c in active],
        },
        schema={
            "rule_index": pl.Int64,
            "key": pl.String,
            "cond": pl.Int8,
            "threshold": pl.Float64,
            "cooldown_ms": pl.Int64,
            "state_key": pl.String,
        },
    )
    key_list = tuple(sorted({c.key for c in active}))
    key_dtype = pl.Enum(list(key_list))
    symbol_list = sorted({c.rule.instrument for c in active})
    keys: dict[str, pl.DataFrame] = {}
    for name, rtype in RULE_TYPES.items():
        rows = {(c.rule.instrument, c.key, rtype.param(c.rule)) for c in active if c.rule.type == name}
        if rows:
            keys[name] = pl.DataFrame(
                sorted(rows),
                schema={"symbol": pl.String, "key": pl.String, "param": pl.Int64},
                orient="row",
            ).with_columns(
                pl.col("key").cast(key_dtype),
                pl.col("symbol").cast(pl.Enum(symbol_list)).to_physical().cast(pl.Int64).alias("sym"),
            )
    version = hashlib.sha256("\n".join(c.state_key for c in compiled).encode()).hexdigest()[:12]
    return Plan(
        rules=tuple(compiled),
        table=table,
        keys=keys,
        symbols=frozenset(c.rule.instrument for c in active),
        version=version,
        meta=rule_meta(compiled),
        has_templates=any(c.rule.message for c in compiled),
        key_list=key_list,
        index=build_index(table, {k: i for i, k in enumerate(key_list)}),
    )


def rule_meta(compiled: list[CompiledRule]) -> pl.DataFrame:
    def detail(r: AnyRule) -> str:
        if isinstance(r, RateOfChangeRule):
            return format_duration(r.window)
        if isinstance(r, VolumeSpikeRule):
            return str(r.period)
        return ""

    rules = [c.rule for c in compiled]
    return pl.DataFrame(
        {
            "rule_index": [c.index for c in compiled],
            "rule_id": [r.id for r in rules],
            "rule_name": [r.name or r.id for r in rules],
            "symbol": [r.instrument for r in rules],
            "condition": [r.condition for r in rules],
            "type": [r.type for r in rules],
            "severity": [r.severity for r in rules],
            "detail": [detail(r) for r in rules],
            "param": [RULE_TYPES[r.type].param(r) for r in rules],
        },
        schema={"rule_index": pl.Int64, **{k: pl.String for k in (
            "rule_id", "rule_name", "symbol", "condition", "type", "severity", "detail")},
                "param": pl.Int64},
    )

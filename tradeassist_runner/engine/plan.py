"""The compiled evaluation plan: immutable, built once per (re)load, never per batch.

    rules ─► sources (symbols, bar) ─► series (source, type, params) ─► conditions

A *source* is where samples come from: the ticks of one symbol, its closed bars of one
length, or the merged ticks of two symbols.  A *series* is one rule type's value over a
source; rules (and a conjunction's conditions) that share a series share its
computation and its carried state.  Nothing here branches on a rule type's name: the
registry tells each type's symbols and parameters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from ..config.durations import to_ms
from ..config.loaded import LoadedRule
from ..config.models import Instrument
from ..rules.catalog import AnyRule, bodies
from ..rules.registry import REGISTRY
from ..rules.seam import Params
from .gates import Gate

T = TypeVar("T")

#: Condition codes (cheaper to compare than strings).
CONDITIONS: dict[str, int] = {"above": 0, "below": 1, "crosses_above": 2, "crosses_below": 3}
DEFAULT_TIMEZONE = "America/New_York"


def fingerprint(rule: AnyRule) -> str:
    """Canonical identity of a rule's exact definition: keys its firing state (cooldown,
    ``for`` run, re-arm), so an edited rule starts afresh while an untouched one keeps it."""
    dump = json.dumps(rule.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return f"{rule.id}#{hashlib.sha256(dump.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class SourceSpec:
    key: str
    symbols: tuple[str, ...]
    bar_ms: int | None


@dataclass(frozen=True)
class SeriesSpec:
    """One type's value over one source; ``key`` names its carried state across reloads."""

    key: str
    source: int
    type_name: str
    params: Params


@dataclass(frozen=True)
class ConditionSpec:
    series: int
    cond: int
    condition: str
    threshold: float
    type_name: str
    params: Params


@dataclass(frozen=True)
class CompiledRule:
    index: int  # declaration order; breaks ties between alerts on the same tick
    rule: AnyRule
    state_key: str
    location: str
    source: int
    conditions: tuple[ConditionSpec, ...]
    cooldown_ms: int
    for_ms: int | None
    rearm: float | None
    gate: int | None  # index into Plan.gates

    @property
    def active(self) -> bool:
        return bool(self.rule.active)


@dataclass(frozen=True)
class Plan:
    rules: tuple[CompiledRule, ...]
    sources: tuple[SourceSpec, ...]
    series: tuple[SeriesSpec, ...]
    gates: tuple[Gate, ...]
    symbols: frozenset[str]
    version: str = ""
    timezones: dict[str, str] = field(default_factory=dict)

    @cached_property
    def symbol_list(self) -> list[str]:
        """Symbols of active rules, sorted: a symbol's position is its code."""
        return sorted(self.symbols)

    @cached_property
    def symbol_codes(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbol_list)}

    @cached_property
    def active_rules(self) -> tuple[CompiledRule, ...]:
        return tuple(r for r in self.rules if r.active)

    @cached_property
    def active_keys(self) -> frozenset[str]:
        """Firing state the plan carries: its active rules'."""
        return frozenset(r.state_key for r in self.active_rules)

    @cached_property
    def live_sources(self) -> frozenset[int]:
        """Sources whose symbols the plan evaluates (all of them watched by an active rule)."""
        return frozenset(i for i, s in enumerate(self.sources) if all(x in self.symbols for x in s.symbols))

    @cached_property
    def state_keys_version(self) -> str:
        """Names the set of state keys the plan carries: two plans with equal versions
        keep exactly the same sources, series and rules."""
        text = json.dumps([sorted(self.live_source_keys), sorted(self.live_series_keys), sorted(self.active_keys)])
        return hashlib.sha256(text.encode()).hexdigest()

    @cached_property
    def live_source_keys(self) -> frozenset[str]:
        return frozenset(self.sources[i].key for i in self.live_sources)

    @cached_property
    def live_series_keys(self) -> frozenset[str]:
        return frozenset(s.key for s in self.series if s.source in self.live_sources)

    @cached_property
    def rules_by_source(self) -> dict[int, tuple[CompiledRule, ...]]:
        """Active rules per source, in declaration order."""
        out: dict[int, list[CompiledRule]] = {}
        for r in self.active_rules:
            out.setdefault(r.source, []).append(r)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def series_groups(self) -> tuple[tuple[int, str, tuple[int, ...]], ...]:
        """Series by (source, type), in plan order: a type that can compute several
        parameter sets in one pass over a source's samples gets them together."""
        groups: dict[tuple[int, str], list[int]] = {}
        for i, ser in enumerate(self.series):
            groups.setdefault((ser.source, ser.type_name), []).append(i)
        return tuple((src, name, tuple(members)) for (src, name), members in groups.items())

    @cached_property
    def series_of_rules(self) -> dict[int, tuple[int, ...]]:
        """Per source, the series its active rules' conditions read."""
        return {k: tuple(sorted({c.series for r in v for c in r.conditions})) for k, v in self.rules_by_source.items()}

    @cached_property
    def rule_index_by_source(self) -> dict[int, npt.NDArray[np.int64]]:
        """Per source, the plan index of each of its active rules (``rules_by_source`` order)."""
        return {k: np.asarray([r.index for r in v], np.int64) for k, v in self.rules_by_source.items()}

    @cached_property
    def gates_by_source(self) -> dict[int, tuple[int, ...]]:
        return {k: tuple(sorted({r.gate for r in v if r.gate is not None})) for k, v in self.rules_by_source.items()}

    @cached_property
    def has_templates(self) -> bool:
        return any(r.rule.message for r in self.rules)

    @cached_property
    def condition_series(self) -> npt.NDArray[np.int64]:
        """rules x conditions: the series of each condition (-1 past a rule's last)."""
        depth = max((len(r.conditions) for r in self.rules), default=1)
        out = np.full((len(self.rules), depth), -1, np.int64)
        for r in self.rules:
            out[r.index, : len(r.conditions)] = [c.series for c in r.conditions]
        return out

    @cached_property
    def _derived(self) -> dict[Callable[[Plan], Any], Any]:
        return {}

    def derived(self, build: Callable[[Plan], T]) -> T:
        """``build(self)``, made once per plan and kept with it.

        The layers that evaluate a plan (firing tables, per-batch look-ups, alert row
        texts) keep per-plan tables this way: they import the plan and hand it their
        builder, so the plan never imports them. Two threads asking at once may both
        build; the tables are equal, and one is kept.
        """
        made = self._derived
        if build not in made:
            made[build] = build(self)
        return cast(T, made[build])


def source_key(symbols: tuple[str, ...], bar_ms: int | None) -> str:
    return json.dumps([list(symbols), bar_ms], separators=(",", ":"))


def series_key(type_name: str, symbols: tuple[str, ...], bar_ms: int | None, params: Params) -> str:
    return json.dumps([type_name, list(symbols), bar_ms, list(params)], separators=(",", ":"))


def compile_plan(
    rules: tuple[LoadedRule, ...] | list[LoadedRule], instruments: tuple[Instrument, ...] | list[Instrument] = ()
) -> Plan:
    """Turn validated rules into sources, series and conditions (``instruments`` give
    each symbol's timezone; undeclared ones use America/New_York)."""
    tz = {i.symbol: i.timezone for i in instruments}
    sources: dict[str, SourceSpec] = {}
    source_index: dict[str, int] = {}
    series_index: dict[str, int] = {}
    series: dict[str, SeriesSpec] = {}
    gate_specs: dict[tuple[object, ...], int] = {}
    gates: list[Gate] = []
    compiled: list[CompiledRule] = []
    # Rules share few sources and series: their JSON keys are built once each (10,000
    # rules of a reload would otherwise encode 20,000 of them). Series keys are looked up
    # with the parameters' types too, as 1, 1.0 and True are equal keys of a dict but not
    # the same JSON.
    source_keys: dict[tuple[tuple[str, ...], int | None], str] = {}
    series_keys: dict[tuple[object, ...], str] = {}
    for i, loaded in enumerate(rules):
        r = loaded.rule
        zone = tz.get(r.instrument, DEFAULT_TIMEZONE)
        bar_ms = to_ms(r.bar) if r.bar is not None else None
        conds: list[ConditionSpec] = []
        src_index = -1
        for body in bodies(r):
            rt = REGISTRY[body.type]
            symbols = (r.instrument, *rt.other_symbols(body))
            skey = source_keys.get((symbols, bar_ms)) or source_keys.setdefault(
                (symbols, bar_ms), source_key(symbols, bar_ms))
            if skey not in sources:
                source_index[skey] = len(sources)
                sources[skey] = SourceSpec(skey, symbols, bar_ms)
            src_index = source_index[skey]
            params = rt.params(body, zone)
            memo = (rt.name, skey, params, tuple(map(type, params)))
            key = series_keys.get(memo) or series_keys.setdefault(memo, series_key(rt.name, symbols, bar_ms, params))
            if key not in series:
                series_index[key] = len(series)
                series[key] = SeriesSpec(key, src_index, rt.name, params)
            conds.append(ConditionSpec(series_index[key], CONDITIONS[body.condition], body.condition,
                                       float(body.threshold), rt.name, params))
        gate_index: int | None = None
        if r.hours or r.days or r.calendar:
            spec = (zone, tuple(r.hours or ()), tuple(r.days or ()), r.calendar)
            if spec not in gate_specs:
                gate_specs[spec] = len(gates)
                gates.append(Gate(zone, tuple(r.hours or ()), tuple(r.days or ()), r.calendar))
            gate_index = gate_specs[spec]
        compiled.append(
            CompiledRule(
                index=i, rule=r, state_key=fingerprint(r), location=str(loaded.source), source=src_index,
                conditions=tuple(conds), cooldown_ms=to_ms(r.cooldown),
                for_ms=to_ms(r.for_) if r.for_ is not None else None,
                rearm=float(r.rearm) if r.rearm is not None else None, gate=gate_index,
            )
        )
    source_list = tuple(sources.values())
    version = hashlib.sha256("\n".join(c.state_key for c in compiled).encode()).hexdigest()[:12]
    return Plan(
        rules=tuple(compiled), sources=source_list, series=tuple(series.values()),
        gates=tuple(gates),
        symbols=frozenset(s for c in compiled if c.active for s in source_list[c.source].symbols),
        version=version, timezones=tz,
    )

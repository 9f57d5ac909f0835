"""One micro-batch in, fired alerts out: pure and synchronous.

    ticks ─► sources: samples (ticks, closed bars, merged pairs)   engine/samples.py
          ─► series: each rule type's value per sample             rules/types/*
          ─► firing: conditions, for, gates, re-arm, cooldown      engine/firing.py
          ─► alerts (tick order, then declaration order) + the new carried state

No Python loop runs per tick; loops run per source, per series and per round of fires.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import polars as pl

from ..rules.registry import REGISTRY
from ..rules.seam import B, F64, Values
from .alerts import ALERT_SCHEMA, empty_alerts
from .firing import find_fires, fresh_state
from .messages import message_for
from .plan import CompiledRule, Plan
from .samples import SourceBatch, Ticks, build_source
from .state import EngineState


@dataclass(frozen=True)
class BatchResult:
    alerts: pl.DataFrame
    state: EngineState
    #: Things a user should hear about (e.g. times a trading calendar cannot cover).
    notes: tuple[str, ...] = field(default_factory=tuple)


#: Larger batches are evaluated in slices of this many ticks: results do not depend on
#: where a stream is cut, and it bounds the per-batch matrices.
MAX_SLICE = 16_384
#: Distinct notes an Engine keeps (a live run that keeps hitting one must not grow forever).
MAX_NOTES = 100


def evaluate(plan: Plan, state: EngineState, ticks: pl.DataFrame, now: datetime | None = None) -> BatchResult:
    """Evaluate accepted ticks (canonical columns, arrival order) against ``plan``.

    Arithmetic beyond float64 (prices near 1e308) gives inf or NaN, which the conditions
    read as a value past every threshold or as undefined; numpy's warnings about it are
    not a user's concern, so they are silenced here rather than printed per batch.
    """
    with np.errstate(all="ignore"):
        return _evaluate(plan, state, ticks, now)


def _evaluate(plan: Plan, state: EngineState, ticks: pl.DataFrame, now: datetime | None) -> BatchResult:
    if ticks.height > MAX_SLICE:
        parts: list[pl.DataFrame] = []
        said: list[str] = []
        for start in range(0, ticks.height, MAX_SLICE):
            piece = _evaluate(plan, state, ticks.slice(start, MAX_SLICE), now)
            parts.append(piece.alerts)
            said.extend(piece.notes)
            state = piece.state
        return BatchResult(pl.concat(parts), state, tuple(dict.fromkeys(said)))
    n = ticks.height
    if n == 0:
        return BatchResult(empty_alerts(), state)
    names = plan.symbol_list
    code_of = {s: i for i, s in enumerate(names)}
    sym = ticks["symbol"].replace_strict(code_of, default=-1, return_dtype=pl.Int64).to_numpy()
    batch = Ticks(
        ts=ticks["ts"].dt.epoch("ms").to_numpy().astype(np.int64),
        sym=sym.astype(np.int64),
        price=ticks["price"].cast(pl.Float64).to_numpy().astype(np.float64),
        volume=ticks["volume"].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64),
    )
    new_sources: dict[str, dict[str, Any]] = {}
    built: list[SourceBatch | None] = []
    for spec in plan.sources:
        if not all(s in code_of for s in spec.symbols):
            built.append(None)
            continue
        sb, st = build_source(spec, tuple(code_of[s] for s in spec.symbols), batch, state.sources.get(spec.key))
        built.append(sb)
        new_sources[spec.key] = st
    new_series: dict[str, dict[str, Any]] = {}
    series_values: list[tuple[F64, F64, Values] | None] = []
    for ser in plan.series:
        on = built[ser.source]
        if on is None:
            series_values.append(None)
            continue
        carried = state.series.get(ser.key)
        vals, type_state = REGISTRY[ser.type_name].values(ser.params, on.samples, carried["type"] if carried else None)
        value = np.asarray(vals.value, np.float64)
        prev = np.empty_like(value)
        last = carried["last"] if carried else None
        if len(value):
            prev[0] = np.nan if last is None else last
            prev[1:] = value[:-1]
            last = None if math.isnan(value[-1]) else float(value[-1])
        new_series[ser.key] = {"type": type_state, "last": last}
        series_values.append((value, prev, vals))
    new_rules: dict[str, dict[str, Any]] = {}
    fired: list[tuple[CompiledRule, SourceBatch, int, int, int]] = []
    notes: list[str] = []
    by_source: dict[int, list[CompiledRule]] = {}
    for rule in plan.active_rules:
        by_source.setdefault(rule.source, []).append(rule)
    for src_index, rules in by_source.items():
        src = built[src_index]
        if src is None:
            for r in rules:
                new_rules[r.state_key] = state.rules.get(r.state_key, fresh_state())
            continue
        values: dict[int, tuple[F64, F64]] = {}
        for r in rules:
            for c in r.conditions:
                sv = series_values[c.series]
                assert sv is not None
                values[c.series] = (sv[0], sv[1])
        gate_masks: dict[int, B] = {}
        for g in {r.gate for r in rules if r.gate is not None}:
            assert g is not None
            gated = plan.gates[g].mask(src.samples.t)
            gate_masks[g] = gated.allowed
            if gated.uncovered.any():
                bad = int(src.samples.t[np.flatnonzero(gated.uncovered)[0]])
                notes.append(
                    f"calendar {plan.gates[g].calendar} does not cover "
                    f"{datetime.fromtimestamp(bad / 1000, timezone.utc):%Y-%m-%d %H:%M}Z: rules gated by it "
                    "do not fire there"
                )
        fires, states = find_fires(
            rules, src.samples.t, src.samples.source, values, gate_masks,
            [state.rules.get(r.state_key, fresh_state()) for r in rules],
            monotone=len(plan.sources[src_index].symbols) == 1,
        )
        for r, st in zip(rules, states):
            new_rules[r.state_key] = st
        for i, s, last, run in zip(fires.rule.tolist(), fires.sample.tolist(), fires.last_fire.tolist(),
                                   fires.run_start.tolist()):
            fired.append((rules[i], src, s, last, run))
    new_state = EngineState(next_seq=state.next_seq + n, sources=new_sources, series=new_series, rules=new_rules)
    alerts = _alerts(plan, fired, series_values, batch, state.next_seq, now) if fired else empty_alerts()
    return BatchResult(alerts, new_state, tuple(dict.fromkeys(notes)))


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def _alerts(
    plan: Plan, fired: list[tuple[CompiledRule, SourceBatch, int, int, int]],
    series_values: list[tuple[F64, F64, Values] | None], batch: Ticks, seq0: int, now: datetime | None,
) -> pl.DataFrame:
    """Alert rows for this batch's fires, in tick order then declaration order.

    A backtest fires tens of thousands of alerts per batch, so single-condition rules take
    a column-wise path: fires are grouped per rule, their numbers gathered with one numpy
    index per column, and what is the same for the whole rule (names, the JSON of its
    params, the words of its default message) is written once.  The text is built exactly
    as ``json.dumps(..., separators=(",", ":"))`` and ``messages.message_for`` write it,
    so every row is identical to the per-alert path that conjunctions (and rules whose
    inputs would collide with the engine's keys) still take.
    """
    from .messages import VERB, describe, num

    evaluated_at = now or datetime.now(timezone.utc)
    rows: dict[str, list[Any]] = {name: [] for name in (*ALERT_SCHEMA, "rule_index")}
    reserved = {"t", "k", "cooldown_ms", "last_fire_t", "run_start_t", "params"}
    reserved_in_all = {"params", "type", "condition", "threshold", "value"}
    groups: dict[int, tuple[CompiledRule, SourceBatch, list[int], list[int], list[int]]] = {}
    per_alert: list[tuple[CompiledRule, SourceBatch, int, int, int]] = []
    column_wise: dict[int, bool] = {}  # per rule index, decided once
    for item in fired:
        rule = item[0]
        fast = column_wise.get(rule.index)
        if fast is None:
            taken = reserved if len(rule.conditions) == 1 else reserved_in_all
            fast = column_wise[rule.index] = not any(
                taken.intersection(sv[2].inputs) for sv in (series_values[c.series] for c in rule.conditions) if sv
            )
        if not fast:
            per_alert.append(item)
            continue
        g = groups.get(rule.index)
        if g is None:
            g = groups[rule.index] = (rule, item[1], [], [], [])
        g[2].append(item[2])
        g[3].append(item[3])
        g[4].append(item[4])

    def jnum(x: float) -> str:
        # json.dumps of _num(x): NaN is null; inf as json writes it (never expected).
        if x != x:
            return "null"
        if x == math.inf:
            return "Infinity"
        if x == -math.inf:
            return "-Infinity"
        return float.__repr__(x)

    def lit(text: str) -> str:  # constant text inside a str.format template
        return text.replace("{", "{{").replace("}", "}}")

    def numbers(picked: F64) -> list[str]:
        as_list = picked.tolist()
        return list(map(float.__repr__, as_list)) if np.isfinite(picked).all() else [jnum(x) for x in as_list]

    no_fire = -(1 << 60)
    series_text: dict[int, tuple[list[str], str]] = {}
    for rule, sb, ss, lasts, runs in groups.values():
        r = rule.rule
        smp = sb.samples
        c = rule.conditions[0]
        cv = series_values[c.series]
        assert cv is not None
        at = np.asarray(ss, np.int64)
        n = len(at)
        ts = smp.ts[at].tolist()
        k = sb.k[at].tolist()
        t = smp.t[at].tolist()
        # One str.format per row over pre-rendered columns: the rule's constant text
        # (braces escaped) once, each number as json.dumps renders _num(x).
        template = '{"t":{},"k":{},"cooldown_ms":' + str(rule.cooldown_ms) + ',"last_fire_t":{}'
        template = "{{" + template[1:]
        columns: list[list[str]] = [
            list(map(str, t)), list(map(str, k)),
            ["null" if last < no_fire else str(int(last)) for last in lasts],
        ]
        if rule.for_ms is not None:
            template += ',"run_start_t":{}'
            columns.append([str(int(x)) for x in runs])
        values_of: list[list[float]] = []
        pieces: list[str] = []
        for cj in rule.conditions:
            svj = series_values[cj.series]
            assert svj is not None
            if cj.series not in series_text:  # the same for every rule on the series
                series_text[cj.series] = (
                    [lit(json.dumps(name) + ":") + "{}" for name in svj[2].inputs],
                    lit('"params":' + json.dumps(list(cj.params), separators=(",", ":"))),
                )
            keys, params_text = series_text[cj.series]
            for a in svj[2].inputs.values():
                columns.append(numbers(np.asarray(a[at], np.float64)))
            fields = [*keys, params_text]
            values_of.append(np.asarray(svj[0][at], np.float64).tolist())
            if len(rule.conditions) > 1:
                fields += [lit(f'"type":{json.dumps(cj.type_name)},"condition":{json.dumps(cj.condition)},'
                              f'"threshold":{json.dumps(cj.threshold)}'), '"value":{}']
                columns.append(numbers(np.asarray(svj[0][at], np.float64)))
            pieces.append(",".join(fields))
        if len(rule.conditions) == 1:
            template += "," + pieces[0] + "}}"
        else:
            template += ',"conditions":[' + ",".join("{{" + p + "}}" for p in pieces) + "]}}"
        texts = list(map(template.format, *columns))
        rows["inputs"].extend(texts)
        rows["alert_id"].extend([f"{r.id}@{a}#{b}" for a, b in zip(ts, k)])
        rows["rule_id"].extend([r.id] * n)
        rows["rule_name"].extend([r.name or r.id] * n)
        rows["symbol"].extend([r.instrument] * n)
        rows["ts"].extend(ts)
        rows["seq"].extend((seq0 + sb.row[at]).tolist())
        rows["price"].extend([None if v != v else v for v in sb.own_price[at].astype(np.float64).tolist()])
        mine = smp.source[at] == 0  # a spread sample from the other symbol carries no own volume
        vol = np.where(mine & (np.abs(smp.volume[at]) < 2.0**63), smp.volume[at], np.nan)
        rows["volume"].extend([None if v != v else int(v) for v in vol.tolist()])
        rows["value"].extend(cv[0][at].astype(np.float64).tolist())
        rows["prev_value"].extend([None if v != v else v for v in cv[1][at].astype(np.float64).tolist()])
        rows["threshold"].extend([c.threshold] * n)
        rows["condition"].extend([c.condition] * n)
        rows["type"].extend([r.type] * n)
        rows["severity"].extend([r.severity] * n)
        # messages.default_message, with the rule's words once (templates: after the sort).
        verbs = [f" {VERB[cj.condition]} {num(cj.threshold)}" for cj in rule.conditions]
        if r.message:
            rows["message"].extend([""] * n)
        elif len(rule.conditions) == 1:
            front = f"{r.instrument} {describe(rule)} "
            rows["message"].extend([front + num(v) + verbs[0] for v in values_of[0]])
        else:
            words = [describe(rule, j) + " " for j in range(len(rule.conditions))]
            rows["message"].extend([
                f"{r.instrument}: all of " + "; ".join(w + num(v) + b for w, v, b in zip(words, vs, verbs))
                for vs in zip(*values_of)
            ])
        rows["evaluated_at"].extend([evaluated_at] * n)
        rows["bar_start"].extend(t if plan.sources[rule.source].bar_ms is not None else [None] * n)
        if len(rule.conditions) == 1:
            rows["values"].extend([None] * n)
        else:  # json.dumps of the _num values (default separators)
            rows["values"].extend(["[" + ", ".join(map(jnum, vs)) + "]" for vs in zip(*values_of)])
        rows["rule_index"].extend([rule.index] * n)
    for rule, sb, s, last, run in per_alert:
        r = rule.rule
        smp = sb.samples
        row = int(sb.row[s])
        ts_s = int(smp.ts[s])
        first = rule.conditions[0]
        sv = series_values[first.series]
        assert sv is not None
        value, prev = float(sv[0][s]), sv[1][s]
        cond_values: list[float | None] = []
        cond_inputs: list[dict[str, float | None]] = []
        for c in rule.conditions:
            cv = series_values[c.series]
            assert cv is not None
            cond_values.append(_num(float(cv[0][s])))
            entry: dict[str, Any] = {k: _num(float(a[s])) for k, a in cv[2].inputs.items()}
            entry["params"] = list(c.params)
            if len(rule.conditions) > 1:
                entry.update(type=c.type_name, condition=c.condition, threshold=c.threshold,
                             value=_num(float(cv[0][s])))
            cond_inputs.append(entry)
        bar = plan.sources[rule.source].bar_ms is not None
        inputs: dict[str, Any] = {
            "t": int(smp.t[s]), "k": int(sb.k[s]), "cooldown_ms": rule.cooldown_ms,
            "last_fire_t": None if last < -(1 << 60) else int(last),
        }
        if rule.for_ms is not None:
            inputs["run_start_t"] = int(run)
        if len(rule.conditions) == 1:
            inputs.update(cond_inputs[0])
        else:
            inputs["conditions"] = cond_inputs
        volume = smp.volume[s]
        rows["alert_id"].append(f"{r.id}@{ts_s}#{int(sb.k[s])}")
        rows["rule_id"].append(r.id)
        rows["rule_name"].append(r.name or r.id)
        rows["symbol"].append(r.instrument)
        rows["ts"].append(ts_s)
        rows["seq"].append(seq0 + row)
        own = float(sb.own_price[s])
        rows["price"].append(None if own != own else own)
        mine = int(smp.source[s]) == 0  # a spread sample from the other symbol has no own volume
        rows["volume"].append(int(volume) if mine and abs(volume) < 2.0**63 else None)  # NaN: null
        rows["value"].append(value)
        rows["prev_value"].append(_num(float(prev)))
        rows["threshold"].append(first.threshold)
        rows["condition"].append(first.condition)
        rows["type"].append(r.type)
        rows["severity"].append(r.severity)
        rows["message"].append("")
        rows["evaluated_at"].append(evaluated_at)
        rows["inputs"].append(json.dumps(inputs, separators=(",", ":")))
        rows["bar_start"].append(int(smp.t[s]) if bar else None)
        rows["values"].append(json.dumps(cond_values) if len(rule.conditions) > 1 else None)
        rows["rule_index"].append(rule.index)
    df = pl.DataFrame(
        dict(rows),
        schema={**ALERT_SCHEMA, "ts": pl.Int64, "bar_start": pl.Int64, "rule_index": pl.Int64},
    ).with_columns(
        pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
        pl.col("bar_start").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
    ).sort(["seq", "rule_index"], maintain_order=True)
    # Templates (and the per-alert rows) see the whole row, as messages.message_for wants it.
    indexes = df["rule_index"].to_list()
    slow = [bool(plan.rules[i].rule.message) or not column_wise[i] for i in indexes]
    messages = df["message"].to_list()
    if any(slow):
        mask = pl.Series(slow)
        at_rows = [j for j, x in enumerate(slow) if x]
        for j, i, named in zip(at_rows, df["rule_index"].filter(mask).to_list(), df.filter(mask).iter_rows(named=True)):
            messages[j] = message_for(plan.rules[i], named)
    df = df.with_columns(pl.Series("message", messages, dtype=pl.String))
    return df.select(list(ALERT_SCHEMA)).cast(ALERT_SCHEMA)  # type: ignore[arg-type]


class Engine:
    """Convenience holder of (plan, state) for callers that run a stream in one place."""

    def __init__(self, plan: Plan, state: EngineState | None = None) -> None:
        self.plan = plan
        self.state = state or EngineState()
        self.notes: list[str] = []

    def process(self, ticks: pl.DataFrame, now: datetime | None = None) -> pl.DataFrame:
        result = evaluate(self.plan, self.state, ticks, now)
        self.state = result.state
        for note in result.notes:
            if note not in self.notes and len(self.notes) < MAX_NOTES:
                self.notes.append(note)
        return result.alerts

    def swap(self, plan: Plan) -> None:
        """Install a new plan between batches; state keyed by series/fingerprint carries over."""
        self.plan = plan

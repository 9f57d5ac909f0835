"""One micro-batch in, fired alerts out: pure and synchronous.

    ticks ─► sources: samples (ticks, closed bars, merged pairs)   engine/samples.py
          ─► series: each rule type's value per sample             rules/types/*
          ─► firing: conditions, for, gates, re-arm, cooldown      engine/firing.py
          ─► alerts (tick order, then declaration order) + the new carried state
                                                                   engine/alert_rows.py

No Python loop runs per tick or per alert; loops run per source, per series and per
round of jumps.  Sources whose symbols have no tick in the batch are skipped outright.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import repeat
from datetime import datetime, timezone
from typing import Any

import numpy as np
import polars as pl

from ..rules.registry import REGISTRY
from ..rules.seam import B, F64, I64, Values
from .alert_rows import FireRows, pending_alerts, rule_texts
from .alerts import empty_alerts
from .carried import Carried, FiringArrays, write_states
from .firing import FireInput, fire_many, fresh_state, rule_tables
from .pending import PendingAlerts
from .plan import Plan
from .samples import SourceBatch, Ticks, build_source
from .state import EngineState


@dataclass(frozen=True)
class BatchResult:
    alerts: pl.DataFrame
    state: EngineState
    #: Things a user should hear about (e.g. times a trading calendar cannot cover).
    notes: tuple[str, ...] = field(default_factory=tuple)


#: Larger batches are evaluated in slices of this many ticks: results do not depend on
#: where a stream is cut, and it bounds the per-batch arrays (firing bounds its rules x
#: samples matrices itself).  Large enough that a backtest's default batch (131,072 ticks
#: at up to 1,000 rules) is one slice: every slice pays each source's fixed cost again.
MAX_SLICE = 131_072
#: With many rules a slice also holds many alert rows and events (10,000 rules over 12
#: symbols fire about 1.6 alerts per tick): slices shrink so that rules x ticks stays under
#: this, down to ``MIN_SLICE``, which bounds a 10,000-rule backtest's peak memory.
SLICE_RULE_TICKS = 1 << 27
MIN_SLICE = 16_384
#: Distinct notes an Engine keeps (a live run that keeps hitting one must not grow forever).
MAX_NOTES = 100


@dataclass(frozen=True)
class PendingBatch:
    """:class:`BatchResult` with the alerts' text not yet written (see ``pending``)."""

    alerts: PendingAlerts
    state: EngineState
    notes: tuple[str, ...] = field(default_factory=tuple)


def evaluate(plan: Plan, state: EngineState, ticks: pl.DataFrame, now: datetime | None = None) -> BatchResult:
    """Evaluate accepted ticks (canonical columns, arrival order) against ``plan``.

    Arithmetic beyond float64 (prices near 1e308) gives inf or NaN, which the conditions
    read as a value past every threshold or as undefined; numpy's warnings about it are
    not a user's concern, so they are silenced here rather than printed per batch.
    """
    with np.errstate(all="ignore"):
        result = _evaluate(plan, state, ticks, now)
        return BatchResult(result.alerts.collect(), result.state, result.notes)


def evaluate_pending(plan: Plan, state: EngineState, ticks: pl.DataFrame, now: datetime | None = None) -> PendingBatch:
    """:func:`evaluate`, the alerts' text left to whoever collects them: a backtest writes
    it on its output thread, beside the evaluation of the next batch."""
    with np.errstate(all="ignore"):
        return _evaluate(plan, state, ticks, now)


def _evaluate(plan: Plan, state: EngineState, ticks: pl.DataFrame, now: datetime | None) -> PendingBatch:
    most = min(MAX_SLICE, max(MIN_SLICE, SLICE_RULE_TICKS // max(len(plan.rules), 1)))
    if ticks.height > most:
        # Each slice's alerts are built as it is evaluated: kept waiting instead, the numbers
        # of the first slices would live through the evaluation of the others, which costs
        # a 10,000-rule backtest some 15 MB more peak memory (heap fragmentation, it seems).
        pieces: list[pl.DataFrame] = []
        said: list[str] = []
        for start in range(0, ticks.height, most):
            piece = _evaluate(plan, state, ticks.slice(start, most), now)
            pieces.append(piece.alerts.collect())
            said.extend(piece.notes)
            state = piece.state
        return PendingBatch(PendingAlerts.ready(pl.concat(pieces)), state, tuple(dict.fromkeys(said)))
    n = ticks.height
    if n == 0:
        return PendingBatch(PendingAlerts.ready(empty_alerts()), state)
    tables = batch_tables(plan)
    firing_tables = rule_tables(plan)
    batch = _ticks(ticks, plan.symbol_codes)
    # Sources, series and rules of symbols without a tick in this batch keep their state
    # as it is: with no sample nothing about them changes (and a live batch of one tick
    # touches one symbol's rules only).
    same_plan = state.plan_version == plan.state_keys_version
    new_sources = _kept(state.sources, plan.live_source_keys, same_plan)
    built: list[SourceBatch | None] = [None] * len(plan.sources)
    for src_index in tables.touched(batch.sym):
        spec = plan.sources[src_index]
        codes = tables.source_codes[src_index]
        assert codes is not None
        sb, st = build_source(spec, codes, batch, state.sources.get(spec.key))
        built[src_index] = sb if len(sb.samples) else None
        new_sources[spec.key] = st
    new_series = _kept(state.series, plan.live_series_keys, same_plan)
    series_values: list[tuple[F64, F64, Values] | None] = [None] * len(plan.series)
    carried_series = state.series
    new_arrays = dict(state.series_arrays)
    computed = _series_results(plan, tables, built, carried_series, state.series_arrays)
    for (_, _, members), results in zip(plan.series_groups, computed):
        if results is None:
            continue
        for i, (vals, type_state, arrays) in zip(members, results):
            key = plan.series[i].key
            cs = carried_series.get(key)
            value = np.asarray(vals.value, np.float64)
            prev = np.empty_like(value)
            last = cs["last"] if cs else None
            prev[0] = np.nan if last is None else last
            prev[1:] = value[:-1]
            last = None if math.isnan(value[-1]) else float(value[-1])
            new_series[key] = {"type": type_state, "last": last}
            series_values[i] = (value, prev, vals)
            if arrays is not None:
                new_arrays[key] = (type_state, arrays)
            elif key in new_arrays:
                del new_arrays[key]
    new_rules = _kept(state.rules, plan.active_keys, same_plan)
    # the rules' state as the last batch of this plan left it in arrays (else from the dicts)
    arrays = state.firing if state.firing is not None and state.firing.valid_for(plan, state.rules) else None
    carried_by_source = dict(arrays.sources) if arrays is not None else {}
    parts: list[FireRows] = []
    notes: list[str] = []
    inputs: list[tuple[int, FireInput]] = []
    unwritten: dict[int, I64] = {}
    for src_index, rules in plan.rules_by_source.items():
        src = built[src_index]
        if src is None:
            continue
        values: dict[int, tuple[F64, F64]] = {}
        for sid in plan.series_of_rules[src_index]:
            sv = series_values[sid]
            assert sv is not None
            values[sid] = (sv[0], sv[1])
        gate_masks: dict[int, B] = {}
        for g in plan.gates_by_source.get(src_index, ()):
            gated = plan.gates[g].mask(src.samples.t)
            gate_masks[g] = gated.allowed
            if gated.uncovered.any():
                bad = int(src.samples.t[np.flatnonzero(gated.uncovered)[0]])
                notes.append(
                    f"calendar {plan.gates[g].calendar} does not cover "
                    f"{datetime.fromtimestamp(bad / 1000, timezone.utc):%Y-%m-%d %H:%M}Z: rules gated by it "
                    "do not fire there"
                )
        held = carried_by_source.get(src_index)
        if held is None:
            held, unwritten[src_index] = _read(new_rules, tables.state_keys[src_index],
                                               firing_tables[src_index].has_for)
        inputs.append((src_index, FireInput(
            rules, src.samples.t, src.samples.source, values, gate_masks, (),
            monotone=len(plan.sources[src_index].symbols) == 1, table=firing_tables[src_index], carried=held,
        )))
    # all sources' fires at once: the event path's work is per batch, not per source
    for (src_index, inp), (fires, new) in zip(inputs, fire_many([inp for _, inp in inputs])):
        src = built[src_index]
        assert src is not None
        old = inp.carried
        assert old is not None
        # only the dicts of rules whose state changed are written (and those not yet stored)
        changed = old.changed(new) if new is not old else np.zeros(0, np.int64)
        if src_index in unwritten:
            changed = np.union1d(changed, unwritten[src_index])
        if len(changed):
            write_states(new_rules, tables.state_keys[src_index], new, changed, firing_tables[src_index].has_for)
        carried_by_source[src_index] = new
        if len(fires.rule):
            s = fires.sample
            smp = src.samples
            mine = smp.source[s] == 0  # a spread sample from the other symbol carries no own volume
            parts.append(FireRows(
                rule=plan.rule_index_by_source[src_index][fires.rule], ts=smp.ts[s], k=src.k_at(s), t=smp.t[s],
                seq=state.next_seq + src.row[s], price=src.own_price[s].astype(np.float64),
                volume=np.where(mine, smp.volume[s], np.nan), sample=s, last=fires.last_fire, run=fires.run_start,
                source=src_index,
            ))
    new_state = EngineState(next_seq=state.next_seq + n, sources=new_sources, series=new_series, rules=new_rules,
                            plan_version=plan.state_keys_version,
                            firing=FiringArrays(plan, new_rules, carried_by_source), series_arrays=new_arrays)
    alerts = pending_alerts(plan, parts, series_values, now or datetime.now(timezone.utc)) if parts \
        else PendingAlerts.ready(empty_alerts())
    return PendingBatch(alerts, new_state, tuple(dict.fromkeys(notes)))


def _series_results(plan: Plan, tables: BatchTables, built: list[SourceBatch | None],
                    carried: dict[str, dict[str, Any]], held: dict[str, tuple[Any, Any]]
                    ) -> list[list[tuple[Values, Any, Any]] | None]:
    """Per ``plan.series_groups`` entry, its series' values, new type states and what the
    type keeps beside them (None: the source has no sample in the batch).  A type with
    ``values_all`` gets every source of the batch in one call, with what it kept beside
    each state it is handed; otherwise each source's series go to ``values_many`` (several
    parameter sets in one pass) or ``values``."""
    out: list[list[tuple[Values, Any, Any]] | None] = [None] * len(plan.series_groups)
    for type_name, group_ids in tables.groups_by_type:
        rt = REGISTRY[type_name]
        live = [g for g in group_ids if built[plan.series_groups[g][0]] is not None]
        if not live:
            continue
        every = getattr(rt, "values_all", None)
        if every is not None and len(live) > 1:
            groups = []
            for g in live:
                src_index, _, members = plan.series_groups[g]
                on = built[src_index]
                assert on is not None
                items = []
                for i in members:
                    key = plan.series[i].key
                    cs = carried.get(key)
                    st = cs["type"] if cs else None
                    kept = held.get(key)
                    items.append((plan.series[i].params, st, kept[1] if kept is not None and kept[0] is st else None))
                groups.append((items, on.samples))
            for g, results in zip(live, every(groups)):
                out[g] = results
            continue
        many = getattr(rt, "values_many", None)
        for g in live:
            src_index, _, members = plan.series_groups[g]
            on = built[src_index]
            assert on is not None
            pairs = []
            for i in members:
                cs = carried.get(plan.series[i].key)
                pairs.append((plan.series[i].params, cs["type"] if cs else None))
            if many is not None and len(pairs) > 1:
                # one pass over the source's samples for every parameter set of the type
                got = many(pairs, on.samples)
            else:
                got = [rt.values(params, on.samples, st) for params, st in pairs]
            out[g] = [(vals, st, None) for vals, st in got]
    return out


def batch_tables(plan: Plan) -> BatchTables:
    return plan.derived(BatchTables)


def prepare(plan: Plan) -> None:
    """Build now what the plan's first batch would otherwise build: the per-source
    tables every batch looks up and the alert rows' texts (some 40 ms at 1,000 rules).

    Nothing else changes: each of these is computed once per plan whenever it is first
    asked for. A backtest calls this while its reader is still on the first chunk, so
    the wait pays for them instead of the first batch.
    """
    built = (batch_tables(plan), rule_tables(plan), plan.rule_index_by_source, plan.series_groups,
             plan.series_of_rules, plan.gates_by_source, plan.live_series_keys, plan.state_keys_version,
             plan.condition_series, rule_texts(plan))
    assert all(part is not None for part in built)


class BatchTables:
    """What every batch looks up about a plan's sources, computed once per plan (kept
    with it, :func:`batch_tables`): a live batch of one tick would otherwise rebuild it
    for every source."""

    def __init__(self, plan: Plan) -> None:
        code_of = plan.symbol_codes
        #: per source, its symbols' codes (None: a symbol the plan has no rule on)
        self.source_codes: list[tuple[int, ...] | None] = []
        reading: list[list[int]] = [[] for _ in plan.symbol_list]
        for i, spec in enumerate(plan.sources):
            codes = tuple(code_of.get(s, -1) for s in spec.symbols)
            if min(codes) < 0:
                self.source_codes.append(None)
                continue
            self.source_codes.append(codes)
            for c in set(codes):
                reading[c].append(i)
        #: per symbol code, the sources that read it (ascending)
        self.sources_of = [tuple(x) for x in reading]
        self.all_sources = tuple(i for i, c in enumerate(self.source_codes) if c is not None)
        #: per source with rules, its rules' firing-state keys (``rules_by_source`` order)
        self.state_keys = {k: [r.state_key for r in v] for k, v in plan.rules_by_source.items()}
        #: ``plan.series_groups`` positions by type, in plan order: a type may compute every
        #: source's series of a batch in one call
        by_type: dict[str, list[int]] = {}
        for g, (_, type_name, _) in enumerate(plan.series_groups):
            by_type.setdefault(type_name, []).append(g)
        self.groups_by_type = tuple((name, tuple(gs)) for name, gs in by_type.items())

    def touched(self, sym: I64) -> tuple[int, ...] | list[int]:
        """The sources with a symbol in the batch (codes ``sym``; -1: not the plan's), ascending."""
        if len(sym) == 1:
            c = int(sym[0])
            return self.sources_of[c] if c >= 0 else ()
        present = np.zeros(len(self.sources_of) + 1, np.bool_)
        present[sym] = True  # -1 (undeclared) lands on the spare last slot
        if present[:-1].all():
            return self.all_sources
        return sorted({i for c in np.flatnonzero(present[:-1]).tolist() for i in self.sources_of[c]})


#: Up to this many ticks, symbols are looked up in a dict tick by tick rather than by a
#: polars expression: ``replace_strict`` costs a query of its own (over half a
#: millisecond), which the per-tick look-up (about 0.1 us a tick) only reaches at a few
#: thousand ticks.
SMALL_BATCH = 4096


def _ticks(ticks: pl.DataFrame, code_of: dict[str, int]) -> Ticks:
    """The batch's columns as numpy arrays (symbols as codes, -1: not in the plan)."""
    ts_col = ticks["ts"]
    if isinstance(ts_col.dtype, pl.Datetime) and ts_col.dtype.time_unit == "ms":
        ts = np.asarray(ts_col.to_numpy()).view(np.int64)
    else:
        ts = ts_col.dt.epoch("ms").to_numpy()
    if ticks.height <= SMALL_BATCH:
        sym = np.fromiter(map(code_of.get, ticks["symbol"].to_list(), repeat(-1)), np.int64, ticks.height)
    else:
        sym = _symbol_codes(ticks["symbol"], code_of)
    price = ticks["price"]
    volume = ticks["volume"]
    return Ticks(
        ts=np.ascontiguousarray(ts, dtype=np.int64),
        sym=np.ascontiguousarray(sym, dtype=np.int64),
        price=np.ascontiguousarray(
            price.to_numpy() if price.dtype == pl.Float64 else price.cast(pl.Float64).to_numpy(), dtype=np.float64),
        volume=np.ascontiguousarray(
            volume.to_numpy() if volume.dtype.is_numeric() else volume.cast(pl.Float64).to_numpy(), dtype=np.float64),
    )


def _symbol_codes(symbol: pl.Series, code_of: dict[str, int]) -> I64:
    """Each tick's symbol code (-1: not the plan's) over a large batch.  Codes that number
    the symbols in order are an ``Enum``'s physical values, and a cast to it looks each
    string up once, at about two thirds of ``replace_strict``'s cost."""
    if isinstance(symbol.dtype, pl.Enum):
        # (a backtest's ticks: an Enum of the declared symbols) a code per category, then a gather
        names = symbol.dtype.categories.to_list()
        code = np.fromiter((code_of.get(c, -1) for c in [*names, None]), np.int64, len(names) + 1)
        physical = symbol.to_physical()
        if physical.null_count():
            physical = physical.fill_null(len(names))
        enum_codes: I64 = code[physical.to_numpy()]
        return enum_codes
    if symbol.dtype == pl.String and list(code_of.values()) == list(range(len(code_of))):
        codes = symbol.cast(pl.Enum(list(code_of)), strict=False).to_physical().cast(pl.Int64).fill_null(-1)
    else:
        codes = symbol.replace_strict(code_of, default=-1, return_dtype=pl.Int64)
    out: I64 = codes.to_numpy()
    return out


def _read(rules: dict[str, dict[str, Any]], keys: list[str], has_for: B) -> tuple[Carried, I64]:
    """A source's firing state read from the dicts (once per plan and state: later
    batches carry the arrays), and the rules whose dicts must be written whatever
    happens: those with none yet, and those with ``for`` whose dict has no ``run``."""
    got = [rules.get(key) for key in keys]
    states = [fresh_state() if s is None else s for s in got]
    unwritten = np.fromiter((s is None or (f and "run" not in s) for s, f in zip(got, has_for.tolist())),
                            np.bool_, len(got))
    return Carried.of(states), np.flatnonzero(unwritten)


def _kept(carried: dict[str, dict[str, Any]], keys: frozenset[str], same_plan: bool) -> dict[str, dict[str, Any]]:
    """The carried state of what the plan still has (a reload drops the rest; the
    entries themselves are never mutated, so a shallow copy is enough)."""
    if same_plan or keys.issuperset(carried.keys()):
        return dict(carried)
    return {k: v for k, v in carried.items() if k in keys}


class Engine:
    """Convenience holder of (plan, state) for callers that run a stream in one place."""

    def __init__(self, plan: Plan, state: EngineState | None = None) -> None:
        self.plan = plan
        self.state = state or EngineState()
        self.notes: list[str] = []

    def process(self, ticks: pl.DataFrame, now: datetime | None = None) -> pl.DataFrame:
        result = evaluate(self.plan, self.state, ticks, now)
        self._took(result.state, result.notes)
        return result.alerts

    def process_pending(self, ticks: pl.DataFrame, now: datetime | None = None) -> PendingAlerts:
        """:meth:`process`, the alerts' text written when they are collected."""
        result = evaluate_pending(self.plan, self.state, ticks, now)
        self._took(result.state, result.notes)
        return result.alerts

    def _took(self, state: EngineState, notes: tuple[str, ...]) -> None:
        self.state = state
        for note in notes:
            if note not in self.notes and len(self.notes) < MAX_NOTES:
                self.notes.append(note)

    def swap(self, plan: Plan) -> None:
        """Install a new plan between batches; state keyed by series/fingerprint carries over."""
        self.plan = plan

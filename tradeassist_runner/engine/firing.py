"""Which samples fire: conditions, ``for``, gates, re-arm and cooldown, for every rule type.

Two paths.  A rule with one condition on a one-symbol source, or on a two-symbol one whose
batch is in time order (gates, ``rearm`` and ``for`` allowed), takes the *event* path
(``sparse.py``): its fires follow from where the value crosses
its threshold (and its re-arm level), found for every such rule of every source of the batch at once, at a
cost that grows with the crossings rather than with rules x samples.  Every other rule,
and a source whose values cross their thresholds so often that events would outnumber
a fraction of its rules x samples, takes the *matrix* path described next.

Per source (the samples rules share), everything up to the candidates is a boolean
matrix of rules x samples built with numpy broadcasting: a condition per row, ``for`` as
a running "last break" maximum along each row, gates as one mask per distinct gate.
What remains is sequential by nature: after a fire the next one needs the cooldown to
pass and, with ``rearm``, the value to come back first.  Two ways, neither looping per
sample or per rule:

- a rule whose fires only its cooldown limits and that may fire on many samples (a
  level that holds for minutes) *jumps* from fire to fire: each round takes the next
  fire of every such rule at once, and such rules fire about once per cooldown;
- every other candidate gets its *successor* (the next fire if it fires) by binary
  searches, all at once, and each rule's fires are the chain of successors from its
  first admissible candidate, marked by pointer doubling (log2 of the longest chain).

Firing state per rule (keyed by its exact definition, JSON):
``{"last": t of last fire | None, "armed": bool, "run": t where the current run of
holding samples began | None}``.
Within a batch it is read and written as per-source arrays (``carried.py``); only the
dicts of rules whose state changed are written back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..rules.seam import B, F64, I64
from .carried import Carried, state_dict
from .plan import CompiledRule, Plan
from .sparse import NEVER, Fired, Job, LevelTable, eligible, sparse_fires

#: Rules x samples cells evaluated at once (bounds memory for many rules on one symbol).
MAX_CELLS = 1 << 21
#: A cooldown-only rule that may fire on more samples than this is resolved by jumps
#: from fire to fire rather than by listing its samples.
DENSE = 32
#: Rounds of jumps before a rule's remaining fires are listed instead.
JUMP_ROUNDS = 8
_NEVER = NEVER
#: Whether rules the event path covers take it (else every rule takes the matrix path).
SPARSE = True
#: Whether a two-symbol source whose batch is in time order takes the one-symbol paths.
IN_ORDER = True


@dataclass(frozen=True)
class Fires:
    rule: I64  # position in the ``rules`` argument
    sample: I64
    last_fire: I64  # t of the fire before this one (_NEVER: none)
    run_start: I64  # t where the holding run began (for rules with ``for``; else the sample's t)


class RuleTable:
    """What the firing of a fixed list of rules needs that does not change per batch:
    per-rule arrays and, per condition depth, the rules grouped by (series, condition
    code) with their thresholds.  Built once per plan and source (:func:`rule_tables`),
    so a live micro-batch does no per-rule Python work to set up its comparisons."""

    def __init__(self, rules: Sequence[CompiledRule], split: bool = True) -> None:
        k = len(rules)
        self.size = k
        self.cooldown = np.fromiter((r.cooldown_ms for r in rules), np.int64, k)
        self.has_rearm = np.fromiter((r.rearm is not None for r in rules), np.bool_, k)
        self.plain = np.fromiter((r.rearm is None and r.for_ms is None for r in rules), np.bool_, k)
        self.gated = tuple(i for i, r in enumerate(rules) if r.gate is not None)
        self.with_for = tuple(i for i, r in enumerate(rules) if r.for_ms is not None)
        self.with_rearm = tuple(i for i, r in enumerate(rules) if r.rearm is not None)
        #: the rules with ``rearm`` (ascending) and, per (series, side), positions among
        #: them and the levels the value must come back to (``<=`` on the upward side)
        self.rearm_rows = np.asarray(self.with_rearm, np.int64)
        by_side: dict[tuple[int, bool], list[int]] = {}
        for pos, i in enumerate(self.with_rearm):
            c = rules[i].conditions[0]
            by_side.setdefault((c.series, c.cond in (0, 2)), []).append(pos)
        self.rearm_groups: list[tuple[int, bool, I64, F64]] = []
        for (series, up), members in by_side.items():
            levels = []
            for pos in members:
                r = rules[self.with_rearm[pos]]
                assert r.rearm is not None
                c = r.conditions[0]
                levels.append(c.threshold - r.rearm if up else c.threshold + r.rearm)
            self.rearm_groups.append((series, up, np.asarray(members, np.int64),
                                      np.asarray(levels, np.float64)[:, None]))
        self.depth = max((len(r.conditions) for r in rules), default=0)
        self.groups: list[list[tuple[int, int, I64, F64]]] = []
        for j in range(self.depth):
            by: dict[tuple[int, int], list[int]] = {}
            for i, r in enumerate(rules):
                if len(r.conditions) > j:
                    c = r.conditions[j]
                    by.setdefault((c.series, c.cond), []).append(i)
            self.groups.append([
                (series, code, np.asarray(members, np.int64),
                 np.asarray([rules[i].conditions[j].threshold for i in members], np.float64)[:, None])
                for (series, code), members in by.items()
            ])
        # the rules the event path covers (on a one-symbol source) and the rest
        self.sparse = np.asarray([i for i, r in enumerate(rules) if eligible(r)], np.int64) if split else \
            np.zeros(0, np.int64)
        self.levels = LevelTable([rules[i] for i in self.sparse.tolist()])
        #: positions among ``sparse`` of the rules with ``for``, and of those with ``rearm``
        self.sparse_for = np.flatnonzero(self.levels.for_ms >= 0)
        self.sparse_rearm = np.flatnonzero(self.levels.rearm >= 0)
        #: whether each rule has ``for`` (its state dict carries ``run``)
        self.has_for = np.fromiter((r.for_ms is not None for r in rules), np.bool_, k)
        rest = np.setdiff1d(np.arange(k, dtype=np.int64), self.sparse)
        self.rest = rest
        self.rest_rules = tuple(rules[i] for i in rest.tolist())
        self.rest_table = RuleTable(self.rest_rules, split=False) if split and len(self.sparse) else self


def _build_rule_tables(plan: Plan) -> dict[int, RuleTable]:
    return {k: RuleTable(v) for k, v in plan.rules_by_source.items()}


def rule_tables(plan: Plan) -> dict[int, RuleTable]:
    """Per source, the firing tables of its active rules (``rules_by_source`` order),
    built once per plan."""
    return plan.derived(_build_rule_tables)


def fresh_state() -> dict[str, Any]:
    return {"last": None, "armed": True, "run": None}


@dataclass(frozen=True)
class FireInput:
    """One source's share of a batch (``find_fires`` arguments; ``carried``: the state
    as arrays, which ``fire_many`` then reads instead of ``states``)."""

    rules: Sequence[CompiledRule]
    t: I64
    source: I64
    values: dict[int, tuple[F64, F64]]
    gates: dict[int, B]
    states: Sequence[dict[str, Any]]
    monotone: bool = True
    table: RuleTable | None = None
    carried: Carried | None = None


def find_fires(
    rules: Sequence[CompiledRule],
    t: I64,
    source: I64,
    values: dict[int, tuple[F64, F64]],
    gates: dict[int, B],
    states: Sequence[dict[str, Any]],
    monotone: bool = True,
    table: RuleTable | None = None,
) -> tuple[Fires, list[dict[str, Any]]]:
    """Fires of ``rules`` (all on one source) over its ``len(t)`` samples, and new states.

    ``monotone``: sample time never steps back (one symbol); with two symbols it may.
    ``table``: ``RuleTable(rules)``, when the caller keeps one.
    """
    return find_fires_many([FireInput(rules, t, source, values, gates, states, monotone, table)])[0]


def find_fires_many(inputs: Sequence[FireInput]) -> list[tuple[Fires, list[dict[str, Any]]]]:
    """``find_fires`` of several sources of one batch (``fire_many``), with the new
    state dicts: the carried ones, and new dicts where a rule's state changed."""
    out: list[tuple[Fires, list[dict[str, Any]]]] = []
    for inp, (fires, new) in zip(inputs, fire_many(inputs)):
        old = inp.carried or Carried.of(inp.states)
        table = inp.table or RuleTable(inp.rules)
        states = list(inp.states)
        for i in old.changed(new).tolist():
            states[i] = state_dict(states[i], new, i, bool(table.has_for[i]))
        out.append((fires, states))
    return out


def fire_many(inputs: Sequence[FireInput]) -> list[tuple[Fires, Carried]]:
    """Fires and new carried state of several sources of one batch: the rules the event
    path covers are resolved for all the sources together (a fixed number of array
    operations per batch rather than per source); the rest by the matrices, per source.
    A source whose state did not change gets its ``Carried`` back as it was."""
    inputs = [_as_monotone(inp) for inp in inputs]
    results: list[tuple[Fires, Carried] | None] = [None] * len(inputs)
    jobs: list[tuple[int, RuleTable, Carried, Job]] = []
    for idx, inp in enumerate(inputs):
        rules = inp.rules
        carried = inp.carried or Carried.of(inp.states)
        if len(inp.t) == 0 or not rules:
            z = np.zeros(0, np.int64)
            results[idx] = Fires(z, z, z, z), carried
            continue
        table = inp.table or RuleTable(rules)
        if not (SPARSE and inp.monotone and len(table.sparse)):
            results[idx] = _matrix_fires(rules, inp.t, inp.source, inp.values, inp.gates, carried, inp.monotone,
                                         table)
            continue
        mine = carried.take(table.sparse) if len(table.rest) else carried
        jobs.append((idx, table, carried, Job(table.levels, inp.t, inp.values, inp.gates, mine.last, mine.run,
                                              mine.armed if len(table.sparse_rearm) else None)))
    if jobs:
        for (idx, table, carried, _), got in zip(jobs, sparse_fires([j for _, _, _, j in jobs])):
            inp = inputs[idx]
            if got is None:
                results[idx] = _matrix_fires(inp.rules, inp.t, inp.source, inp.values, inp.gates, carried,
                                             inp.monotone, table)
            else:
                results[idx] = _with_rest(inp, table, carried, got)
    out: list[tuple[Fires, Carried]] = []
    for r in results:
        assert r is not None
        out.append(r)
    return out


def _as_monotone(inp: FireInput) -> FireInput:
    """``inp`` as a one-symbol source's when its time never steps back: within the batch
    and from every rule's last fire on.  A two-symbol source (spread) usually arrives in
    time order, and then "the first later sample at least a cooldown on" is the same
    search whichever symbol a sample came from, so its rules may take the event path and
    the jumps (a rule without cooldown fires on every candidate, as the general path
    finds: each is at or after the fire before it)."""
    t = inp.t
    if inp.monotone or not IN_ORDER or not len(t) or not inp.rules:
        return inp
    if len(t) > 1 and not bool((t[1:] >= t[:-1]).all()):
        return inp
    carried = inp.carried or Carried.of(inp.states)
    if len(carried.last) and int(t[0]) < int(carried.last.max()):
        return replace(inp, carried=carried)  # the arrays are read once, not again by the matrices
    return replace(inp, source=np.zeros(len(t), np.int64), monotone=True, carried=carried)


def _with_rest(inp: FireInput, table: RuleTable, carried: Carried, got: Fired) -> tuple[Fires, Carried]:
    """The event path's fires (by rule, then sample) with the matrix path's for the rest
    of the source's rules, and the new carried state (``carried`` itself where nothing
    in it changed)."""
    t = inp.t
    sparse = table.sparse
    e_rule, e_s = got.rule, got.sample
    f_rule, f_s, f_last, f_run = sparse[e_rule], e_s, got.last_fire, got.run_start
    if not (len(table.rest) or len(e_rule) or len(table.sparse_for) or len(table.sparse_rearm)):
        return Fires(f_rule, f_s, f_last, f_run), carried
    last, run, armed = carried.last.copy(), carried.run.copy(), carried.armed.copy()
    if len(table.rest):
        rest = table.rest
        fires, rest_state = _matrix_fires(table.rest_rules, t, inp.source, inp.values, inp.gates,
                                          carried.take(rest), inp.monotone, table.rest_table)
        last[rest], run[rest], armed[rest] = rest_state.last, rest_state.run, rest_state.armed
        if len(fires.rule):
            f_rule = np.concatenate((f_rule, rest[fires.rule]))
            f_s = np.concatenate((f_s, fires.sample))
            f_last = np.concatenate((f_last, fires.last_fire))
            f_run = np.concatenate((f_run, fires.run_start))
            order = np.lexsort((f_s, f_rule))
            f_rule, f_s, f_last, f_run = f_rule[order], f_s[order], f_last[order], f_run[order]
    if len(e_rule):
        # the event path's rules that fired: their last fire
        is_last = np.ones(len(e_rule), np.bool_)
        is_last[:-1] = e_rule[1:] != e_rule[:-1]
        fired = sparse[e_rule[is_last]]
        last[fired] = t[e_s[is_last]]
        armed[fired] = True
    # with ``for``: the run going on at the end, fired or not; with ``rearm``: re-armed or not
    run[sparse[table.sparse_for]] = got.run[table.sparse_for]
    armed[sparse[table.sparse_rearm]] = got.armed[table.sparse_rearm]
    return Fires(f_rule, f_s, f_last, f_run), Carried(last, run, armed)


def _matrix_fires(
    rules: Sequence[CompiledRule],
    t: I64,
    source: I64,
    values: dict[int, tuple[F64, F64]],
    gates: dict[int, B],
    carried: Carried,
    monotone: bool,
    table: RuleTable,
) -> tuple[Fires, Carried]:
    """``find_fires`` by rules x samples matrices: every rule, condition and modifier."""
    n = len(t)
    if not rules:
        z = np.zeros(0, np.int64)
        return Fires(z, z, z, z), carried
    chunk = max(1, MAX_CELLS // n)
    cand_r: list[I64] = []
    cand_s: list[I64] = []
    cand_run: list[I64] = []
    re_r: list[I64] = []
    re_s: list[I64] = []
    last0 = carried.last.copy()  # chains too long to jump continue from their last jumped fire
    run_end = carried.run.copy() if table.with_for else carried.run
    cooldown = table.cooldown
    # Rules whose fires only cooldown limits (no re-arm, no ``for``), on one symbol: when
    # they hold on many samples their fires are found by jumping (below), not by listing.
    jumpable = monotone & (cooldown > 0) & table.plain
    dense: list[tuple[I64, I64, I64]] = []
    for lo in range(0, len(rules), chunk):
        part = rules[lo:lo + chunk]
        hi = lo + len(part)
        holds = _holds(table, lo, hi, values, n)
        run_t = _runs(part, holds, t, carried.run[lo:hi], run_end[lo:hi]) if table.with_for else None
        fire_ok = holds
        gated = [i - lo for i in table.gated if lo <= i < hi]
        if gated or run_t is not None:
            fire_ok = holds.copy()
            for i in gated:
                gate = part[i].gate
                assert gate is not None
                fire_ok[i] &= gates[gate]
            if run_t is not None:
                rows, start = run_t
                for_ms = np.asarray([part[i].for_ms for i in rows], np.int64)
                fire_ok[rows] &= (t[None, :] - start) >= for_ms[:, None]
        jump_rows = np.flatnonzero(jumpable[lo:lo + len(part)])
        if len(jump_rows):
            # every row jumpable (the common case): counted in place, not gathered first
            held = fire_ok if len(jump_rows) == len(part) else fire_ok[jump_rows]
            jump_rows = jump_rows[np.count_nonzero(held, axis=1) > DENSE]
        if len(jump_rows):
            g = lo + jump_rows
            d_row, d_s, d_last, left, left_last = _jumps(fire_ok[jump_rows], t, cooldown[g], last0[g])
            dense.append((g[d_row], d_s, d_last))
            last0[g[left]] = left_last  # chains too long to jump: listed from their last fire
            done = np.ones(len(part), np.bool_)
            done[jump_rows] = False
            done[jump_rows[left]] = True
            listed = np.flatnonzero(done)
            r, s = np.nonzero(fire_ok[listed])
            r = listed[r]
        else:
            r, s = np.nonzero(fire_ok)
        cand_r.append(r + lo)
        cand_s.append(s)
        if run_t is not None:
            rows, start = run_t
            full = np.broadcast_to(t, (len(part), n)).copy()
            full[rows] = start
            cand_run.append(full[r, s])
        else:
            cand_run.append(t[s])
        if table.with_rearm:
            rr, rs = _rearm_points(table, lo, hi, values, n)
            re_r.append(rr + lo)
            re_s.append(rs)
    c_rule = np.concatenate(cand_r).astype(np.int64, copy=False)
    c_s = np.concatenate(cand_s).astype(np.int64, copy=False)
    c_run = np.concatenate(cand_run).astype(np.int64, copy=False)
    r_rule = np.concatenate(re_r).astype(np.int64, copy=False) if re_r else np.zeros(0, np.int64)
    r_s = np.concatenate(re_s).astype(np.int64, copy=False) if re_s else np.zeros(0, np.int64)
    fires, fired_at, armed = _resolve(table, t, source, c_rule, c_s, c_run, r_rule, r_s, carried.armed, monotone,
                                      last0, dense)
    last = np.where(fired_at >= 0, t[np.maximum(fired_at, 0)], carried.last)
    return fires, Carried(last, run_end, armed)


def _jumps(ok: B, t: I64, cooldown: I64, last: I64) -> tuple[I64, I64, I64, I64, I64]:
    """Fires of rules (rows of ``ok``: may fire at that sample) limited by cooldown alone.

    "The first sample at or after i where a row may fire" is one binary search over the
    row-major positions of the matrix's true cells (no rows x samples running minimum:
    only the rounds' queries are answered); every round takes the next fire of every row
    at once: the first such sample at or after ``t(last fire) + cooldown``.  Rows
    that hold for long stretches fire about once per cooldown, so a few rounds do.  Rows
    still going after ``JUMP_ROUNDS`` are returned (``left``, with the t of their last
    fire) for the caller to list instead.  Returns (row, sample, last fire t) per fire.
    """
    k, n = ok.shape
    cell_r, cell_s = np.nonzero(ok)
    cell_r = cell_r.astype(np.int64, copy=False)
    cell_s = cell_s.astype(np.int64, copy=False)
    stride = n + 1
    cell_key = cell_r * stride + cell_s  # sorted: row-major
    top = len(cell_key) - 1

    def first(row: I64, pos: I64) -> I64:
        """Per query: the row's first true cell at sample >= pos (n: none)."""
        if top < 0:
            return np.full(len(row), n, np.int64)
        j = np.searchsorted(cell_key, row * stride + pos)
        jj = np.minimum(j, top)
        hit: I64 = np.where((j <= top) & (cell_r[jj] == row), cell_s[jj], n)
        return hit

    rows = np.arange(k, dtype=np.int64)
    pos = np.where(last == _NEVER, 0, np.searchsorted(t, last + cooldown))
    at = first(rows, pos)
    prev = last.copy()
    out_r: list[I64] = []
    out_s: list[I64] = []
    out_l: list[I64] = []
    for _ in range(JUMP_ROUNDS):
        going = at < n
        if not going.all():
            rows, at, prev = rows[going], at[going], prev[going]
        if not len(rows):
            break
        out_r.append(rows)
        out_s.append(at)
        out_l.append(prev)
        prev = t[at]
        pos = np.searchsorted(t, prev + cooldown[rows])
        at = first(rows, pos)
    going = at < n
    z = np.zeros(0, np.int64)
    return (np.concatenate(out_r) if out_r else z, np.concatenate(out_s) if out_s else z,
            np.concatenate(out_l) if out_l else z, rows[going], prev[going])


def _holds(table: RuleTable, lo: int, hi: int, values: dict[int, tuple[F64, F64]], n: int) -> B:
    """rules lo..hi-1 x samples: does every condition of the rule hold?

    One broadcast comparison per (series, condition code) of the rules' thresholds
    against the series' values: no rules x samples float matrix is ever built.
    """
    k = hi - lo
    whole = lo == 0 and hi == table.size
    holds = np.empty((k, n), dtype=np.bool_)
    m = holds
    for j, groups in enumerate(table.groups):
        if j:
            m = np.empty((k, n), dtype=np.bool_)
            has = np.zeros(k, np.bool_)
        for series, code, rows, thr in groups:
            if not whole:
                keep = (rows >= lo) & (rows < hi)
                if not keep.any():
                    continue
                rows, thr = rows[keep] - lo, thr[keep]
            val, prv = values[series]
            if code == 0:
                block = val[None, :] > thr
            elif code == 1:
                block = val[None, :] < thr
            elif code == 2:
                block = (prv[None, :] <= thr) & (val[None, :] > thr)
            else:
                block = (prv[None, :] >= thr) & (val[None, :] < thr)
            if len(rows) == k:
                m[...] = block
            else:
                m[rows] = block
            if j:
                has[rows] = True
        if j:
            if has.all():  # every rule has this condition: in place, no gather and scatter
                holds &= m
            else:
                rows_j = np.flatnonzero(has)
                holds[rows_j] &= m[rows_j]
    return holds


def _runs(part: Sequence[CompiledRule], holds: B, t: I64, run0: I64, run_end: I64) -> tuple[I64, I64] | None:
    """For rules with ``for``: the t where each sample's holding run began (rows, matrix),
    from the carried starts ``run0``; ``run_end`` gets the runs going on at the end."""
    rows = np.asarray([i for i, r in enumerate(part) if r.for_ms is not None], np.int64)
    if not len(rows):
        return None
    n = holds.shape[1]
    h = holds[rows]
    brk = np.where(~h, np.arange(n)[None, :], -1)
    start_pos = np.maximum.accumulate(brk, axis=1) + 1
    start = t[np.minimum(start_pos, n - 1)]
    carried = run0[rows]
    from_before = (start_pos == 0) & (carried != _NEVER)[:, None]
    start = np.where(from_before, carried[:, None], start)
    run_end[rows] = np.where(h[:, -1], start[:, -1], _NEVER)
    return rows, start


def _rearm_points(table: RuleTable, lo: int, hi: int, values: dict[int, tuple[F64, F64]], n: int) -> tuple[I64, I64]:
    """(rule - lo, sample), rule-major, where a rule lo..hi-1 with ``rearm`` is back on
    the other side of its level: one broadcast comparison per (series, side)."""
    rows = table.rearm_rows
    a, b = np.searchsorted(rows, (lo, hi)).tolist()
    if a == b:
        z = np.zeros(0, np.int64)
        return z, z
    hit = np.empty((b - a, n), np.bool_)
    whole = a == 0 and b == len(rows)
    for series, up, pos, level in table.rearm_groups:
        if not whole:
            keep = (pos >= a) & (pos < b)
            if not keep.any():
                continue
            pos, level = pos[keep], level[keep]
        v = values[series][0][None, :]
        hit[pos - a] = (v <= level) if up else (v >= level)
    r, s = np.nonzero(hit)
    return rows[a + r] - lo, s.astype(np.int64, copy=False)


def _resolve(
    table: RuleTable, t: I64, source: I64,
    c_rule: I64, c_s: I64, c_run: I64, r_rule: I64, r_s: I64,
    armed0: B, monotone: bool, last0: I64, jumped: Sequence[tuple[I64, I64, I64]],
) -> tuple[Fires, I64, B]:
    """Apply cooldown and re-arm to the candidates (sorted by rule, then sample): the
    fires, and per rule the sample of its last fire (-1: none) and whether it is re-armed.

    After a fire at candidate ``c`` the rule's next fire is a function of ``c`` alone:
    the first candidate of the rule that is later in sample order, past the re-arm point
    that follows ``c`` (with ``rearm``) and at least ``cooldown`` after ``t(c)``.  So
    every candidate gets its successor with a few binary searches at once, and each
    rule's fires are the chain of successors from its first admissible candidate.  The
    chains are marked by pointer doubling: ``log2`` of the longest chain gathers over the
    candidates, whatever the number of rules or fires.
    """
    n = len(t)
    stride = n + 1
    n_rules = table.size
    cooldown = table.cooldown
    has_rearm = table.has_rearm
    # every candidate fires, unless sample time can step back (two symbols): then even a
    # zero cooldown needs t >= t(last fire)
    free = (cooldown == 0) & ~has_rearm & monotone
    take_free = free[c_rule]
    out_rule = [c_rule[take_free]]
    out_s = [c_s[take_free]]
    out_run = [c_run[take_free]]
    # last fire before each free fire: the previous candidate of the same rule, or carried
    fr, fs = c_rule[take_free], c_s[take_free]
    prev_same = np.concatenate(([False], fr[1:] == fr[:-1])) if len(fr) else np.zeros(0, np.bool_)
    prev_t = np.where(prev_same, t[np.concatenate(([0], fs[:-1]))] if len(fs) else fs, last0[fr])
    out_last = [prev_t.astype(np.int64)]
    for j_rule, j_s, j_last in jumped:
        out_rule.append(j_rule)
        out_s.append(j_s)
        out_run.append(t[j_s])
        out_last.append(j_last)
    busy = ~take_free
    if busy.any():
        b_rule, b_s, b_run = c_rule[busy], c_s[busy], c_run[busy]
        # segments: (rule, symbol of the sample); sample time is monotone within each
        seg = b_rule * 2 + source[b_s]
        if not monotone:
            order = np.lexsort((b_s, seg))
            b_rule, b_s, b_run, seg = b_rule[order], b_s[order], b_run[order], seg[order]
        b_t = t[b_s]
        m = len(b_s)
        tmin = int(t.min())
        span = int(t.max()) - tmin + 2
        key_s = seg * stride + b_s
        key_t = seg * span + (b_t - tmin)
        key_r = r_rule * stride + r_s  # sorted: rule-major, sample order within

        def first_at(rule: I64, lo_s: I64, lo_t: I64) -> I64:
            """Per query: the candidate of ``rule`` with the smallest sample among those
            at sample >= lo_s and t >= lo_t (m: none)."""
            t_off = np.clip(lo_t - tmin, 0, span - 1)
            best = np.full(len(rule), m, np.int64)
            best_s = np.full(len(rule), np.iinfo(np.int64).max, np.int64)
            for side in ((0,) if monotone else (0, 1)):
                sg = rule * 2 + side
                c = np.maximum(np.searchsorted(key_s, sg * stride + lo_s),
                               np.searchsorted(key_t, sg * span + t_off))
                cc = np.minimum(c, m - 1)
                ok = (c < m) & (seg[cc] == sg)
                cs = np.where(ok, b_s[cc], np.iinfo(np.int64).max)
                better = cs < best_s
                best_s = np.where(better, cs, best_s)
                best = np.where(better, cc, best)
            return best

        def rearm_after(rule: I64, lo_s: I64) -> tuple[I64, B]:
            """Per query: the first re-arm sample of ``rule`` at or after lo_s, and whether any."""
            if not len(key_r):
                return lo_s, np.zeros(len(rule), np.bool_)
            j = np.searchsorted(key_r, rule * stride + lo_s)
            jj = np.minimum(j, len(key_r) - 1)
            ok = (j < len(key_r)) & (r_rule[jj] == rule)
            return np.where(ok, r_s[jj], lo_s), ok

        # successor of every candidate
        lo_s = b_s + 1
        alive = np.ones(m, np.bool_)
        re = has_rearm[b_rule]
        if re.any():
            at, ok = rearm_after(b_rule[re], lo_s[re])
            lo_s[re] = at
            alive[re] = ok
        nxt = first_at(b_rule, lo_s, b_t + cooldown[b_rule])
        nxt[~alive] = m
        # first fire of every rule with candidates
        rules_b = np.unique(b_rule)
        start_lo_s = np.zeros(len(rules_b), np.int64)
        start_ok = np.ones(len(rules_b), np.bool_)
        need = has_rearm[rules_b] & ~armed0[rules_b]
        if need.any():
            at, ok = rearm_after(rules_b[need], start_lo_s[need])
            start_lo_s[need] = at
            start_ok[need] = ok
        l0 = last0[rules_b]
        start = first_at(rules_b, start_lo_s, np.where(l0 == _NEVER, tmin - 1, l0 + cooldown[rules_b]))
        start = start[start_ok & (start < m)]
        # mark every chain by pointer doubling: after k rounds `chain` holds the first
        # 2**k nodes of every chain and `jump` is the successor applied 2**k times
        jump = np.append(nxt, m)
        chain = start
        while len(chain):
            ahead = jump[chain]
            ahead = ahead[ahead < m]
            if not len(ahead):
                break
            chain = np.concatenate((chain, ahead))
            jump = jump[jump]
        chain.sort()  # candidate order: per segment, sample order
        f_rule, f_s, f_run = b_rule[chain], b_s[chain], b_run[chain]
        if not monotone:
            order = np.lexsort((f_s, f_rule))
            f_rule, f_s, f_run = f_rule[order], f_s[order], f_run[order]
        same = np.concatenate(([False], f_rule[1:] == f_rule[:-1])) if len(f_rule) else np.zeros(0, np.bool_)
        f_last = np.where(same, t[np.concatenate(([0], f_s[:-1]))] if len(f_s) else f_s, last0[f_rule])
        out_rule.append(f_rule)
        out_s.append(f_s)
        out_run.append(f_run)
        out_last.append(f_last.astype(np.int64))
    f_rule = np.concatenate(out_rule).astype(np.int64, copy=False)
    f_s = np.concatenate(out_s).astype(np.int64, copy=False)
    f_run = np.concatenate(out_run).astype(np.int64, copy=False)
    f_last = np.concatenate(out_last).astype(np.int64, copy=False)
    order = np.lexsort((f_s, f_rule))
    f_rule, f_s, f_run, f_last = f_rule[order], f_s[order], f_run[order], f_last[order]
    # carried firing state: last fire (in sample order) and whether re-armed since
    fired_at = np.full(n_rules, -1, np.int64)
    if len(f_rule):
        is_last = np.concatenate((f_rule[1:] != f_rule[:-1], [True]))
        fired_at[f_rule[is_last]] = f_s[is_last]
    fired = fired_at >= 0
    armed = np.ones(n_rules, np.bool_)
    if has_rearm.any():
        idx = np.flatnonzero(has_rearm)
        key_r = r_rule * stride + r_s
        j = np.searchsorted(key_r, idx * stride + fired_at[idx] + 1)
        jj = np.minimum(j, max(len(key_r) - 1, 0))
        seen = (j < len(key_r)) & (r_rule[jj] == idx) if len(key_r) else np.zeros(len(idx), np.bool_)
        armed[idx] = seen | (~fired[idx] & armed0[idx])
    return Fires(f_rule, f_s, f_last, f_run), fired_at, armed

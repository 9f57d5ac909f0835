"""Fires of single-condition rules, found from events, not a matrix.

Such a rule (one condition; gates, ``rearm`` and ``for`` allowed) on a one-symbol source holds
on a union of *runs* of consecutive samples, and a run begins or ends only where the
value crosses the rule's threshold.  With the distinct thresholds of one (series,
condition) sorted once per plan, the thresholds that change state between two samples
are a contiguous range of that array (found from one binary search per sample and a
table built with the plan, ``LevelTable``), so every threshold's runs are listed for
the cost of the crossings, not of rules x samples:

- ``crosses_*``: the range crossed between ``prev`` and the value; every event is a
  run of one sample;
- ``above`` / ``below``: the thresholds held at a sample are a prefix (a suffix) of
  the sorted array; where its length grows runs begin, where it shrinks they end.

Rules that share a threshold share its runs.  The cooldown is then a walk from fire to
fire, every rule at once: the earliest admissible sample is one binary search over
``t`` (sample time is monotone on one symbol), the fire is the first sample of the
rule's runs at or after it (one binary search over the run ends).  A rule fires at
most once per cooldown, so the rounds are as many as the most fires of one rule.  A
rule without cooldown fires on every sample of its runs.  ``for`` moves a run's first
admissible sample to ``for`` after the run began; a gate moves a shut fire to the
gate's next opening (both are one more round, not a fire).  With ``rearm`` the value
must come back first: the samples where it is back are runs of a level of their own
(``rearm_level``), and after a fire the next round starts from the first of them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..rules.seam import B, F64, I64
from .plan import CompiledRule

NEVER = np.iinfo(np.int64).min // 4
#: Past this many events (a run begun or ended: two per run) per rule x sample cell, a
#: source's rules are resolved by the matrices instead (values that keep crossing their
#: thresholds, e.g. a noisy indicator with levels inside its range).  Volume spikes on
#: ticks reach about 0.22 events per cell and still cost a third less CPU on this path
#: than on the matrices (``benchmarks/type_cost.py volume_spike``), so the cut-over sits
#: above that, not at the first sign of crossings.
EVENTS_PER_CELL = 0.3
#: Up to this many levels in a batch, runs are grouped by a stable radix sort of their
#: levels as 16-bit numbers; past it, by a sort of (level, sample) keys.
RADIX_LEVELS = 1 << 16
#: A batch's series are turned into runs this many values at a time (or one series, if
#: longer): the dozens of temporary arrays of a group then stay small enough for the
#: allocator to hand the same memory to the next group, where arrays of a whole batch
#: (100,000s of values) would each be fresh pages, and the page faults of a first touch
#: cost more than the arithmetic
GROUP_VALUES = 32768


def eligible(rule: CompiledRule) -> bool:
    """Whether the event path covers ``rule`` (on a one-symbol source)."""
    if len(rule.conditions) != 1 or not (rule.for_ms is None or rule.conditions[0].cond < 2):
        return False
    return rule.rearm is None or rearm_level(rule) is not None


def rearm_level(rule: CompiledRule) -> tuple[int, float] | None:
    """The re-arm points of a rule with ``rearm`` as a level of its series: (condition
    code, threshold), or None where that level would not be finite.

    Back at or below ``threshold - rearm`` (the upward side) is strictly below the float
    just above that level, and back at or above ``threshold + rearm`` is strictly above
    the float just below it, for every value including the infinities (NaN is neither),
    so re-arming is a ``below`` or ``above`` level like any other: its samples come in
    runs listed with the rest."""
    assert rule.rearm is not None
    c = rule.conditions[0]
    if c.cond in (0, 2):
        code, level = 1, float(np.nextafter(c.threshold - rule.rearm, np.inf))
    else:
        code, level = 0, float(np.nextafter(c.threshold + rule.rearm, -np.inf))
    return (code, level) if math.isfinite(level) else None


class LevelTable:
    """Per plan and source: the eligible rules' thresholds, distinct and sorted per series,
    and each rule's *level*: a number for its (series, condition, threshold).

    A value is ranked once among its series' distinct thresholds ``thr``: one binary
    search over ``search`` (every threshold preceded by the float just below it, then
    +inf) counts ``L + R``, with ``L`` the thresholds below the value and ``R`` those at
    or below it.  As ``R - L`` is 0 or 1 the count tells both, and an undefined value
    (NaN, searched as past every number) gets a code of its own, 2 x thresholds + 1.
    ``codes`` turns a code into what every condition needs, levels a rule uses only
    (thresholds are finite: the config admits no other):

    - 0 ``above``: the held levels end there (they begin at the code of NaN);
    - 1 ``below``: the held levels begin there (they end at the code of NaN);
    - 2, 3 ``crosses_above``: the first level a move from there (2) up to a value of
      that code (3) crosses, and one past the last: undefined on either side, none;
    - 4, 5 ``crosses_below``: the same, down from a value of code 5 to one of code 4.
    """

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.size = len(rules)
        # every rule's condition, then the re-arm level of each rule with ``rearm``
        entries = [(r.conditions[0].series, r.conditions[0].cond, r.conditions[0].threshold) for r in rules]
        with_rearm: list[int] = []
        for i, r in enumerate(rules):
            if r.rearm is not None:
                lv = rearm_level(r)
                assert lv is not None
                with_rearm.append(i)
                entries.append((r.conditions[0].series, *lv))
        by: dict[int, list[int]] = {}
        for i, (series, _, _) in enumerate(entries):
            by.setdefault(series, []).append(i)
        level = np.zeros(len(entries), np.int64)
        #: series, search array, its first column in ``codes``, the search array as floats
        #: (a batch ranks its carried ``prev`` with one ``bisect``: a numpy call per
        #: series and batch is most of a small batch's ranking)
        self.series: list[tuple[int, F64, int, list[float]]] = []
        blocks: list[I64] = []
        base = 0
        col = 0
        for series, members in sorted(by.items()):
            thr = np.asarray([entries[i][2] for i in members], np.float64)
            conds = np.asarray([entries[i][1] for i in members], np.int64)
            distinct, where = np.unique(thr, return_inverse=True)
            where = where.reshape(-1)
            k = len(distinct)
            used = np.zeros((4, k), np.int64)
            used[conds, where] = 1
            cum = np.zeros((4, k + 1), np.int64)  # cum[c][j]: condition c's levels among the first j thresholds
            cum[:, 1:] = np.cumsum(used, axis=1)
            first = np.zeros(4, np.int64)
            first[1:] = np.cumsum(cum[:3, -1])
            first += base
            level[members] = first[conds] + cum[conds, where]
            search = np.empty(2 * k + 1, np.float64)
            search[0:2 * k:2] = np.nextafter(distinct, -np.inf)
            search[1:2 * k:2] = distinct
            search[2 * k] = np.inf
            code = np.arange(2 * k + 2, dtype=np.int64)
            nan = code == 2 * k + 1
            below = np.where(nan, 0, code >> 1)  # L
            at_or_below = np.where(nan, k, code - (code >> 1))  # R
            block = np.empty((6, 2 * k + 2), np.int64)
            block[0] = cum[0, below] + first[0]
            block[1] = cum[1, at_or_below] + first[1]
            block[2] = np.where(nan, cum[2, k], cum[2, below]) + first[2]
            block[3] = np.where(nan, 0, cum[2, below]) + first[2]
            block[4] = np.where(nan, cum[3, k], cum[3, at_or_below]) + first[3]
            block[5] = np.where(nan, 0, cum[3, at_or_below]) + first[3]
            blocks.append(block)
            self.series.append((series, search, col, search.tolist()))
            base += int(cum[:, -1].sum())
            col += 2 * k + 2
        self.levels = base
        self.level = level[:len(rules)]
        #: per rule, the level of its re-arm points (-1: no ``rearm``)
        self.rearm = np.full(len(rules), -1, np.int64)
        self.rearm[with_rearm] = level[len(rules):]
        #: every rule armed (a job's ``armed0`` when it has no rule with ``rearm``)
        self.armed = np.ones(len(rules), np.bool_)
        self.codes: I64 = np.concatenate(blocks, axis=1) if blocks else np.zeros((6, 0), np.int64)
        self.cooldown = np.fromiter((r.cooldown_ms for r in rules), np.int64, len(rules))
        self.for_ms = np.fromiter((-1 if r.for_ms is None else r.for_ms for r in rules), np.int64, len(rules))
        self.gate = np.fromiter((-1 if r.gate is None else r.gate for r in rules), np.int64, len(rules))
        self.gates = tuple(sorted({r.gate for r in rules if r.gate is not None}))


@dataclass(frozen=True)
class Job:
    """One source's share of a batch: its table, sample times, series values and, per
    eligible rule, the t of its last fire before the batch (``NEVER``: none)."""

    table: LevelTable
    t: I64
    values: dict[int, tuple[F64, F64]]
    gates: dict[int, B]
    last0: I64
    run0: I64  # per eligible rule with ``for``: the carried start of its run (NEVER: none)
    armed0: B | None = None  # per eligible rule: carried re-armed flag (None: every rule armed)


@dataclass(frozen=True)
class Fired:
    """One job's fires, sorted by rule then sample, and its rules' runs going on."""

    rule: I64  # position among the job's eligible rules
    sample: I64
    last_fire: I64  # t of the rule's fire before (NEVER: none)
    run_start: I64  # t where the holding run began (with ``for``; else the sample's t)
    run: I64  # per rule with ``for``: t where the run going at the end began (NEVER: none)
    armed: B  # per rule: re-armed at the end (True for the rules without ``rearm``)


def sparse_fires(jobs: Sequence[Job]) -> list[Fired | None]:
    """Per job, its fires; None for a job left to the matrices (``EVENTS_PER_CELL``).
    All jobs at once: their samples are laid end to end, so the work is a fixed number
    of array operations per batch (plus two binary searches per series)."""
    sizes = [len(j.t) for j in jobs]
    offsets = np.zeros(len(jobs) + 1, np.int64)
    offsets[1:] = np.cumsum(sizes)
    t = np.concatenate([j.t for j in jobs]) if len(jobs) > 1 else jobs[0].t
    # level numbers unique across jobs; a rule's level, cooldown and last fire, end to end
    level_base = np.zeros(len(jobs) + 1, np.int64)
    level_base[1:] = np.cumsum([j.table.levels for j in jobs])
    rule_count = np.asarray([j.table.size for j in jobs], np.int64)
    rule_job = np.repeat(np.arange(len(jobs), dtype=np.int64), rule_count)
    level = np.concatenate([j.table.level for j in jobs]) + level_base[rule_job]
    cooldown = np.concatenate([j.table.cooldown for j in jobs])
    last0 = np.concatenate([j.last0 for j in jobs])
    lvl_of, start, end, key, dense = runs(jobs, offsets, level_base)
    has_gate, gate_at, open_at = _gates(jobs, offsets, rule_job)
    for_ms = np.concatenate([j.table.for_ms for j in jobs])
    run0 = np.concatenate([j.run0 for j in jobs])
    rearm = np.concatenate([j.table.rearm for j in jobs])
    if (rearm >= 0).any():
        rearm = np.where(rearm >= 0, rearm + level_base[rule_job], -1)
        armed0 = np.concatenate([j.table.armed if j.armed0 is None else j.armed0 for j in jobs])
    else:
        armed0 = np.ones(len(rule_job), np.bool_)
    rule, sample, last, since, run_state, armed = _walk(
        lvl_of, start, end, key, t, offsets, rule_job, level, cooldown, last0, for_ms, run0, has_gate, gate_at,
        open_at, rearm, armed0)
    out: list[Fired | None] = []
    if len(rule):
        order = np.lexsort((sample, rule))
        rule, sample, last, since = rule[order], sample[order], last[order], since[order]
    rule_off = np.zeros(len(jobs) + 1, np.int64)
    rule_off[1:] = np.cumsum(rule_count)
    cut = np.searchsorted(rule, rule_off)
    for j in range(len(jobs)):
        a, b = cut[j], cut[j + 1]
        out.append(None if dense[j] else Fired(rule[a:b] - rule_off[j], sample[a:b] - offsets[j], last[a:b],
                                               since[a:b], run_state[rule_off[j]:rule_off[j + 1]],
                                               armed[rule_off[j]:rule_off[j + 1]]))
    return out


def _gates(jobs: Sequence[Job], offsets: I64, rule_job: I64) -> tuple[B, I64, I64]:
    """Per rule, whether it has a gate and where that gate's segment of ``open_at``
    begins (less the job's first sample), and
    ``open_at``: per (job, gate) and sample of the job, the first sample at or after it
    that the gate lets fire (the job's end: none), numbered end to end."""
    gate_at = np.zeros(len(rule_job), np.int64)
    has = np.zeros(len(rule_job), np.bool_)
    segments: list[I64] = []
    at = 0
    first_rule = 0
    for j, job in enumerate(jobs):
        n = len(job.t)
        for g in job.table.gates:
            ok = job.gates[g]
            nxt = np.where(ok, np.arange(n, dtype=np.int64), n)
            segments.append(np.minimum.accumulate(nxt[::-1])[::-1] + offsets[j])
            mine = first_rule + np.flatnonzero(job.table.gate == g)
            gate_at[mine] = at - offsets[j]
            has[mine] = True
            at += n
        first_rule += job.table.size
    if not segments:
        return has, gate_at, np.zeros(0, np.int64)
    return has, gate_at, np.concatenate(segments)


def runs(jobs: Sequence[Job], offsets: I64, level_base: I64) -> tuple[I64, I64, I64, I64, B]:
    """Every level's runs over the jobs' samples (numbered end to end), by level then
    first sample: (level, first sample, one past the last, level * (samples + 1) + first
    sample), and which jobs are left to the matrices.

    The series are taken a few at a time (``GROUP_VALUES``, ``_group_runs``): a series'
    levels are a block of their own, numbered after the blocks of the series before it, so
    the groups' runs laid end to end are grouped by level as well.
    """
    stride = int(offsets[-1]) + 1
    tables: list[I64] = []
    groups: list[list[tuple[int, F64, F64, F64, int, list[float]]]] = []
    group: list[tuple[int, F64, F64, F64, int, list[float]]] = []
    size = 0
    col_at = 0
    for j, job in enumerate(jobs):
        off = int(offsets[j])
        table = job.table
        for series, search, col, floats in table.series:
            val, prv = job.values[series]
            if size and size + len(val) > GROUP_VALUES:
                groups.append(group)
                group, size = [], 0
            group.append((off, val, prv, search, col_at + col, floats))
            size += len(val) + 1
        tables.append(table.codes + int(level_base[j]))
        col_at += table.codes.shape[1]
    if group:
        groups.append(group)
    if not groups:
        z = np.zeros(0, np.int64)
        return z, z, z, z, np.zeros(len(jobs), np.bool_)
    codes = np.concatenate(tables, axis=1)
    radix = int(level_base[-1]) <= RADIX_LEVELS
    parts = [_group_runs(g, codes, radix, stride) for g in groups]
    if len(parts) == 1:
        level, start, end = parts[0]
    else:
        level, start, end = (np.concatenate(x) for x in zip(*parts))
    # a job whose values cross its thresholds so often that its events (a run begun or
    # ended) outnumber a fraction of its rules x samples is left to the matrices
    # (not counting one run per level: a level held at the first or the last sample has
    # a run there whatever the values do, so a batch of a few samples is not "dense")
    cut = np.searchsorted(level, level_base)
    cells = np.asarray([j.table.size * len(j.t) for j in jobs], np.float64)
    held = np.asarray([j.table.levels for j in jobs], np.int64)
    dense = 2 * np.maximum(np.diff(cut) - held, 0) > cells * EVENTS_PER_CELL
    if dense.any():
        keep = np.repeat(~dense, np.diff(cut))
        level, start, end = level[keep], start[keep], end[keep]
    return level, start, end, level * stride + start, dense


def _group_runs(group: Sequence[tuple[int, F64, F64, F64, int, list[float]]], codes: I64, radix: bool,
                stride: int) -> tuple[I64, I64, I64]:
    """The runs of a few series (per series: its job's first sample, its values and
    ``prev``, search array, first column in ``codes`` and search array as floats), by
    level then first sample: (level, first sample, one past the last).

    Each series' values, preceded by its ``prev`` at the first sample, get their codes
    (``LevelTable``: one binary search per value); only where a code changes can a run
    begin or end, so everything after that looks at those places only, through the
    ``codes`` table.  Runs come out grouped by level with no sort of the runs
    themselves: per level they are listed in sample order, so a stable sort of the
    levels (a radix sort, for up to 2**16 levels) is enough.
    """
    total = sum(len(g[1]) + 1 for g in group)
    # each series ranked where its codes go (its ``prev`` at the first sample, then its
    # values): the values themselves are never laid end to end
    code = np.empty(total, np.int64)
    starts_of: list[int] = []  # per series: the slot of its ``prev``; its samples follow
    lens_of: list[int] = []
    shift: list[int] = []  # per series: its first sample's number less its slot's
    nan_code: list[int] = []
    slot = 0
    for off, val, prv, search, c, floats in group:
        p = float(prv[0])
        # ``searchsorted`` sorts NaN past every number: ``bisect`` must be told
        code[slot] = (bisect_left(floats, p) if p == p else len(floats)) + c
        n = len(val)
        np.add(np.searchsorted(search, val), c, out=code[slot + 1:slot + 1 + n])
        starts_of.append(slot)
        lens_of.append(n)
        nan_code.append(c + len(search))
        shift.append(off - slot - 1)
        slot += n + 1
    lens = np.asarray(lens_of, np.int64)
    starts = np.asarray(starts_of, np.int64)
    change = np.empty(len(code), np.bool_)
    change[0] = False
    np.not_equal(code[1:], code[:-1], out=change[1:])
    change[starts] = False
    change[starts + 1] = True  # the first sample: runs begin, and crossings from the carried prev
    pos = np.flatnonzero(change)
    first = np.searchsorted(pos, starts + 1)  # each series' first sample among ``pos``
    count = np.diff(first, append=len(pos))
    at = pos + np.repeat(np.asarray(shift, np.int64), count)
    cur = code[pos]
    prev = code[pos - 1]
    held = prev.copy()
    held[first] = nan_code  # before the first sample nothing is held: every run there begins
    # above: held levels [A(NaN), A(code)); below: [B(code), B(NaN)); where they grow,
    # runs begin, where they shrink, runs end
    above, below = codes[0], codes[1]
    a_prev, a_cur, b_prev, b_cur = above[held], above[cur], below[held], below[cur]
    grow_a = a_cur - a_prev
    grow_b = b_prev - b_cur
    up_a, down_a = np.flatnonzero(grow_a > 0), np.flatnonzero(grow_a < 0)
    up_b, down_b = np.flatnonzero(grow_b > 0), np.flatnonzero(grow_b < 0)
    # crossings: runs of one sample
    c_lo, d_lo = codes[2][prev], codes[4][cur]
    c_n, d_n = codes[3][cur] - c_lo, codes[5][prev] - d_lo
    c_at, d_at = np.flatnonzero(c_n > 0), np.flatnonzero(d_n > 0)
    # the last sample of every series: runs still going end with the batch
    last = code[starts + lens]
    nan = np.asarray(nan_code, np.int64)
    end_at = np.asarray(shift, np.int64) + starts + lens + 1
    e_lo = np.concatenate((above[nan], below[last]))
    e_n = np.concatenate((above[last], below[nan])) - e_lo
    e_at = np.concatenate((end_at, end_at))
    going = np.flatnonzero(e_n > 0)
    p_lvl, p_at = _spans(np.concatenate((c_lo[c_at], d_lo[d_at])), np.concatenate((c_n[c_at], d_n[d_at])),
                         np.concatenate((at[c_at], at[d_at])))
    b_lvl, b_at = _spans(np.concatenate((a_prev[up_a], b_cur[up_b])), np.concatenate((grow_a[up_a], grow_b[up_b])),
                         np.concatenate((at[up_a], at[up_b])))
    f_lvl, f_at = _spans(np.concatenate((a_cur[down_a], b_prev[down_b], e_lo[going])),
                         np.concatenate((-grow_a[down_a], -grow_b[down_b], e_n[going])),
                         np.concatenate((at[down_a], at[down_b], e_at[going])))
    s_lvl = np.concatenate((b_lvl, p_lvl))
    s_at = np.concatenate((b_at, p_at))
    e_lvl = np.concatenate((f_lvl, p_lvl))
    e_at = np.concatenate((f_at, p_at + 1))
    if radix:
        order = np.argsort(s_lvl.astype(np.uint16), kind="stable")
        level, start = s_lvl[order], s_at[order]
        end = e_at[np.argsort(e_lvl.astype(np.uint16), kind="stable")]
    else:
        key = np.sort(s_lvl * stride + s_at)
        level = key // stride
        start = key - level * stride
        end = np.sort(e_lvl * stride + e_at) % stride
    return level, start, end


def _expand(lo: I64, hi: I64, at: I64) -> tuple[I64, I64]:
    """(k, at[i]) for every i and every k in [lo[i], hi[i]) (none where hi <= lo), by i then k."""
    count = hi - lo
    some = np.flatnonzero(count > 0)
    return _spans(lo[some], count[some], at[some])


def _spans(lo: I64, count: I64, at: I64) -> tuple[I64, I64]:
    """(k, at[i]) for every i and every k in [lo[i], lo[i] + count[i]), by i then k
    (``count`` >= 1).  Most ranges hold one level: with none longer, they are the answer
    as they are; else only then are they repeated."""
    total = int(count.sum())
    if total == len(count):
        return lo, at
    ends = np.cumsum(count)
    k = np.arange(total, dtype=np.int64) + np.repeat(lo - ends + count, count)
    return k, np.repeat(at, count)


def _walk(
    lvl_of: I64, start: I64, end: I64, key: I64, t: I64, offsets: I64, rule_job: I64, level: I64, cooldown: I64, last0: I64,
    for_ms: I64, run0: I64, has_gate: B, gate_at: I64, open_at: I64, rearm: I64, armed0: B,
) -> tuple[I64, I64, I64, I64, I64, B]:
    """(rule, sample, t of the fire before, t where its run began) of every fire, in no
    particular order, per rule with ``for`` the t where the run still going at the
    end began (``NEVER``: none), and per rule whether it is re-armed at the end.

    With ``rearm`` (``rearm``: the level of its re-arm points; -1: none) a fire at
    sample ``f`` moves the next round's first admissible sample to the first re-arm
    point after ``f`` (none: no more fires), and a rule carried in disarmed starts from
    its first re-arm point.

    With ``for`` (``for_ms`` >= 0; -1: none) a run lets the rule fire only from its first sample at
    least ``for`` after the run began (``run0``: the carried start, for a run going on
    from the batch before); a gated rule (``_gates``) whose next held sample is shut
    moves on to the gate's next opening.  Either way that round has no fire for it."""
    m = len(key)
    z = np.zeros(0, np.int64)
    total = len(t)
    has_rearm = rearm >= 0
    armed = ~has_rearm | armed0
    stride = int(offsets[-1]) + 1
    # per level its runs' ends, in order (built only for the rounds that search them)
    end_key = lvl_of * stride + end if ((for_ms >= 0) | has_gate | has_rearm).any() else z
    job_start = offsets[:-1][rule_job]
    job_end = offsets[1:][rule_job]
    has_for = for_ms >= 0

    def began(rule: I64, a: I64) -> I64:
        """t where the run that begins at sample ``a`` began (carried, if from before)."""
        r0 = run0[rule]
        out: I64 = np.where((a == job_start[rule]) & (r0 != NEVER), r0, t[np.minimum(a, total - 1)])
        return out

    run_state = np.full(len(level), NEVER, np.int64)
    if has_for.any() and m:
        idx = np.flatnonzero(has_for)
        lv = level[idx]
        li = np.searchsorted(key, (lv + 1) * stride) - 1
        lc = np.maximum(li, 0)
        going = (li >= 0) & (lvl_of[lc] == lv) & (end[lc] == job_end[idx])
        run_state[idx] = np.where(going, began(idx, start[lc]), NEVER)
    if not m:
        return z, z, z, z, run_state, armed

    def rearm_at(rule: I64, a: I64) -> tuple[I64, B]:
        """Per query: the first re-arm point of ``rule`` at or after sample ``a``, and whether any."""
        lv = rearm[rule]
        q = np.searchsorted(end_key, lv * stride + a, "right")
        qq = np.minimum(q, m - 1)
        ok: B = (q < m) & (lvl_of[qq] == lv)
        return np.maximum(a, start[qq]), ok

    fired_at = np.full(len(level), -1, np.int64)
    out_r: list[I64] = []
    out_s: list[I64] = []
    out_l: list[I64] = []
    out_t: list[I64] = []
    free = np.flatnonzero((cooldown == 0) & ~has_rearm)
    if len(free):
        # no cooldown: every sample of every run fires
        lv = level[free]
        run, j = _expand(np.searchsorted(key, lv * stride), np.searchsorted(key, (lv + 1) * stride),
                         np.arange(len(lv), dtype=np.int64))
        if len(j):
            smp, s_i = _expand(start[run], end[run], np.arange(len(run), dtype=np.int64))
            r = free[j[s_i]]
            since_t = t[smp]
            keep = np.ones(len(r), np.bool_)
            hf = has_for[r]
            if hf.any():
                since = began(r, start[run[s_i]])
                keep &= ~hf | (t[smp] - since >= for_ms[r])
                since_t = np.where(hf, since, since_t)
            hg = has_gate[r]
            if hg.any():
                keep &= ~hg | (open_at[np.where(hg, gate_at[r] + smp, 0)] == smp)
            if not keep.all():
                r, smp, since_t = r[keep], smp[keep], since_t[keep]
            out_r.append(r)
            out_s.append(smp)
            out_t.append(since_t)
            prev_t = np.empty(len(smp), np.int64)
            prev_t[1:] = t[smp[:-1]]
            new = np.ones(len(r), np.bool_)
            new[1:] = r[1:] != r[:-1]
            prev_t[new] = last0[r[new]]
            out_l.append(prev_t)
    rule = np.flatnonzero((cooldown > 0) | has_rearm)
    if len(rule):
        # sample time as one increasing key: job, then t (clipped to the batch's span)
        tmin = int(t.min())
        span = int(t.max()) - tmin + 2
        job_of_sample = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
        tkey = job_of_sample * span + (t - tmin)
        last = last0[rule]
        never = last == NEVER
        p = np.searchsorted(tkey, rule_job[rule] * span
                            + np.clip(np.where(never, tmin, last + cooldown[rule]) - tmin, 0, span - 1))
        p[never] = job_start[rule[never]]
        any_for = bool(has_for[rule].any())
        gated = bool(has_gate[rule].any())
        any_rearm = bool(has_rearm[rule].any())
        if not (any_for or gated or any_rearm):
            _cooldown_only(rule, last, lvl_of, start, end, t, tmin, span, tkey, rule_job, level, cooldown,
                           (out_r, out_s, out_l, out_t))
            rule = z
        if any_rearm:
            wait = np.flatnonzero(has_rearm[rule] & ~armed0[rule])
            if len(wait):
                at, ok = rearm_at(rule[wait], job_start[rule[wait]])
                p[wait] = np.maximum(p[wait], at)
                keep = np.ones(len(rule), np.bool_)
                keep[wait[~ok]] = False
                rule, last, p = rule[keep], last[keep], p[keep]
        while len(rule):
            lv = level[rule]
            q = np.searchsorted(end_key, lv * stride + p, "right")
            qq = np.minimum(q, m - 1)
            ok = (q < m) & (lvl_of[qq] == lv)
            if not ok.all():
                rule, last, qq, p = rule[ok], last[ok], qq[ok], p[ok]
                if not len(rule):
                    break
            a = start[qq]
            f = np.maximum(p, a)
            fire = np.ones(len(rule), np.bool_)
            nxt = f
            run_t: I64 | None = None
            if any_for:
                hf = has_for[rule]
                if hf.any():
                    # too early in its run: on to the next run
                    since = began(rule, a)
                    ready = np.searchsorted(tkey, rule_job[rule] * span
                                            + np.clip(since + for_ms[rule] - tmin, 0, span - 1))
                    f = np.where(hf, np.maximum(f, ready), f)
                    late = hf & (f >= end[qq])
                    fire &= ~late
                    nxt = np.where(late, end[qq], f)
                    run_t = np.where(hf, since, t[np.minimum(f, total - 1)])
            if gated:
                hg = has_gate[rule] & fire
                if hg.any():
                    # shut there: on from the gate's next opening
                    opens = np.where(hg, open_at[np.where(hg, gate_at[rule] + f, 0)], f)
                    shut = hg & (opens != f)
                    fire &= ~shut
                    nxt = np.where(shut, opens, nxt)
            fz = np.minimum(f, total - 1)
            if run_t is None:
                run_t = t[fz]
            if fire.all():
                out_r.append(rule)
                out_s.append(f)
                out_l.append(last)
                out_t.append(run_t)
                last = t[f]
                p = np.searchsorted(tkey, rule_job[rule] * span + np.minimum(last + cooldown[rule] - tmin, span - 1))
                if any_rearm:
                    fired_at[rule] = f
                    rule, last, p = _rearmed(rule, last, p, f, has_rearm, rearm_at)
                continue
            out_r.append(rule[fire])
            out_s.append(f[fire])
            out_l.append(last[fire])
            out_t.append(run_t[fire])
            moved = np.searchsorted(tkey, rule_job[rule] * span + np.minimum(t[fz] + cooldown[rule] - tmin, span - 1))
            last = np.where(fire, t[fz], last)
            p = np.where(fire, moved, nxt)
            if any_rearm:
                fired_at[rule[fire]] = f[fire]
                back, back_ok = rearm_at(rule, f + 1)
                re = fire & has_rearm[rule]
                p = np.where(re, np.maximum(p, back), p)
                ok = (p < job_end[rule]) & ~(re & ~back_ok)
            else:
                ok = p < job_end[rule]
            rule, last, p = rule[ok], last[ok], p[ok]
    idx = np.flatnonzero(has_rearm)
    if len(idx):
        # re-armed at the end: a re-arm point after the last fire (none: since the batch began)
        fa = fired_at[idx]
        _, seen = rearm_at(idx, np.where(fa >= 0, fa + 1, job_start[idx]))
        armed[idx] = seen | ((fa < 0) & armed0[idx])
    if not out_r:
        return z, z, z, z, run_state, armed
    return (np.concatenate(out_r), np.concatenate(out_s), np.concatenate(out_l), np.concatenate(out_t),
            run_state, armed)


def _cooldown_only(rule: I64, last: I64, lvl_of: I64, start: I64, end: I64, t: I64, tmin: int, span: int, tkey: I64,
                   rule_job: I64, level: I64, cooldown: I64, out: tuple[list[I64], list[I64], list[I64], list[I64]],
                   ) -> None:
    """The rounds of rules limited by their cooldown alone (no ``for``, gate or
    ``rearm``), appended to ``out`` as (rule, sample, t of the fire before, t of the fire).

    The fire is the first sample of the rule's runs at least a cooldown after its last
    fire.  As ``t`` is monotone within a job, a run holds such a sample exactly when its
    last sample does, so one search over the runs' last times (per level, in order) finds
    the run; its first sample is the fire unless the cooldown ends inside the run, and
    only for those rules is ``t`` searched as well.  The rules go in level order, so that
    each round's searches walk the runs forward."""
    m = len(start)
    t_rel = t - tmin
    end_key = lvl_of * span + t_rel[end - 1]
    order = np.argsort(level[rule], kind="stable")
    rule, last = rule[order], last[order]
    # the first admissible time, less ``tmin`` and clipped to the batch's span
    due = np.where(last == NEVER, 0, np.clip(last + cooldown[rule] - tmin, 0, span - 1))
    out_r, out_s, out_l, out_t = out
    while len(rule):
        lv = level[rule]
        q = np.searchsorted(end_key, lv * span + due)
        qq = np.minimum(q, m - 1)
        ok = (q < m) & (lvl_of[qq] == lv)
        if not ok.all():
            rule, last, qq, due = rule[ok], last[ok], qq[ok], due[ok]
            if not len(rule):
                break
        f = start[qq]
        late = t_rel[f] < due
        if late.any():
            f[late] = np.searchsorted(tkey, rule_job[rule[late]] * span + due[late])
        fired_t = t[f]
        out_r.append(rule)
        out_s.append(f)
        out_l.append(last)
        out_t.append(fired_t)
        last = fired_t
        due = np.minimum(fired_t + cooldown[rule] - tmin, span - 1)


def _rearmed(rule: I64, last: I64, p: I64, f: I64, has_rearm: B,
             rearm_at: Callable[[I64, I64], tuple[I64, B]]) -> tuple[I64, I64, I64]:
    """After every rule of a round fired (at ``f``): those with ``rearm`` go on from their
    next re-arm point, or stop where there is none in the batch."""
    re = has_rearm[rule]
    back, ok = rearm_at(rule, f + 1)
    p = np.where(re, np.maximum(p, back), p)
    keep = ~re | ok
    return rule[keep], last[keep], p[keep]

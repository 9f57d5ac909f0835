"""Alert rows for a batch's fires, built column-wise in polars: no Python work per alert.

A backtest fires tens of thousands of alerts per batch, and every row carries text: the
alert id, the JSON ``inputs`` that let ``explain`` redo the decision, the default
message.  Everything about a rule that does not change from one alert to the next (its
names, the JSON of its parameters, the words of its message) is rendered once per plan
(`RuleTexts`, cached on the plan); per batch, the rows of every rule and layout are one
frame and one ``select``: each row's text is a ``concat_str`` of those pieces, gathered
by rule, and the row's numbers, gathered in numpy and rendered by polars.

Numbers are rendered as the per-alert code renders them: JSON floats round-trip exactly
(polars writes the shortest representation that reads back to the same float, as
``repr`` does, though a tiny number may be spelled ``1e-7`` rather than ``1e-07``);
NaN is ``null``.  Message numbers (``messages.num``: rounded to 6 decimals, trailing
zeros dropped) are polars' shortest text of the float ``round`` would return, computed
exactly from the integer of millionths; the few values where that integer could be off
by one (beyond 1e7, or within a unit in the last place of a half) or whose text would
take an exponent (below 1e-4) go through ``messages.num`` itself.  Rules with a
``message`` template, and types whose input names collide with the engine's own keys,
are rendered per row by ``messages``.  The ``select`` that writes the text is built
once per plan (``RuleTexts.query``); a batch only fills its columns.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from ..rules.registry import REGISTRY
from ..rules.seam import B, F64, I64
from .alerts import ALERT_SCHEMA, empty_alerts
from .messages import VERB, describe, message_for, num
from .pending import PendingAlerts, RowsQuery
from .plan import CompiledRule, Plan

#: ``last_fire_t`` below this is "never fired".
NO_FIRE = -(1 << 60)
#: Keys the engine writes into ``inputs`` itself (a type's input of that name would clash).
RESERVED = frozenset({"t", "k", "cooldown_ms", "last_fire_t", "run_start_t", "params"})
RESERVED_IN_ALL = frozenset({"params", "type", "condition", "threshold", "value"})
#: Up to this many alerts in a batch, rows are written in Python: the column-wise frame
#: costs about 1.5 ms of polars calls whatever its size, and Python rows about 10 us
#: each, so they break even between 128 and 256 rows.
FEW_ROWS = 128
#: Message numbers below this magnitude are rendered from their integer of millionths.
_FAST_NUM = 1e7


@dataclass(frozen=True)
class Layout:
    """Rules whose ``inputs`` and message have the same shape: the same numbers in the
    same order.  ``numbers`` name what goes between the pieces: "t", "k", "last", "run",
    (j, input name), ("value", j)."""

    numbers: tuple[Any, ...]
    conditions: int
    rules: tuple[int, ...]  # plan rule indexes


class RuleTexts:
    """What the alert rows of each rule of a plan share, rendered once."""

    def __init__(self, plan: Plan) -> None:
        rules = plan.rules
        n = len(rules)
        self.rule_id = [r.rule.id for r in rules]
        self.rule_name = [r.rule.name or r.rule.id for r in rules]
        self.symbol = [r.rule.instrument for r in rules]
        self.condition = [r.conditions[0].condition for r in rules]
        self.type = [str(r.rule.type) for r in rules]
        self.severity = [str(r.rule.severity) for r in rules]
        self.threshold = np.asarray([r.conditions[0].threshold for r in rules], np.float64)
        self.bar = np.asarray([plan.sources[r.source].bar_ms is not None for r in rules], np.bool_)
        self.templated = np.asarray([bool(r.rule.message) for r in rules], np.bool_)
        self.first_series = np.asarray([r.conditions[0].series for r in rules], np.int64)
        constants = pl.DataFrame(
            {"rule_id": self.rule_id, "rule_name": self.rule_name, "symbol": self.symbol,
             "condition": self.condition, "type": self.type, "severity": self.severity,
             "threshold": self.threshold, "id_prefix": [f"{x}@" for x in self.rule_id]},
            schema={"rule_id": pl.String, "rule_name": pl.String, "symbol": pl.String, "condition": pl.String,
                    "type": pl.String, "severity": pl.String, "threshold": pl.Float64, "id_prefix": pl.String},
        )
        self.layout_of = np.full(n, -1, np.int64)  # -1: rendered per row by `messages`
        #: per rule with a layout: its numbers, inputs pieces and message words
        self.shapes: dict[int, tuple[tuple[Any, ...], list[str], list[str]]] = {}
        layouts: dict[tuple[Any, ...], list[tuple[int, list[str], list[str]]]] = {}
        for r in rules:
            shaped = _shape(plan, r)
            if shaped is None:
                continue
            key, pieces, words = shaped
            layouts.setdefault(key, []).append((r.index, pieces, words))
            self.shapes[r.index] = (key[0], pieces, words)
        self.layouts: list[Layout] = []
        for key, members in layouts.items():
            for index, _, _ in members:
                self.layout_of[index] = len(self.layouts)
            self.layouts.append(Layout(key[0], key[1], tuple(m[0] for m in members)))
        #: the widest layout: every row's text has this many number and value slots
        self.max_numbers = max((len(lay.numbers) for lay in self.layouts), default=0)
        self.max_conditions = max((lay.conditions for lay in self.layouts), default=1)
        #: per plan rule, the pieces of its layout (null past its own, and for rules without one)
        table: dict[str, list[str | None]] = {
            **{f"p{j}": [None] * n for j in range(self.max_numbers + 1)},
            **{f"m{j}": [None] * n for j in range(self.max_conditions + 1)},
        }
        for index, (_, pieces, words) in self.shapes.items():
            for j, p in enumerate(pieces):
                table[f"p{j}"][index] = p
            for j, w in enumerate(words):
                table[f"m{j}"][index] = w
        #: per plan rule, its constant columns and pieces: a batch gathers its rows' in one call
        self.table = constants.hstack(pl.DataFrame(table, schema={name: pl.String for name in table}))
        #: text columns with one value for every rule (the pieces most layouts share, a
        #: workload's one type or severity): literals in the query rather than columns
        #: every batch gathers per row
        self.same: dict[str, str] = {}
        for name in ("condition", "type", "severity", *table):
            column = self.table[name]
            if n and column.null_count() == 0 and column.n_unique() == 1:
                self.same[name] = str(column[0])
        self.table = self.table.drop(list(self.same))
        #: per number slot: 1 an integer in every layout, 2 a float in every layout, 3 either or none
        self.slots = [
            next(iter(kinds)) if len(kinds) == 1 else 3
            for kinds in ({_slot_kind(lay.numbers[q]) if q < len(lay.numbers) else 0 for lay in self.layouts}
                          for q in range(self.max_numbers))
        ]
        #: per number slot: "t" or "k" where every layout has that number there (the
        #: text of ``t`` and ``k``, written once per batch, is then shared with ``alert_id``)
        self.shared = [
            next(iter(whats)) if len(whats) == 1 and next(iter(whats)) in ("t", "k") else None
            for whats in ({lay.numbers[q][0] if q < len(lay.numbers) else None for lay in self.layouts}
                          for q in range(self.max_numbers))
        ]
        #: whether some rule has no layout (its rows are written by ``_per_row_text``)
        self.unshaped = bool((self.layout_of < 0).any())
        self.query = _query(self)


def rule_texts(plan: Plan) -> RuleTexts:
    """What every alert row of a rule shares (names, JSON and message pieces), rendered
    once per plan rather than per alert."""
    return plan.derived(RuleTexts)


def _shape(plan: Plan, rule: CompiledRule) -> tuple[tuple[Any, ...], list[str], list[str]] | None:
    """The rule's layout key, the constant pieces of its ``inputs`` JSON around the numbers,
    and those of its default message around the condition values (None: per row).

    The JSON is the one ``json.dumps(inputs, separators=(",", ":"))`` writes: ``t``,
    ``k``, ``cooldown_ms``, ``last_fire_t`` (``run_start_t`` with ``for``), then the
    condition's inputs and ``params``, or for a conjunction a ``conditions`` list of
    objects that also hold ``type``, ``condition``, ``threshold`` and ``value``.
    """
    r = rule.rule
    conds = rule.conditions
    multi = len(conds) > 1
    taken = RESERVED_IN_ALL if multi else RESERVED
    names = [REGISTRY[c.type_name].input_names for c in conds]
    if any(taken.intersection(ns) for ns in names):
        return None
    tokens: list[Any] = ['{"t":', ("t",), ',"k":', ("k",), f',"cooldown_ms":{rule.cooldown_ms},"last_fire_t":',
                         ("last",)]
    if rule.for_ms is not None:
        tokens += [',"run_start_t":', ("run",)]
    if multi:
        tokens.append(',"conditions":[')
    for j, (c, ns) in enumerate(zip(conds, names)):
        if multi:
            tokens.append("{" if j == 0 else ",{")
        for q, name in enumerate(ns):
            tokens += [("," if q or not multi else "") + json.dumps(name) + ":", ("input", j, name)]
        tokens.append(("," if ns or not multi else "") + '"params":' + json.dumps(list(c.params), separators=(",", ":")))
        if multi:
            tokens += [f',"type":{json.dumps(c.type_name)},"condition":{json.dumps(c.condition)},'
                       f'"threshold":{json.dumps(c.threshold)},"value":', ("value", j), "}"]
    tokens.append("]}" if multi else "}")
    numbers: list[Any] = []
    pieces = [""]
    for tok in tokens:
        if isinstance(tok, str):
            pieces[-1] += tok
        else:
            numbers.append(tok)
            pieces.append("")
    # the default message (messages.default_message), words around each condition's value
    if multi:
        words = [f"{r.instrument}: all of "]
        for j, c in enumerate(conds):
            words[-1] += describe(rule, j) + " "
            words.append(f" {VERB[c.condition]} {num(c.threshold)}" + ("; " if j < len(conds) - 1 else ""))
    else:
        c = conds[0]
        words = [f"{r.instrument} {describe(rule)} ", f" {VERB[c.condition]} {num(c.threshold)}"]
    return (tuple(numbers), len(conds)), pieces, words


def _slot_kind(what: Any) -> int:
    return 1 if what[0] in ("t", "k", "run", "last") else 2


def _json_scalar(x: float) -> str:
    if x != x:
        return "null"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    return float.__repr__(x)


def _millionths(x: F64) -> tuple[F64, I64]:
    """``round(x, 6)`` as a float whose shortest text is ``messages.num``'s, and where that
    is not certain (large, non-finite, tiny, or within rounding of a half): those go
    through ``num``.

    ``x * 1e6`` is off the exact product by at most one unit in its last place, so away
    from a half by more than that its nearest integer ``k`` is the exact product's, which
    is what ``round`` rounds to; ``k / 1e6`` (both exact, one correctly rounded division)
    is then the float ``round`` returns, and below 1e7 its shortest text (polars') has
    exactly the digits of ``k`` millionths, trailing zeros dropped, with ``.0`` for an
    integer and an exponent below 1e-4.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        d = x * 1e6
        frac = d - np.floor(d)
        slow = ~(np.abs(x) < _FAST_NUM) | (np.abs(frac - 0.5) <= 4.0 * np.spacing(np.abs(d)))
        k = np.where(slow, 0.0, np.rint(d))
        rounded: F64 = k / 1e6 + 0.0  # + 0.0: a negative zero is written 0
        slow |= (np.abs(rounded) < 1e-4) & (k != 0.0)
    return rounded, np.flatnonzero(slow)


def _num_expr(name: str) -> pl.Expr:
    """messages.num of the rounded float in column ``name`` (see ``_millionths``)."""
    return pl.col(name).cast(pl.String).str.strip_suffix(".0")


@dataclass(frozen=True)
class FireRows:
    """The fires of one source, with what their rows read from it."""

    rule: I64  # plan rule index
    ts: I64
    k: I64
    t: I64
    seq: I64
    price: F64
    volume: F64  # NaN: null (also for a spread sample of the other symbol)
    sample: I64
    last: I64
    run: I64
    source: int


def build_alerts(
    plan: Plan, parts: Sequence[FireRows], series_values: Sequence[tuple[F64, F64, Any] | None],
    evaluated_at: datetime,
) -> pl.DataFrame:
    """The alert frame (ALERT_SCHEMA) of this batch's fires, in tick order, then
    declaration order."""
    return pending_alerts(plan, parts, series_values, evaluated_at).collect()


def pending_alerts(
    plan: Plan, parts: Sequence[FireRows], series_values: Sequence[tuple[F64, F64, Any] | None],
    evaluated_at: datetime,
) -> PendingAlerts:
    """:func:`build_alerts`' frame with its numbers gathered, the text written when it is
    collected (a batch with few rows is written at once: there is no query to defer)."""
    parts = [p for p in parts if len(p.rule)]
    if not parts:
        return PendingAlerts.ready(empty_alerts())
    texts = rule_texts(plan)
    cat = np.concatenate
    rule = cat([p.rule for p in parts])
    seq = cat([p.seq for p in parts])
    order = fire_order(seq, rule)
    rule, seq = rule[order], seq[order]
    ts, k, t = (cat([getattr(p, a) for p in parts])[order] for a in ("ts", "k", "t"))
    price, volume = (cat([getattr(p, a) for p in parts])[order] for a in ("price", "volume"))
    last, run = (cat([getattr(p, a) for p in parts])[order] for a in ("last", "run"))
    sample = cat([p.sample for p in parts])[order]
    part_of = cat([np.full(len(p.rule), i, np.int64) for i, p in enumerate(parts)])[order]
    gathers = _Gathers(plan, series_values, rule, sample)
    value = gathers.take(0, "value")
    prev = gathers.take(0, "prev")
    if len(rule) <= FEW_ROWS and (texts.layout_of[rule] >= 0).all():
        rows_now = [
            _row(plan, texts, series_values, int(i), int(a), int(b), int(c), int(d), float(pp), float(vv),
                 float(va), float(pv), int(la), int(ru), int(sm), evaluated_at)
            for i, a, b, c, d, pp, vv, va, pv, la, ru, sm in zip(
                rule.tolist(), seq.tolist(), ts.tolist(), k.tolist(), t.tolist(), price.tolist(), volume.tolist(),
                value.tolist(), prev.tolist(), last.tolist(), run.tolist(), sample.tolist())
        ]
        frame = pl.from_dicts(rows_now, schema=ALERT_SCHEMA)
        templated = np.flatnonzero(texts.templated[rule])
        if len(templated):
            frame = _templated(plan, frame, rule, templated)
        return PendingAlerts.ready(frame)
    rows_query = _columnwise(plan, texts, parts, series_values, evaluated_at, rule, seq, ts, k, t, price,
                             volume, last, run, sample, part_of, value, prev, gathers)
    return PendingAlerts(rows_query, len(rule))


def fire_order(seq: I64, rule: I64) -> I64:
    """``np.lexsort((rule, seq))``: tick order, then declaration order.

    ``lexsort`` costs several times one ``argsort``, so the pair is folded into one
    integer key ``(seq - min) * rules + rule`` where that cannot overflow.  Equal keys
    (the same pair twice) would leave the order to an unstable sort, so then the stable
    one decides, which keeps the parts' order exactly as ``lexsort`` does."""
    if len(seq) < 2:
        return np.arange(len(seq), dtype=np.int64)
    low = int(seq.min())
    width = int(rule.max()) + 1
    if int(rule.min()) < 0 or (int(seq.max()) - low) >= (1 << 62) // width:
        return np.lexsort((rule, seq))
    key = (seq - low) * width + rule
    order = np.argsort(key)
    ordered = key[order]
    if (ordered[1:] == ordered[:-1]).any():
        return np.argsort(key, kind="stable")
    out: I64 = order
    return out


def _columnwise(
    plan: Plan, texts: RuleTexts, parts: Sequence[FireRows], series_values: Sequence[tuple[F64, F64, Any] | None],
    evaluated_at: datetime, rule: I64, seq: I64, ts: I64, k: I64, t: I64, price: F64, volume: F64, last: I64,
    run: I64, sample: I64, part_of: I64, value: F64, prev: F64, gathers: _Gathers,
) -> RowsQuery:
    """Every row's text from one frame and one ``select`` (``RuleTexts.query``), to run.

    Rows of every layout share the same columns: the q-th number of a row's ``inputs``
    (an integer or a float, by layout) and the pieces of its rule around it (null past
    the rule's last number, which ``concat_str`` skips), so the numbers are gathered in
    numpy per layout and the text is written by polars in one query, whatever the mix
    of layouts.  What polars cannot write exactly (tiny or huge floats, never-fired
    ``null``, messages within rounding of a half, rows without a layout) is written in
    Python into a column of its own, which takes precedence where it is not null.
    """
    n = len(rule)
    layout = texts.layout_of[rule]
    cols: dict[str, Any] = {
        "seq": seq, "ts": ts, "k": k, "t": t, "price": price, "value": value, "prev_value": prev,
        "bar": texts.bar[rule],
    }
    # the text of ts and k, each written once for ``alert_id`` and ``inputs`` (and of t,
    # which for tick samples is ts: then the same text)
    shared_text = [{"ts_text": pl.col("ts").cast(pl.String), "k_text": pl.col("k").cast(pl.String)},
                   {"t_text": pl.col("ts_text") if np.array_equal(t, ts) else pl.col("t").cast(pl.String)}]
    vnull = np.isnan(volume) | (np.abs(volume) >= 2.0**63)
    cols["vol"] = np.where(vnull, 0.0, volume).astype(np.int64)
    cols["vnull"] = vnull
    n_num, n_cond = texts.max_numbers, texts.max_conditions
    kind = np.zeros((n_num, n), np.int8)  # 0: none, 1: integer, 2: float
    ints = np.zeros((n_num, n), np.int64)
    floats = np.zeros((n_num, n), np.float64)
    has_cond = np.zeros((n_cond, n), np.bool_)
    cond_value = np.full((n_cond, n), np.nan)
    for li, lay in enumerate(texts.layouts):
        picked = np.flatnonzero(layout == li)
        if not len(picked):
            continue
        # (one layout for every row, the usual case: plain copies instead of fancy indexing)
        rows: Any = slice(None) if len(picked) == n else picked
        for q, what in enumerate(lay.numbers):
            if what[0] in ("t", "k", "run", "last"):
                kind[q, rows] = 1
                ints[q, rows] = {"t": t, "k": k, "run": run, "last": last}[what[0]][rows]
            else:
                kind[q, rows] = 2
                floats[q, rows] = gathers.take(what[1], what[0], what[2] if len(what) > 2 else "")[rows]
        for j in range(lay.conditions):
            has_cond[j, rows] = True
            cond_value[j, rows] = gathers.take(j, "value")[rows]
    # (``extend_constant`` would run a query of its own, about a millisecond a batch)
    nulls = pl.Series([None], dtype=pl.String).new_from_index(0, n)

    def fixed(at: I64, words: Sequence[str | None]) -> pl.Series:
        # (``scatter`` writes in place: into a copy, ``nulls`` stays all null)
        return nulls.clone().scatter(at, pl.Series(list(words), dtype=pl.String)) if len(at) else nulls

    for q, slot in enumerate(texts.slots):
        fq = floats[q]
        never = np.flatnonzero((kind[q] == 1) & (ints[q] < NO_FIRE))
        odd = np.flatnonzero((kind[q] == 2) & _odd_json(fq))
        at = np.concatenate((never, odd))
        cols[f"x{q}"] = fixed(at, ["null"] * len(never) + [_json_scalar(v) for v in fq[odd].tolist()])
        if slot != 2 and texts.shared[q] is None:
            cols[f"i{q}"] = ints[q]
        if slot != 1:
            cols[f"f{q}"] = fq
        if slot == 3:
            cols[f"kind{q}"] = kind[q]
    for j in range(n_cond):
        vj = cond_value[j]
        cols[f"cv{j}"], cols[f"has{j}"] = vj, has_cond[j]
        cols[f"mr{j}"], slow = _millionths(vj)
        slow = slow[has_cond[j][slow]]
        cols[f"mt{j}"] = fixed(slow, [num(float(x)) for x in vj[slow].tolist()])
        odd = np.flatnonzero(has_cond[j] & _odd_json(vj))
        cols[f"vt{j}"] = fixed(odd, [_json_scalar(v) for v in vj[odd].tolist()])
    if texts.unshaped:
        slow_rows = np.flatnonzero(layout < 0)
        cols["slow_row"] = layout < 0
        cols["inputs_slow"] = cols["values_slow"] = nulls
        if len(slow_rows):
            text = _per_row_text(plan, rule, slow_rows, part_of, parts, sample, series_values)
            cols["inputs_slow"] = fixed(slow_rows, text["inputs"].to_list())
            cols["values_slow"] = fixed(slow_rows, text["values"].to_list())
    templated = np.flatnonzero(texts.templated[rule] | (layout < 0))
    finish = partial(_templated, plan, rule=rule, at=templated) if len(templated) else None
    return RowsQuery(cols, texts.table, rule, shared_text, texts.query, evaluated_at, finish)


def _query(texts: RuleTexts) -> dict[str, pl.Expr]:
    """The ``select`` of ``_columnwise``, but ``evaluated_at``: the same for every batch of
    a plan, so built once (building it costs more than running it on a live batch).

    Its columns: the texts ``ts_text``, ``k_text`` and ``t_text``; per number slot q,
    ``i{q}`` (unless it is ``t`` or ``k`` in every layout: their text) and/or ``f{q}`` (and
    ``kind{q}`` where layouts differ on it) and the Python text ``x{q}``; per condition j, ``cv{j}``, ``has{j}``,
    ``mr{j}`` (the rounded value) and the Python texts ``mt{j}`` (message) and ``vt{j}``
    (JSON); with rules without a layout, ``inputs_slow``, ``slow_row`` and ``values_slow``.
    """
    n_num, n_cond = texts.max_numbers, texts.max_conditions

    def text(name: str) -> pl.Expr:
        same = texts.same.get(name)
        return pl.col(name) if same is None else pl.lit(same, pl.String)

    numbers: list[pl.Expr] = []
    for q, slot in enumerate(texts.slots):
        as_int, as_float = pl.col(f"i{q}").cast(pl.String), pl.col(f"f{q}").cast(pl.String)
        shared = texts.shared[q]
        if shared is not None:
            as_int = pl.col(f"{shared}_text")
        expr = as_int if slot == 1 else as_float if slot == 2 else \
            pl.when(pl.col(f"kind{q}") == 1).then(as_int).when(pl.col(f"kind{q}") == 2).then(as_float)
        numbers.append(pl.coalesce(pl.col(f"x{q}"), expr))
    inputs_expr = pl.concat_str(
        [e for q in range(n_num) for e in (text(f"p{q}"), numbers[q])] + [text(f"p{n_num}")], ignore_nulls=True)
    msg_parts: list[pl.Expr] = []
    value_texts: list[pl.Expr] = []
    for j in range(n_cond):
        mt = pl.coalesce(pl.col(f"mt{j}"), _num_expr(f"mr{j}"))
        msg_parts += [text(f"m{j}"), pl.when(pl.col(f"has{j}")).then(mt)]
        value_texts.append(pl.when(pl.col(f"has{j}")).then(pl.coalesce(pl.col(f"vt{j}"), pl.col(f"cv{j}").cast(pl.String))))
    msg_parts.append(text(f"m{n_cond}"))
    values_expr: pl.Expr = pl.lit(None, pl.String)
    if n_cond > 1:
        values_expr = pl.when(pl.col("has1")).then(pl.concat_str(
            [pl.lit("["), pl.concat_str(value_texts, separator=", ", ignore_nulls=True), pl.lit("]")]))
    if texts.unshaped:
        inputs_expr = pl.coalesce(pl.col("inputs_slow"), inputs_expr)
        values_expr = pl.when(pl.col("slow_row")).then(pl.col("values_slow")).otherwise(values_expr)
    return dict(
        alert_id=pl.col("id_prefix") + pl.col("ts_text") + pl.lit("#") + pl.col("k_text"),
        rule_id=pl.col("rule_id"), rule_name=pl.col("rule_name"), symbol=pl.col("symbol"),
        ts=pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
        seq=pl.col("seq"),
        price=pl.when(pl.col("price").is_nan()).then(None).otherwise(pl.col("price")),
        volume=pl.when(pl.col("vnull")).then(None).otherwise(pl.col("vol")),
        value=pl.col("value"),
        prev_value=pl.when(pl.col("prev_value").is_nan()).then(None).otherwise(pl.col("prev_value")),
        threshold=pl.col("threshold"), condition=text("condition"), type=text("type"),
        severity=text("severity"),
        message=pl.concat_str(msg_parts, ignore_nulls=True),
        evaluated_at=pl.lit(None, ALERT_SCHEMA["ts"]),  # the batch's, in its place
        inputs=inputs_expr,
        bar_start=pl.when(pl.col("bar")).then(pl.col("t")).otherwise(None).cast(pl.Datetime("ms"))
        .dt.replace_time_zone("UTC"),
        values=values_expr,
    )


def _odd_json(x: F64) -> B:
    """Where polars' float text is not ``json.dumps``'s: polars writes the same shortest
    round-trip digits as ``repr`` from 1e-4 to 1e16, and Python writes the rest (NaN as
    ``null``)."""
    with np.errstate(invalid="ignore"):
        size = np.abs(x)
        out: B = ~((size >= 1e-4) & (size < 1e16)) & (x != 0.0)
    return out


def _templated(plan: Plan, frame: pl.DataFrame, rule: I64, at: I64) -> pl.DataFrame:
    """Messages of rows whose rule has a template (or no layout), from the whole row."""
    msgs = frame["message"].to_list()
    sub = frame[at]
    for j, i, named in zip(at.tolist(), rule[at].tolist(), sub.iter_rows(named=True)):
        msgs[j] = message_for(plan.rules[i], named)
    return frame.with_columns(pl.Series("message", msgs, dtype=pl.String))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _row(
    plan: Plan, texts: RuleTexts, series_values: Sequence[tuple[F64, F64, Any] | None], i: int, seq: int,
    ts: int, k: int, t: int, price: float, volume: float, value: float, prev: float, last: int, run: int,
    sample: int, evaluated_at: datetime,
) -> dict[str, Any]:
    """One alert row written in Python, text identical to the column-wise path (a live
    batch fires a handful of alerts, where polars' per-call cost would dominate)."""
    numbers, pieces, words = texts.shapes[i]
    compiled = plan.rules[i]
    series = [c.series for c in compiled.conditions]
    cond_values: list[float] = []
    for sid in series:
        sv = series_values[sid]
        assert sv is not None
        cond_values.append(float(sv[0][sample]))
    text: list[str] = [pieces[0]]
    for q, what in enumerate(numbers):
        if what[0] == "t":
            text.append(str(t))
        elif what[0] == "k":
            text.append(str(k))
        elif what[0] == "last":
            text.append("null" if last < NO_FIRE else str(last))
        elif what[0] == "run":
            text.append(str(run))
        elif what[0] == "value":
            text.append(_json_scalar(cond_values[what[1]]))
        else:
            sv = series_values[series[what[1]]]
            assert sv is not None
            text.append(_json_scalar(float(sv[2].inputs[what[2]][sample])))
        text.append(pieces[q + 1])
    message = [words[0]]
    for j, v in enumerate(cond_values):
        message += [num(v), words[j + 1]]
    multi = len(series) > 1
    return {
        "alert_id": f"{texts.rule_id[i]}@{ts}#{k}", "rule_id": texts.rule_id[i], "rule_name": texts.rule_name[i],
        "symbol": texts.symbol[i], "ts": _EPOCH + timedelta(milliseconds=ts), "seq": seq,
        "price": None if price != price else price,
        "volume": None if volume != volume or abs(volume) >= 2.0**63 else int(volume),
        "value": value, "prev_value": None if prev != prev else prev, "threshold": float(texts.threshold[i]),
        "condition": texts.condition[i], "type": texts.type[i], "severity": texts.severity[i],
        "message": "".join(message), "evaluated_at": evaluated_at, "inputs": "".join(text),
        "bar_start": _EPOCH + timedelta(milliseconds=t) if texts.bar[i] else None,
        "values": "[" + ", ".join(_json_scalar(v) for v in cond_values) + "]" if multi else None,
    }


class _Gathers:
    """Per alert row, numbers read from the batch's series at the row's sample.

    Rows are grouped once per condition by the series they read (one stable sort), and
    every array gathered is then one fancy index per series: a row's value, previous
    value and inputs all come from the same groups.  Each array is gathered once.
    """

    def __init__(self, plan: Plan, series_values: Sequence[tuple[F64, F64, Any] | None], rule: I64,
                 sample: I64) -> None:
        self._series_values = series_values
        self._table: I64 = plan.condition_series[rule]
        self._sample = sample
        self._groups: dict[int, list[tuple[int, I64, I64]]] = {}
        self._taken: dict[tuple[int, str, str], F64] = {}

    def _grouped(self, j: int) -> list[tuple[int, I64, I64]]:
        """(series, rows, samples) of the rows whose condition ``j`` reads that series."""
        groups = self._groups.get(j)
        if groups is None:
            sid = self._table[:, j]
            order = np.argsort(sid, kind="stable")
            by = sid[order]
            cuts = np.flatnonzero(by[1:] != by[:-1]) + 1
            groups = []
            for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(by)]):
                if a < b and by[a] >= 0:
                    rows = order[a:b]
                    groups.append((int(by[a]), rows, self._sample[rows]))
            self._groups[j] = groups
        return groups

    def take(self, j: int, what: str, name: str = "") -> F64:
        """Condition ``j``'s "value", "prev" or "input" ``name`` per row (NaN where the
        row has no such condition or input)."""
        key = (j, what, name)
        out = self._taken.get(key)
        if out is None:
            out = np.full(len(self._sample), np.nan)
            for sid, rows, at in self._grouped(j):
                sv = self._series_values[sid]
                assert sv is not None
                arr = sv[0] if what == "value" else sv[1] if what == "prev" else sv[2].inputs.get(name)
                if arr is not None:
                    out[rows] = np.asarray(arr)[at]
            self._taken[key] = out
        return out


def _per_row_text(
    plan: Plan, rule: I64, rows: I64, part_of: I64, parts: Sequence[FireRows], sample: I64,
    series_values: Sequence[tuple[F64, F64, Any] | None],
) -> pl.DataFrame:
    """``inputs``, message placeholder and ``values`` of rows whose type does not fit a
    layout (its input names clash with the engine's keys): written per row."""

    def jn(x: float) -> float | None:
        return None if x != x else float(x)

    inputs: list[str] = []
    values: list[str | None] = []
    for row in rows.tolist():
        compiled = plan.rules[int(rule[row])]
        p = parts[int(part_of[row])]
        s = int(sample[row])
        at = int(np.flatnonzero((p.sample == s) & (p.rule == compiled.index))[0])
        cond_values: list[float | None] = []
        cond_inputs: list[dict[str, Any]] = []
        for c in compiled.conditions:
            cv = series_values[c.series]
            assert cv is not None
            cond_values.append(jn(float(cv[0][s])))
            entry: dict[str, Any] = {name: jn(float(a[s])) for name, a in cv[2].inputs.items()}
            entry["params"] = list(c.params)
            if len(compiled.conditions) > 1:
                entry.update(type=c.type_name, condition=c.condition, threshold=c.threshold,
                             value=jn(float(cv[0][s])))
            cond_inputs.append(entry)
        last = int(p.last[at])
        doc: dict[str, Any] = {"t": int(p.t[at]), "k": int(p.k[at]), "cooldown_ms": compiled.cooldown_ms,
                               "last_fire_t": None if last < NO_FIRE else last}
        if compiled.for_ms is not None:
            doc["run_start_t"] = int(p.run[at])
        if len(compiled.conditions) == 1:
            doc.update(cond_inputs[0])
        else:
            doc["conditions"] = cond_inputs
        inputs.append(json.dumps(doc, separators=(",", ":")))
        values.append(json.dumps(cond_values) if len(compiled.conditions) > 1 else None)
    # the message: written after the frame is built (the default needs the row's value)
    frame = pl.DataFrame({"row": rows, "inputs": inputs, "message": [""] * len(rows), "values": values},
                         schema={"row": pl.Int64, "inputs": pl.String, "message": pl.String, "values": pl.String})
    return frame

"""The chart as data: panels of lines, candles, levels, alert markers and shaded windows.

Built once from a recording and its alerts, then drawn by either renderer (``html.py``
with plotly, ``png.py`` with matplotlib), so the interactive and the static chart show
the same things.  Which panels exist and what each rule adds over the price come from
the rule types (``RuleType.chart``, ``RuleType.chart_lines``), never from their names:

- the price panel: the price as a line (tick rules) and/or candles (bar rules), the
  lines each type measures against (an average, a band's mean, VWAP, the prior range),
  each rule's threshold as a price where it has one, every alert as a marker, and each
  alert's cooldown and ``for`` run as shading;
- one panel per series whose value is not a price (RSI, a distance in %, a z-score, a
  spread, a volume ratio), with each rule's threshold and re-arm level on it and the
  alerts again at the value they fired at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..config.durations import format_duration
from ..engine.messages import VERB, describe, num
from ..engine.plan import CompiledRule
from ..rules.registry import REGISTRY
from ..timefmt import iso_ms
from .columns import F64, I64, Candles, Columns
from .record import SeriesRecorder, condition_values

#: Rule colours (colour-blind-safe order); a diff draws OLD and NEW alerts in two more.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")
OLD_COLOR = "#6a3d9a"
NEW_COLOR = "#e6550d"
PRICE_COLOR = "#333333"


@dataclass(frozen=True)
class Line:
    name: str
    t: I64
    y: F64
    color: str
    dash: bool = False
    group: str = ""


@dataclass(frozen=True)
class Level:
    """A horizontal line across the panel (a constant threshold, a re-arm level)."""

    y: float
    name: str
    color: str
    dotted: bool = False
    group: str = ""


@dataclass(frozen=True)
class Markers:
    """One marker per alert; ``role`` "alerts" on the price panel (exactly one marker per
    fired alert), "values" for the same alerts at their value on a value panel."""

    name: str
    role: str
    t: I64
    y: F64
    hover: list[str]
    color: str
    up: bool  # above / crosses_above: a triangle up
    hollow: bool = False
    group: str = ""


@dataclass(frozen=True)
class Windows:
    """Shaded time spans: the cooldown after each fire, or the ``for`` run before it."""

    name: str
    start: I64
    end: I64
    color: str
    group: str = ""


@dataclass
class Panel:
    title: str
    axis_title: str
    value_range: tuple[float, float] | None = None
    candles: Candles | None = None
    lines: list[Line] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    markers: list[Markers] = field(default_factory=list)
    windows: list[Windows] = field(default_factory=list)

    def extent(self) -> tuple[float, float] | None:
        """Lowest and highest value drawn (the span shading covers)."""
        parts: list[F64] = [line.y for line in self.lines] + [m.y for m in self.markers]
        parts.append(np.asarray([lv.y for lv in self.levels], np.float64))
        if self.candles is not None:
            parts += [self.candles.low, self.candles.high]
        values = np.concatenate(parts) if parts else np.zeros(0)
        values = values[np.isfinite(values)]
        if not len(values):
            return None
        return float(values.min()), float(values.max())


@dataclass
class Figure:
    title: str
    notes: list[str]
    panels: list[Panel]
    #: First and last tick drawn (epoch ms): the time axis; shading is clipped to it.
    span: tuple[int, int] | None = None

    @property
    def alerts(self) -> int:
        """Markers of fired alerts (each alert exactly once, on the price panel)."""
        return sum(len(m.t) for m in self.panels[0].markers if m.role == "alerts") if self.panels else 0


@dataclass(frozen=True)
class Side:
    """One version's alerts: a backtest has one side, a diff two (OLD and NEW).

    ``rule_index``: rule id -> the recorder's compiled rule the alert belongs to.
    ``color``: one colour for the side's markers (a diff), or None for a colour per rule.
    """

    label: str
    alerts: pl.DataFrame
    rule_index: dict[str, int]
    color: str | None = None
    hollow: bool = False


def _color(rule: CompiledRule) -> str:
    return PALETTE[rule.index % len(PALETTE)]


def _label(rule: CompiledRule, labels: dict[int, str]) -> str:
    return labels.get(rule.index, rule.rule.id)


def _time(ms: int) -> str:
    return iso_ms(int(ms)).replace("T", " ")


def _hover(rule: CompiledRule, row: dict[str, object], label: str, side: str) -> str:
    """What a marker says on hover: the rule, when, the value against the threshold,
    and the windows around the fire."""
    head = f"<b>{label}</b>" + (f" ({side})" if side else "") + f" · {row['severity']}"
    ts_ms, t = int(str(row["ts_ms"])), int(str(row["t"]))
    lines = [head, _time(ts_ms)]
    if rule.rule.bar is not None:
        lines.append(f"bar from {_time(t)}")
    values = condition_values(row["values"] if isinstance(row["values"], str) else None,
                              row["value"] if isinstance(row["value"], float) else None)
    for j, cond in enumerate(rule.conditions):
        v = values[j] if j < len(values) else None
        lines.append(f"{describe(rule, j)} {num(v)} {VERB[cond.condition]} {num(cond.threshold)}")
    price = row["price"]
    if isinstance(price, float):
        lines.append(f"price {num(price)}")
    cooldown = row["cooldown_ms"]
    if isinstance(cooldown, int) and cooldown > 0:
        lines.append(f"cooldown {format_duration_ms(cooldown)}: no fire before {_time(t + cooldown)}")
    run = row["run_start_t"]
    if isinstance(run, int) and rule.for_ms is not None:
        lines.append(f"held since {_time(run)} (for {format_duration_ms(rule.for_ms)})")
    last = row["last_fire_t"]
    if isinstance(last, int):
        lines.append(f"previous fire {_time(last)}")
    message = row["message"]
    if isinstance(message, str) and message:
        lines.append(message)
    lines.append(f"<i>{row['alert_id']}</i>")
    return "<br>".join(lines)


def format_duration_ms(ms: int) -> str:
    from datetime import timedelta

    return format_duration(timedelta(milliseconds=ms))


def _columns_line(name: str, columns: Columns, color: str, dash: bool = False, group: str = "") -> Line | Level | None:
    """A line, a level when every value drawn is the same (a constant threshold), or
    None when no value is defined (nothing to draw)."""
    t, y = columns.line()
    finite = y[np.isfinite(y)]
    if not len(finite):
        return None
    if float(finite.min()) == float(finite.max()) and len(finite) == len(y):
        return Level(float(finite[0]), name, color, group=group)
    return Line(name, t, y, color, dash, group)


def _bar_words(rule: CompiledRule) -> str:
    return f" on {format_duration(rule.rule.bar)} bars" if rule.rule.bar is not None else ""


def build(
    recorder: SeriesRecorder, sides: Sequence[Side], title: str, notes: Sequence[str] = (),
    labels: dict[int, str] | None = None,
) -> Figure:
    """The figure for ``recorder``'s symbol: its rules (``labels`` renames some, e.g. the
    OLD version of a changed rule) and each side's alerts."""
    labels = labels or {}
    plan = recorder.plan
    rules = plan.rules
    price = Panel(title=f"{recorder.symbol}", axis_title="price")
    panels = [price]
    tick_rules = [r for r in rules if plan.sources[r.source].bar_ms is None]
    if tick_rules or not rules or not recorder.candles:
        t, y = recorder.price.line()
        price.lines.append(Line(recorder.symbol, t, y, PRICE_COLOR))
    if recorder.candles:
        bar = min(recorder.candles)
        price.candles = recorder.candles[bar].candles()
    value_panel: dict[int, Panel] = {}  # series index -> its panel
    seen_references: set[str] = set()
    for rule in rules:
        color, group = _color(rule), _label(rule, labels)
        for j, cond in enumerate(rule.conditions):
            ser = plan.series[cond.series]
            trace = recorder.series[ser.key]
            chart = REGISTRY[ser.type_name].chart
            for ref_name, columns in trace.references.items():
                shown = ref_name + _bar_words(rule)
                if shown in seen_references:
                    continue
                seen_references.add(shown)
                _place(price, _columns_line(shown, columns, color, dash=True, group=group))
            words = f"{group}: {VERB[cond.condition]} {num(cond.threshold)}"
            at_price = trace.thresholds.get((rule.index, j))
            if at_price is not None and at_price.samples:
                _place(price, _columns_line(words, at_price, color, dash=True, group=group))
            elif chart.panel is None:
                price.levels.append(Level(cond.threshold, words, color, group=group))
            rearm = _rearm_level(rule, j)
            if chart.panel is None:
                if rearm is not None:
                    price.levels.append(Level(rearm, f"{group}: re-arms at {num(rearm)}", color, True, group))
                continue
            panel = value_panel.get(cond.series)
            if panel is None:
                t, y = trace.value.line()
                panel = Panel(title=describe(rule, j), axis_title=chart.panel, value_range=chart.value_range)
                panel.lines.append(Line(describe(rule, j), t, y, PRICE_COLOR))
                value_panel[cond.series] = panel
                panels.append(panel)
            panel.levels.append(Level(cond.threshold, words, color, group=group))
            if rearm is not None:
                panel.levels.append(Level(rearm, f"{group}: re-arms at {num(rearm)}", color, True, group))
    span = recorder.price.time_span()
    for side in sides:
        _add_alerts(side, rules, labels, price, value_panel, span)
    return Figure(title, list(notes), panels, span)


def _place(panel: Panel, item: Line | Level | None) -> None:
    if isinstance(item, Level):
        panel.levels.append(item)
    elif item is not None:
        panel.lines.append(item)


def _rearm_level(rule: CompiledRule, j: int) -> float | None:
    if rule.rearm is None or j != 0:
        return None
    c = rule.conditions[0]
    return c.threshold - rule.rearm if c.condition in ("above", "crosses_above") else c.threshold + rule.rearm


def _add_alerts(
    side: Side, rules: Sequence[CompiledRule], labels: dict[int, str], price: Panel,
    value_panel: dict[int, Panel], span: tuple[int, int] | None,
) -> None:
    lo, hi = span if span is not None else (np.iinfo(np.int64).min, np.iinfo(np.int64).max)

    def shade(name: str, color: str, group: str, start: I64, end: I64) -> None:
        start, end = np.maximum(start, lo), np.minimum(end, hi)
        keep = end > start
        if keep.any():
            price.windows.append(Windows(name, start[keep], end[keep], color, group))

    by_rule = side.alerts.partition_by("rule_id", as_dict=True, maintain_order=True) if side.alerts.height else {}
    for (rule_id,), df in by_rule.items():
        index = side.rule_index.get(str(rule_id))
        if index is None:
            continue
        rule = rules[index]
        label = _label(rule, labels) if not side.label else str(rule_id)
        color = side.color or _color(rule)
        group = label if not side.label else f"{side.label}: {rule_id}"
        name = f"{group} alerts" if side.label else f"{label} alerts"
        rows = df.to_dicts()
        hover = [_hover(rule, row, label, side.label) for row in rows]
        t = df["t"].to_numpy().astype(np.int64)
        up = rule.conditions[0].condition in ("above", "crosses_above")
        y = df["price"].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)
        price.markers.append(Markers(name, "alerts", t, y, hover, color, up, side.hollow, group))
        for j, cond in enumerate(rule.conditions):
            panel = value_panel.get(cond.series)
            if panel is None:
                continue
            vals = [condition_values(r["values"], r["value"]) for r in rows]
            vy = np.asarray([v[j] if j < len(v) and v[j] is not None else np.nan for v in vals], np.float64)
            panel.markers.append(Markers(name, "values", t, vy, hover, color, up, side.hollow, group))
        cooldown = df["cooldown_ms"].fill_null(0).to_numpy().astype(np.int64)
        has = cooldown > 0
        if has.any():
            shade(f"{group} cooldown", color, group, t[has], (t + cooldown)[has])
        run = df["run_start_t"]
        if rule.for_ms is not None and run.null_count() < len(run):
            ok = run.is_not_null().to_numpy()
            start = run.fill_null(0).to_numpy().astype(np.int64)
            shade(f"{group} for run", color, group, start[ok], t[ok])

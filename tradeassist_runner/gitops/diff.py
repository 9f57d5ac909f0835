"""``tradeassist diff``: what a rule change does, before it merges (``terraform plan`` for rules).

Two parts. The *definition* diff compares rules by id, field by field, in the spelling
users write (``5m``, not 300000 ms). The *behaviour* diff backtests both versions over
the same recorded ticks with the real engine and compares, per rule, the alerts each
version fires - counts, and the first alerts only one side fires. Alerts are matched
by (rule, symbol, tick time, n-th at that time), so a change in which instruments are
declared (which shifts arrival numbers) does not show up as noise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..backtest import BacktestStats, ProgressHook, ProgressStart, Tap, backtest, default_batch_size
from ..config.loaded import LoadedConfig, LoadedRule
from ..timefmt import iso_ms

#: Differing alerts shown per rule; the counts always cover all of them.
SHOWN_PER_RULE = 5


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    kind: str  # added | removed | changed
    where: str  # PATH:LINE:COLUMN in the version that has it (NEW, or OLD when removed)
    fields: tuple[tuple[str, Any, Any], ...] = ()  # changed: (field, old, new)
    summary: str = ""


@dataclass(frozen=True)
class AlertKey:
    symbol: str
    ts_ms: int
    nth: int  # 0 for the first alert of the rule at that tick time


@dataclass
class RuleAlerts:
    rule_id: str
    old: int = 0
    new: int = 0
    old_only: list[tuple[AlertKey, float | None]] = field(default_factory=list)
    new_only: list[tuple[AlertKey, float | None]] = field(default_factory=list)
    changed_value: list[tuple[AlertKey, float | None, float | None]] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.old_only or self.new_only or self.changed_value)


@dataclass
class DiffReport:
    old_name: str
    new_name: str
    changes: list[RuleChange]
    unchanged: int
    ticks: str | None = None
    ticks_evaluated: int = 0
    alerts: list[RuleAlerts] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.changes) or any(a.differs for a in self.alerts)


# --------------------------------------------------------------------------- definitions


def _dump(loaded: LoadedRule) -> dict[str, Any]:
    return loaded.rule.model_dump(mode="json", exclude_none=True, by_alias=True)


_PRESENTATION = frozenset({"id", "instrument", "type", "condition", "threshold", "name", "description",
                           "severity", "notify", "message", "active", "conditions"})


def _body_words(d: dict[str, Any]) -> str:
    params = ", ".join(f"{k} {v}" for k, v in d.items() if k not in _PRESENTATION and v is not None)
    head = f"{d['type']} {d['condition']} {d['threshold']:g}"
    return f"{head} [{params}]" if params else head


def describe_rule(d: dict[str, Any]) -> str:
    """One line: ``rate_of_change /NQ below -0.05 (window 30s, cooldown 1m)``; every
    type's parameters and the modifiers (bar, for, rearm, hours...) are listed."""
    extras = [f"{k} {v}" for k, v in d.items() if k not in _PRESENTATION and v is not None]
    if d.get("active") is False:
        extras.append("inactive")
    if d.get("type") == "all":
        conds = "; ".join(_body_words(c) for c in d.get("conditions", []))
        return f"all {d['instrument']} of ({conds}) ({', '.join(extras)})"
    return f"{d['type']} {d['instrument']} {d['condition']} {d['threshold']:g} ({', '.join(extras)})"


def rule_changes(old: LoadedConfig, new: LoadedConfig) -> tuple[list[RuleChange], int]:
    """Added, removed and changed rules (NEW's order, removed ones last) and the unchanged count."""
    old_rules = {r.rule.id: r for r in old.rules}
    new_rules = {r.rule.id: r for r in new.rules}
    changes: list[RuleChange] = []
    unchanged = 0
    for rule_id, loaded in new_rules.items():
        after = _dump(loaded)
        if rule_id not in old_rules:
            changes.append(RuleChange(rule_id, "added", str(loaded.source), summary=describe_rule(after)))
            continue
        before = _dump(old_rules[rule_id])
        fields = tuple(
            (name, before.get(name), after.get(name))
            for name in [*before, *(k for k in after if k not in before)]
            if before.get(name) != after.get(name)
        )
        if fields:
            changes.append(RuleChange(rule_id, "changed", str(loaded.source), fields, describe_rule(after)))
        else:
            unchanged += 1
    for rule_id, loaded in old_rules.items():
        if rule_id not in new_rules:
            changes.append(RuleChange(rule_id, "removed", str(loaded.source), summary=describe_rule(_dump(loaded))))
    return changes, unchanged


# --------------------------------------------------------------------------- behaviour


#: A backtest run elsewhere (a Dask cluster) with the single process's result.
Backtester = Callable[[LoadedConfig, Path, int, BacktestStats], Iterable[pl.DataFrame]]


def _alerts(
    loaded: LoadedConfig, ticks: Path, tap: Tap | None = None, hook: ProgressHook | None = None,
    run: Backtester | None = None,
) -> tuple[pl.DataFrame, int]:
    stats = BacktestStats()
    size = default_batch_size(len(loaded.rules))
    if run is not None:
        frames = list(run(loaded, ticks, size, stats))
    else:
        frames = list(backtest(loaded, ticks, size, stats, tap=tap, progress=hook))
    cols = ("rule_id", "symbol", "ts", "value")
    df = pl.concat([f.select(cols) for f in frames]) if frames else pl.DataFrame(
        schema={"rule_id": pl.String, "symbol": pl.String, "ts": pl.Datetime("ms", "UTC"), "value": pl.Float64}
    )
    return df, stats.ticks_accepted


def _keyed(df: pl.DataFrame) -> dict[str, dict[AlertKey, float | None]]:
    out: dict[str, dict[AlertKey, float | None]] = {}
    seen: Counter[tuple[str, str, int]] = Counter()
    for rule_id, symbol, ts_ms, value in df.select(
        "rule_id", "symbol", pl.col("ts").dt.epoch("ms"), "value"
    ).iter_rows():
        nth = seen[(rule_id, symbol, ts_ms)]
        seen[(rule_id, symbol, ts_ms)] += 1
        out.setdefault(rule_id, {})[AlertKey(symbol, ts_ms, nth)] = value
    return out


def alert_changes(
    old: LoadedConfig, new: LoadedConfig, ticks: Path, taps: tuple[Tap | None, Tap | None] = (None, None),
    progress: ProgressStart | None = None, run: Backtester | None = None,
) -> tuple[list[RuleAlerts], int]:
    """Per rule (NEW's order, then OLD-only rules): counts and differing alerts over ``ticks``.

    ``taps``: what OLD's and NEW's backtests show as they run (a chart draws from them).
    Raises TickFileError when the file cannot be read at all.
    """
    old_df, _ = _alerts(old, ticks, taps[0], progress("old", ticks) if progress else None, run)
    new_df, evaluated = _alerts(new, ticks, taps[1], progress("new", ticks) if progress else None, run)
    before, after = _keyed(old_df), _keyed(new_df)
    order = [r.rule.id for r in new.rules] + [r.rule.id for r in old.rules if r.rule.id not in after]
    out: list[RuleAlerts] = []
    for rule_id in dict.fromkeys(order):
        b, a = before.get(rule_id, {}), after.get(rule_id, {})
        entry = RuleAlerts(rule_id, len(b), len(a))
        entry.old_only = sorted(((k, v) for k, v in b.items() if k not in a), key=lambda kv: kv[0].ts_ms)
        entry.new_only = sorted(((k, v) for k, v in a.items() if k not in b), key=lambda kv: kv[0].ts_ms)
        entry.changed_value = sorted(
            ((k, b[k], a[k]) for k in a.keys() & b.keys() if not _same(b[k], a[k])), key=lambda t: t[0].ts_ms
        )
        out.append(entry)
    return out, evaluated


def _same(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    return x == y or (x != x and y != y)


def build_report(
    old: LoadedConfig, new: LoadedConfig, old_name: str, new_name: str, ticks: Path | None,
    taps: tuple[Tap | None, Tap | None] = (None, None), progress: ProgressStart | None = None,
    run: Backtester | None = None,
) -> DiffReport:
    changes, unchanged = rule_changes(old, new)
    report = DiffReport(old_name, new_name, changes, unchanged)
    if ticks is not None:
        report.ticks = str(ticks)
        report.alerts, report.ticks_evaluated = alert_changes(old, new, ticks, taps, progress, run)
    return report


# --------------------------------------------------------------------------- rendering


def _value(v: Any) -> str:
    if v is None:
        return "(unset)"
    if isinstance(v, float):
        return f"{v:.10g}"
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def _num(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.6g}"


def _counts(report: DiffReport) -> str:
    kinds = Counter(c.kind for c in report.changes)
    return (
        f"{kinds['added']} added, {kinds['removed']} removed, {kinds['changed']} changed, "
        f"{report.unchanged} unchanged"
    )


def _alert_lines(entry: RuleAlerts) -> Iterator[str]:
    lines: list[tuple[int, str]] = []
    for key, v in entry.old_only:
        lines.append((key.ts_ms, f"- {iso_ms(key.ts_ms)} {key.symbol} value {_num(v)}   (only OLD fires)"))
    for key, v in entry.new_only:
        lines.append((key.ts_ms, f"+ {iso_ms(key.ts_ms)} {key.symbol} value {_num(v)}   (only NEW fires)"))
    for key, b, a in entry.changed_value:
        lines.append((key.ts_ms, f"~ {iso_ms(key.ts_ms)} {key.symbol} value {_num(b)} -> {_num(a)}"))
    lines.sort(key=lambda t: t[0])
    for _, text in lines[:SHOWN_PER_RULE]:
        yield text
    if len(lines) > SHOWN_PER_RULE:
        yield f"  ... and {len(lines) - SHOWN_PER_RULE} more"


def _delta(entry: RuleAlerts) -> str:
    d = entry.new - entry.old
    return f"{d:+d}" if d else "0"


def render_table(report: DiffReport) -> str:
    out = [f"rules: {_counts(report)}   (OLD {report.old_name}, NEW {report.new_name})"]
    for c in report.changes:
        mark = {"added": "+", "removed": "-", "changed": "~"}[c.kind]
        out.append(f"  {mark} {c.kind:<8} {c.rule_id}   {c.summary}   [{c.where}]")
        for name, before, after in c.fields:
            out.append(f"        {name}: {_value(before)} -> {_value(after)}")
    if report.ticks is None:
        return "\n".join(out)
    total_old = sum(a.old for a in report.alerts)
    total_new = sum(a.new for a in report.alerts)
    out.append("")
    out.append(
        f"alerts over {report.ticks} ({report.ticks_evaluated} ticks evaluated): "
        f"{total_old} -> {total_new} ({total_new - total_old:+d})"
    )
    changed_ids = {c.rule_id for c in report.changes}
    shown = [a for a in report.alerts if a.differs or a.rule_id in changed_ids]
    if shown:
        width = max(len("rule"), *(len(a.rule_id) for a in shown))
        out.append(f"  {'rule':<{width}}  {'old':>6}  {'new':>6}  {'change':>6}")
        for a in shown:
            note = "" if a.differs else "   (same alerts)"
            out.append(f"  {a.rule_id:<{width}}  {a.old:>6}  {a.new:>6}  {_delta(a):>6}{note}")
    same = [a for a in report.alerts if a not in shown]
    if same:
        out.append(f"  {len(same)} other rules fire exactly the same alerts ({sum(a.old for a in same)} alerts)")
    differing = [a for a in shown if a.differs]
    if differing:
        out.append("")
        out.append("first differing alerts:")
        for a in differing:
            out.append(f"  {a.rule_id}")
            out.extend(f"    {line}" for line in _alert_lines(a))
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report: DiffReport) -> str:
    out = [f"### `tradeassist diff`: `{report.old_name}` → `{report.new_name}`", "", f"**Rules:** {_counts(report)}"]
    if report.changes:
        out += ["", "| | rule | definition | changes |", "|---|---|---|---|"]
        for c in report.changes:
            fields = "<br>".join(f"`{n}`: {_md(_value(b))} → {_md(_value(a))}" for n, b, a in c.fields)
            out.append(f"| {c.kind} | `{c.rule_id}` | {_md(c.summary)} | {fields} |")
    if report.ticks is not None:
        total_old = sum(a.old for a in report.alerts)
        total_new = sum(a.new for a in report.alerts)
        out += [
            "",
            f"**Alerts over `{report.ticks}`** ({report.ticks_evaluated} ticks): "
            f"{total_old} → {total_new} ({total_new - total_old:+d})",
        ]
        changed_ids = {c.rule_id for c in report.changes}
        shown = [a for a in report.alerts if a.differs or a.rule_id in changed_ids]
        if shown:
            out += ["", "| rule | old | new | change |", "|---|---:|---:|---:|"]
            out += [f"| `{a.rule_id}` | {a.old} | {a.new} | {_delta(a)} |" for a in shown]
        same = len(report.alerts) - len(shown)
        if same:
            out += ["", f"{same} other rules fire exactly the same alerts."]
        differing = [a for a in shown if a.differs]
        if differing:
            out += ["", "<details><summary>First differing alerts</summary>", "", "```diff"]
            for a in differing:
                out.append(f"# {a.rule_id}")
                out.extend("!" + line[1:] if line.startswith("~") else line for line in _alert_lines(a))
            out += ["```", "", "</details>"]
    return "\n".join(out)


def _finite(v: float | None) -> float | None:
    return None if v is None or v != v or v in (float("inf"), float("-inf")) else v


def render_json(report: DiffReport) -> str:
    def alert(key: AlertKey, value: float | None) -> dict[str, Any]:
        return {"symbol": key.symbol, "ts": iso_ms(key.ts_ms), "value": _finite(value)}

    doc: dict[str, Any] = {
        "old": report.old_name,
        "new": report.new_name,
        "rules": {
            kind: [
                {"rule_id": c.rule_id, "where": c.where, "definition": c.summary}
                | ({"fields": {n: {"old": b, "new": a} for n, b, a in c.fields}} if kind == "changed" else {})
                for c in report.changes
                if c.kind == kind
            ]
            for kind in ("added", "removed", "changed")
        }
        | {"unchanged": report.unchanged},
        "differs": report.differs,
    }
    if report.ticks is not None:
        doc["alerts"] = {
            "ticks": report.ticks,
            "ticks_evaluated": report.ticks_evaluated,
            "rules": [
                {
                    "rule_id": a.rule_id,
                    "old": a.old,
                    "new": a.new,
                    "old_only": [alert(k, v) for k, v in a.old_only],
                    "new_only": [alert(k, v) for k, v in a.new_only],
                    "value_changed": [
                        {"symbol": k.symbol, "ts": iso_ms(k.ts_ms), "old": _finite(b), "new": _finite(n)}
                        for k, b, n in a.changed_value
                    ],
                }
                for a in report.alerts
            ],
        }
    return json.dumps(doc, indent=2, allow_nan=False)

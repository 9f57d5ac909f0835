"""``tradeassist test``: rule unit tests in YAML, run through the real engine.

A test file names the rules under test (a config or a rules folder), and per test
case the input ticks (compact inline series, see :mod:`.notation`, or a tick file)
and the alerts that must fire - every alert, so a rule that starts firing where it
should not fails the test too. A test file is checked like a rule file: every mistake
is reported as ``PATH:LINE:COLUMN: message`` before anything runs.

    # rules.d/tests/futures.yaml
    config: ../../config/config.yaml
    tests:
      - name: /ES breakout fires on the cross, once
        ticks:
          /ES: "6005 6009 6011 6012 6009 6013"
        expect:
          - {rule: es.breakout.6010, at: "14:30:02", value: 6011}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field, ValidationError

from ..backtest import BacktestStats, ProgressStart, backtest, default_batch_size
from ..config.durations import to_ms
from ..config.explain import explain
from ..config.loaded import LoadedConfig
from ..config.models import Instrument, Strict
from ..config.types import Duration, Number
from ..engine.evaluate import Engine
from ..engine.plan import compile_plan
from ..errors import ConfigError, Problem, TickFileError
from ..config.yaml_source import YamlDocument, load_yaml
from ..sources.ticks import TickGate
from ..timefmt import iso_ms
from .notation import NotationError, Tick, parse_series, parse_time, start_of
from .sources import load_source

TEST_SUFFIXES = (".yaml", ".yml")
DEFAULT_START = "2026-01-05T14:30:00Z"


# --------------------------------------------------------------------------- file model


class ExpectedAlert(Strict):
    rule: str = Field(description="Rule id that must fire")
    at: str = Field(description="Tick time: HH:MM:SS[.mmm] on the test's day, +DURATION from start, or ISO-8601")
    symbol: str | None = Field(default=None, description="Defaults to the rule's instrument")
    value: Number | None = Field(
        default=None, description="Optional; matches when the fired value rounds to it at the decimals written"
    )
    bar_start: str | None = Field(
        default=None, description="Optional, bar rules: the start of the evaluated bar, spelled like 'at'"
    )
    values: list[Number | None] | None = Field(
        default=None,
        description="Optional, conjunctions: every condition's value in order (null: undefined), matched like 'value'",
    )


class RuleTestCase(Strict):
    name: str
    start: str | None = Field(default=None, description="Time of the first tick (ISO-8601, UTC)")
    interval: Duration | None = Field(default=None, description="Time between two ticks of a series")
    ticks: dict[str, str] | None = Field(default=None, description="Symbol -> series, e.g. '6005 6011:250 _ 6012x3'")
    ticks_file: str | None = Field(default=None, description="A CSV/Parquet tick file, relative to this file")
    only: list[str] | None = Field(default=None, description="Compare only these rules' alerts")
    expect: list[ExpectedAlert] = Field(description="Every alert that must fire (in any order); [] for none")


class RuleTestFile(Strict):
    config: str | None = Field(default=None, description="The config whose rules are tested, relative to this file")
    rules_dir: str | None = Field(default=None, description="Or a rules folder, relative to this file")
    instruments: list[Instrument] = Field(default_factory=list, description="Extra instruments (with rules_dir)")
    start: str = Field(default=DEFAULT_START, description="Default time of the first tick of every test")
    interval: Duration = Field(default=timedelta(seconds=1), description="Default time between two ticks")
    tests: list[RuleTestCase]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Alert:
    rule_id: str
    symbol: str
    ts_ms: int
    value: float | None = None
    where: str = ""  # PATH:LINE of an expected alert
    bar_start_ms: int | None = None
    values: tuple[float | None, ...] | None = None

    def show(self) -> str:
        value = "" if self.value is None or math.isnan(self.value) else f"  value {_num(self.value)}"
        bar = "" if self.bar_start_ms is None else f"  bar {iso_ms(self.bar_start_ms)}"
        values = "" if self.values is None else "  values [" + ", ".join(
            "null" if v is None else _num(v) for v in self.values) + "]"
        return f"{self.rule_id}  {self.symbol}  {iso_ms(self.ts_ms)}{value}{bar}{values}"


@dataclass
class CaseResult:
    name: str
    where: str
    fired: int
    expected: int
    #: (mark, text) in time order: ' ' matched, '-' missing, '+' unexpected, '~' wrong value.
    lines: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(mark == " " for mark, _ in self.lines)


@dataclass
class FileResult:
    path: str
    problems: list[Problem] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(c.passed for c in self.cases)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Case:
    spec: RuleTestCase
    index: int
    where: str
    ticks: pl.DataFrame | None
    ticks_file: Path | None
    expected: list[Alert]


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; a folder stands for its ``*.yaml``/``*.yml`` files, sorted."""
    out: list[Path] = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in TEST_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out


def run_file(path: Path, progress: ProgressStart | None = None) -> FileResult:
    """Validate one test file and run its cases; never raises for bad input."""
    result = FileResult(str(path))
    try:
        doc = load_yaml(path, str(path))
    except ConfigError as exc:
        result.problems = exc.problems
        return result
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        result.problems = [doc.problem([], "a rule test file must be a mapping with 'config:' (or 'rules_dir:') and 'tests:'")]
        return result
    try:
        spec = RuleTestFile.model_validate(data)
    except ValidationError as exc:
        result.problems = explain(exc, doc, RuleTestFile)
        return result
    loaded = _load_rules(spec, path, doc, result.problems)
    if loaded is None:
        return result
    cases = [_prepare(spec, case, i, path, doc, loaded, result.problems) for i, case in enumerate(spec.tests)]
    if result.problems:
        return result
    for case in cases:
        assert case is not None
        result.cases.append(_run_case(loaded, case, progress))
    return result


def _load_rules(spec: RuleTestFile, path: Path, doc: YamlDocument, problems: list[Problem]) -> LoadedConfig | None:
    if (spec.config is None) == (spec.rules_dir is None):
        problems.append(doc.problem([], "name the rules under test with exactly one of 'config:' or 'rules_dir:'", "node"))
        return None
    if spec.config is not None and spec.instruments:
        problems.append(doc.problem(["instruments"], "instruments: only with rules_dir (a config declares its own)", "key"))
        return None
    key = "config" if spec.config is not None else "rules_dir"
    target = path.parent / str(spec.config if spec.config is not None else spec.rules_dir)
    if spec.rules_dir is not None and not target.is_dir():
        problems.append(doc.problem([key], f"rules_dir '{spec.rules_dir}' is not a folder ({target})"))
        return None
    if spec.config is not None and not target.is_file():
        problems.append(doc.problem([key], f"config '{spec.config}' does not exist ({target})"))
        return None
    try:
        return load_source(
            target, instruments=[i.model_dump(exclude_none=True) for i in spec.instruments], declare_used=True
        )
    except ConfigError as exc:
        problems.append(doc.problem([key], f"the rules under test are invalid ({len(exc.problems)} problem(s) below)"))
        problems.extend(exc.problems)
        return None


def _prepare(
    spec: RuleTestFile, case: RuleTestCase, i: int, path: Path, doc: YamlDocument, loaded: LoadedConfig, problems: list[Problem]
) -> _Case | None:
    loc: list[str | int] = ["tests", i]
    line, column = doc.position(loc)
    where = f"{path}:{line}:{column}"
    before = len(problems)
    rules = {r.rule.id: r.rule for r in loaded.rules}
    declared = {inst.symbol for inst in loaded.instruments}
    start_text = case.start or spec.start
    try:
        start = start_of(start_text)
    except ValueError as exc:
        problems.append(doc.problem(loc + ["start"] if case.start else ["start"], f"start: {exc}"))
        return None
    interval = to_ms(case.interval if case.interval is not None else spec.interval)
    if interval <= 0:
        problems.append(doc.problem(loc + ["interval"] if case.interval else ["interval"], "interval: must be greater than 0"))

    frame: pl.DataFrame | None = None
    ticks_file: Path | None = None
    if (case.ticks is None) == (case.ticks_file is None):
        problems.append(doc.problem(loc, "give the input with exactly one of 'ticks:' or 'ticks_file:'"))
    elif case.ticks is not None:
        frame = _inline_ticks(case.ticks, start, interval, loc, doc, declared, problems)
    else:
        ticks_file = path.parent / str(case.ticks_file)
        if not ticks_file.exists():
            problems.append(doc.problem(loc + ["ticks_file"], f"ticks_file '{case.ticks_file}' does not exist ({ticks_file})"))

    for j, rule_id in enumerate(case.only or []):
        if rule_id not in rules:
            problems.append(doc.problem(loc + ["only", j], _unknown_rule(rule_id, rules)))
    expected: list[Alert] = []
    for j, exp in enumerate(case.expect):
        eloc = loc + ["expect", j]
        rule = rules.get(exp.rule)
        if rule is None:
            problems.append(doc.problem(eloc + ["rule"], _unknown_rule(exp.rule, rules)))
            continue
        if case.only is not None and exp.rule not in case.only:
            problems.append(doc.problem(eloc + ["rule"], f"rule '{exp.rule}' is not in this test's 'only:' list"))
        if exp.symbol is not None and exp.symbol != rule.instrument:
            problems.append(doc.problem(eloc + ["symbol"], f"rule '{exp.rule}' watches {rule.instrument}, not {exp.symbol}"))
        try:
            ts = parse_time(exp.at, start)
        except ValueError as exc:
            problems.append(doc.problem(eloc + ["at"], f"at: {exc}"))
            continue
        bar_start: int | None = None
        if exp.bar_start is not None:
            try:
                bar_start = parse_time(exp.bar_start, start)
            except ValueError as exc:
                problems.append(doc.problem(eloc + ["bar_start"], f"bar_start: {exc}"))
                continue
        line_j, _ = doc.position(eloc)
        values = None if exp.values is None else tuple(None if v is None else float(v) for v in exp.values)
        expected.append(Alert(exp.rule, rule.instrument, ts, exp.value, f"{path}:{line_j}", bar_start, values))
    if len(problems) > before:
        return None
    return _Case(case, i, where, frame, ticks_file, expected)


def _unknown_rule(rule_id: str, rules: dict[str, Any]) -> str:
    from ..config.explain import did_you_mean

    return f"unknown rule '{rule_id}'{did_you_mean(rule_id, rules)}: not defined by the rules under test"


def _inline_ticks(
    series: dict[str, str],
    start: datetime,
    interval: int,
    loc: list[str | int],
    doc: YamlDocument,
    declared: set[str],
    problems: list[Problem],
) -> pl.DataFrame:
    """All series merged in time order; at equal times, in the order the symbols are listed."""
    rows: list[tuple[int, int, int, str, Tick]] = []
    for order, (symbol, text) in enumerate(series.items()):
        sloc = loc + ["ticks", symbol]
        if symbol not in declared:
            problems.append(doc.problem(sloc, f"symbol '{symbol}' is not declared by the rules under test: its ticks would be ignored", "key"))
            continue
        try:
            ticks = parse_series(text, start, max(interval, 1))
        except NotationError as exc:
            problems.append(_at_offset(doc, sloc, text, exc.offset, f"ticks: {exc}"))
            continue
        rows.extend((t.ts_ms, order, n, symbol, t) for n, t in enumerate(ticks))
    rows.sort(key=lambda r: r[:3])
    return pl.DataFrame(
        {
            "ts": [r[0] for r in rows],
            "symbol": [r[3] for r in rows],
            "price": [r[4].price for r in rows],
            "volume": [r[4].volume for r in rows],
        },
        schema={"ts": pl.Int64, "symbol": pl.String, "price": pl.Float64, "volume": pl.Int64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def _at_offset(doc: YamlDocument, loc: list[str | int], text: str, offset: int, message: str) -> Problem:
    """Point at the bad token itself when the series is written on one line."""
    where = doc.problem(loc, message)
    try:
        line = Path(doc.path).read_text(encoding="utf-8-sig").splitlines()[where.line - 1]
    except (OSError, IndexError):
        return where
    col = where.column - 1
    quoted = line[col : col + 1] in ("'", '"')
    body = line[col + quoted :]
    if "\n" not in text and body.startswith(text[: offset + 1]):
        return Problem(where.path, where.line, where.column + quoted + offset, message)
    return where


# --------------------------------------------------------------------------- running


def _run_case(loaded: LoadedConfig, case: _Case, progress: ProgressStart | None = None) -> CaseResult:
    result = CaseResult(case.spec.name, case.where, 0, len(case.expected))
    frames: list[pl.DataFrame] = []
    if case.ticks is not None:
        engine = Engine(compile_plan(loaded.rules, loaded.instruments))
        admitted = TickGate(i.symbol for i in loaded.instruments).admit(case.ticks)
        frames.append(engine.process(admitted.accepted))
    else:
        assert case.ticks_file is not None
        stats = BacktestStats()
        try:
            hook = progress(case.spec.name, case.ticks_file) if progress else None
            size = default_batch_size(len(loaded.rules))
            frames.extend(backtest(loaded, case.ticks_file, size, stats, progress=hook))
        except TickFileError as exc:
            result.lines.append(("!", f"cannot read the tick file: {exc}"))
            return result
        if stats.rejected:
            result.notes.append(f"{stats.rejected} tick row(s) rejected (see `tradeassist backtest`)")
    alerts = pl.concat(frames) if frames else pl.DataFrame()
    rows = alerts.select(
        "rule_id", "symbol", pl.col("ts").dt.epoch("ms"), "value", pl.col("bar_start").dt.epoch("ms"), "values"
    ).iter_rows() if alerts.height else []
    fired = [
        Alert(r, s, int(ts), v, "", None if bar is None else int(bar),
              None if vals is None else tuple(None if x is None else float(x) for x in json.loads(vals)))
        for r, s, ts, v, bar, vals in rows
    ]
    if case.spec.only is not None:
        keep = set(case.spec.only)
        fired = [a for a in fired if a.rule_id in keep]
    result.fired = len(fired)
    result.lines = compare(case.expected, fired)
    return result


def compare(expected: list[Alert], fired: list[Alert]) -> list[tuple[str, str]]:
    """Match expected to fired alerts by (rule, symbol, time); a diff in time order."""
    unmatched = list(range(len(fired)))
    entries: list[tuple[int, int, str, str]] = []  # (ts, order, mark, text)
    for exp in expected:
        hit = next(
            (k for k in unmatched if (fired[k].rule_id, fired[k].symbol, fired[k].ts_ms) == (exp.rule_id, exp.symbol, exp.ts_ms)),
            None,
        )
        if hit is None:
            entries.append((exp.ts_ms, 0, "-", f"{exp.show()}   (expected at {exp.where})"))
            continue
        unmatched.remove(hit)
        got = fired[hit]
        wrong = _differences(exp, got)
        if wrong:
            entries.append((exp.ts_ms, hit, "~", f"{got.show()}   (expected {'; '.join(wrong)}, at {exp.where})"))
        else:
            entries.append((exp.ts_ms, hit, " ", got.show()))
    entries.extend((fired[k].ts_ms, k, "+", fired[k].show()) for k in unmatched)
    entries.sort(key=lambda e: (e[0], e[1]))
    return [(mark, text) for _, _, mark, text in entries]


def _differences(exp: Alert, got: Alert) -> list[str]:
    """What of an expected alert's optional fields the fired one does not match."""
    wrong: list[str] = []
    if exp.value is not None and not value_matches(got.value, exp.value):
        wrong.append(f"value {_num(exp.value)}")
    if exp.bar_start_ms is not None and got.bar_start_ms != exp.bar_start_ms:
        wrong.append(f"bar_start {iso_ms(exp.bar_start_ms)}")
    if exp.values is not None:
        ok = got.values is not None and len(got.values) == len(exp.values) and all(
            (e is None and (g is None or math.isnan(g))) or (e is not None and value_matches(g, e))
            for e, g in zip(exp.values, got.values)
        )
        if not ok:
            wrong.append("values [" + ", ".join("null" if v is None else _num(v) for v in exp.values) + "]")
    return wrong


def value_matches(actual: float | None, expected: float) -> bool:
    """True when ``actual`` rounds to ``expected`` at the number of decimals written (0.083 ~ 0.08333)."""
    if actual is None or math.isnan(actual):
        return False
    exponent = Decimal(repr(float(expected))).normalize().as_tuple().exponent
    decimals = max(0, -int(exponent))
    return abs(actual - expected) <= 0.5 * 10.0**-decimals * (1 + 1e-9)


def _num(v: float) -> str:
    return f"{v:.10g}"


# --------------------------------------------------------------------------- report


def render(results: list[FileResult], *, verbose: bool = False) -> Iterator[str]:
    """What ``tradeassist test`` prints: problems, then one line per case, diffs of failures."""
    for file in results:
        for problem in file.problems:
            yield str(problem)
        for case in file.cases:
            status = "PASS" if case.passed else "FAIL"
            yield f"{status} {case.where}: {case.name} ({case.fired} fired, {case.expected} expected)"
            if not case.passed or verbose:
                yield "    --- expected (missing: -)   +++ fired (unexpected: +)   ~ wrong value"
                for mark, text in case.lines:
                    yield f"    {mark} {text}"
            for note in case.notes:
                yield f"    note: {note}"


def summary(results: list[FileResult]) -> str:
    cases = [c for f in results for c in f.cases]
    failed = sum(not c.passed for c in cases)
    invalid = sum(bool(f.problems) for f in results)
    text = f"{len(cases)} tests, {failed} failed"
    if invalid:
        text += f", {invalid} invalid file{'s' if invalid != 1 else ''}"
    return text

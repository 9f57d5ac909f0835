"""The config file plus every rules file -> one :class:`LoadedConfig`, or every problem at once.

Users fix config in a CI loop (``tradeassist validate``), so one run must report every
mistake in every file, each at ``PATH:LINE:COLUMN``.  That is why checks that span
files (duplicate ids, undeclared instruments, conflicting instrument declarations) run
on the raw YAML data even when pydantic already rejected part of it: a file with one
typo still gets its other mistakes reported.

Hot reload validates everything again on every change, and 10,000 rules must take well
under a second.  So files are parsed by :mod:`.fast_yaml` where it reads them
exactly as ruamel's round-trip loader would (the round-trip tree, needed only to place
a message, is built on demand), a rules file whose bytes did not change since the last
load is not parsed or validated again (:class:`RulesFileCache`), and the cyclic garbage
collector waits until the load is done.  ``load_config(path, fast=False)`` is the
reference path without any of that; the tests hold the two to the same results.
"""

from __future__ import annotations

import gc
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, Problem
from ..notify.validate import check_notifications
from .explain import conjunction_size, describe, did_you_mean, explain
from .loaded import LoadedConfig, LoadedRule, Location
from ..rules.catalog import RulesFile, modifier_mistakes
from ..rules.registry import REGISTRY
from .models import Config, Instrument
from .yaml_source import FastPathDiverged, LocPath, YamlDocument, decode_source, parse_yaml, read_source

RULE_FILE_SUFFIXES = (".yaml", ".yml")
_DEFAULT_RULES_DIR = str(Config.model_fields["rules_dir"].default)

M = TypeVar("M", bound=BaseModel)


def find_rule_files(rules_dir: Path) -> list[Path]:
    """The rules files of a folder, sorted by name: that order is the rules' order.

    Hidden files are skipped because editors write them next to the file being edited
    (``.futures.yaml.swp``-style temporaries) and hot reload must not load half a save.
    """
    return sorted(
        (
            p
            for p in rules_dir.iterdir()
            if p.suffix in RULE_FILE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        ),
        key=lambda p: p.name,
    )


@dataclass
class _Collected:
    """Everything gathered while reading the files, checked together at the end."""

    problems: list[Problem] = field(default_factory=list)
    instruments: list[tuple[Instrument, YamlDocument, LocPath]] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    rule_items: list[tuple[dict[str, Any], YamlDocument, int]] = field(default_factory=list)
    rules: list[LoadedRule] = field(default_factory=list)

    def at(self, doc: YamlDocument, loc: LocPath) -> str:
        line, column = doc.position(loc)
        return f"{doc.path}:{line}:{column}"

    def add(self, other: _Collected) -> None:
        self.problems.extend(other.problems)
        self.instruments.extend(other.instruments)
        self.symbols.update(other.symbols)
        self.rule_items.extend(other.rule_items)
        self.rules.extend(other.rules)


class RulesFileCache:
    """What one rules file yielded, reused while its bytes stay the same.

    A reload re-reads every file, but after an edit to one file of ten only that file
    is parsed and validated again.  An entry is keyed by the file and the path shown in
    messages, and serves only the exact bytes it was made from (compared in full: a
    rewrite that keeps the size and the modification time still misses).  Everything in
    an entry follows from those bytes and that path alone: the data, the validated
    models, the rules with their locations.  Files with a problem of their own are not
    kept.  At most ``max_files`` entries, the least recently used dropped first.
    """

    def __init__(self, max_files: int = 1024) -> None:
        self.max_files = max_files
        self._entries: OrderedDict[tuple[str, str], tuple[bytes, _Collected]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, file: Path, shown: str, raw: bytes) -> _Collected | None:
        key = (str(file), shown)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != raw:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, file: Path, shown: str, raw: bytes, result: _Collected) -> None:
        key = (str(file), shown)
        with self._lock:
            self._entries[key] = (raw, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_files:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a load builds its objects.

    A 10,000-rule load allocates about a million objects, and the collector's passes
    over the growing heap would cost several times the parse itself.  Nothing a load
    builds is kept in a cycle, and the collector is back on (if it was) when it returns.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_config(path: str | Path, *, fast: bool = True, cache: RulesFileCache | None = None) -> LoadedConfig:
    """Load and check the config and its rules; raise :class:`ConfigError` with every problem.

    ``fast`` (the default) parses with libyaml where it can (:mod:`.fast_yaml`) and, given
    a ``cache``, reuses the rules files that did not change since an earlier load with
    it (a runner keeps one for its reloads; a one-shot command has nothing to reuse).
    ``fast=False`` is the reference: ruamel's round-trip parse of every file, nothing
    reused.  Both give equal results and the same problems, at the same places.
    """
    with _gc_paused():
        if fast:
            try:
                return _load(path, True, cache)
            except FastPathDiverged:
                pass  # a file libyaml read but ruamel refuses: redo it all the reference way
        return _load(path, False, None)


def _load(path: str | Path, fast: bool, cache: RulesFileCache | None) -> LoadedConfig:
    config_path = Path(path)
    shown = str(path)
    # unreadable config: nothing else can be found
    doc = parse_yaml(decode_source(read_source(config_path, shown), shown), shown, fast)
    data = _mapping(doc, "the config file must be a mapping (instruments:, rules_dir:, source:, ...)")
    found = _Collected()
    config = _validate(Config, data, doc, found.problems)
    _collect_instruments(data, doc, found)

    rule_files: list[Path] = []
    rules_dir_text = data.get("rules_dir", _DEFAULT_RULES_DIR)

    def where() -> Problem:
        """Where a problem with the rules folder is shown; placed only when there is one (on a
        fast parse, placing a key means ruamel's round-trip parse of the whole file)."""
        return doc.problem(["rules_dir"], "") if "rules_dir" in data else Problem(shown, 1, 1, "")

    if isinstance(rules_dir_text, str) and rules_dir_text:
        rules_dir = config_path.parent / Path(rules_dir_text).expanduser()
        if not rules_dir.is_dir():
            what = "is not a folder" if rules_dir.exists() else "does not exist"
            at = where()
            found.problems.append(
                Problem(at.path, at.line, at.column, f"rules_dir '{rules_dir_text}' {what} ({rules_dir})")
            )
        else:
            for file in find_rule_files(rules_dir):
                rule_files.append(file.resolve())
                shown_file = os.path.normpath(os.path.join(os.path.dirname(shown), rules_dir_text, file.name))
                found.add(_load_rules_file(file, shown_file, fast, cache))

    _check_instrument_conflicts(found)
    _check_rules(found)
    found.problems.extend(check_notifications(data, doc, found.rule_items, config_path.parent))
    if found.problems or config is None:
        raise ConfigError(found.problems)
    instruments: dict[str, Instrument] = {}
    for inst, _, _ in found.instruments:
        instruments.setdefault(inst.symbol, inst)
    warnings: list[Problem] = []
    if not found.rules:  # valid, but a runner that can never alert is almost surely a mistake
        why = (
            f"rules_dir '{rules_dir_text}' holds no *.yaml or *.yml files"
            if not rule_files
            else f"the files under rules_dir '{rules_dir_text}' define no rules"
        )
        at = where()
        warnings.append(Problem(at.path, at.line, at.column, f"warning: no rules: {why}"))
    return LoadedConfig(
        path=config_path,
        config=config,
        instruments=tuple(instruments.values()),
        rules=tuple(found.rules),
        rule_files=tuple(rule_files),
        warnings=tuple(str(w) for w in warnings),
    )


def _mapping(doc: YamlDocument, expectation: str) -> dict[str, Any]:
    """The file's top level as a dict; an empty file is an empty mapping.

    A key left with nothing under it (``rules:`` with every rule commented out) means
    "none", not "null is not a list".
    """
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise ConfigError([doc.problem([], f"{expectation}, got {describe(data)}")])
    return {k: ([] if k in ("rules", "instruments") and v is None else v) for k, v in data.items()}


def _validate(model: type[M], data: dict[str, Any], doc: YamlDocument, problems: list[Problem]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(explain(exc, doc, model))
        return None


def _collect_instruments(data: dict[str, Any], doc: YamlDocument, found: _Collected) -> None:
    """Remember every declaration, valid or not, so one bad entry does not make rules "undeclared"."""
    items = data.get("instruments")
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("symbol"), str):
            found.symbols.add(item["symbol"])
        try:
            found.instruments.append((Instrument.model_validate(item), doc, ["instruments", i]))
        except ValidationError:
            pass  # reported by the whole-file validation


def _load_rules_file(file: Path, shown: str, fast: bool, cache: RulesFileCache | None) -> _Collected:
    """One rules file's own problems, instruments, raw rule items and rules."""
    found = _Collected()
    try:
        raw = read_source(file, shown)
        if fast and cache is not None:
            cached = cache.get(file, shown, raw)
            if cached is not None:
                return cached
        doc = parse_yaml(decode_source(raw, shown), shown, fast)
        data = _mapping(doc, "a rules file must be a mapping with a 'rules:' list")
    except ConfigError as exc:
        found.problems.extend(exc.problems)
        return found
    parsed = _validate(RulesFile, data, doc, found.problems)
    _collect_instruments(data, doc, found)
    items = data.get("rules")
    if isinstance(items, list):
        found.rule_items.extend((item, doc, i) for i, item in enumerate(items) if isinstance(item, dict))
    if parsed is not None:
        for i, rule in enumerate(parsed.rules):
            line, column = doc.position(["rules", i])
            found.rules.append(LoadedRule(rule=rule, source=Location(doc.path, line, column)))
    if fast and cache is not None and not found.problems:
        cache.put(file, shown, raw, found)
    return found


def _check_instrument_conflicts(found: _Collected) -> None:
    """The same symbol may be declared in several files, but only with the same meaning."""
    first: dict[str, tuple[Instrument, YamlDocument, LocPath]] = {}
    for inst, doc, loc in found.instruments:
        if inst.symbol not in first:
            first[inst.symbol] = (inst, doc, loc)
            continue
        other, other_doc, other_loc = first[inst.symbol]
        if other == inst:
            continue
        here_there = "; ".join(
            f"{name}: {getattr(inst, name)!r} here, {getattr(other, name)!r} there"
            for name in Instrument.model_fields
            if getattr(inst, name) != getattr(other, name)
        )
        there_here = "; ".join(
            f"{name}: {getattr(other, name)!r} here, {getattr(inst, name)!r} there"
            for name in Instrument.model_fields
            if getattr(inst, name) != getattr(other, name)
        )
        found.problems.append(
            doc.problem(
                loc,
                f"instrument '{inst.symbol}' conflicts with its declaration at "
                f"{found.at(other_doc, other_loc)} ({here_there})",
            )
        )
        found.problems.append(
            other_doc.problem(
                other_loc,
                f"instrument '{inst.symbol}' conflicts with its declaration at "
                f"{found.at(doc, loc)} ({there_here})",
            )
        )


def _check_rules(found: _Collected) -> None:
    ids: dict[str, list[tuple[YamlDocument, LocPath]]] = {}
    # Where a file validated, its models' own checks ran: only files with problems can hide some.
    unvalidated = {p.path for p in found.problems}
    for item, doc, i in found.rule_items:
        rule_id = item.get("id")
        if isinstance(rule_id, str):
            ids.setdefault(rule_id, []).append((doc, ["rules", i, "id"]))
        symbol = item.get("instrument")
        if isinstance(symbol, str) and symbol not in found.symbols:
            found.problems.append(
                doc.problem(
                    ["rules", i, "instrument"],
                    f"unknown instrument '{symbol}'{did_you_mean(symbol, found.symbols)}: "
                    "declare it under 'instruments:' in the config or a rules file",
                )
            )
        other = item.get("other")
        if item.get("type") == "spread" and isinstance(other, str):
            if other == symbol:
                found.problems.append(doc.problem(
                    ["rules", i, "other"],
                    f"other: must be a second instrument, not this rule's own instrument '{other}'",
                ))
            elif other not in found.symbols:
                found.problems.append(doc.problem(
                    ["rules", i, "other"],
                    f"other: unknown instrument '{other}'{did_you_mean(other, found.symbols)}: "
                    "declare it under 'instruments:' in the config or a rules file",
                ))
        message = _never_fires(item)
        if message:
            found.problems.append(doc.problem(["rules", i, "threshold"], message))
        if doc.path in unvalidated:
            for problem in _shape_problems(item, doc, i):
                if problem not in found.problems:  # pydantic saw it too when the rest of the rule was valid
                    found.problems.append(problem)
    for rule_id, places in ids.items():
        if len(places) < 2:
            continue
        for doc, loc in places:
            others = ", ".join(found.at(d, lc) for d, lc in places if (d, lc) != (doc, loc))
            found.problems.append(doc.problem(loc, f"duplicate rule id '{rule_id}' (also defined at {others})"))


def _shape_problems(item: dict[str, Any], doc: YamlDocument, i: int) -> list[Problem]:
    """A ``bar``/``for`` that does not fit the type, a conjunction of the wrong size.

    pydantic checks these too, but only once every other field of the rule is valid
    (a model's whole-rule check runs last; a list's length after its items), so a rule
    with a typo as well would hide them until the next run.  Read off the raw data here,
    with the models' own words, they are reported in the same run.
    """
    rule_type = item.get("type")
    if rule_type != "all" and "bar" not in item and "for" not in item:
        return []  # the common case, kept cheap: every rule of every reload comes here
    raw_conditions = item.get("conditions")
    conditions = raw_conditions if isinstance(raw_conditions, list) else []
    pairs = [(c.get("type"), c.get("condition")) for c in conditions if isinstance(c, dict)]
    mistakes = modifier_mistakes(
        rule_type, item.get("condition"),
        bar=item.get("bar") is not None, for_=item.get("for") is not None, conditions=pairs,
    )
    problems = [doc.problem(["rules", i, field], f"{field}: {message}") for field, message in mistakes]
    if rule_type == "all" and isinstance(raw_conditions, list) and not 2 <= len(raw_conditions) <= 8:
        problems.append(doc.problem(["rules", i, "conditions"], conjunction_size(len(raw_conditions))))
    return problems


def _never_fires(item: dict[str, Any]) -> str | None:
    """A rule type may know combinations that can never fire (or always do): ask it."""
    rule_type = REGISTRY.get(item.get("type", "")) if isinstance(item.get("type"), str) else None
    check = getattr(rule_type, "never_fires", None)
    if check is None:
        return None
    condition, threshold = item.get("condition"), item.get("threshold")
    if not isinstance(condition, str) or isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        return None
    try:
        if not math.isfinite(threshold):
            return None
    except OverflowError:  # an integer beyond float64: reported by the threshold's own validation
        return None
    result: str | None = check(condition, float(threshold))
    return result

"""A chart of a backtest or of a diff: tap the run, then draw what it recorded.

The backtest itself is untouched: the chart sees each batch of accepted ticks and each
frame of alerts through a :class:`~tradeassist_runner.backtest.Tap`.  When the symbol
to draw is known up front (``--symbol``, or ``--rule``), everything is recorded in that
one pass.  Otherwise the alerts of every rule are kept (they are small), the symbol
with the most alerts is chosen at the end, and its price and series are read in a
second pass over the file (no engine), so no memory is spent on symbols never drawn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..backtest import BacktestStats, Tap, accepted_ticks
from ..config.loaded import LoadedConfig, LoadedRule
from ..engine.plan import fingerprint
from .model import NEW_COLOR, OLD_COLOR, Figure, Side, build, format_duration_ms
from .output import chart_format, check_ready, write_chart
from .record import COLUMNS, AlertKeeper, SeriesRecorder
from .selection import Selection, busiest_symbol, rules_of, select


@dataclass(frozen=True)
class ChartRequest:
    path: str
    fmt: str
    selection: Selection


def prepare(configs: Sequence[LoadedConfig], path: str, symbol: str | None, rule_ids: Sequence[str]) -> ChartRequest:
    """Check ``--chart``/``--symbol``/``--rule`` before any tick is read.

    ValueError / SelectionError: a usage error (exit 2); ChartError: it could not be
    written (exit 1).
    """
    fmt = chart_format(path)
    selection = select(configs, symbol, rule_ids)
    check_ready(path, fmt)
    return ChartRequest(path, fmt, selection)


@dataclass
class _TickCounter:
    per_symbol: Counter[str] = field(default_factory=Counter)

    def add(self, accepted: pl.DataFrame) -> None:
        counts = accepted["symbol"].value_counts()
        self.per_symbol.update(dict(zip(counts["symbol"].to_list(), counts["count"].to_list())))


def _choose(counts: Counter[str], ticks: _TickCounter, configs: Sequence[LoadedConfig]) -> tuple[str | None, str]:
    """The symbol to draw when none was named, and a note saying why."""
    symbol = busiest_symbol(dict(counts), configs)
    if symbol is not None:
        others = [f"{s} ({n})" for s, n in counts.most_common() if s != symbol]
        note = f"{symbol} fired the most alerts"
        if others:
            note += f"; also fired: {', '.join(others[:6])}{', ...' if len(others) > 6 else ''} (choose with --symbol)"
        return symbol, note
    declared = [i.symbol for c in configs for i in c.instruments]
    ticked = [s for s in dict.fromkeys(declared) if ticks.per_symbol.get(s)]
    if ticked:
        symbol = max(ticked, key=lambda s: (ticks.per_symbol[s], -ticked.index(s)))
        return symbol, f"no alerts fired; {symbol} had the most ticks"
    return (declared[0] if declared else None), "no ticks of any declared symbol"


def _second_pass(recorder: SeriesRecorder, config: LoadedConfig, ticks_path: Path, batch_size: int) -> None:
    for batch in accepted_ticks(config, ticks_path, batch_size, BacktestStats()):
        recorder.add(batch)


def _notes(recorder: SeriesRecorder, alerts: int, why: str | None) -> list[str]:
    t, _ = recorder.price.line()
    if recorder.ticks > len(t):
        drawn = (f"price and values drawn per column of {format_duration_ms(recorder.price.width)} "
                 f"(first, low, high and last of each: {len(t):,} points)")
    else:
        drawn = "every tick drawn"
    notes = [f"{recorder.ticks:,} ticks of {recorder.symbol}, {alerts:,} alerts (every one a marker); {drawn}; "
             "shaded: each alert's cooldown, and the run a `for` rule held before firing"]
    if why:
        notes.append(why)
    return notes


class BacktestChart:
    """The chart of one backtest."""

    def __init__(
        self, config: LoadedConfig, request: ChartRequest, ticks_path: Path, batch_size: int, columns: int = COLUMNS
    ) -> None:
        self.config = config
        self.columns = columns
        self.request = request
        self.ticks_path = ticks_path
        self.batch_size = batch_size
        symbol = request.selection.symbol
        self.recorder: SeriesRecorder | None = None
        self.rules: list[LoadedRule] = []
        if symbol is not None:
            self.rules = rules_of(config, request.selection, symbol)
            self.recorder = SeriesRecorder(self.rules, config.instruments, symbol, columns)
        self.alerts = AlertKeeper(frozenset(r.rule.id for r in self.rules) if symbol is not None else None)
        self._ticks = _TickCounter()

    def tap(self) -> Tap:
        return Tap(ticks=self.recorder.add if self.recorder is not None else self._ticks.add, alerts=self.alerts.add)

    def figure(self) -> Figure:
        why = None
        if self.recorder is None:
            symbol, why = _choose(self.alerts.per_symbol, self._ticks, [self.config])
            if symbol is None:
                raise _nothing_to_draw()
            self.rules = rules_of(self.config, self.request.selection, symbol)
            self.recorder = SeriesRecorder(self.rules, self.config.instruments, symbol, self.columns)
            _second_pass(self.recorder, self.config, self.ticks_path, self.batch_size)
        recorder = self.recorder
        ids = [r.rule.id for r in self.rules]
        alerts = self.alerts.of(ids)
        side = Side("", alerts, {r.rule.id: r.index for r in recorder.rules()})
        title = f"{recorder.symbol} · {len(ids)} rule{'s' if len(ids) != 1 else ''} · {self.ticks_path.name}"
        return build(recorder, [side], title, _notes(recorder, alerts.height, why))

    def write(self) -> str:
        """Draw and write the chart; the line ``backtest`` prints about it on stderr."""
        figure = self.figure()
        size = write_chart(figure, self.request.path, self.request.fmt)
        return f"chart: {self.request.path} ({_size(size)}): {figure.title}, {figure.alerts} alerts drawn"


class DiffChart:
    """The chart of a diff: one price, both versions' rules, OLD and NEW alerts in two colours.

    A rule whose definition changed is drawn twice (its OLD threshold and series beside
    the NEW ones); an unchanged rule once, with both sides' alerts on it.
    """

    def __init__(self, old: LoadedConfig, new: LoadedConfig, request: ChartRequest, ticks_path: Path) -> None:
        self.old, self.new = old, new
        self.request = request
        self.ticks_path = ticks_path
        self.old_alerts = AlertKeeper()
        self.new_alerts = AlertKeeper()
        self._ticks = _TickCounter()
        self.recorder: SeriesRecorder | None = None
        self._labels: dict[int, str] = {}
        self._index: tuple[dict[str, int], dict[str, int]] = ({}, {})
        if request.selection.symbol is not None:
            self._record(request.selection.symbol)

    def _record(self, symbol: str) -> None:
        new_rules = rules_of(self.new, self.request.selection, symbol)
        old_rules = rules_of(self.old, self.request.selection, symbol)
        new_at = {fingerprint(r.rule): i for i, r in enumerate(new_rules)}
        new_ids = {r.rule.id for r in new_rules}
        changed = [r for r in old_rules if fingerprint(r.rule) not in new_at]
        drawn = new_rules + changed
        new_index = {r.rule.id: i for i, r in enumerate(new_rules)}
        old_index: dict[str, int] = {}
        for r in old_rules:
            same = new_at.get(fingerprint(r.rule))
            old_index[r.rule.id] = same if same is not None else len(new_rules) + changed.index(r)
        for i, r in enumerate(changed):
            self._labels[len(new_rules) + i] = f"{r.rule.id} (OLD)"
            if r.rule.id in new_ids:
                self._labels[new_index[r.rule.id]] = f"{r.rule.id} (NEW)"
        self._index = (old_index, new_index)
        self.old_alerts.rule_ids = frozenset(old_index)
        self.new_alerts.rule_ids = frozenset(new_index)
        instruments = {i.symbol: i for c in (self.old, self.new) for i in c.instruments}
        self.recorder = SeriesRecorder(drawn, list(instruments.values()), symbol)

    def taps(self) -> tuple[Tap, Tap]:
        """(OLD's tap, NEW's tap); the ticks are recorded from NEW's run."""
        ticks = self.recorder.add if self.recorder is not None else self._ticks.add
        return Tap(alerts=self.old_alerts.add), Tap(ticks=ticks, alerts=self.new_alerts.add)

    def figure(self) -> Figure:
        why = None
        if self.recorder is None:
            counts = self.old_alerts.per_symbol + self.new_alerts.per_symbol
            symbol, why = _choose(counts, self._ticks, [self.new, self.old])
            if symbol is None:
                raise _nothing_to_draw()
            self._record(symbol)
            assert self.recorder is not None
            config = self.new if any(i.symbol == symbol for i in self.new.instruments) else self.old
            _second_pass(self.recorder, config, self.ticks_path, 50_000)
        recorder = self.recorder
        assert recorder is not None
        old_index, new_index = self._index
        old = self.old_alerts.of(list(old_index))
        new = self.new_alerts.of(list(new_index))
        sides = [
            Side("OLD", old, old_index, OLD_COLOR, hollow=True),
            Side("NEW", new, new_index, NEW_COLOR),
        ]
        title = f"{recorder.symbol} · OLD {old.height} alerts → NEW {new.height} alerts · {self.ticks_path.name}"
        notes = _notes(recorder, old.height + new.height, why)
        notes.append("OLD alerts hollow, NEW alerts filled; a changed rule is drawn in both versions")
        return build(recorder, sides, title, notes, self._labels)

    def write(self) -> str:
        figure = self.figure()
        size = write_chart(figure, self.request.path, self.request.fmt)
        return f"chart: {self.request.path} ({_size(size)}): {figure.title}"


def _nothing_to_draw() -> Exception:
    from ..errors import ChartError

    return ChartError("--chart: the config declares no instrument to draw")


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(1, round(n / 1000))} kB"


__all__ = ["BacktestChart", "ChartRequest", "DiffChart", "prepare", "COLUMNS"]

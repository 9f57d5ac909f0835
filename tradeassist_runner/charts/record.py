"""What a chart needs from a backtest, recorded while the ticks stream by, in bounded memory.

The values drawn are the engine's own: the same sources (``engine/samples.py``: ticks,
closed bars, merged pairs) and each rule type's own ``values`` over them, with their
carried state from batch to batch exactly as the engine carries it, so the lines pass
through the values the alerts fired at.  Every line is reduced to pixel columns as it
streams (``columns.py``); the alerts are kept whole, one marker each.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..config.loaded import LoadedRule
from ..config.models import Instrument
from ..engine.plan import CompiledRule, Plan, compile_plan
from ..engine.samples import Ticks, build_source
from ..rules.registry import REGISTRY
from ..rules.seam import THRESHOLD_PRICE
from .columns import Columns

#: Pixel columns per line: about the width of a wide screen; a PNG is drawn narrower.
COLUMNS = 2000

#: Alert columns a chart shows (the rest of the record stays in the alert log).
ALERT_COLUMNS = ("alert_id", "rule_id", "symbol", "ts", "bar_start", "price", "value", "threshold",
                 "condition", "severity", "message", "values", "inputs")


@dataclass
class SeriesTrace:
    """One series' values and the price lines its type draws, as pixel columns."""

    value: Columns
    #: name -> line shared by every rule on the series (the average, the prior range...)
    references: dict[str, Columns] = field(default_factory=dict)
    #: (rule index, condition index) -> the price at which that condition's value meets its threshold
    thresholds: dict[tuple[int, int], Columns] = field(default_factory=dict)


class SeriesRecorder:
    """Price, candles and every drawn rule's series over the accepted ticks of one symbol."""

    def __init__(
        self, rules: Sequence[LoadedRule], instruments: Sequence[Instrument], symbol: str,
        columns: int = COLUMNS,
    ) -> None:
        self.symbol = symbol
        self.columns = columns
        self.plan: Plan = compile_plan(list(rules), list(instruments))
        symbols = {symbol} | {s for src in self.plan.sources for s in src.symbols}
        self._codes = {s: i for i, s in enumerate(sorted(symbols))}
        self.price = Columns(columns)
        self.ticks = 0
        bars = sorted({src.bar_ms for src in self.plan.sources if src.bar_ms is not None})
        self.candles = {bar: Columns(columns, base_ms=bar) for bar in bars}
        self._source_state: dict[str, dict[str, Any]] = {}
        self._series_state: dict[str, Any] = {}
        self.series: dict[str, SeriesTrace] = {}
        for ser in self.plan.series:
            bar = self.plan.sources[ser.source].bar_ms
            self.series[ser.key] = SeriesTrace(Columns(columns, base_ms=bar or 1))

    def rules(self) -> tuple[CompiledRule, ...]:
        return self.plan.rules

    def add(self, accepted: pl.DataFrame) -> None:
        """One batch of accepted ticks (any symbols, arrival order)."""
        if accepted.height == 0:
            return
        sym = accepted["symbol"].replace_strict(self._codes, default=-1, return_dtype=pl.Int64).to_numpy()
        if not (sym >= 0).any():
            return
        batch = Ticks(
            ts=accepted["ts"].dt.epoch("ms").to_numpy().astype(np.int64),
            sym=sym.astype(np.int64),
            price=accepted["price"].cast(pl.Float64).to_numpy().astype(np.float64),
            volume=accepted["volume"].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64),
        )
        mine = batch.sym == self._codes[self.symbol]
        self.ticks += int(mine.sum())
        self.price.add(batch.ts[mine], batch.price[mine])
        for candles in self.candles.values():
            candles.add(batch.ts[mine], batch.price[mine])
        built = []
        for spec in self.plan.sources:
            codes = tuple(self._codes[s] for s in spec.symbols)
            sb, state = build_source(spec, codes, batch, self._source_state.get(spec.key))
            self._source_state[spec.key] = state
            built.append(sb)
        with np.errstate(all="ignore"):
            for index, ser in enumerate(self.plan.series):
                samples = built[ser.source].samples
                if len(samples) == 0:
                    continue
                rule_type = REGISTRY[ser.type_name]
                values, self._series_state[ser.key] = rule_type.values(
                    ser.params, samples, self._series_state.get(ser.key)
                )
                trace = self.series[ser.key]
                trace.value.add(samples.t, values.value)
                bar = self.plan.sources[ser.source].bar_ms or 1
                for rule in self.plan.rules:
                    for j, cond in enumerate(rule.conditions):
                        if cond.series != index:
                            continue
                        lines = rule_type.chart_lines(ser.params, values.inputs, cond.threshold)
                        for name, y in lines.items():
                            if name == THRESHOLD_PRICE:
                                target = trace.thresholds.setdefault((rule.index, j), Columns(self.columns, bar))
                            else:
                                target = trace.references.setdefault(name, Columns(self.columns, bar))
                                if target.samples >= trace.value.samples:
                                    continue  # this batch's reference line came with another rule
                            target.add(samples.t, y)


@dataclass
class AlertKeeper:
    """The fired alerts a chart draws (all of them: alerts are never downsampled)."""

    rule_ids: frozenset[str] | None = None  # None: every rule (the symbol is chosen later)
    frames: list[pl.DataFrame] = field(default_factory=list)
    per_symbol: Counter[str] = field(default_factory=Counter)

    def add(self, alerts: pl.DataFrame) -> None:
        if self.rule_ids is not None:
            alerts = alerts.filter(pl.col("rule_id").is_in(list(self.rule_ids)))
        if alerts.height == 0:
            return
        self.per_symbol.update(alerts["symbol"].to_list())
        self.frames.append(alerts.select(ALERT_COLUMNS))

    def of(self, rule_ids: Sequence[str]) -> pl.DataFrame:
        """The alerts of ``rule_ids`` in firing order, with the sample time ``t`` (a bar's
        start, else the tick's), the cooldown, the previous fire and the ``for`` run."""
        frames = [f.filter(pl.col("rule_id").is_in(list(rule_ids))) for f in self.frames]
        df = pl.concat(frames) if frames else pl.DataFrame(schema=_ALERT_SCHEMA)
        return df.with_columns(
            pl.coalesce(pl.col("bar_start"), pl.col("ts")).dt.epoch("ms").alias("t"),
            pl.col("ts").dt.epoch("ms").alias("ts_ms"),
            _from_inputs("cooldown_ms"),
            _from_inputs("last_fire_t"),
            _from_inputs("run_start_t"),
        )


def _from_inputs(key: str) -> pl.Expr:
    return pl.col("inputs").str.json_path_match(f"$.{key}").cast(pl.Int64, strict=False).alias(key)


def _schema() -> dict[str, pl.DataType]:
    from ..engine.alerts import ALERT_SCHEMA

    return {name: ALERT_SCHEMA[name] for name in ALERT_COLUMNS}


_ALERT_SCHEMA = _schema()


def condition_values(row_values: str | None, value: float | None) -> list[float | None]:
    """Every condition's value of one alert (a conjunction's ``values``, else its ``value``)."""
    if row_values:
        parsed = json.loads(row_values)
        return [None if v is None else float(v) for v in parsed]
    return [value]

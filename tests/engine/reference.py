"""A per-tick reference evaluator written straight from docs/semantics.md ("Rules").

Deliberately naive (quadratic look-backs, plain Python, no shared state between rule
types) so that it is obviously right; the polars engine is checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tradeassist_runner.config.durations import to_ms


@dataclass(frozen=True)
class Tick:
    ts_ms: int
    symbol: str
    price: float
    volume: int | None


def _value(rule: Any, history: list[Tick], tick: Tick) -> float | None:
    """The rule's value at ``tick``; ``history`` = earlier ticks of the same symbol."""
    if rule.type == "threshold":
        return tick.price
    if rule.type == "rate_of_change":
        limit = tick.ts_ms - to_ms(rule.window)
        earlier = [t for t in history if t.ts_ms <= limit]
        if not earlier:
            return None
        ref = earlier[-1].price  # most recent, and the last in file order among equal ts
        if ref == 0:
            return None
        return (tick.price - ref) / ref * 100
    if rule.type == "volume_spike":
        if tick.volume is None:
            return None
        vols = [t.volume for t in history if t.volume is not None]
        if len(vols) < rule.period:
            return None
        window = vols[-rule.period :]
        mean = sum(window) / rule.period
        if mean == 0:
            return None
        return tick.volume / mean
    raise AssertionError(rule.type)


def _holds(condition: str, prev: float | None, value: float, threshold: float) -> bool:
    if condition == "above":
        return value > threshold
    if condition == "below":
        return value < threshold
    if condition == "crosses_above":
        return prev is not None and prev <= threshold and value > threshold
    if condition == "crosses_below":
        return prev is not None and prev >= threshold and value < threshold
    raise AssertionError(condition)


def reference_alerts(rules: list[Any], ticks: list[Tick]) -> list[tuple[str, str, int, float]]:
    """(rule_id, symbol, ts_ms, value) for every fire, in firing order (tick, then rule order)."""
    out: list[tuple[str, str, int, float]] = []
    history: dict[str, list[Tick]] = {}
    last_fire: dict[str, int] = {}
    for tick in ticks:
        earlier = history.setdefault(tick.symbol, [])
        for rule in rules:
            if rule.instrument != tick.symbol or not rule.active:
                continue
            value = _value(rule, earlier, tick)
            if value is None:
                continue
            prev = _value(rule, earlier[:-1], earlier[-1]) if earlier else None
            if not _holds(rule.condition, prev, value, rule.threshold):
                continue
            last = last_fire.get(rule.id)
            if last is not None and tick.ts_ms - last < to_ms(rule.cooldown):
                continue
            last_fire[rule.id] = tick.ts_ms
            out.append((rule.id, tick.symbol, tick.ts_ms, value))
        earlier.append(tick)
    return out

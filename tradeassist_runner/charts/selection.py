"""Which symbol and rules a chart draws (``--symbol``, ``--rule``).

A chart is one symbol: its price and the rules set on it (``instrument``), each with its
threshold, its value panel and its alerts.  ``--rule`` (repeatable) draws only those
rules, which must then share one instrument; ``--symbol`` alone draws every active rule
of that symbol; with neither, the symbol is chosen after the run: the one whose rules
fired the most alerts.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..config.loaded import LoadedConfig, LoadedRule


class SelectionError(ValueError):
    """``--symbol`` or ``--rule`` names nothing drawable: a usage error."""


@dataclass(frozen=True)
class Selection:
    symbol: str | None  # None: decided after the run (see busiest_symbol)
    rule_ids: tuple[str, ...]  # empty: every active rule of the symbol


def _unknown(kind: str, name: str, known: Iterable[str]) -> SelectionError:
    names = sorted(set(known))
    folded = {n.lower(): n for n in names}
    close = [folded[name.lower()]] if name.lower() in folded else [
        folded[m] for m in difflib.get_close_matches(name.lower(), list(folded), n=1)]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return SelectionError(f"unknown {kind} {name!r}{hint}; known: {listed or 'none'}")


def select(configs: Sequence[LoadedConfig], symbol: str | None, rule_ids: Sequence[str]) -> Selection:
    """Check ``--symbol`` / ``--rule`` against the configs (both sides of a diff)."""
    symbols = {i.symbol for c in configs for i in c.instruments}
    instrument_of = {r.rule.id: r.rule.instrument for c in configs for r in c.rules}
    if symbol is not None and symbol not in symbols:
        raise _unknown("--symbol", symbol, symbols)
    for rule_id in rule_ids:
        if rule_id not in instrument_of:
            raise _unknown("--rule", rule_id, instrument_of)
    on = sorted({instrument_of[r] for r in rule_ids})
    if symbol is not None:
        elsewhere = [r for r in rule_ids if instrument_of[r] != symbol]
        if elsewhere:
            raise SelectionError(
                f"--rule {elsewhere[0]} is a rule of {instrument_of[elsewhere[0]]}, not of --symbol {symbol}"
            )
    elif len(on) > 1:
        raise SelectionError(
            f"the --rule options name rules of {', '.join(on)}: a chart draws one symbol, "
            "so chart them one symbol at a time"
        )
    chosen = symbol if symbol is not None else (on[0] if on else None)
    return Selection(chosen, tuple(dict.fromkeys(rule_ids)))


def rules_of(config: LoadedConfig, selection: Selection, symbol: str) -> list[LoadedRule]:
    """The rules drawn, in declaration order: the named ones, or every active rule of ``symbol``."""
    if selection.rule_ids:
        wanted = set(selection.rule_ids)
        return [r for r in config.rules if r.rule.id in wanted]
    return [r for r in config.rules if r.rule.instrument == symbol and r.rule.active]


def busiest_symbol(alert_counts: dict[str, int], configs: Sequence[LoadedConfig]) -> str | None:
    """The symbol with the most alerts (ties: declaration order); None without alerts."""
    order = [i.symbol for c in configs for i in c.instruments]
    fired = [s for s in dict.fromkeys(order) if alert_counts.get(s)]
    if not fired:
        return None
    return max(fired, key=lambda s: (alert_counts[s], -fired.index(s)))

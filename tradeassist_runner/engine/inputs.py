"""What a fired alert's decision used, recorded next to it (the ``inputs`` column).

A reviewer asking "why did this fire?" needs more than the value: the reference
price (and its time) a rate of change was measured against, the volumes a spike was
averaged over, the cooldown and the previous fire it was measured from. The engine
has all of that in hand for exactly one batch, so it is captured here, only for the
ticks that fired (few), and ``tradeassist explain`` later re-runs the value
computation from it. Nothing here changes which alerts fire.

JSON keys: ``cooldown_ms``, ``last_fire_ts`` (ISO ms or null) for every type, plus
``window_ms``, ``ref_ts``, ``ref_price`` (rate_of_change) or ``period``, ``volumes``
(volume_spike, oldest first).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from typing import Any

import polars as pl

from ..config.durations import to_ms
from ..config.models import RateOfChangeRule, VolumeSpikeRule
from ..timefmt import iso_ms
from .plan import Plan

INPUTS = "inputs"


def decision_inputs(
    plan: Plan, history: dict[str, pl.DataFrame], batch: pl.DataFrame, fired: pl.DataFrame
) -> pl.DataFrame:
    """``fired`` plus a JSON ``inputs`` column; ``history`` is the state *before* this batch."""
    if fired.height == 0:
        return fired.with_columns(pl.lit(None, pl.String).alias(INPUTS))
    # fired is sorted by (rule_index, seq): the previous fire of a rule is the row above
    # it, or the one carried from earlier batches.
    with_last = fired.with_columns(
        pl.col("ts_ms").shift(1).over("state_key").fill_null(pl.col("last_fire_ms")).alias("_last_fire")
    )
    refs = _Lookups(history, batch)
    out: list[str] = []
    for rule_index, seq, ts_ms, cooldown_ms, last_fire in with_last.select(
        "rule_index", "seq", "ts_ms", "cooldown_ms", "_last_fire"
    ).iter_rows():
        rule = plan.rules[rule_index].rule
        record: dict[str, Any] = {
            "cooldown_ms": cooldown_ms,
            "last_fire_ts": None if last_fire is None else iso_ms(int(last_fire)),
        }
        if isinstance(rule, RateOfChangeRule):
            window = to_ms(rule.window)
            ref = refs.reference(rule.instrument, ts_ms - window)
            record.update(window_ms=window, ref_ts=None if ref is None else iso_ms(ref[0]),
                          ref_price=None if ref is None else ref[1])
        elif isinstance(rule, VolumeSpikeRule):
            record.update(period=rule.period, volumes=refs.volumes_before(rule.instrument, seq, rule.period))
        out.append(json.dumps(record, separators=(",", ":")))
    return fired.with_columns(pl.Series(INPUTS, out, dtype=pl.String))


class _Lookups:
    """Per-symbol tick series built lazily, once per batch, for the symbols that fired."""

    def __init__(self, history: dict[str, pl.DataFrame], batch: pl.DataFrame) -> None:
        self._history = history
        self._batch = batch
        self._prices: dict[str, tuple[list[int], list[float]]] = {}
        self._volumes: dict[str, tuple[list[int], list[int], list[int]]] = {}

    def reference(self, symbol: str, target_ms: int) -> tuple[int, float] | None:
        """The last (ts, price) with ts <= target: the same rows the engine looks up."""
        if symbol not in self._prices:
            carried = self._history.get("rate_of_change")
            parts = [] if carried is None else [carried.filter(pl.col("symbol") == symbol).select("ref_ts", "ref")]
            parts.append(
                self._batch.filter(pl.col("symbol") == symbol).select(
                    pl.col("ts_ms").alias("ref_ts"), pl.col("price").alias("ref")
                )
            )
            series = (
                pl.concat(parts)
                .unique(subset="ref_ts", keep="last", maintain_order=True)
                .sort("ref_ts", maintain_order=True)
            )
            self._prices[symbol] = (series["ref_ts"].to_list(), series["ref"].to_list())
        times, prices = self._prices[symbol]
        i = bisect_right(times, target_ms) - 1
        return None if i < 0 else (times[i], prices[i])

    def volumes_before(self, symbol: str, seq: int, period: int) -> list[int]:
        """The last ``period`` non-null volumes of ``symbol`` that arrived before tick ``seq``."""
        if symbol not in self._volumes:
            carried = self._history.get("volume_spike")
            kept = [] if carried is None else carried.filter(pl.col("symbol") == symbol)["volume"].to_list()
            rows = self._batch.filter((pl.col("symbol") == symbol) & pl.col("volume").is_not_null())
            self._volumes[symbol] = (kept, rows["seq"].to_list(), rows["volume"].to_list())
        kept, seqs, vols = self._volumes[symbol]
        before = bisect_left(seqs, seq)
        return (kept + vols[:before])[-period:] if before < period else vols[before - period : before]

"""Where the engine's CPU goes per rule type, and what one alert row costs.

    python benchmarks/alert_rows.py                          # every tick-sample type row + the headline
    python benchmarks/alert_rows.py --types rsi,bollinger    # some types only
    python benchmarks/alert_rows.py --no-headline

Workloads as in ``run.py``: the per-type rows (1,000 rules of one type on the
200,000-tick type file, tick samples) and the headline (12 symbols, 1,000 rules, 1M
ticks), generated once into ``benchmarks/out/``.  All figures are CPU time of this
process (``time.process_time``), the best of ``--runs`` runs, so a shared machine moves
them less than wall time.

Per workload, two lines:

- the split of ``Engine.process`` in batches of 50,000: value series (the rule types'
  ``values``/``values_many``/``values_all``), firing (``fire_many``), alert rows
  (``build_alerts``) and the rest, with the alert and series counts;
- the alert rows alone, re-run on the batches' captured fires: CPU per alert of the
  column-wise path, and, as the baseline measured in the same run, of the per-row Python
  path (the one small live batches take) writing the same frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import polars as pl  # noqa: E402

import workloads  # noqa: E402
from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.engine import alert_rows, evaluate  # noqa: E402
from tradeassist_runner.engine.evaluate import Engine  # noqa: E402
from tradeassist_runner.engine.plan import Plan, compile_plan  # noqa: E402
from tradeassist_runner.rules.registry import REGISTRY  # noqa: E402

SEED = 11
BATCH = 50_000
TYPES = ["threshold", "rate_of_change", "volume_spike", "moving_average", "ma_cross", "rsi", "breakout",
         "bollinger", "vwap", "spread", "all"]


class Split:
    """CPU seconds of the engine's parts, summed over the calls made while it is installed."""

    def __init__(self, capture_rows: bool = True) -> None:
        self.cpu = {"series": 0.0, "firing": 0.0, "rows": 0.0}
        self.captured: list[tuple[Any, ...]] = []
        self._capture_rows = capture_rows
        self._undo: list[Callable[[], None]] = []

    def _timed(self, key: str, fn: Callable[..., Any], capture: bool = False) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if capture:
                self.captured.append(args)
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu[key] += time.process_time() - start
        return wrapper

    def __enter__(self) -> Split:
        rows = "pending_alerts" if hasattr(evaluate, "pending_alerts") else "build_alerts"  # older engines built them
        for name, key, capture in ((rows, "rows", self._capture_rows), ("fire_many", "firing", False)):
            original = getattr(evaluate, name)
            setattr(evaluate, name, self._timed(key, original, capture))
            self._undo.append(lambda name=name, original=original: setattr(evaluate, name, original))
        if hasattr(evaluate, "_series_results"):  # every type's series of a batch, in one place
            original_series = evaluate._series_results
            evaluate._series_results = self._timed("series", original_series)
            self._undo.append(lambda: setattr(evaluate, "_series_results", original_series))
        for rule_type in REGISTRY.values() if not hasattr(evaluate, "_series_results") else ():
            for method in ("values", "values_many"):
                bound = getattr(rule_type, method, None)
                if bound is not None:
                    object.__setattr__(rule_type, method, self._timed("series", bound))
                    self._undo.append(lambda rt=rule_type, m=method: object.__delattr__(rt, m))
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


def engine_split(plan: Plan, ticks: pl.DataFrame) -> tuple[float, dict[str, float], int, list[tuple[Any, ...]]]:
    engine = Engine(plan)
    fired = 0
    with Split() as split:
        start = time.process_time()
        for at in range(0, ticks.height, BATCH):
            fired += engine.process(ticks.slice(at, BATCH)).height
        total = time.process_time() - start
    return total, split.cpu, fired, split.captured


def rows_cpu(batches: list[tuple[Any, ...]], runs: int, few: int) -> float:
    """Best CPU of ``build_alerts`` over the captured batches, with ``FEW_ROWS = few``."""
    saved = alert_rows.FEW_ROWS
    alert_rows.FEW_ROWS = few
    try:
        best = float("inf")
        for _ in range(runs):
            start = time.process_time()
            for args in batches:
                alert_rows.build_alerts(*args)
            best = min(best, time.process_time() - start)
        return best
    finally:
        alert_rows.FEW_ROWS = saved


def measure(label: str, plan: Plan, ticks: pl.DataFrame, runs: int) -> None:
    engine_split(plan, ticks.head(20_000))  # warm-up: imports, per-plan tables
    best: tuple[float, dict[str, float], int, list[tuple[Any, ...]]] | None = None
    for _ in range(runs):
        got = engine_split(plan, ticks)
        if best is None or got[0] < best[0]:
            best = got
    assert best is not None
    total, cpu, fired, batches = best
    rest = total - sum(cpu.values())
    print(f"{label:16} engine {total:6.3f} s CPU ({ticks.height / total / 1e6:.2f}M ticks per CPU s): "
          f"series {cpu['series']:.3f}, firing {cpu['firing']:.3f}, rows {cpu['rows']:.3f}, rest {rest:.3f}; "
          f"{fired:,} alerts, {len(plan.series)} series", flush=True)
    if fired:
        columnwise = rows_cpu(batches, runs, 0)
        per_row = rows_cpu(batches, 1, 1 << 62)
        print(f"{'':16} alert rows: column-wise {columnwise / fired * 1e6:.2f} us per alert, "
              f"per-row Python {per_row / fired * 1e6:.2f} us per alert (baseline, same batches)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--types", default=",".join(TYPES), help="comma-separated rule types (tick samples)")
    ap.add_argument("--no-headline", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import run  # the per-type plans exactly as run.py builds them

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    print(f"code: {ROOT}")
    kinds = [k for k in args.types.split(",") if k]
    if kinds:
        ticks = pl.read_parquet(workloads.type_tick_file(out, 200_000, SEED))
        quantiles = workloads.SeriesQuantiles(ticks)
        for kind in kinds:
            measure(kind, run.type_plan(kind, quantiles, None, None), ticks, args.runs)
    if not args.no_headline:
        tpath = workloads.tick_file(out, 12, 1_000_000, SEED)
        loaded = load_config(workloads.target_config(out, 1_000, tpath, SEED))
        measure("headline", compile_plan(loaded.rules, loaded.instruments), pl.read_parquet(tpath), args.runs)


if __name__ == "__main__":
    main()

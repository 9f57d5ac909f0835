"""Where one rule type's engine CPU goes, repeatably (the per-type rows of ``run.py``).

    python benchmarks/type_cost.py spread                   # best of 3 runs, tick samples
    python benchmarks/type_cost.py bollinger --bar 1m --runs 5
    python benchmarks/type_cost.py all --profile 25         # + cProfile, top 25 by own time

The workload is the one ``run.py --only types`` builds (1,000 rules of one type, the
200,000-tick type file, batches of 50,000), and the figures are CPU time of this process
(``time.process_time``), the best of ``--runs`` runs, so a shared machine moves them less
than wall time.  Printed per run: ticks per CPU-s and the split of ``Engine.process`` into
value series (the rule types' ``values``/``values_many``/``values_all``), firing (``fire_many``), alert
rows (``build_alerts``) and the rest.  ``--vs-threshold`` also times threshold rules on
the same ticks, before and after, and prints the ratio as ``run.py`` does.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import polars as pl  # noqa: E402

import workloads  # noqa: E402
from alert_rows import Split  # noqa: E402
from tradeassist_runner.engine.evaluate import Engine  # noqa: E402

SEED = 11
BATCH = 50_000


def once(plan: Any, ticks: pl.DataFrame, split: bool) -> tuple[float, dict[str, float], int]:
    engine = Engine(plan)
    fired = 0
    if not split:
        start = time.process_time()
        for at in range(0, ticks.height, BATCH):
            fired += engine.process(ticks.slice(at, BATCH)).height
        return time.process_time() - start, {}, fired
    with Split(capture_rows=False) as parts:
        start = time.process_time()
        for at in range(0, ticks.height, BATCH):
            fired += engine.process(ticks.slice(at, BATCH)).height
        total = time.process_time() - start
    return total, parts.cpu, fired


def best(plan: Any, ticks: pl.DataFrame, runs: int, split: bool) -> tuple[float, dict[str, float], int]:
    got = [once(plan, ticks, split) for _ in range(runs)]
    return min(got, key=lambda g: g[0])


def main() -> None:
    global BATCH
    ap = argparse.ArgumentParser()
    ap.add_argument("type", help="a rule type of run.py's per-type rows (or all)")
    ap.add_argument("--bar", default=None, help="bar size (e.g. 1m); default tick samples")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ticks", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=BATCH, help="ticks per Engine.process call")
    ap.add_argument("--no-split", action="store_true", help="time Engine.process alone, no wrappers")
    ap.add_argument("--vs-threshold", action="store_true", help="also time threshold rules, before and after")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile one run, print the top N")
    args = ap.parse_args()
    BATCH = args.batch
    import run  # the per-type plans exactly as run.py builds them

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    ticks = pl.read_parquet(workloads.type_tick_file(out, args.ticks, SEED))
    quantiles = workloads.SeriesQuantiles(ticks)
    plan = run.type_plan(args.type, quantiles, args.bar, None)
    base = run.type_plan("threshold", quantiles, None, None) if args.vs_threshold else None
    once(plan, ticks.head(20_000), False)  # warm-up: imports, per-plan tables
    figures: list[float] = []
    if base is not None:
        figures.append(best(base, ticks, args.runs, False)[0])
    total, cpu, fired = best(plan, ticks, args.runs, not args.no_split)
    if base is not None:
        figures.append(best(base, ticks, args.runs, False)[0])
    line = (f"{args.type} ({args.bar or 'ticks'}): {total:.3f} s CPU, {ticks.height / total / 1e6:.2f}M ticks per "
            f"CPU-s, {fired:,} alerts, {len(plan.series)} series")
    if cpu:
        rest = total - sum(cpu.values())
        line += (f"; series {cpu['series']:.3f}, firing {cpu['firing']:.3f}, rows {cpu['rows']:.3f}, "
                 f"rest {rest:.3f}")
    print(line, flush=True)
    if figures:
        base_rate = ticks.height / (sum(figures) / len(figures))
        print(f"threshold {ticks.height / figures[0] / 1e6:.2f}M / {ticks.height / figures[1] / 1e6:.2f}M ticks per "
              f"CPU-s (before / after): {ticks.height / total / base_rate:.2f}x threshold", flush=True)
    if args.profile:
        prof = cProfile.Profile()
        engine = Engine(plan)
        prof.enable()
        for at in range(0, ticks.height, BATCH):
            engine.process(ticks.slice(at, BATCH))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()

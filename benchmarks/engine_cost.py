"""The engine's own cost on the headline workload (12 symbols, 1,000 rules), in CPU time.

    python benchmarks/engine_cost.py                 # both figures
    python benchmarks/engine_cost.py --only one      # batch-of-one cost only
    python benchmarks/engine_cost.py --profile       # cProfile of the backtest run, top 30
    python benchmarks/engine_cost.py --only small    # CPU per live-sized batch (10 / 100 / 1,000 ticks)
    python benchmarks/engine_cost.py --only small --profile --sizes 100   # cProfile of those batches

Two figures, both CPU time of this process (``time.process_time``), so a busy shared
machine moves them far less than wall time:

- backtest: ``Engine.process`` over the 1M-tick headline file in batches of 50,000,
  ticks per CPU second and the alert count (compile excluded).
- batch of one: after a 1,000-tick warm-up, 3,000 batches of one tick each; the median
  and p90 CPU per batch, separately for batches that fired at least one alert and
  batches that fired none (a live runner pays the second on almost every tick).
- small batches (``--only small``): CPU per batch of 10, 100 and 1,000 ticks over the
  12 symbols, on the headline rules and on the mix of every rule type (``rules_config``,
  the live benchmark's mix).  A live runner at 10,000 ticks/s evaluates batches of about
  a hundred ticks, so this fixed cost per batch is what its latency is made of.

Workloads are generated once into ``benchmarks/out/`` (``workloads.py``), as for
``run.py``.  To compare two versions of the code in one run, copy this file into the
other checkout's ``benchmarks/`` and run both with the same interpreter: each imports
the ``tradeassist_runner`` beside it.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import polars as pl  # noqa: E402

import workloads  # noqa: E402
from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.engine.evaluate import Engine  # noqa: E402
from tradeassist_runner.engine.plan import Plan, compile_plan  # noqa: E402

SEED = 11
N_TICKS = 1_000_000
N_RULES = 1_000
BATCH = 50_000
WARM = 1_000
ONES = 3_000


def backtest(plan: Plan, ticks: pl.DataFrame) -> tuple[float, int]:
    engine = Engine(plan)
    fired = 0
    cpu = time.process_time()
    for start in range(0, ticks.height, BATCH):
        fired += engine.process(ticks.slice(start, BATCH)).height
    return time.process_time() - cpu, fired


def batch_of_one(plan: Plan, ticks: pl.DataFrame) -> dict[str, list[float]]:
    engine = Engine(plan)
    engine.process(ticks.head(WARM))
    out: dict[str, list[float]] = {"fired": [], "quiet": []}
    pieces = [ticks.slice(WARM + i, 1) for i in range(ONES)]
    for piece in pieces:
        cpu = time.process_time()
        n = engine.process(piece).height
        out["fired" if n else "quiet"].append(time.process_time() - cpu)
    return out


def small_batches(plan: Plan, ticks: pl.DataFrame, size: int, count: int) -> tuple[float, float, int]:
    """(median, mean) CPU seconds per batch of ``size`` ticks after a warm-up, and alerts."""
    engine = Engine(plan)
    engine.process(ticks.head(WARM))
    count = min(count, (ticks.height - WARM) // size)
    pieces = [ticks.slice(WARM + i * size, size) for i in range(count)]
    cpu: list[float] = []
    fired = 0
    for piece in pieces:
        c = time.process_time()
        fired += engine.process(piece).height
        cpu.append(time.process_time() - c)
    return statistics.median(cpu), sum(cpu) / len(cpu), fired


def small(work: Path, tpath: Path, args: argparse.Namespace) -> None:
    ticks = pl.read_parquet(tpath)
    plans = {}
    loaded = load_config(workloads.target_config(work, N_RULES, tpath, SEED))
    plans["headline rules"] = compile_plan(loaded.rules, loaded.instruments)
    loaded = load_config(workloads.rules_config(work, 12, N_RULES, tpath, SEED))
    plans["every type (mix)"] = compile_plan(loaded.rules, loaded.instruments)
    sizes = [int(x) for x in args.sizes.split(",")]
    for name, plan in plans.items():
        for size in sizes:
            count = max(20, min(300, 30_000 // size))
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
                small_batches(plan, ticks, size, count)
                prof.disable()
                print(f"== {name}, batches of {size}")
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
                continue
            med, mean, fired = small_batches(plan, ticks, size, count)
            print(f"small batches, {name}: {size:>5,} ticks: median {med * 1e3:.2f} ms CPU, mean {mean * 1e3:.2f} ms "
                  f"({count} batches, {fired:,} alerts)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["backtest", "one", "small"])
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sizes", default="10,100,1000", help="batch sizes of --only small")
    args = ap.parse_args()
    work = HERE / "out"
    work.mkdir(exist_ok=True)
    tpath = workloads.tick_file(work, 12, N_TICKS, SEED)
    if args.only == "small":
        small(work, tpath, args)
        return
    config = workloads.target_config(work, N_RULES, tpath, SEED)
    loaded = load_config(config)
    plan = compile_plan(loaded.rules, loaded.instruments)
    ticks = pl.read_parquet(tpath)
    print(f"code: {ROOT}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        backtest(plan, ticks)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        return
    if args.only in (None, "backtest"):
        cpu, fired = backtest(plan, ticks)
        print(f"backtest: {N_TICKS:,} ticks in batches of {BATCH:,}: {cpu:.2f} s CPU, "
              f"{N_TICKS / cpu:,.0f} ticks per CPU s, {fired:,} alerts")
    if args.only in (None, "one"):
        res = batch_of_one(plan, ticks)
        for kind, xs in res.items():
            if not xs:
                print(f"batch of one, {kind}: none")
                continue
            xs.sort()
            p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
            print(f"batch of one, {kind}: {len(xs):,} batches, median {statistics.median(xs) * 1e3:.3f} ms CPU, "
                  f"p90 {p90 * 1e3:.3f} ms")


if __name__ == "__main__":
    main()

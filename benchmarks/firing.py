"""What the firing step costs: the event path against the matrix path, same run.

    python benchmarks/firing.py                      # the headline workload, 1,000,000 ticks
    python benchmarks/firing.py --ticks 200000 --runs 5

``Engine.process`` over the headline workload (``workloads.target_config``: 12 symbols,
1,000 rules, batches of 50,000), once with the event path on and once with every rule on
the matrices (``firing.SPARSE = False``), alternately ``--runs`` times.  Printed: the CPU
seconds of the whole engine and of ``fire_many`` alone (min over the runs), and
whether both paths gave the same alert ids.  Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402

from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.engine import evaluate as evaluate_module  # noqa: E402
from tradeassist_runner.engine import firing  # noqa: E402
from tradeassist_runner.engine.plan import compile_plan  # noqa: E402

BATCH = 50_000
SEED = 11


def once(plan: Any, ticks: pl.DataFrame, sparse: bool) -> tuple[float, float, list[str]]:
    """(engine CPU s, firing CPU s, alert ids) of one pass over ``ticks``."""
    spent = [0.0]
    inner = firing.fire_many

    def timed(inputs: Any) -> Any:
        c = time.process_time()
        out = inner(inputs)
        spent[0] += time.process_time() - c
        return out

    saved = firing.SPARSE, evaluate_module.fire_many
    firing.SPARSE, evaluate_module.fire_many = sparse, timed  # type: ignore[assignment]
    try:
        engine = evaluate_module.Engine(plan)
        ids: list[str] = []
        c = time.process_time()
        for start in range(0, ticks.height, BATCH):
            ids.extend(engine.process(ticks.slice(start, BATCH))["alert_id"].to_list())
        return time.process_time() - c, spent[0], ids
    finally:
        firing.SPARSE, evaluate_module.fire_many = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=HERE / "out" / "workloads")
    args = ap.parse_args()
    tpath = workloads.tick_file(args.work, 12, 1_000_000, SEED)
    config = workloads.target_config(args.work, 1_000, tpath, SEED)
    ticks = pl.read_parquet(tpath).slice(0, args.ticks)
    loaded = load_config(config)
    plan = compile_plan(loaded.rules, loaded.instruments)
    once(plan, ticks.slice(0, BATCH), True)  # warm-up: plan tables, imports
    best: dict[bool, tuple[float, float]] = {}
    ids: dict[bool, list[str]] = {}
    for _ in range(args.runs):
        for sparse in (False, True):
            e, f, ids[sparse] = once(plan, ticks, sparse)
            old = best.get(sparse, (float("inf"), float("inf")))
            best[sparse] = (min(old[0], e), min(old[1], f))
    print(f"{ticks.height:,} ticks, 1,000 rules, 12 symbols; CPU s, min of {args.runs} alternate runs")
    for sparse, label in ((False, "matrix path"), (True, "event path")):
        e, f = best[sparse]
        print(f"  {label:<12} engine {e:6.3f} s ({ticks.height / e:>12,.0f} ticks per CPU-s), firing {f:6.3f} s")
    print(f"  firing {best[False][1] / best[True][1]:.2f}x less CPU; engine {best[False][0] / best[True][0]:.2f}x; "
          f"alert ids {'identical' if ids[True] == ids[False] else 'DIFFER'} ({len(ids[True]):,} alerts)")


if __name__ == "__main__":
    main()

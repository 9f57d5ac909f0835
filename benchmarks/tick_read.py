"""What a backtest spends beside the engine: reading, normalizing and gating a tick file,
and encoding the alerts as JSONL, on the headline workload (1,000,000 ticks, 12 symbols).

    python benchmarks/run.py --quick --only headline   # writes the workload first
    python benchmarks/tick_read.py [--runs 5] [--workloads DIR]

These stages run on worker threads beside the engine (``tick_reader``, ``pipeline``), so
on a machine of two cores their CPU time, not their wall time, is what they take from an
end-to-end run. Each figure is the process CPU time (every thread) of one stage over the
whole file, median of ``--runs``, stages timed one after the other in one process:

- read: the raw chunks of ``iter_tick_file`` (CSV: split into lines, parsed by polars);
- normalize: ``normalize`` of every chunk;
- gate: ``TickGate.admit`` of every normalized chunk;
- jsonl: ``jsonl_text`` of every alert frame the backtest yields (82,378 alerts).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tradeassist_runner.backtest import backtest  # noqa: E402
from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.sinks.query import jsonl_text  # noqa: E402
from tradeassist_runner.sources.replay import iter_tick_file  # noqa: E402
from tradeassist_runner.sources.ticks import TickGate, normalize  # noqa: E402
from tradeassist_runner.tick_reader import READ_CHUNK  # noqa: E402

CONFIG = "target-1000r-ticks-12s-1000000-seed11/config.yaml"
TICKS = "ticks-12s-1000000-seed11"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


T = TypeVar("T")


def timed(stage: Callable[[], T]) -> tuple[float, T]:
    start = cpu_s()
    result = stage()
    return cpu_s() - start, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workloads", type=Path, default=ROOT / "benchmarks" / "out" / "workloads")
    args = ap.parse_args()
    config = args.workloads / CONFIG
    if not config.exists():
        sys.exit(f"{config} is missing: run `python benchmarks/run.py --quick --only headline` first")
    loaded = load_config(config)
    symbols = [i.symbol for i in loaded.instruments]
    for suffix in ("csv", "parquet"):
        path = args.workloads / f"{TICKS}.{suffix}"
        figures: dict[str, list[float]] = {"read": [], "normalize": [], "gate": []}
        for _ in range(args.runs):
            took, raws = timed(lambda: list(iter_tick_file(path, READ_CHUNK)))
            figures["read"].append(took)
            rows = [1]
            for raw in raws:
                rows.append(rows[-1] + raw.height)
            took, normalized = timed(lambda: [normalize(raw, first_row=row)[0] for raw, row in zip(raws, rows)])
            figures["normalize"].append(took)
            gate = TickGate(symbols)
            took, _ = timed(lambda: [gate.admit(ticks) for ticks in normalized])
            figures["gate"].append(took)
        line = ", ".join(f"{name} {statistics.median(v) * 1000:.0f} ms" for name, v in figures.items())
        print(f"{suffix:8s} CPU (median of {args.runs}): {line}")
    frames = list(backtest(loaded, args.workloads / f"{TICKS}.parquet", 50_000))
    encoding = [timed(lambda: [jsonl_text(f) for f in frames])[0] for _ in range(args.runs)]
    print(f"jsonl    CPU (median of {args.runs}): {statistics.median(encoding) * 1000:.0f} ms "
          f"for {sum(f.height for f in frames)} alerts")


if __name__ == "__main__":
    main()

"""What a firing gate costs per batch: ``Gate.mask`` on 1,000,000 sample times.

    python benchmarks/gates.py            # 1,000,000 times over one year
    python benchmarks/gates.py --n 100000 --runs 9

The times are sorted, spread over 2026 (America/New_York, a DST change each way).  Each
gate is measured twice: the first call, which builds the gate's tables (zone offsets;
the exchange calendar, which includes exchange_calendars' own construction), and then
the min and median of ``--runs`` calls on the same times (tables built, the steady
state of a runner).  Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tradeassist_runner.engine.gates import Gate  # noqa: E402

START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
YEAR_MS = 365 * 86_400_000

GATES = {
    "none": Gate("America/New_York"),
    "hours": Gate("America/New_York", hours=("09:30-16:00",)),
    "hours+days": Gate("America/New_York", hours=("18:00-09:30",), days=("mon", "tue", "wed", "thu", "fri")),
    "calendar XNYS": Gate("America/New_York", calendar="XNYS"),
    "calendar XHKG (breaks)": Gate("Asia/Hong_Kong", calendar="XHKG"),
    "all three (CMES)": Gate("America/Chicago", hours=("08:30-15:00",), days=("mon", "fri"), calendar="CMES"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    t = np.sort(START_MS + rng.integers(0, YEAR_MS, args.n)).astype(np.int64)
    print(f"Gate.mask on {args.n:,} sorted times over 2026 ({args.runs} runs after the first)")
    for name, gate in GATES.items():
        begin = time.perf_counter()
        first = gate.mask(t)
        first_s = time.perf_counter() - begin
        runs = []
        for _ in range(args.runs):
            begin = time.perf_counter()
            gate.mask(t)
            runs.append(time.perf_counter() - begin)
        share = first.allowed.mean() * 100
        print(f"  {name:24s} first {first_s * 1000:8.1f} ms   then min {min(runs) * 1000:6.1f} ms, "
              f"median {statistics.median(runs) * 1000:6.1f} ms   ({share:4.1f}% allowed)")


if __name__ == "__main__":
    main()

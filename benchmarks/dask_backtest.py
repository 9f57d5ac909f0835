"""Backtest on Dask (``--workers 2``) against the single process, measured in the same run.

Both are the real command (``tradeassist backtest --format jsonl``) in a subprocess, on
the same seeded workload (benchmarks/workloads.py: 12 shipped-like symbols, a mix of
rule types), so the figures include start-up, reading, the merge and the JSONL on
stdout. The outputs are checked equal (all but ``evaluated_at``, the wall clock) before
any figure is printed. A run with ``--workers 2`` on an empty tick file gives the
cluster's own start-up and shutdown cost, printed apart.

    .venv/bin/python benchmarks/dask_backtest.py                 # 10M ticks, 100 rules
    .venv/bin/python benchmarks/dask_backtest.py --ticks 2000000 --rules 300
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.workloads import rules_config, tick_file  # noqa: E402

EVALUATED_AT = re.compile(rb'"evaluated_at": ?"[^"]*"')


def _timed(cmd: list[str]) -> tuple[float, float, bytes, bytes]:
    """(wall s, CPU s, stdout, stderr) of one command: the CPU time is the command's and its
    descendants' (the cluster's scheduler, nannies and workers), which the load of other
    processes on a shared machine does not change."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[-4:])} failed ({proc.returncode}): {stderr[-2000:].decode()}")
    return took, usage.ru_utime + usage.ru_stime, stdout, stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=10_000_000)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--symbols", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args()

    ticks = tick_file(args.out, args.symbols, args.ticks, args.seed)
    config = rules_config(args.out, args.symbols, args.rules, ticks, args.seed)
    empty = args.out / "empty-ticks.csv"
    empty.write_text("ts,symbol,price,volume\n")
    exe = str(Path(sys.executable).parent / "tradeassist")
    base = [exe, "backtest", str(config), "--format", "jsonl"]
    print(f"workload: {args.ticks:,} ticks, {args.symbols} symbols, {args.rules} rules (seed {args.seed})")

    single_s, single_cpu, single_out, single_err = _timed([*base, "--ticks", str(ticks)])
    dask_s, dask_cpu, dask_out, dask_err = _timed([*base, "--ticks", str(ticks), "--workers", str(args.workers)])
    startup_s, startup_cpu, _, _ = _timed([*base, "--ticks", str(empty), "--workers", str(args.workers)])
    if EVALUATED_AT.sub(b"", single_out) != EVALUATED_AT.sub(b"", dask_out) or single_err != dask_err:
        sys.exit("MISMATCH: the Dask backtest's output differs from the single process's")
    alerts = single_out.count(b"\n")
    print(f"single process:       {single_s:7.1f} s  {args.ticks / single_s:>10,.0f} ticks/s  ({alerts:,} alerts)"
          f"  CPU {single_cpu:.1f} s")
    print(f"dask, {args.workers} workers:      {dask_s:7.1f} s  {args.ticks / dask_s:>10,.0f} ticks/s  (same bytes)"
          f"  CPU {dask_cpu:.1f} s, all processes")
    print(f"speed-up:             {single_s / dask_s:7.2f}x  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"cluster start + stop: {startup_s:7.1f} s  CPU {startup_cpu:.1f} s  (--workers {args.workers} on an empty file)")
    print(f"speed-up without it:  {single_s / max(dask_s - startup_s, 1e-9):7.2f}x")

if __name__ == "__main__":
    main()

"""Backtest on Dask (``--workers 2``) against the single process, measured in the same run.

Both are the real command (``tradeassist backtest --format jsonl``) in a subprocess, on
the same seeded workload (benchmarks/workloads.py: 12 shipped-like symbols, a mix of
rule types), so the figures include start-up, reading, the merge and the JSONL on
stdout. The outputs are checked equal (all but ``evaluated_at``, the wall clock) before
any figure is printed. A run with ``--workers 2`` on an empty tick file gives the
cluster's own start-up and shutdown cost, printed apart.

    .venv/bin/python benchmarks/dask_backtest.py                 # 10M ticks, 100 rules
    .venv/bin/python benchmarks/dask_backtest.py --ticks 2000000 --rules 300
    .venv/bin/python benchmarks/dask_backtest.py --before /other/checkout/.venv/bin/tradeassist

Besides the wall clock, which on a shared machine says more about the other jobs than
about this one, it prints what the CPU time says, which the load does not change:

- CPU per tick, single over Dask: below 1 the cluster costs more CPU than it saves;
- the best speed-up two free cores allow: the Dask run cannot take less than its CPU
  time spread over them, and the single process already keeps ``CPU / wall`` cores busy
  (on a loaded machine fewer than alone: give the idle figure with ``--single-cores``);
- with ``--pinned``, both again with the single process held to one core and the Dask
  run's processes to ``--workers`` cores (``taskset``): how the work scales with cores
  when the single process cannot put its reading and writing threads on a second one.

``--before`` measures another install's ``tradeassist`` (an older checkout) in the same
invocation, each command right after the other, and prints its figures beside these.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.workloads import rules_config, tick_file  # noqa: E402

EVALUATED_AT = re.compile(rb'"evaluated_at": ?"[^"]*"')


def _become_subreaper() -> None:
    """Descendants orphaned by their parent come to this process, to be waited for here.

    Forked workers are children of Dask's forkserver, which outlives the command by a
    moment and is then reparented: without this, their CPU time would never be counted.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str]) -> tuple[float, float, bytes, bytes]:
    """(wall s, CPU s, stdout, stderr) of one command: the CPU time is the command's and every
    descendant's (the cluster's scheduler, forkserver and workers, waited for here once
    the command has exited), which the load of other processes does not change much."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cpu = _children_cpu()
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status = os.waitpid(proc.pid, 0)
        took = time.perf_counter() - t
        while True:  # the orphaned descendants, until none is left
            try:
                os.wait()
            except ChildProcessError:
                break
        used = _children_cpu() - cpu
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[-4:])} failed ({proc.returncode}): {stderr[-2000:].decode()}")
    return took, used, stdout, stderr


@dataclass(frozen=True)
class Figures:
    single_s: float
    single_cpu: float
    dask_s: float
    dask_cpu: float
    startup_s: float
    startup_cpu: float
    alerts: int


def measure(exe: str, config: Path, ticks: Path, empty: Path, workers: int, pin: bool = False) -> Figures:
    """The three runs of one install; outputs checked equal before anything is returned."""
    base = [exe, "backtest", str(config), "--format", "jsonl"]
    one, all_cores = (["taskset", "-c", "0"], ["taskset", "-c", f"0-{workers - 1}"]) if pin else ([], [])
    single_s, single_cpu, single_out, single_err = _timed([*one, *base, "--ticks", str(ticks)])
    dask_s, dask_cpu, dask_out, dask_err = _timed([*all_cores, *base, "--ticks", str(ticks), "--workers", str(workers)])
    startup_s, startup_cpu, _, _ = _timed([*all_cores, *base, "--ticks", str(empty), "--workers", str(workers)])
    if EVALUATED_AT.sub(b"", single_out) != EVALUATED_AT.sub(b"", dask_out) or single_err != dask_err:
        sys.exit(f"MISMATCH ({exe}): the Dask backtest's output differs from the single process's")
    return Figures(single_s, single_cpu, dask_s, dask_cpu, startup_s, startup_cpu, single_out.count(b"\n"))


def report(f: Figures, ticks: int, workers: int, label: str = "", single_cores: float | None = None) -> None:
    load = os.getloadavg()[0]
    print(f"{label}single process:       {f.single_s:7.1f} s  {ticks / f.single_s:>10,.0f} ticks/s  ({f.alerts:,} alerts)"
          f"  CPU {f.single_cpu:.1f} s")
    print(f"{label}dask, {workers} workers:      {f.dask_s:7.1f} s  {ticks / f.dask_s:>10,.0f} ticks/s  (same bytes)"
          f"  CPU {f.dask_cpu:.1f} s, all processes")
    print(f"{label}speed-up:             {f.single_s / f.dask_s:7.2f}x  (load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"{label}cluster start + stop: {f.startup_s:7.1f} s  CPU {f.startup_cpu:.1f} s  (--workers {workers} on an empty file)")
    print(f"{label}speed-up without it:  {f.single_s / max(f.dask_s - f.startup_s, 1e-9):7.2f}x")
    busy = f.single_cpu / f.single_s
    print(f"{label}CPU per tick, single / dask: {f.single_cpu / f.dask_cpu:5.2f}  (the single process kept {busy:.2f} cores"
          f" busy; without the cluster's start and stop {f.single_cpu / max(f.dask_cpu - f.startup_cpu, 1e-9):.2f})")
    cores = min(workers, os.cpu_count() or 1)
    used = single_cores or busy
    said = f"--single-cores {single_cores}" if single_cores else f"{busy:.2f}, measured now"
    crowded = "; the machine is loaded, so that is low and this high" if load > (os.cpu_count() or 1) and not single_cores else ""
    print(f"{label}best speed-up on {cores} free cores: {cores * f.single_cpu / (used * f.dask_cpu):5.2f}x  (the single"
          f" process on {used:.2f} cores ({said}{crowded}), the Dask CPU spread over {cores})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=10_000_000)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--symbols", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--before", metavar="TRADEASSIST", help="another install's tradeassist, measured in the same run")
    ap.add_argument("--pinned", action="store_true", help="also: single on 1 core vs Dask on one core per worker")
    ap.add_argument("--single-cores", type=float, metavar="C",
                    help="cores the single process keeps busy on an idle machine, for the bound (default: as measured)")
    args = ap.parse_args()
    _become_subreaper()

    ticks = tick_file(args.out, args.symbols, args.ticks, args.seed)
    config = rules_config(args.out, args.symbols, args.rules, ticks, args.seed)
    empty = args.out / "empty-ticks.csv"
    empty.write_text("ts,symbol,price,volume\n")
    exe = str(Path(sys.executable).parent / "tradeassist")
    print(f"workload: {args.ticks:,} ticks, {args.symbols} symbols, {args.rules} rules (seed {args.seed})")
    if args.before:
        before = measure(args.before, config, ticks, empty, args.workers)
    now = measure(exe, config, ticks, empty, args.workers)
    report(now, args.ticks, args.workers, single_cores=args.single_cores)
    if args.before:
        print(f"before ({args.before}), measured just before:")
        report(before, args.ticks, args.workers, "  ", args.single_cores)
    if args.pinned:
        pinned = measure(exe, config, ticks, empty, args.workers, pin=True)
        print(f"pinned (taskset): single process on 1 core, the Dask run on {args.workers}:")
        report(pinned, args.ticks, args.workers, "  ", 1.0)


if __name__ == "__main__":
    main()

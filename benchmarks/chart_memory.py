"""Peak memory of drawing a chart of a long backtest (target: 10M ticks under 500 MB).

    python benchmarks/chart_memory.py                    # 10,000,000 ticks of /ES and $SPX
    python benchmarks/chart_memory.py --ticks 1000000

Generates a seeded tick file under benchmarks/out/ (the synthetic feed: /ES and $SPX,
the shipped config's 42 rules, 11 of them on /ES), then runs ``tradeassist backtest`` as
a user does, each run in its own process, and prints the peak resident memory of that
process and its time.  The peak is the run's own: it is started by a small wrapper
process whose ``RUSAGE_CHILDREN`` ru_maxrss is read (a child forked from a big parent
would report the parent's size at the fork, so neither this script nor the wrapper holds
the ticks):

1. without --chart (the baseline),
2. --chart es.html --symbol /ES (one pass),
3. --chart es.png  --symbol /ES,
4. --chart all.html without --symbol (every rule's alerts kept, the busiest symbol drawn
   in a second pass over the file).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MB = 500


def write_ticks(out: Path, n_ticks: int) -> Path:
    from tradeassist_runner.config.loader import load_config
    from tradeassist_runner.config.models import SyntheticSource
    from tradeassist_runner.sources.synthetic import SyntheticFeed

    path = out / f"chart-ticks-{n_ticks}.parquet"
    if path.exists():
        return path
    out.mkdir(parents=True, exist_ok=True)
    shipped = load_config(ROOT / "config" / "config.yaml")
    instruments = [i for i in shipped.instruments if i.symbol in ("/ES", "$SPX")]
    feed = SyntheticFeed(instruments, SyntheticSource(type="synthetic", seed=3, ticks_per_second=50),
                         start=datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc))
    parts = []
    for _ in range(0, n_ticks, 1_000_000):
        parts.append(feed.generate(min(1_000_000, n_ticks - 1_000_000 * len(parts))))
    import polars as pl

    pl.concat(parts).write_parquet(path)
    return path


#: Runs argv[1:] and prints its exit code and peak RSS (KB) as the last stderr line.
WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
)


def measure(args: list[str]) -> tuple[float, float, str]:
    """(peak RSS in MB, seconds, what the run said last on stderr) of one ``tradeassist`` run."""
    exe = Path(sys.executable).parent / "tradeassist"
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(exe), *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    lines = proc.stderr.strip().splitlines()
    code, kb = (int(x) for x in lines[-1].split())
    if code != 0:
        sys.exit(f"tradeassist {' '.join(args)} failed ({code}): {proc.stderr[-2000:]}")
    return kb / 1024, seconds, lines[-2] if len(lines) > 1 else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        write_ticks(args.out, args.ticks)
        return
    t = time.perf_counter()
    # generated in a child process, so this one never holds the ticks
    subprocess.run([sys.executable, __file__, "--generate-only", "--ticks", str(args.ticks), "--out", str(args.out)],
                   check=True)
    ticks = args.out / f"chart-ticks-{args.ticks}.parquet"
    print(f"workload: {args.ticks:,} ticks of /ES and $SPX ({ticks}), ready in {time.perf_counter() - t:.1f}s")
    config = str(ROOT / "config" / "config.yaml")
    base = ["backtest", config, "--ticks", str(ticks)]
    runs = [
        ("no chart", base),
        ("--chart es.html --symbol /ES", [*base, "--chart", str(args.out / "es.html"), "--symbol", "/ES"]),
        ("--chart es.png --symbol /ES", [*base, "--chart", str(args.out / "es.png"), "--symbol", "/ES"]),
        ("--chart all.html (busiest symbol, 2 passes)", [*base, "--chart", str(args.out / "all.html")]),
    ]
    worst = 0.0
    for name, run in runs:
        mb, seconds, said = measure(run)
        if name != "no chart":
            worst = max(worst, mb)
        print(f"{name:<46} peak RSS {mb:7.0f} MB   {seconds:6.1f}s   {said}", flush=True)
    verdict = "met" if worst < TARGET_MB else "MISSED"
    print(f"charting {args.ticks:,} ticks: peak {worst:.0f} MB, target < {TARGET_MB} MB: {verdict}")


if __name__ == "__main__":
    main()

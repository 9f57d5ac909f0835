"""Backtest throughput: N ticks x R rules over the shipped instruments, from Parquet.

    python benchmarks/backtest.py                 # 1,000,000 ticks, 1,000 rules
    python benchmarks/backtest.py --ticks 200000 --rules 100 --batch-size 10000

Generates a seeded workload under benchmarks/out/ (config, rules, tick file), then times
(1) the engine alone over the in-memory ticks and (2) ``tradeassist backtest`` end to end
as a user runs it (file read, validation, evaluation, JSONL output).  Prints ticks/s.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.config.models import SyntheticSource  # noqa: E402
from tradeassist_runner.engine.evaluate import Engine  # noqa: E402
from tradeassist_runner.engine.plan import compile_plan  # noqa: E402
from tradeassist_runner.sources.synthetic import SyntheticFeed  # noqa: E402

CONDITIONS = ["above", "below", "crosses_above", "crosses_below"]


def write_workload(out: Path, n_ticks: int, n_rules: int, seed: int) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    shipped = load_config(ROOT / "config" / "config.yaml")
    instruments = shipped.instruments
    feed = SyntheticFeed(instruments, SyntheticSource(type="synthetic", seed=seed, ticks_per_second=20))
    ticks = feed.generate(n_ticks)
    ticks_path = out / f"ticks-{n_ticks}.parquet"
    ticks.write_parquet(ticks_path)
    stats = ticks.group_by("symbol").agg(
        pl.col("price").quantile(0.1).alias("lo"), pl.col("price").quantile(0.9).alias("hi")
    )
    bounds = {r["symbol"]: (r["lo"], r["hi"]) for r in stats.iter_rows(named=True)}
    rng = random.Random(seed)
    lines = ["rules:"]
    for i in range(n_rules):
        inst = instruments[i % len(instruments)]
        kind = rng.choice(["threshold", "threshold", "rate_of_change", "volume_spike"])
        cond = rng.choice(CONDITIONS)
        lines.append(f"  - id: bench-{i}")
        lines.append(f"    instrument: '{inst.symbol}'")
        lines.append(f"    type: {kind}")
        lines.append(f"    condition: {cond}")
        if kind == "threshold":
            lo, hi = bounds.get(inst.symbol, (0.0, 1.0))
            lines.append(f"    threshold: {rng.uniform(lo, hi):.4f}")
        elif kind == "rate_of_change":
            lines.append(f"    window: {rng.choice(['30s', '1m', '5m'])}")
            lines.append(f"    threshold: {rng.choice([-0.2, -0.1, 0.1, 0.2])}")
        else:
            lines.append(f"    period: {rng.choice([10, 20, 50])}")
            lines.append(f"    threshold: {rng.choice([2, 3, 5])}")
        lines.append(f"    cooldown: {rng.choice(['1s', '10s', '60s', '5m'])}")
    rules_dir = out / "rules.d"
    rules_dir.mkdir(exist_ok=True)
    (rules_dir / "bench.yaml").write_text("\n".join(lines) + "\n")
    inst_yaml = "\n".join(
        f"  - {{symbol: '{i.symbol}', name: '{i.name or i.symbol}', type: {i.type}}}" for i in instruments
    )
    config = out / "config.yaml"
    config.write_text(f"instruments:\n{inst_yaml}\nrules_dir: rules.d\n")
    return config, ticks_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--rules", type=int, default=1_000)
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args()

    t = time.perf_counter()
    config, ticks_path = write_workload(args.out, args.ticks, args.rules, args.seed)
    print(f"workload: {args.ticks:,} ticks, {args.rules:,} rules, generated in {time.perf_counter() - t:.1f}s")

    loaded = load_config(config)
    ticks = pl.read_parquet(ticks_path)
    t = time.perf_counter()
    engine = Engine(compile_plan(loaded.rules))
    fired = 0
    for start in range(0, ticks.height, args.batch_size):
        fired += engine.process(ticks.slice(start, args.batch_size)).height
    engine_s = time.perf_counter() - t
    print(f"engine alone:  {args.ticks / engine_s:>12,.0f} ticks/s  ({engine_s:.2f}s, {fired:,} alerts, batch {args.batch_size:,})")

    exe = Path(sys.executable).parent / "tradeassist"
    cmd = [str(exe), "backtest", str(config), "--ticks", str(ticks_path), "--format", "jsonl",
           "--batch-size", str(args.batch_size)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    e2e_s = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"backtest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = proc.stdout.count("\n")
    print(f"end to end:    {args.ticks / e2e_s:>12,.0f} ticks/s  ({e2e_s:.2f}s, {lines:,} alerts, `tradeassist backtest --format jsonl`)")
    if lines != fired:
        sys.exit(f"mismatch: engine fired {fired}, CLI printed {lines}")


if __name__ == "__main__":
    main()

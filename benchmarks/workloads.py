"""Seeded synthetic workloads for the benchmarks: tick files, rule files, configs.

Everything here is deterministic for a given seed, and files are cached under the
output folder (a workload already on disk with the same parameters is reused), so a
full run that is interrupted does not regenerate 10M-tick files.

Ticks: :class:`SyntheticFeed` (the runner's own synthetic source) over either the 12
shipped instruments of ``config/config.yaml`` (20 ticks/s each, real price levels,
internals mean-reverting around 0 or 1) or ``n`` synthetic equities ``S0000..`` (100.0
start, cent tick; the per-symbol rate is scaled so the whole feed runs ~240 ticks/s of
tick time, like the 12-symbol one). Written to Parquet in 1M-row chunks (row groups).

Rules (see :func:`rule_mix`): rule ``i`` watches instrument ``i mod n_symbols`` and
cycles through every type x condition; 70 % use ``crosses_above``/``crosses_below``,
30 % ``above``/``below``:

- ``threshold`` (half the rules): a level drawn uniformly between the 10th and 90th
  percentile of that symbol's prices in the tick file, so it is crossed now and then;
- ``rate_of_change`` (a quarter): window 30s/1m/5m, threshold +-0.05..0.3 %;
- ``volume_spike`` (a quarter): period 10/20/50, threshold 2/3/5 (symbols without
  volume - $VIX, $TICK, $ADD, $TRIN - never fire it).

Cooldowns: 1s..60s for crossings, 1m..15m for level conditions (which hold for long
stretches), so rules fire some, but not on every tick.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.config.models import SyntheticSource  # noqa: E402
from tradeassist_runner.sources.synthetic import SyntheticFeed  # noqa: E402

SHIPPED_CONFIG = ROOT / "config" / "config.yaml"
CONDITIONS = ["crosses_above", "crosses_below", "above", "below"]
TYPES = ["threshold", "rate_of_change", "threshold", "volume_spike"]
CHUNK = 1_000_000
FEED_RATE = 240.0  # ticks per second of tick time, all symbols together


@dataclass(frozen=True)
class Inst:
    symbol: str
    name: str
    type: str


def instruments(n_symbols: int) -> list[Inst]:
    """The 12 shipped instruments (n_symbols == 12) or ``n_symbols`` synthetic equities."""
    if n_symbols == 12:
        shipped = load_config(SHIPPED_CONFIG).instruments
        return [Inst(i.symbol, i.name or i.symbol, i.type) for i in shipped]
    return [Inst(f"S{k:04d}", f"Synthetic equity {k}", "equity") for k in range(n_symbols)]


def _feed(insts: list[Inst], seed: int, rate_total: float = FEED_RATE) -> SyntheticFeed:
    per_symbol = rate_total / len(insts)
    names = [i.symbol for i in insts]
    if len(insts) == 12:  # keep the shipped types (volume profiles)
        shipped = load_config(SHIPPED_CONFIG).instruments
        names = list(shipped)  # type: ignore[arg-type]
    return SyntheticFeed(names, SyntheticSource(type="synthetic", seed=seed, ticks_per_second=per_symbol))


def tick_file(out: Path, n_symbols: int, n_ticks: int, seed: int) -> Path:
    """``out/ticks-{symbols}s-{ticks}.parquet``; generated once, in chunks."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ticks-{n_symbols}s-{n_ticks}-seed{seed}.parquet"
    if path.exists():
        return path
    feed = _feed(instruments(n_symbols), seed)
    tmp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    try:
        left = n_ticks
        while left > 0:
            frame = feed.generate(min(CHUNK, left)).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, frame.schema)
            writer.write_table(frame, row_group_size=CHUNK)
            left -= frame.num_rows
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


def price_bounds(ticks: Path) -> dict[str, tuple[float, float]]:
    stats = (
        pl.scan_parquet(ticks)
        .group_by("symbol")
        .agg(pl.col("price").quantile(0.1).alias("lo"), pl.col("price").quantile(0.9).alias("hi"))
        .collect()
    )
    return {r["symbol"]: (r["lo"], r["hi"]) for r in stats.iter_rows(named=True)}


def rule_mix(insts: list[Inst], n_rules: int, bounds: dict[str, tuple[float, float]], seed: int) -> list[str]:
    """YAML lines of ``n_rules`` rules mixing every type and condition (module docstring)."""
    rng = random.Random(seed)
    lines = ["rules:"]
    for i in range(n_rules):
        inst = insts[i % len(insts)]
        kind = TYPES[(i // len(insts)) % len(TYPES)]
        crossing = rng.random() < 0.7
        cond = rng.choice(CONDITIONS[:2] if crossing else CONDITIONS[2:])
        lines += [f"  - id: bench-{i}", f"    instrument: '{inst.symbol}'", f"    type: {kind}",
                  f"    condition: {cond}"]
        if kind == "threshold":
            lo, hi = bounds.get(inst.symbol, (0.0, 1.0))
            lines.append(f"    threshold: {rng.uniform(lo, hi):.4f}")
        elif kind == "rate_of_change":
            lines.append(f"    window: {rng.choice(['30s', '1m', '5m'])}")
            size = rng.choice([0.05, 0.1, 0.2, 0.3])
            lines.append(f"    threshold: {size if cond in ('crosses_above', 'above') else -size}")
        else:
            lines.append(f"    period: {rng.choice([10, 20, 50])}")
            lines.append(f"    threshold: {rng.choice([2, 3, 5])}")
        cooldowns = ["1s", "5s", "10s", "30s", "60s"] if crossing else ["1m", "5m", "15m"]
        lines.append(f"    cooldown: {rng.choice(cooldowns)}")
    return lines


def config_text(insts: list[Inst], extra: str = "") -> str:
    inst_yaml = "\n".join(f"  - {{symbol: '{i.symbol}', name: '{i.name}', type: {i.type}}}" for i in insts)
    return f"instruments:\n{inst_yaml}\nrules_dir: rules.d\n{extra}"


def rules_config(out: Path, n_symbols: int, n_rules: int, ticks: Path, seed: int) -> Path:
    """``out/w-{symbols}s-{rules}r-{tickfile}/config.yaml`` with its ``rules.d/bench.yaml``."""
    folder = out / f"w-{n_symbols}s-{n_rules}r-{ticks.stem}"
    config = folder / "config.yaml"
    if config.exists():
        return config
    insts = instruments(n_symbols)
    rules_dir = folder / "rules.d"
    rules_dir.mkdir(parents=True, exist_ok=True)
    lines = rule_mix(insts, n_rules, price_bounds(ticks), seed)
    (rules_dir / "bench.yaml").write_text("\n".join(lines) + "\n")
    config.write_text(config_text(insts))
    (folder / "workload.json").write_text(json.dumps(
        {"symbols": n_symbols, "rules": n_rules, "ticks": str(ticks), "seed": seed}, indent=1))
    return config


def live_config(folder: Path, rate_total: float, n_rules: int, seed: int, max_size: int = 1000,
                max_delay: str = "0s") -> Path:
    """A ``tradeassist run`` config: synthetic source at ``rate_total`` ticks/s over the 12
    shipped instruments, storage in ``folder/data``, the 12-symbol rule mix (thresholds from a
    sample of the same seeded feed) plus 8 probe rules per symbol that fire every ~1-2 s
    (``above`` a level every value exceeds, staggered cooldowns 1000..1970 ms), so latency is
    sampled several times a second per symbol whatever the market does.
    """
    insts = instruments(12)
    cfg_dir = folder / "cfg"
    rules_dir = cfg_dir / "rules.d"
    rules_dir.mkdir(parents=True, exist_ok=True)
    sample = _feed(insts, seed).generate(20_000)
    bounds = {
        r["symbol"]: (r["lo"], r["hi"])
        for r in sample.group_by("symbol")
        .agg(pl.col("price").quantile(0.1).alias("lo"), pl.col("price").quantile(0.9).alias("hi"))
        .iter_rows(named=True)
    }
    lines = rule_mix(insts, n_rules, bounds, seed)
    for inst in insts:
        for k, cd in enumerate(range(1000, 2000, 140)):
            lines += [f"  - id: probe-{inst.symbol.strip('/$')}-{k}", f"    instrument: '{inst.symbol}'",
                      "    type: threshold", "    condition: above", "    threshold: -1000000000",
                      f"    cooldown: {cd}ms", "    severity: info"]
    (rules_dir / "bench.yaml").write_text("\n".join(lines) + "\n")
    extra = (
        f"source: {{type: synthetic, seed: {seed}, ticks_per_second: {rate_total / len(insts):.4f}}}\n"
        f"batch: {{max_size: {max_size}, max_delay: {max_delay}}}\n"
        "storage:\n  sqlite: ../data/alerts.sqlite\n  parquet_dir: ../data/alerts\n"
        "  state: ../data/state.sqlite\n"
    )
    config = cfg_dir / "config.yaml"
    config.write_text(config_text(insts, extra))
    return config

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
                max_delay: str = "0s", catch_up_size: int = 50_000) -> Path:
    """A ``tradeassist run`` config: synthetic source at ``rate_total`` ticks/s over the 12
    shipped instruments, storage in ``folder/data``, the 12-symbol rule mix (thresholds from a
    sample of the same seeded feed; batches of ``max_size``, up to ``catch_up_size`` when the runner
    is behind) plus 8 probe rules per symbol that fire every ~1-2 s
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
        f"batch: {{max_size: {max_size}, max_delay: {max_delay}, catch_up_size: {catch_up_size}}}\n"
        "storage:\n  sqlite: ../data/alerts.sqlite\n  parquet_dir: ../data/alerts\n"
        "  state: ../data/state.sqlite\n"
    )
    config = cfg_dir / "config.yaml"
    config.write_text(config_text(insts, extra))
    return config


# -- per-type workloads ---------------------------------------------------------------------
#
# One rule type at a time, so each type's cost can be read against ``threshold`` on the
# same ticks.  The tick file runs at 2 ticks/s per symbol of tick time (24/s over the 12
# shipped instruments) from a fixed Monday 08:00 New York, so 200,000 ticks span ~2.3 h:
# enough 1m bars for periods up to 50, and the 09:30 open for the ``hours`` rows.
# Parameters come from small sets (as real configs reuse 14 or 21), so rules share series;
# thresholds are drawn in the tail the condition looks at (the 75th-98th percentile of the
# very series a rule watches for above / crosses_above, the 2nd-25th for the others;
# computed once here through the engine's own source and type code), as real alerts
# watch extremes (RSI 70/30, 2 sd bands), so every type fires now and then rather than
# never or on every sample.  Cooldowns 30s-5m for crossings, 5m-30m for levels.

TYPE_FEED_RATE = 24.0
TYPE_START = "2026-03-02T13:00:00+00:00"  # a Monday, 08:00 in New York
PAIRS = [("/ES", "$SPX", 1.0), ("/NQ", "$NDX", 1.0), ("/YM", "$SPX", 7.0), ("$RUT", "$SPX", 0.35),
         ("/GC", "/CL", 30.0), ("$NDX", "$SPX", 3.5)]


def type_tick_file(out: Path, n_ticks: int, seed: int) -> Path:
    """``out/type-ticks-{n}-seed{seed}.parquet``: the 12 shipped instruments, fixed start."""
    from datetime import datetime

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"type-ticks-{n_ticks}-seed{seed}.parquet"
    if path.exists():
        return path
    shipped = load_config(SHIPPED_CONFIG).instruments
    feed = SyntheticFeed(list(shipped), SyntheticSource(type="synthetic", seed=seed,
                                                        ticks_per_second=TYPE_FEED_RATE / len(shipped)),
                         start=datetime.fromisoformat(TYPE_START))
    frame = feed.generate(n_ticks)
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp, row_group_size=CHUNK)
    tmp.rename(path)
    return path


def _params(kind: str, rng: random.Random, bar: bool, inst: Inst, k: int) -> dict[str, object]:
    """One rule's type parameters, drawn from the small sets real configs use."""
    if kind == "rate_of_change":
        return {"window": rng.choice(["5m", "15m"] if bar else ["5s", "1m"])}
    if kind == "volume_spike":
        return {"period": rng.choice([10, 20, 50])}
    if kind == "moving_average":
        return {"period": rng.choice([9, 14, 21, 50]), "average": rng.choice(["sma", "ema"])}
    if kind == "ma_cross":
        fast, slow = rng.choice([(9, 21), (14, 50), (21, 50)])
        return {"fast": fast, "slow": slow, "average": rng.choice(["sma", "ema"])}
    if kind == "rsi":
        return {"period": rng.choice([9, 14, 21])}
    if kind == "breakout":
        return {"period": rng.choice([9, 14, 21, 50]), "side": rng.choice(["high", "low"])}
    if kind == "bollinger":
        return {"period": rng.choice([14, 20, 50])}
    if kind == "vwap":
        return {"anchor": rng.choice(["09:30", "18:00"])}
    if kind == "spread":
        a, b, factor = PAIRS[k % len(PAIRS)]
        return {"other": b, "mode": rng.choice(["difference", "ratio"]), "factor": factor,
                "max_age": rng.choice([None, "2s"])}
    return {}


class SeriesQuantiles:
    """Quantiles of a series' values over the whole tick file, computed once per series
    with the engine's own source and type code (one batch: values do not depend on the cut)."""

    def __init__(self, ticks: pl.DataFrame) -> None:
        from tradeassist_runner.engine.samples import Ticks

        self.names = sorted(ticks["symbol"].unique().to_list())
        code = {s: i for i, s in enumerate(self.names)}
        self.code = code
        self.ticks = Ticks(
            ts=ticks["ts"].dt.epoch("ms").to_numpy().astype("int64"),
            sym=ticks["symbol"].replace_strict(code, return_dtype=pl.Int64).to_numpy(),
            price=ticks["price"].cast(pl.Float64).to_numpy(),
            volume=ticks["volume"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
        )
        self.cache: dict[str, object] = {}

    def pick(self, body: object, symbols: tuple[str, ...], bar_ms: int | None, u: float) -> float | None:
        """The ``u``-quantile of the series (None when it is never defined)."""
        import numpy as np

        from tradeassist_runner.engine.plan import SourceSpec, series_key, source_key
        from tradeassist_runner.engine.samples import build_source
        from tradeassist_runner.rules.registry import REGISTRY

        rt = REGISTRY[body.type]  # type: ignore[attr-defined]
        params = rt.params(body, "America/New_York")
        key = series_key(rt.name, symbols, bar_ms, params)
        if key not in self.cache:
            spec = SourceSpec(source_key(symbols, bar_ms), symbols, bar_ms)
            sb, _ = build_source(spec, tuple(self.code[s] for s in symbols), self.ticks, None)
            vals, _ = rt.values(params, sb.samples, None)
            v = np.asarray(vals.value, np.float64)
            self.cache[key] = np.sort(v[~np.isnan(v)])
        v = self.cache[key]
        if not len(v):  # type: ignore[arg-type]
            return None
        return float(v[min(len(v) - 1, int(u * len(v)))])  # type: ignore[index,arg-type]


def _tail(rng: random.Random, cond: str) -> float:
    return rng.uniform(0.75, 0.98) if cond in ("above", "crosses_above") else rng.uniform(0.02, 0.25)


def type_rules(kind: str, n_rules: int, quantiles: SeriesQuantiles, seed: int, *, bar: str | None = None,
               modifier: str | None = None) -> list[dict[str, object]]:
    """``n_rules`` rule dicts of one ``kind`` (or ``all``: two-condition conjunctions) over the
    12 shipped instruments; ``modifier`` adds ``for``, ``rearm`` or ``hours``+``days``."""
    from tradeassist_runner.rules.catalog import RULE_MODELS
    from tradeassist_runner.config.durations import to_ms
    from datetime import timedelta

    rng = random.Random(f"{seed}-{kind}-{bar}-{modifier}")
    insts = instruments(12)
    bar_ms = to_ms(timedelta(minutes=1)) if bar == "1m" else None
    pair_k = 0
    rules: list[dict[str, object]] = []
    for i in range(n_rules):
        inst = insts[i % len(insts)]
        crossing = modifier != "for" and rng.random() < 0.7
        cond = rng.choice(CONDITIONS[:2] if crossing else CONDITIONS[2:])
        rule: dict[str, object] = {"id": f"{kind}-{i}", "instrument": inst.symbol}
        if kind == "all":
            a, b = rng.choice([("rsi", "moving_average"), ("threshold", "rsi"), ("rate_of_change", "volume_spike"),
                               ("bollinger", "ma_cross")])
            conds = []
            for j, sub in enumerate((a, b)):
                c = cond if j == 0 else rng.choice(CONDITIONS[2:])  # a crossing filtered by a level
                body = {"type": sub, "condition": c, **_params(sub, rng, bar is not None, inst, 0)}
                model = RULE_MODELS[sub].model_validate({**body, "id": "x", "instrument": inst.symbol,
                                                         "threshold": 0, "bar": bar})
                level = quantiles.pick(model, (inst.symbol,), bar_ms, rng.uniform(0.2, 0.8) if j else _tail(rng, c))
                body["threshold"] = round(level if level is not None else 0.0, 6)
                conds.append(body)
            rule.update(type="all", conditions=conds)
        else:
            params = _params(kind, rng, bar is not None, inst, pair_k)
            symbols: tuple[str, ...] = (inst.symbol,)
            if kind == "spread":
                a_sym, b_sym, _ = PAIRS[pair_k % len(PAIRS)]
                pair_k += 1
                rule["instrument"] = a_sym
                symbols = (a_sym, b_sym)
            body = {"type": kind, "condition": cond, **{k: v for k, v in params.items() if v is not None}}
            model = RULE_MODELS[kind].model_validate({**body, "id": "x", "instrument": symbols[0], "threshold": 0,
                                                      "bar": bar})
            level = quantiles.pick(model, symbols, bar_ms, _tail(rng, cond))
            body["threshold"] = round(level if level is not None else 0.0, 6)
            rule.update(body)
            if modifier == "rearm":
                lo = quantiles.pick(model, symbols, bar_ms, 0.1) or 0.0
                hi = quantiles.pick(model, symbols, bar_ms, 0.9) or 0.0
                rule["rearm"] = round(abs(hi - lo) * rng.choice([0.02, 0.05, 0.1]), 6)
        if bar is not None:
            rule["bar"] = bar
        if modifier == "for":
            rule["for"] = rng.choice(["1s", "5s", "30s"])
        elif modifier == "hours":
            rule["hours"] = [rng.choice(["09:30-16:00", "09:30-11:00", "08:00-17:00"])]
            rule["days"] = ["mon", "tue", "wed", "thu", "fri"]
        rule["cooldown"] = rng.choice(["30s", "1m", "5m"] if crossing else ["5m", "15m", "30m"])
        rules.append(rule)
    return rules


# -- the headline (target) workload -----------------------------------------------------------
#
# The workload the headline targets are stated on: the 12 shipped instruments (the
# ``tick_file(out, 12, n)`` ticks), 1,000 rules: half ``threshold`` (levels between the
# 10th and 90th percentile of the symbol's prices), a quarter ``rate_of_change`` on 5s or
# 1m windows, a quarter ``volume_spike`` on 10 or 50 periods; 70 % crossings; cooldowns
# 10s, 30s, 1m or 5m.  Only tick types, so the fair per-tick baseline
# (``benchmarks/fair_baseline.py``) evaluates exactly the same rules.

TARGET_COOLDOWNS = ["10s", "30s", "1m", "5m"]


def target_rule_mix(insts: list[Inst], n_rules: int, bounds: dict[str, tuple[float, float]], seed: int) -> list[str]:
    rng = random.Random(f"target-{seed}")
    lines = ["rules:"]
    for i in range(n_rules):
        inst = insts[i % len(insts)]
        kind = TYPES[(i // len(insts)) % len(TYPES)]
        cond = rng.choice(CONDITIONS[:2] if rng.random() < 0.7 else CONDITIONS[2:])
        lines += [f"  - id: target-{i}", f"    instrument: '{inst.symbol}'", f"    type: {kind}",
                  f"    condition: {cond}"]
        if kind == "threshold":
            lo, hi = bounds.get(inst.symbol, (0.0, 1.0))
            lines.append(f"    threshold: {rng.uniform(lo, hi):.4f}")
        elif kind == "rate_of_change":
            lines.append(f"    window: {rng.choice(['5s', '1m'])}")
            size = rng.choice([0.02, 0.05, 0.1, 0.2])
            lines.append(f"    threshold: {size if cond in ('crosses_above', 'above') else -size}")
        else:
            lines.append(f"    period: {rng.choice([10, 50])}")
            lines.append(f"    threshold: {rng.choice([2, 3, 5])}")
        lines.append(f"    cooldown: {rng.choice(TARGET_COOLDOWNS)}")
    return lines


def target_config(out: Path, n_rules: int, ticks: Path, seed: int) -> Path:
    """``out/target-{rules}r-{tickfile}/config.yaml`` with its ``rules.d/bench.yaml``."""
    folder = out / f"target-{n_rules}r-{ticks.stem}"
    config = folder / "config.yaml"
    if config.exists():
        return config
    insts = instruments(12)
    rules_dir = folder / "rules.d"
    rules_dir.mkdir(parents=True, exist_ok=True)
    lines = target_rule_mix(insts, n_rules, price_bounds(ticks), seed)
    (rules_dir / "bench.yaml").write_text("\n".join(lines) + "\n")
    config.write_text(config_text(insts))
    return config


def csv_twin(parquet: Path) -> Path:
    """The same ticks as CSV (ts ISO-8601 with milliseconds and Z, null volume empty)."""
    path = parquet.with_suffix(".csv")
    if path.exists():
        return path
    tmp = path.with_suffix(".csv.tmp")
    pl.scan_parquet(parquet).select("ts", "symbol", "price", "volume").sink_csv(
        tmp, datetime_format="%Y-%m-%dT%H:%M:%S%.3fZ")
    tmp.rename(path)
    return path

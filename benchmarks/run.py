"""The benchmark suite: every performance figure, from seeded synthetic workloads.

    python benchmarks/run.py --quick                       # a documented subset, about 2 min on an idle 2-core machine
    python benchmarks/run.py                               # the full grid (long: 10M-tick files)
    python benchmarks/run.py --quick --out benchmarks/out/results.json --only backtest,reload

The package's bytecode is compiled first (``compile_bytecode``), so commands start as an
installed copy does. Prints a table and writes a JSON file of results (default ``benchmarks/out/results.json``;
``benchmarks/out/`` is git-ignored and also caches the generated workloads).

Workloads (``benchmarks/workloads.py`` documents the generator): seeded ``SyntheticFeed``
ticks as Parquet over the 12 shipped instruments (``config/config.yaml``) or 500 synthetic
equities; 10 / 1,000 / 10,000 rules mixing every type and condition (70 % crossings),
thresholds inside each symbol's 10th-90th price percentile, cooldowns >= 1 s.

Figures in the order printed (``benchmarks/headline.py`` documents the first):

- headline: start-up (``--version``, ``validate`` of the shipped config), the fair per-tick
  baseline (``benchmarks/fair_baseline.py``, checked equal to the engine), the engine alone
  and ``tradeassist backtest`` end to end (CSV and Parquet, JSONL and table) on the target
  workload (12 symbols, 1,000 rules, 1M ticks), and every ratio to the baseline, one run.

Other figures (each a median of several runs: a figure is repeated up to ``runs`` times while its
time budget lasts, always at least once; the number of runs is printed and stored):

- backtest throughput (ticks/s): engine alone (``Engine(compile_plan(rules)).process`` over
  in-memory ticks in batches of 50,000; compile excluded) and end to end (``tradeassist
  backtest CONFIG --ticks FILE``, default table output, a subprocess: start-up, validation,
  Parquet read, evaluation). The peak RSS of every end-to-end process is recorded (wait4).
  full:  {12, 500} symbols x {10, 1k, 10k} rules x {1M, 10M} ticks;
  quick: 12 symbols x 1k rules x 1M ticks (the target's workload), {12, 500} symbols x
  10 rules and 500 symbols x 1k rules x 200k ticks, and 12 symbols x 10k rules x 20k ticks.
- per rule type: engine alone (batches of 50,000) on one tick file (``workloads.type_tick_file``:
  the 12 shipped instruments at 2 ticks/s each from a fixed Monday 08:00 New York; quick
  200,000 ticks = 2.3 h of tick time, full 1M) with 1,000 rules of one type, one row on tick
  samples and one on 1m bars for every type but vwap and spread (tick-only; spread rules pair
  the symbols of ``workloads.PAIRS``), plus ``type: all`` (two conditions, ticks and 1m bars)
  and threshold rules with ``for``, ``rearm`` and ``hours``+``days``.  Parameters come from
  small sets (periods 9/14/21/50, windows 5s/1m on ticks and 5m/15m on bars, ...) so rules
  share series; thresholds sit in the tail of the series they watch (``workloads.type_rules``).
  Threshold on ticks, measured first and again last in the same run, is the baseline (the
  mean of its two figures): each row prints its ticks/s over the baseline's, the same per
  second of process CPU time (steadier than wall time on a shared machine), its series
  count and its alerts.
- reference: ``tests/engine/reference.py`` (per tick, per rule, plain Python; quadratic
  look-backs) on the first N ticks of the 12-symbol / 1,000-rule workload (quick 20,000,
  full 50,000), the engine on the same N ticks, both alert counts (they must agree), and
  the ratio. The reference rescans each symbol's history per rule and tick, so its rate
  falls as N grows and the ratio rises with N (at N = 2,000 it was about 31x): read it
  with N.
- batch-size curve: 12 symbols, 1,000 rules; batch sizes 1, 10, 100, 1k, 10k, 100k; per size
  one pass over at most ``max_batches`` batches (after a 1,000-tick warm-up), throughput and
  per-batch latency p50/p99.
- live: ``tradeassist run`` (subprocess, --fresh) with the synthetic source at 1k / 10k / 100k
  ticks/s total over the 12 instruments, batch max_size 1000 / max_delay 0s (catch_up_size
  50,000: a runner behind takes larger batches), the 1,000-rule
  mix plus 96 probe rules that fire every 1-2 s per symbol, storage in a temp dir, stopped
  with SIGINT after 10 s (quick 6 s). Latency = ``created_at`` (SQLite
  ``strftime('%f')``, ms precision, set by the INSERT of the transaction that commits the
  batch) minus ``ts_ms`` (the synthetic feed stamps ticks with the wall clock it simulates);
  the first second (start-up) is excluded. The synthetic source hands each tick over once
  the wall clock reaches its ts (within about 1 ms), so the figure is the runner's own. Keeping up: ticks evaluated (the runner's final
  status line) / ticks the feed owed in that time, and the lag between SIGINT and the newest
  alerted tick (the probes fire on every symbol every < 2 s, so a lag well past 2 s is a backlog).
- parquet_day: ``benchmarks/live.py`` (its docstring says how): the Parquet files a simulated
  6.5 h day with the shipped rules leaves, and the one file after the day is compacted.
- reload: ``service.reload.rebuild(old_plan, config)`` on a 10,000-rule rules dir (validate
  + compile; load_config and compile_plan also timed alone) and ``engine.swap``, cold: the
  per-file cache of the loader is cleared first, as after a checkout that changed every file.
- memory: peak RSS of the end-to-end backtest of the largest workload run (10k rules, the
  most ticks of the mode: 10M full, 20k quick; the README also gives a one-off 10M run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import headline  # noqa: E402
import live  # noqa: E402
import workloads  # noqa: E402
from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.engine.evaluate import Engine  # noqa: E402
from tradeassist_runner.engine.plan import compile_plan  # noqa: E402
from tradeassist_runner.service.reload import rebuild  # noqa: E402
from tests.engine.reference import Tick, reference_alerts  # noqa: E402

EXE = Path(sys.executable).parent / "tradeassist"
BATCH = 50_000
SEED = 11

MODES: dict[str, dict[str, Any]] = {
    "quick": {
        # The headline workload (12 symbols, 1,000 rules) at 1M ticks, so start-up (imports,
        # config) does not dominate the end-to-end figure; the others at 200k.
        "grid": [(12, 10, 200_000), (12, 1_000, 1_000_000), (500, 10, 200_000), (500, 1_000, 200_000),
                 (12, 10_000, 20_000)],
        "runs_cheap": 3, "runs_heavy": 1, "heavy_s": 5.0, "budget_s": 20.0,
        "reference_ticks": 20_000, "curve_ticks": 200_000, "max_batches": 200, "curve_budget_s": 5.0,
        "live_rates": [1_000, 10_000, 100_000], "live_s": 6.0, "reload_runs": 3,
        "types_ticks": 200_000, "types_runs": 3, "fair_ticks": 200_000,
    },
    "full": {
        "grid": [(s, r, t) for t in (1_000_000, 10_000_000) for s in (12, 500) for r in (10, 1_000, 10_000)],
        "runs_cheap": 5, "runs_heavy": 3, "heavy_s": 60.0, "budget_s": 300.0,
        "reference_ticks": 50_000, "curve_ticks": 1_000_000, "max_batches": 3_000, "curve_budget_s": 60.0,
        "live_rates": [1_000, 10_000, 100_000], "live_s": 10.0, "reload_runs": 5,
        "types_ticks": 1_000_000, "types_runs": 3, "fair_ticks": 1_000_000,
    },
}
TYPE_RULES = 1_000
#: (label, type, bar, modifier) of the per-type rows; threshold on ticks is the baseline.
TYPE_ROWS: list[tuple[str, str, str | None, str | None]] = [
    *[(t, t, bar, None) for t in ("threshold", "rate_of_change", "volume_spike", "moving_average", "ma_cross",
                                   "rsi", "breakout", "bollinger", "vwap", "spread")
      for bar in ((None,) if t in ("vwap", "spread") else (None, "1m"))],
    ("all (2 conditions)", "all", None, None), ("all (2 conditions)", "all", "1m", None),
    ("threshold + for", "threshold", None, "for"), ("threshold + rearm", "threshold", None, "rearm"),
    ("threshold + hours/days", "threshold", None, "hours"),
]
CURVE_SIZES = [1, 10, 100, 1_000, 10_000, 100_000]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    import pyarrow

    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "polars": pl.__version__,
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
    }


# -- helpers -------------------------------------------------------------------------------


def repeat(fn: Callable[[], dict[str, Any]], mode: dict[str, Any], key: str, runs: int | None = None) -> dict[str, Any]:
    """Median of ``key`` over repeated calls of ``fn``: ``runs_cheap`` runs, or ``runs_heavy``
    when the first run took longer than ``heavy_s``; never past ``budget_s`` (at least one)."""
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    while True:
        results.append(fn())
        elapsed = time.perf_counter() - start
        if runs is None:
            runs = mode["runs_heavy"] if elapsed > mode["heavy_s"] else mode["runs_cheap"]
        if len(results) >= runs or elapsed > mode["budget_s"]:
            break
    values = [r[key] for r in results]
    out = dict(results[len(results) // 2])
    out[key] = statistics.median(values)
    out["runs"] = len(results)
    out[f"{key}_all"] = values
    if "peak_rss_mb" in out:
        out["peak_rss_mb_all"] = [r["peak_rss_mb"] for r in results]
    return out


_LOADED: dict[Path, Any] = {}


def loaded_config(config: Path) -> Any:
    """load_config, once per file (10,000 rules take many seconds to validate)."""
    if config not in _LOADED:
        _LOADED[config] = load_config(config)
    return _LOADED[config]


_HELPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "s = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
    "sys.stdout.write(json.dumps({'code': p.returncode, 's': s, 'rss': rss, 'err': p.stderr[-20000:]}))\n"
)


def run_measured(cmd: list[str]) -> tuple[int, float, int, str]:
    """(exit code, seconds, peak RSS bytes, stderr tail) of ``cmd``, stdout discarded.

    Run under a small fresh Python parent and measured there with RUSAGE_CHILDREN: Linux
    carries a forked child's RSS high-water mark over from its parent across exec, so
    measuring from this (large) process would report our own RSS for small commands.
    """
    proc = subprocess.run([sys.executable, "-c", _HELPER, *cmd], capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout)
    return r["code"], r["s"], r["rss"], r["err"]


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def fmt_ms(x: float | None) -> str:
    return "-" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.0f}")


# -- backtest throughput -------------------------------------------------------------------


def engine_alone(plan: Any, ticks: pl.DataFrame, batch: int = BATCH) -> dict[str, Any]:
    engine = Engine(plan)
    fired = 0
    t, cpu = time.perf_counter(), time.process_time()
    for start in range(0, ticks.height, batch):
        fired += engine.process(ticks.slice(start, batch)).height
    s, cpu = time.perf_counter() - t, time.process_time() - cpu
    # CPU time too: on a shared machine it moves far less than wall time between runs.
    return {"ticks_per_s": ticks.height / s, "seconds": s, "alerts": fired, "cpu_s": cpu,
            "ticks_per_cpu_s": ticks.height / cpu if cpu > 0 else None}


def end_to_end(config: Path, ticks_path: Path, n_ticks: int) -> dict[str, Any]:
    cmd = [str(EXE), "backtest", str(config), "--ticks", str(ticks_path), "--batch-size", str(BATCH)]
    code, s, rss, err = run_measured(cmd)
    if code != 0:
        raise RuntimeError(f"backtest failed ({code}): {err[-2000:]}")
    m = re.search(r"(\d+) alerts", err)
    return {"ticks_per_s": n_ticks / s, "seconds": s, "alerts": int(m.group(1)) if m else None,
            "peak_rss_mb": rss / 2**20}


def bench_backtest(mode: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    rows = []
    for n_sym, n_rules, n_ticks in mode["grid"]:
        tpath = workloads.tick_file(out, n_sym, n_ticks, SEED)
        config = workloads.rules_config(out, n_sym, n_rules, tpath, SEED)
        ticks = pl.read_parquet(tpath)
        log(f"backtest: {n_sym} symbols, {n_rules:,} rules, {n_ticks:,} ticks ...")
        plan = compile_plan(loaded_config(config).rules)
        eng = repeat(lambda: engine_alone(plan, ticks), mode, "ticks_per_s")
        first = eng
        ticks = pl.DataFrame()  # free the frame before the subprocess runs
        e2e = repeat(lambda: end_to_end(config, tpath, n_ticks), mode, "ticks_per_s")
        if e2e["alerts"] is not None and e2e["alerts"] != first["alerts"]:
            raise RuntimeError(f"alert count differs: engine {first['alerts']}, CLI {e2e['alerts']}")
        row = {"symbols": n_sym, "rules": n_rules, "ticks": n_ticks, "alerts": first["alerts"],
               "engine": eng, "end_to_end": e2e}
        log(f"  engine {fmt_rate(eng['ticks_per_s'])} ticks/s ({eng['runs']} runs), "
            f"end to end {fmt_rate(e2e['ticks_per_s'])} ticks/s ({e2e['runs']} runs), "
            f"{first['alerts']:,} alerts, peak RSS {e2e['peak_rss_mb']:.0f} MB")
        rows.append(row)
    return rows


# -- reference ------------------------------------------------------------------------------


def bench_reference(mode: dict[str, Any], out: Path) -> dict[str, Any]:
    n = mode["reference_ticks"]
    n_file = min(t for s, r, t in mode["grid"] if s == 12 and r == 1_000)
    tpath = workloads.tick_file(out, 12, n_file, SEED)
    config = workloads.rules_config(out, 12, 1_000, tpath, SEED)
    ticks = pl.read_parquet(tpath).head(n)
    loaded = loaded_config(config)
    rules = [lr.rule for lr in loaded.rules]
    plan = compile_plan(loaded.rules)
    objs = [
        Tick(ts, sym, price, vol)
        for ts, sym, price, vol in zip(
            ticks["ts"].dt.epoch("ms").to_list(), ticks["symbol"].to_list(),
            ticks["price"].to_list(), ticks["volume"].to_list(),
        )
    ]
    log(f"reference: {n:,} ticks x {len(rules):,} rules (12 symbols) ...")

    def ref() -> dict[str, Any]:  # noqa: ANN202
        t = time.perf_counter()
        fired = reference_alerts(rules, objs)
        s = time.perf_counter() - t
        return {"ticks_per_s": n / s, "seconds": s, "alerts": len(fired)}

    r = repeat(ref, mode, "ticks_per_s")
    e = repeat(lambda: engine_alone(plan, ticks), mode, "ticks_per_s")
    res = {"ticks": n, "rules": len(rules), "symbols": 12, "reference": r, "engine": e,
           "ratio": e["ticks_per_s"] / r["ticks_per_s"], "alerts_match": r["alerts"] == e["alerts"]}
    log(f"  reference {fmt_rate(r['ticks_per_s'])} ticks/s, engine {fmt_rate(e['ticks_per_s'])} ticks/s, "
        f"ratio {res['ratio']:.1f}x, alerts {r['alerts']} vs {e['alerts']}")
    return res


# -- batch-size curve ----------------------------------------------------------------------


def bench_curve(mode: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    n_file = mode["curve_ticks"]
    tpath = workloads.tick_file(out, 12, n_file, SEED)
    config = workloads.rules_config(out, 12, 1_000, tpath, SEED)
    ticks = pl.read_parquet(tpath)
    plan = compile_plan(loaded_config(config).rules)
    warm = 1_000
    rows = []
    for size in CURVE_SIZES:
        engine = Engine(plan)
        engine.process(ticks.head(warm))
        n_batches = min((ticks.height - warm) // size, mode["max_batches"])
        lat: list[float] = []
        t_all = time.perf_counter()
        for k in range(n_batches):
            b = ticks.slice(warm + k * size, size)
            t = time.perf_counter()
            engine.process(b)
            lat.append(time.perf_counter() - t)
            if time.perf_counter() - t_all > mode["curve_budget_s"]:
                break
        done = len(lat)
        row = {"batch_size": size, "batches": done, "ticks": done * size,
               "ticks_per_s": done * size / sum(lat), "p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000}
        log(f"curve: batch {size:>7,}: {fmt_rate(row['ticks_per_s'])} ticks/s, p50 {fmt_ms(row['p50_ms'])} ms, "
            f"p99 {fmt_ms(row['p99_ms'])} ms ({done} batches)")
        rows.append(row)
    return rows


# -- per rule type ------------------------------------------------------------------------


def type_plan(kind: str, quantiles: Any, bar: str | None, modifier: str | None) -> Any:
    """1,000 rules of one type (``workloads.type_rules``), validated by the rule models and
    compiled as the loader's rules are (with the shipped instruments' timezones)."""
    from tradeassist_runner.config.loaded import LoadedRule, Location
    from tradeassist_runner.rules.catalog import RULE_MODELS, AllRule

    dicts = workloads.type_rules(kind, TYPE_RULES, quantiles, SEED, bar=bar, modifier=modifier)
    rules = [
        LoadedRule((AllRule if d["type"] == "all" else RULE_MODELS[str(d["type"])]).model_validate(d),
                   Location("bench-types.yaml", i + 1, 1))
        for i, d in enumerate(dicts)
    ]
    return compile_plan(rules, load_config(workloads.SHIPPED_CONFIG).instruments)


def bench_types(mode: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    """Engine throughput per rule type on the same ticks; threshold on ticks is the baseline."""
    n = mode["types_ticks"]
    tpath = workloads.type_tick_file(out, n, SEED)
    ticks = pl.read_parquet(tpath)
    quantiles = workloads.SeriesQuantiles(ticks)
    rows: list[dict[str, Any]] = []
    plans = {i: type_plan(kind, quantiles, bar, modifier) for i, (_, kind, bar, modifier) in enumerate(TYPE_ROWS)}
    measured = {i: repeat(lambda: engine_alone(plans[i], ticks), mode, "ticks_per_s", runs=mode["types_runs"])
                for i in plans}
    # The baseline again at the end: on a shared machine one figure can be off by tens of
    # percent, so the ratios use the mean of the two threshold figures (both are printed).
    again = repeat(lambda: engine_alone(plans[0], ticks), mode, "ticks_per_s", runs=mode["types_runs"])
    base = (measured[0]["ticks_per_s"] + again["ticks_per_s"]) / 2
    base_cpu = (measured[0]["ticks_per_cpu_s"] + again["ticks_per_cpu_s"]) / 2
    for i, (label, kind, bar, modifier) in enumerate(TYPE_ROWS):
        plan, e = plans[i], measured[i]
        row = {"row": label, "type": kind, "bar": bar, "modifier": modifier, "rules": len(plan.rules),
               "series": len(plan.series), "ticks": n, "alerts": e["alerts"], "engine": e,
               "vs_threshold": e["ticks_per_s"] / base, "vs_threshold_cpu": e["ticks_per_cpu_s"] / base_cpu}
        if i == 0:
            row["baseline_again"] = again
            row["baseline_ticks_per_s"] = base
            row["baseline_ticks_per_cpu_s"] = base_cpu
        log(f"types: {label:<24} {'1m bars' if bar else 'ticks':<7} {fmt_rate(e['ticks_per_s']):>7} ticks/s "
            f"({row['vs_threshold']:.2f}x threshold), {fmt_rate(e['ticks_per_cpu_s'])} per CPU-s "
            f"({row['vs_threshold_cpu']:.2f}x), {len(plan.series)} series, {e['alerts']:,} alerts")
        rows.append(row)
    log(f"types: threshold baseline {fmt_rate(measured[0]['ticks_per_s'])} first, {fmt_rate(again['ticks_per_s'])} "
        f"last: ratios against {fmt_rate(base)} ticks/s ({fmt_rate(base_cpu)} per CPU-s)")
    return rows


# -- live latency --------------------------------------------------------------------------


_TICKS_RE = re.compile(r"ticks ([\d,]+)")


def live_once(rate: int, seconds: float, n_rules: int = 1_000) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ta-live-"))
    try:
        config = workloads.live_config(tmp, rate, n_rules, SEED)
        env = {**os.environ, "TRADEASSIST_LOG_LEVEL": "INFO"}
        proc = subprocess.Popen([str(EXE), "run", str(config), "--fresh"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=tmp)
        db = tmp / "data" / "alerts.sqlite"
        # Wait for the first alert (start-up: imports, validation, compile), then run `seconds`.
        t0 = time.time()
        while time.time() - t0 < 60:
            if proc.poll() is not None:
                raise RuntimeError(f"runner exited early: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=1) as c:
                        if c.execute("SELECT count(*) FROM alert_logs").fetchone()[0]:
                            break
                except sqlite3.Error:
                    pass
            time.sleep(0.1)
        time.sleep(seconds)
        stop_ms = time.time() * 1000
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        with sqlite3.connect(db) as c:
            rows = c.execute("SELECT ts_ms, created_at FROM alert_logs").fetchall()
        df = pl.DataFrame(rows, schema={"ts_ms": pl.Int64, "created_at": pl.String}, orient="row").with_columns(
            pl.col("created_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC")
            .dt.epoch("ms").alias("committed_ms")
        )
        first_ts = int(df["ts_ms"].min())  # the probes fire on the first tick of every symbol
        per_tick = df.group_by("ts_ms").agg(pl.col("committed_ms").max())  # one sample per alerted tick
        steady = per_tick.filter(pl.col("ts_ms") >= first_ts + 1000)
        lat = (steady["committed_ms"] - steady["ts_ms"]).cast(pl.Float64).to_list()
        stopped = [line for line in err.splitlines() if "runner stopped" in line]
        m = _TICKS_RE.search(stopped[-1]) if stopped else None
        evaluated = int(m.group(1).replace(",", "")) if m else None
        owed = rate * (stop_ms - first_ts) / 1000
        newest = int(df["ts_ms"].max())
        # Lag trend: median latency of the first vs the last quarter of the steady window.
        q = steady.sort("ts_ms")
        quarter = max(1, q.height // 4)
        head = (q.head(quarter)["committed_ms"] - q.head(quarter)["ts_ms"]).median()
        tail = (q.tail(quarter)["committed_ms"] - q.tail(quarter)["ts_ms"]).median()
        keeps_up = (evaluated is not None and evaluated >= 0.95 * owed) and stop_ms - newest < 2_500
        return {
            "rate": rate, "seconds": round((stop_ms - first_ts) / 1000, 1), "alerts": df.height,
            "samples": len(lat), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "max_ms": max(lat) if lat else None, "ticks_evaluated": evaluated, "ticks_owed": int(owed),
            "evaluated_share": (evaluated / owed) if evaluated else None,
            "lag_at_stop_ms": stop_ms - newest, "median_lag_first_quarter_ms": head,
            "median_lag_last_quarter_ms": tail, "keeps_up": keeps_up,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_live(mode: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for rate in mode["live_rates"]:
        log(f"live: {rate:,} ticks/s for {mode['live_s']:.0f} s ...")
        r = live_once(rate, mode["live_s"])
        r["runs"] = 1
        log(f"  p50 {fmt_ms(r['p50_ms'])} ms, p99 {fmt_ms(r['p99_ms'])} ms, max {fmt_ms(r['max_ms'])} ms, "
            f"evaluated {r['ticks_evaluated']}/{r['ticks_owed']}, lag at stop {r['lag_at_stop_ms']:.0f} ms, "
            f"keeps up: {r['keeps_up']}")
        rows.append(r)
    return rows


# -- reload ---------------------------------------------------------------------------------


def bench_reload(mode: dict[str, Any], out: Path) -> dict[str, Any]:
    tpath = workloads.tick_file(out, 12, min(t for s, r, t in mode["grid"] if s == 12), SEED)
    config = workloads.rules_config(out, 12, 10_000, tpath, SEED)
    log("reload: 10,000 rules ...")
    old = compile_plan(loaded_config(config).rules)
    engine = Engine(old)

    def once() -> dict[str, Any]:
        # Cold (no rules-file cache): as if every rule file had changed (a `git checkout`
        # touching them all); an edit of one file re-reads only that file
        # (benchmarks/load_config.py measures it).
        t = time.perf_counter()
        rebuilt = rebuild(old, config)
        t_rebuild = time.perf_counter() - t
        assert rebuilt.result.ok and rebuilt.plan is not None, rebuilt.result.errors
        t = time.perf_counter()
        engine.swap(rebuilt.plan)
        t_swap = time.perf_counter() - t
        return {"total_s": t_rebuild + t_swap, "rebuild_s": t_rebuild, "swap_s": t_swap}

    # Where the time goes, once: compile alone (validation = the rest of the rebuild).
    loaded = loaded_config(config)
    t = time.perf_counter()
    compile_plan(loaded.rules)
    t_compile = time.perf_counter() - t
    r = repeat(once, mode, "total_s", runs=mode["reload_runs"])
    r.update(rules=len(loaded.rules), compile_plan_s=t_compile, load_config_s=max(0.0, r["rebuild_s"] - t_compile))
    log(f"  {r['total_s']*1000:.0f} ms (validate {r['load_config_s']*1000:.0f} ms, compile "
        f"{r['compile_plan_s']*1000:.0f} ms, swap {r['swap_s']*1e6:.0f} us; {r['runs']} runs)")
    return r


# -- memory ---------------------------------------------------------------------------------


def bench_memory(mode: dict[str, Any], out: Path, backtest: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Peak RSS of the largest workload: taken from its end-to-end runs (wait4) when the
    backtest section ran, else measured here under a fresh parent (RUSAGE_CHILDREN)."""
    n_sym, n_rules, n_ticks = max(mode["grid"], key=lambda g: (g[1], g[2], g[0]))
    for r in backtest or []:
        if (r["symbols"], r["rules"], r["ticks"]) == (n_sym, n_rules, n_ticks):
            rss = max(r["end_to_end"]["peak_rss_mb_all"])
            log(f"memory: {n_sym} symbols, {n_rules:,} rules, {n_ticks:,} ticks: peak RSS {rss:.0f} MB (from the backtest runs)")
            return {"symbols": n_sym, "rules": n_rules, "ticks": n_ticks, "peak_rss_mb": rss,
                    "runs": r["end_to_end"]["runs"], "how": "wait4 ru_maxrss of the end-to-end backtest runs"}
    tpath = workloads.tick_file(out, n_sym, n_ticks, SEED)
    config = workloads.rules_config(out, n_sym, n_rules, tpath, SEED)
    log(f"memory: backtest {n_sym} symbols, {n_rules:,} rules, {n_ticks:,} ticks ...")
    cmd = [str(EXE), "backtest", str(config), "--ticks", str(tpath), "--batch-size", str(BATCH)]
    code, s, rss, err = run_measured(cmd)
    if code != 0:
        raise RuntimeError(f"backtest failed ({code}): {err[-2000:]}")
    r = {"symbols": n_sym, "rules": n_rules, "ticks": n_ticks, "peak_rss_mb": rss / 2**20, "seconds": s, "runs": 1,
         "how": "RUSAGE_CHILDREN ru_maxrss under a fresh parent"}
    log(f"  peak RSS {r['peak_rss_mb']:.0f} MB")
    return r


# -- report ---------------------------------------------------------------------------------


def targets(res: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    out = []
    if res.get("headline"):
        out += headline.targets(res["headline"])
    else:
        out.append({"target": "backtest end to end >= 1,000,000 ticks/s and >= 100x the fair per-tick baseline",
                    "measured": "not measured in this run (the headline section)", "met": False})
    if res.get("types"):
        worst = min(res["types"], key=lambda r: r["vs_threshold_cpu"])
        out.append({"target": "every rule type within 2x of threshold's throughput at 1,000 rules",
                    "measured": f"slowest: {worst['row']} on {'1m bars' if worst['bar'] else 'ticks'} "
                                f"{worst['vs_threshold_cpu']:.2f}x per CPU-s ({worst['vs_threshold']:.2f}x wall)",
                    "met": all(r["vs_threshold_cpu"] >= 0.5 for r in res["types"])})
    live = {r["rate"]: r for r in res.get("live", [])}
    if 10_000 in live:
        v = live[10_000]["p99_ms"]
        out.append({"target": "live p99 tick-to-committed-alert <= 25 ms at 10,000 ticks/s",
                    "measured": f"p99 {fmt_ms(v)} ms", "met": v is not None and v <= 25})
        v = live[10_000]["p50_ms"]
        out.append({"target": "live p50 tick-to-committed-alert <= 10 ms at 10,000 ticks/s",
                    "measured": f"p50 {fmt_ms(v)} ms", "met": v is not None and v <= 10})
    if 100_000 in live:
        r = live[100_000]
        out.append({"target": "live: keeps up at 100,000 ticks/s",
                    "measured": f"evaluated {r['evaluated_share'] or 0:.0%} of the ticks owed, "
                                f"lag at stop {r['lag_at_stop_ms'] / 1000:.1f} s", "met": r["keeps_up"]})
    if "reload" in res:
        v = res["reload"]["total_s"]
        out.append({"target": "reload of 10,000 rules <= 1 s", "measured": f"{v * 1000:,.0f} ms", "met": v <= 1})
    if "memory" in res:
        m = res["memory"]
        scaled = "" if m["ticks"] >= 10_000_000 else " (scaled: not the 10M-tick target workload)"
        out.append({"target": "peak memory <= 500 MB, 10,000 rules, 10M ticks streamed",
                    "measured": f"{m['peak_rss_mb']:,.0f} MB at {m['ticks']:,} ticks{scaled}",
                    "met": m["peak_rss_mb"] <= 500})
    return out


def report(res: dict[str, Any]) -> str:
    lines = []
    m = res["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}; "
                 f"Python {m['python']}, polars {m['polars']}, numpy {m['numpy']}, pyarrow {m['pyarrow']}")
    lines.append(f"Mode: {res['mode']}; each figure is the median of the runs shown (runs column); "
                 f"total {res['elapsed_s']:.0f} s")
    if res.get("headline"):
        lines += headline.report_lines(res["headline"])
    if res.get("backtest"):
        lines += ["", "Backtest throughput (ticks/s; engine alone in memory, batches of 50,000; end to end = "
                      "`tradeassist backtest` from Parquet)", "",
                  "| symbols | rules | ticks | alerts | engine alone | runs | end to end | runs | peak RSS (e2e) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["backtest"]:
            e, x = r["engine"], r["end_to_end"]
            lines.append(f"| {r['symbols']} | {r['rules']:,} | {r['ticks']:,} | {r['alerts']:,} | "
                         f"{fmt_rate(e['ticks_per_s'])} | {e['runs']} | {fmt_rate(x['ticks_per_s'])} | {x['runs']} | "
                         f"{x['peak_rss_mb']:.0f} MB |")
    if res.get("types"):
        t0 = res["types"][0]
        lines += ["", f"Per rule type (engine alone, {t0['rules']:,} rules of one type, 12 symbols, the same "
                      f"{t0['ticks']:,} ticks, batches of 50,000; vs threshold = ticks/s / the threshold-on-ticks "
                      f"baseline, {fmt_rate(t0['baseline_ticks_per_s'])} ticks/s = mean of its figure first "
                      f"({fmt_rate(t0['engine']['ticks_per_s'])}) and last ({fmt_rate(t0['baseline_again']['ticks_per_s'])}); "
                      f"per CPU-s: process CPU time, steadier on a shared machine, baseline "
                      f"{fmt_rate(t0['baseline_ticks_per_cpu_s'])})", "",
                  "| rules | samples | series | alerts | ticks/s | vs threshold | ticks per CPU-s | vs threshold (CPU) | runs |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["types"]:
            e = r["engine"]
            lines.append(f"| {r['row']} | {'1m bars' if r['bar'] else 'ticks'} | {r['series']} | {r['alerts']:,} | "
                         f"{fmt_rate(e['ticks_per_s'])} | {r['vs_threshold']:.2f}x | {fmt_rate(e['ticks_per_cpu_s'])} | "
                         f"{r['vs_threshold_cpu']:.2f}x | {e['runs']} |")
    if res.get("reference"):
        r = res["reference"]
        lines += ["", f"Reference evaluator (first {r['ticks']:,} ticks, 12 symbols, {r['rules']:,} rules): "
                      f"reference {fmt_rate(r['reference']['ticks_per_s'])} ticks/s ({r['reference']['runs']} runs), "
                      f"engine {fmt_rate(r['engine']['ticks_per_s'])} ticks/s ({r['engine']['runs']} runs), "
                      f"ratio {r['ratio']:.1f}x; alerts {r['reference']['alerts']} vs {r['engine']['alerts']} "
                      f"({'identical count' if r['alerts_match'] else 'COUNTS DIFFER'})"]
    if res.get("batch_curve"):
        lines += ["", "Batch-size curve (12 symbols, 1,000 rules, engine alone; one pass per size)", "",
                  "| batch size | batches | ticks/s | p50 ms/batch | p99 ms/batch |", "|---:|---:|---:|---:|---:|"]
        for r in res["batch_curve"]:
            lines.append(f"| {r['batch_size']:,} | {r['batches']:,} | {fmt_rate(r['ticks_per_s'])} | "
                         f"{fmt_ms(r['p50_ms'])} | {fmt_ms(r['p99_ms'])} |")
    if res.get("live"):
        lines += ["", "Live latency (`tradeassist run`, synthetic source, 12 instruments, 1,096 rules, batch "
                      "1000/0s, catch-up 50,000; tick ts -> alert row committed in SQLite; 1 run per rate)", "",
                  "| ticks/s | run s | alerted ticks | p50 ms | p99 ms | max ms | evaluated/owed | lag at stop | keeps up |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|:--:|"]
        for r in res["live"]:
            share = f"{r['evaluated_share']:.0%}" if r["evaluated_share"] is not None else "-"
            lines.append(f"| {r['rate']:,} | {r['seconds']} | {r['samples']:,} | {fmt_ms(r['p50_ms'])} | "
                         f"{fmt_ms(r['p99_ms'])} | {fmt_ms(r['max_ms'])} | {share} | "
                         f"{r['lag_at_stop_ms'] / 1000:.1f} s | {'yes' if r['keeps_up'] else 'no'} |")
    lines += live.report_lines(res)
    if res.get("reload"):
        r = res["reload"]
        lines += ["", f"Reload of {r['rules']:,} rules: {r['total_s'] * 1000:,.0f} ms (rebuild = validate + compile "
                      f"{r['rebuild_s'] * 1000:,.0f} ms, of which validation (load_config) ~{r['load_config_s'] * 1000:,.0f} ms and "
                      f"compile_plan {r['compile_plan_s'] * 1000:,.0f} ms (timed alone); engine.swap {r['swap_s'] * 1e6:.0f} us; "
                      f"{r['runs']} runs)"]
    if res.get("memory"):
        r = res["memory"]
        lines += ["", f"Memory: peak RSS of `tradeassist backtest` on {r['symbols']} symbols, {r['rules']:,} rules, "
                      f"{r['ticks']:,} ticks: {r['peak_rss_mb']:,.0f} MB"]
    if res.get("targets"):
        lines += ["", "Targets", "", "| target | measured | met |", "|---|---|:--:|"]
        for t in res["targets"]:
            lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)


SECTIONS = ["headline", "backtest", "types", "reference", "batch_curve", "live", "parquet_day", "reload", "memory"]


def compile_bytecode() -> None:
    """Compile the package's modules to bytecode first, as ``pip install`` does.

    Commands are timed as an installed package runs them, reading each module's bytecode.
    A checkout in an environment that sets PYTHONDONTWRITEBYTECODE has none written, so every
    run would compile each module it imports from source again: some 65 modules and 0.1 s of
    CPU for a backtest, a quarter of its start-up, which no installed copy pays.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "tradeassist_runner")], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the documented subset (< 5 minutes on 2 cores)")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "results.json", help="JSON results file")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = ap.parse_args()
    if not EXE.exists():
        sys.exit(f"{EXE} not found: install the project into this Python (pip install -e .)")
    compile_bytecode()
    mode_name = "quick" if args.quick else "full"
    mode = MODES[mode_name]
    only = set(args.only.split(","))
    work = args.out.parent / "workloads"
    t0 = time.perf_counter()
    res: dict[str, Any] = {"mode": mode_name, "machine": machine(),
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    log(f"generating workloads under {work} (cached) ...")
    for n_sym, n_rules, n_ticks in mode["grid"] if only & {"backtest", "reference", "batch_curve", "reload",
                                                           "memory"} else []:
        workloads.rules_config(work, n_sym, n_rules, workloads.tick_file(work, n_sym, n_ticks, SEED), SEED)
    log(f"  ready in {time.perf_counter() - t0:.1f} s")
    if "headline" in only:
        res["headline"] = headline.run_headline(mode, work)
    if "backtest" in only:
        res["backtest"] = bench_backtest(mode, work)
    if "types" in only:
        res["types"] = bench_types(mode, work)
    if "reference" in only:
        res["reference"] = bench_reference(mode, work)
    if "batch_curve" in only:
        res["batch_curve"] = bench_curve(mode, work)
    if "live" in only:
        res["live"] = bench_live(mode)
        res["live_light"] = live.bench_live_light(mode, live_once)
    if "parquet_day" in only:  # benchmarks/live.py: Parquet files of a simulated day
        res["parquet_day"] = live.bench_parquet_day({**mode, "quick": args.quick})
    if "reload" in only:
        res["reload"] = bench_reload(mode, work)
    if "memory" in only:
        res["memory"] = bench_memory(mode, work, res.get("backtest"))
    res["targets"] = targets(res, args.quick) + live.targets(res)
    res["elapsed_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=str))
    print(report(res))
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    main()

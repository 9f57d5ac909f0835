"""The headline figures, all from one run: start-up, the fair per-tick baseline, the
engine alone and ``tradeassist backtest`` end to end on the target workload.

    python benchmarks/run.py --quick --only headline

Workload (``workloads.target_config``): 12 shipped instruments, 1,000 rules (thresholds,
rate_of_change on 5s/1m, volume_spike on 10/50 periods, cooldowns 10s-5m), 1,000,000
ticks, as Parquet and as the same ticks in CSV.

- start-up: ``tradeassist --version`` and ``tradeassist validate config/config.yaml`` (the
  shipped config), wall time and CPU time (user + system) of the process, median of 5.
- fair baseline (``benchmarks/fair_baseline.py``): plain Python per tick, O(1) per rule,
  timed on the first ``fair_ticks`` ticks (quick 200,000, full all 1,000,000; its rate
  does not depend on N); its alert ids are checked equal (same list, same order) to the
  engine's on those ticks, or the run stops.
- engine alone: ``Engine.process`` over the 1M in-memory ticks, in the batches a backtest
  uses by default at 1,000 rules (131,072), and in batches of 50,000 (the default before).
- end to end: ``tradeassist backtest CONFIG --ticks FILE --format jsonl`` (CSV and
  Parquet) and the default table (Parquet), a subprocess from start to exit; the JSONL's
  alert ids are checked equal to the engine's.
- ratios: each throughput over the fair baseline's, measured in this run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

import fair_baseline
import workloads
from tradeassist_runner.backtest import default_batch_size

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "tradeassist"
SEED = 11
N_TICKS = 1_000_000
N_RULES = 1_000
BATCH = default_batch_size(N_RULES)  # what ``tradeassist backtest`` evaluates at a time
OLD_BATCH = 50_000

_TIMED = (
    "import json, resource, subprocess, sys, time\n"
    "out = open(sys.argv[1], 'wb')\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE, text=True)\n"
    "s = time.perf_counter() - t\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stdout.write(json.dumps({'code': p.returncode, 's': s, 'cpu': u.ru_utime + u.ru_stime,\n"
    "                             'rss': u.ru_maxrss * 1024, 'err': p.stderr[-4000:]}))\n"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(cmd: list[str], stdout: Path | None = None) -> dict[str, Any]:
    """Wall s, CPU s, peak RSS of ``cmd`` under a fresh small parent (RUSAGE_CHILDREN)."""
    target = str(stdout) if stdout is not None else "/dev/null"
    proc = subprocess.run([sys.executable, "-c", _TIMED, target, *cmd], capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout)
    if r["code"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r['code']}): {r['err']}")
    return r


def startup(runs: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cmd in (("version", [str(EXE), "--version"]),
                      ("validate", [str(EXE), "validate", str(ROOT / "config" / "config.yaml")])):
        rs = [timed(cmd) for _ in range(runs)]
        out[name] = {"wall_s": statistics.median(r["s"] for r in rs), "cpu_s": statistics.median(r["cpu"] for r in rs),
                     "wall_all": [round(r["s"], 3) for r in rs], "runs": runs}
        log(f"  {name}: {out[name]['wall_s'] * 1000:.0f} ms wall, {out[name]['cpu_s'] * 1000:.0f} ms CPU "
            f"(median of {runs})")
    return out


def engine_ids(config: Path, ticks: pl.DataFrame, batch: int = BATCH) -> tuple[list[str], float, float]:
    """The engine's alert ids over ``ticks`` (batches of ``batch``), wall s and CPU s."""
    from tradeassist_runner.config.loader import load_config
    from tradeassist_runner.engine.evaluate import Engine
    from tradeassist_runner.engine.plan import compile_plan

    loaded = load_config(config)
    engine = Engine(compile_plan(loaded.rules, loaded.instruments))
    ids: list[pl.Series] = []
    t, cpu = time.perf_counter(), time.process_time()
    for start in range(0, ticks.height, batch):
        ids.append(engine.process(ticks.slice(start, batch))["alert_id"])
    s, cpu = time.perf_counter() - t, time.process_time() - cpu
    return (pl.concat(ids).to_list() if ids else []), s, cpu


def run_headline(mode: dict[str, Any], work: Path) -> dict[str, Any]:
    tpath = workloads.tick_file(work, 12, N_TICKS, SEED)
    config = workloads.target_config(work, N_RULES, tpath, SEED)
    csv = workloads.csv_twin(tpath)
    rules_file = config.parent / "rules.d" / "bench.yaml"
    res: dict[str, Any] = {"ticks": N_TICKS, "rules": N_RULES, "symbols": 12}

    log("headline: start-up ...")
    res["startup"] = startup()

    ticks = pl.read_parquet(tpath)
    n_fair = min(mode.get("fair_ticks", N_TICKS), N_TICKS)
    head = ticks.head(n_fair)
    log(f"headline: fair per-tick baseline on {n_fair:,} ticks x {N_RULES:,} rules ...")
    rules, symbols = fair_baseline.prepare(rules_file)
    cols = (head["ts"].dt.epoch("ms").to_list(), head["symbol"].to_list(), head["price"].to_list(),
            head["volume"].to_list())
    t, cpu = time.perf_counter(), time.process_time()
    fair_ids, rejected = fair_baseline.run(rules, symbols, *cols)
    fair_s, fair_cpu = time.perf_counter() - t, time.process_time() - cpu
    eng_head, _, _ = engine_ids(config, head)
    if eng_head != fair_ids:
        a, b = set(eng_head), set(fair_ids)
        raise RuntimeError(f"fair baseline and engine differ on {n_fair:,} ticks: {len(b)} vs {len(a)} alerts; "
                           f"only baseline {sorted(b - a)[:5]}, only engine {sorted(a - b)[:5]}")
    res["fair"] = {"ticks": n_fair, "alerts": len(fair_ids), "seconds": fair_s, "ticks_per_s": n_fair / fair_s,
                   "ticks_per_cpu_s": n_fair / fair_cpu, "equal_to_engine": True, "rejected": rejected}
    log(f"  {n_fair / fair_s:,.0f} ticks/s ({fair_s:.1f} s), {len(fair_ids):,} alerts, identical alert ids to "
        f"the engine's")
    del cols, fair_ids, eng_head

    log(f"headline: engine alone, {N_TICKS:,} ticks ...")
    eng_ids, eng_s, eng_cpu = engine_ids(config, ticks)
    res["engine"] = {"ticks_per_s": N_TICKS / eng_s, "seconds": eng_s, "ticks_per_cpu_s": N_TICKS / eng_cpu,
                     "alerts": len(eng_ids)}
    log(f"  {N_TICKS / eng_s:,.0f} ticks/s ({eng_s:.1f} s), {len(eng_ids):,} alerts")
    old_ids, old_s, old_cpu = engine_ids(config, ticks, OLD_BATCH)
    if old_ids != eng_ids:
        raise RuntimeError(f"the engine's alerts differ between batches of {BATCH:,} and {OLD_BATCH:,}")
    res["engine_old_batch"] = {"ticks_per_s": N_TICKS / old_s, "seconds": old_s, "ticks_per_cpu_s": N_TICKS / old_cpu,
                               "alerts": len(old_ids)}
    log(f"  batches of {OLD_BATCH:,}: {N_TICKS / old_s:,.0f} ticks/s ({old_s:.1f} s)")
    del ticks, head, old_ids

    e2e: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ta-headline-") as tmp:
        for label, path, fmt in (("csv_jsonl", csv, "jsonl"), ("parquet_jsonl", tpath, "jsonl"),
                                 ("parquet_table", tpath, "table")):
            log(f"headline: end to end, {label} ...")
            out = Path(tmp) / f"{label}.out"
            cmd = [str(EXE), "backtest", str(config), "--ticks", str(path), "--format", fmt, "--quiet"]
            r = timed(cmd, out)
            row: dict[str, Any] = {"ticks_per_s": N_TICKS / r["s"], "seconds": r["s"], "cpu_s": r["cpu"],
                                   "ticks_per_cpu_s": N_TICKS / r["cpu"], "peak_rss_mb": r["rss"] / 2**20}
            if fmt == "jsonl":
                got = pl.read_ndjson(out, schema_overrides={"alert_id": pl.String})["alert_id"].to_list()
                if got != eng_ids:
                    raise RuntimeError(f"{label}: the command's alerts differ from the engine's "
                                       f"({len(got)} vs {len(eng_ids)})")
                row["alerts"] = len(got)
                row["bytes_out"] = out.stat().st_size
            e2e[label] = row
            log(f"  {row['ticks_per_s']:,.0f} ticks/s ({r['s']:.1f} s wall, {r['cpu']:.1f} s CPU, "
                f"peak RSS {row['peak_rss_mb']:.0f} MB)")
    res["end_to_end"] = e2e
    fair = res["fair"]["ticks_per_s"]
    res["ratios"] = {"engine": res["engine"]["ticks_per_s"] / fair,
                     **{k: v["ticks_per_s"] / fair for k, v in e2e.items()}}
    # Per CPU-second as well: on a loaded shared machine wall time swings with the other
    # processes, CPU time far less (it counts every thread, so it is not faster than wall).
    fair_cpu = res["fair"]["ticks_per_cpu_s"]
    res["ratios_cpu"] = {"engine": res["engine"]["ticks_per_cpu_s"] / fair_cpu,
                         **{k: v["ticks_per_cpu_s"] / fair_cpu for k, v in e2e.items()}}
    log("  vs the fair baseline: " + ", ".join(f"{k} {v:.1f}x" for k, v in res["ratios"].items()))
    return res


def report_lines(h: dict[str, Any]) -> list[str]:
    def rate(x: float) -> str:
        return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"

    s, f, e = h["startup"], h["fair"], h["engine"]
    lines = ["", f"Headline workload: {h['symbols']} symbols, {h['rules']:,} rules (threshold, rate_of_change 5s/1m, "
                 f"volume_spike 10/50, cooldowns 10s-5m), {h['ticks']:,} ticks", "",
             "| figure | ticks/s | vs fair baseline | ticks per CPU-s | vs fair (CPU) | seconds | alerts |",
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| fair per-tick baseline (first {f['ticks']:,} ticks; alert ids identical to the engine's) | "
             f"{rate(f['ticks_per_s'])} | 1x | {rate(f['ticks_per_cpu_s'])} | 1x | {f['seconds']:.1f} | {f['alerts']:,} |",
             f"| engine alone (in memory, batches of {BATCH:,}, a backtest's default) | {rate(e['ticks_per_s'])} | "
             f"{h['ratios']['engine']:.1f}x | "
             f"{rate(e['ticks_per_cpu_s'])} | {h['ratios_cpu']['engine']:.1f}x | {e['seconds']:.1f} | {e['alerts']:,} |"]
    o = h.get("engine_old_batch")
    if o is not None:
        fair, fair_cpu = f["ticks_per_s"], f["ticks_per_cpu_s"]
        lines.append(f"| engine alone (in memory, batches of {OLD_BATCH:,}) | {rate(o['ticks_per_s'])} | "
                     f"{o['ticks_per_s'] / fair:.1f}x | {rate(o['ticks_per_cpu_s'])} | "
                     f"{o['ticks_per_cpu_s'] / fair_cpu:.1f}x | {o['seconds']:.1f} | {o['alerts']:,} |")
    names = {"csv_jsonl": "end to end, CSV, --format jsonl", "parquet_jsonl": "end to end, Parquet, --format jsonl",
             "parquet_table": "end to end, Parquet, table"}
    for k, r in h["end_to_end"].items():
        lines.append(f"| {names[k]} | {rate(r['ticks_per_s'])} | {h['ratios'][k]:.1f}x | "
                     f"{rate(r['ticks_per_cpu_s'])} | {h['ratios_cpu'][k]:.1f}x | {r['seconds']:.1f} | "
                     f"{r.get('alerts', e['alerts']):,} |")
    lines += ["", f"Start-up: `tradeassist --version` {s['version']['wall_s'] * 1000:.0f} ms "
                  f"({s['version']['cpu_s'] * 1000:.0f} ms CPU); `tradeassist validate config/config.yaml` "
                  f"{s['validate']['wall_s'] * 1000:.0f} ms ({s['validate']['cpu_s'] * 1000:.0f} ms CPU); "
                  f"median of {s['version']['runs']}"]
    return lines


def targets(h: dict[str, Any]) -> list[dict[str, Any]]:
    e2e = h["end_to_end"]
    slow = min(e2e["csv_jsonl"]["ticks_per_s"], e2e["parquet_jsonl"]["ticks_per_s"])
    ratio = min(h["ratios"]["csv_jsonl"], h["ratios"]["parquet_jsonl"])
    s = h["startup"]
    return [
        {"target": "backtest end to end >= 1,000,000 ticks/s (1M ticks, 1,000 rules, CSV and Parquet, JSONL)",
         "measured": f"CSV {e2e['csv_jsonl']['ticks_per_s']:,.0f}, Parquet {e2e['parquet_jsonl']['ticks_per_s']:,.0f} "
                     "ticks/s", "met": slow >= 1e6},
        {"target": ">= 100x the fair per-tick baseline, end to end, same run",
         "measured": f"CSV {h['ratios']['csv_jsonl']:.1f}x, Parquet {h['ratios']['parquet_jsonl']:.1f}x "
                     f"(engine alone {h['ratios']['engine']:.1f}x; baseline {h['fair']['ticks_per_s']:,.0f} ticks/s)",
         "met": ratio >= 100},
        {"target": "engine alone >= 3,000,000 ticks/s at 1,000 rules",
         "measured": f"{h['engine']['ticks_per_s']:,.0f} ticks/s", "met": h["engine"]["ticks_per_s"] >= 3e6},
        {"target": "`tradeassist --version` <= 0.2 s", "measured": f"{s['version']['wall_s'] * 1000:.0f} ms "
         f"({s['version']['cpu_s'] * 1000:.0f} ms CPU)", "met": s["version"]["wall_s"] <= 0.2},
        {"target": "`validate` of the shipped config <= 0.5 s", "measured": f"{s['validate']['wall_s'] * 1000:.0f} ms "
         f"({s['validate']['cpu_s'] * 1000:.0f} ms CPU)", "met": s["validate"]["wall_s"] <= 0.5},
    ]


"""Live-pipeline figures that need no waiting: how many Parquet files a trading day leaves.

    python benchmarks/live.py                    # 6.5 h at 1,000 ticks/s, the shipped rules
    python benchmarks/live.py --rate 100 --hours 1

A simulated day: the seeded synthetic feed over the shipped instruments (``config/config.yaml``)
and rules (``rules.d/``), from 09:30 New York on a fixed Monday for ``hours`` of tick time,
evaluated by the production engine in 100,000-tick chunks (the cut does not change the
alerts). The alerts then go through the production alert log exactly as ``tradeassist run``
sends them: one SQLite write per second of tick time that has alerts (a live runner commits
at least that often), Parquet rolled by ``AlertLog.roll`` whenever ``roll_due`` says so on a
virtual clock that is the tick time (``storage.parquet_roll``, 1 minute), and at the end the
clock passes midnight UTC so the finished day is compacted. Printed: the parts written, the
most files the day folder held at once (the open day is merged every ``OPEN_DAY_MAX_PARTS``
parts), the files after the day's compaction (target: one), every alert present exactly once,
and, for comparison, the seconds that had alerts: a per-batch copy (one file per micro-batch
with alerts, the previous design) leaves at least that many files.

``run.py`` calls :func:`bench_parquet_day` for its ``parquet_day`` section (``--quick``: the
same day at 100 ticks/s, a tenth of the evaluation work; the file count is bounded by the
minutes of the day either way).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.config.models import SyntheticSource  # noqa: E402
from tradeassist_runner.engine.evaluate import Engine  # noqa: E402
from tradeassist_runner.engine.plan import compile_plan  # noqa: E402
from tradeassist_runner.sinks.alert_log import OPEN_DAY_MAX_PARTS, AlertLog  # noqa: E402
from tradeassist_runner.sinks.parquet import ParquetAlertLog  # noqa: E402
from tradeassist_runner.sinks.sqlite import SqliteAlertLog  # noqa: E402
from tradeassist_runner.sources.synthetic import SyntheticFeed  # noqa: E402

SHIPPED = ROOT / "config" / "config.yaml"
DAY_START = datetime(2026, 3, 2, 14, 30, tzinfo=timezone.utc)  # Monday 09:30 New York
CHUNK = 100_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parquet_day(rate: float, hours: float, *, seed: int = 11, roll_s: float = 60.0) -> dict[str, Any]:
    loaded = load_config(SHIPPED)
    plan = compile_plan(loaded.rules, loaded.instruments)
    engine = Engine(plan)
    feed = SyntheticFeed(
        loaded.instruments,
        SyntheticSource(type="synthetic", seed=seed, ticks_per_second=rate / len(loaded.instruments)),
        start=DAY_START,
    )
    total = int(rate * hours * 3600)
    end_ms = DAY_START.timestamp() * 1000 + hours * 3600 * 1000
    tmp = Path(tempfile.mkdtemp(prefix="ta-day-"))
    clock = {"now": 0.0, "today": DAY_START.date()}
    alert_log = AlertLog(
        SqliteAlertLog(tmp / "alerts.sqlite"), ParquetAlertLog(tmp / "alerts"),
        clock=lambda: clock["now"], roll_interval=roll_s, today=lambda: clock["today"],  # type: ignore[arg-type,return-value]
    )
    t0, cpu0 = time.perf_counter(), time.process_time()
    t_eval = t_log = 0.0
    alerts = writes = rolls = parts_written = peak_files = 0
    seconds_with_alerts: set[int] = set()
    try:
        done = 0
        while done < total:
            ticks = feed.generate(min(CHUNK, total - done))
            done += ticks.height
            t = time.perf_counter()
            fired = engine.process(ticks)
            t_eval += time.perf_counter() - t
            t = time.perf_counter()
            if fired.height:
                alerts += fired.height
                by_second = fired.with_columns((pl.col("ts").dt.epoch("ms") // 1000).alias("_s"))
                for (second,), part in by_second.partition_by("_s", maintain_order=True, as_dict=True).items():
                    assert isinstance(second, int)
                    clock["now"] = float(second)  # the virtual clock: this batch's tick time
                    alert_log.write(part.drop("_s"))
                    writes += 1
                    seconds_with_alerts.add(second)
                    if alert_log.roll_due():
                        files, _ = alert_log.roll()
                        rolls += 1
                        parts_written += len(files)
                        peak_files = max(peak_files, sum(1 for _ in (tmp / "alerts").glob("date=*/*.parquet")))
            t_log += time.perf_counter() - t
        clock["now"] = end_ms / 1000
        files, _ = alert_log.roll(force=True)  # what the runner does at shutdown
        parts_written += len(files)
        parts_day = sorted((tmp / "alerts").glob("date=*/*.parquet"))
        peak_files = max(peak_files, len(parts_day))
        clock["today"] = DAY_START.date() + timedelta(days=1)  # midnight UTC: the day is finished
        clock["now"] += roll_s
        assert alert_log.roll_due()
        t = time.perf_counter()
        alert_log.roll()
        t_compact = time.perf_counter() - t
        after = sorted((tmp / "alerts").glob("date=*/*.parquet"))
        stored = pl.read_parquet(after, columns=["alert_id"])["alert_id"] if after else pl.Series([], dtype=pl.String)
        logged = alert_log.sqlite.count()
        leftovers = [p.name for p in (tmp / "alerts").rglob("*.tmp")] + [p.name for p in tmp.glob(".*.tmp")]
        return {
            "rate": rate, "hours": hours, "ticks": total, "rules": len(plan.rules), "instruments": len(loaded.instruments),
            "alerts": alerts, "logged": logged, "sqlite_writes": writes, "rolls": rolls, "roll_s": roll_s,
            "parts_written": parts_written, "peak_files": peak_files,
            "parts_before_compaction": len(parts_day), "files_after_compaction": len(after),
            "days": sorted({p.parent.name for p in after}),
            "every_alert_once": stored.len() == logged == stored.n_unique(),
            "seconds_with_alerts": len(seconds_with_alerts), "temporary_left": leftovers,
            "compaction_s": t_compact, "evaluate_s": t_eval, "log_s": t_log,
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0,
        }
    finally:
        alert_log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_parquet_day(mode: dict[str, Any]) -> dict[str, Any]:
    rate = 100.0 if mode.get("quick") else 1_000.0
    log(f"parquet day: 6.5 h of ticks at {rate:,.0f} ticks/s, shipped rules, virtual clock ...")
    r = parquet_day(rate, 6.5)
    log(f"  {r['alerts']:,} alerts in {r['sqlite_writes']:,} writes; {r['parts_written']} parts written, at most "
        f"{r['peak_files']} files in the folder, {r['parts_before_compaction']} at the close, "
        f"{r['files_after_compaction']} after compaction ({r['compaction_s']*1000:.0f} ms); "
        f"every alert once: {r['every_alert_once']}; per-batch copy would leave >= {r['seconds_with_alerts']:,} files "
        f"({r['wall_s']:.0f} s)")
    return r


def bench_live_light(mode: dict[str, Any], live_once: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """The live rows again with only the 96 probe rules (``run.py``'s ``live_once``, no rule
    mix): what the pipeline (feed, batcher, group commit) gives when evaluation is cheap."""
    rows = []
    for rate in mode["live_rates"]:
        log(f"live, probe rules only: {rate:,} ticks/s for {mode['live_s']:.0f} s ...")
        r = live_once(rate, mode["live_s"], n_rules=0)
        r["runs"] = 1
        r["load"] = os.getloadavg()[0]
        log(f"  p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, evaluated {r['ticks_evaluated']}/{r['ticks_owed']}, "
            f"keeps up: {r['keeps_up']} (load {r['load']:.1f})")
        rows.append(r)
    return rows


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def report_lines(res: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if res.get("live_light"):
        lines += ["", "Live latency with the 96 probe rules only (no rule mix; otherwise as above)", "",
                  "| ticks/s | alerted ticks | p50 ms | p99 ms | evaluated/owed | lag at stop | keeps up | load |",
                  "|---:|---:|---:|---:|---:|---:|:--:|---:|"]
        for r in res["live_light"]:
            share = f"{r['evaluated_share']:.0%}" if r["evaluated_share"] is not None else "-"
            lines.append(f"| {r['rate']:,} | {r['samples']:,} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} | {share} | "
                         f"{r['lag_at_stop_ms'] / 1000:.1f} s | {'yes' if r['keeps_up'] else 'no'} | {r['load']:.1f} |")
    r = res.get("parquet_day")
    if not r:
        return lines
    return lines + ["", f"Parquet files of a simulated {r['hours']} h day ({r['rate']:,.0f} ticks/s, {r['rules']} shipped rules, "
                f"{r['alerts']:,} alerts in {r['sqlite_writes']:,} SQLite writes, roll every {r['roll_s']:.0f} s): "
                f"{r['parts_written']} parts written, at most {r['peak_files']} files in the folder at once "
                f"(open-day merges every {OPEN_DAY_MAX_PARTS} parts), {r['files_after_compaction']} after the "
                f"day compacted ({r['compaction_s'] * 1000:.0f} ms; every alert exactly once: "
                f"{'yes' if r['every_alert_once'] else 'NO'}); a per-batch copy leaves >= {r['seconds_with_alerts']:,}"]


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    r = res.get("parquet_day")
    if r:
        out.append({"target": "a 6.5 h live day leaves at most a few hundred Parquet files",
                    "measured": f"at most {r['peak_files']} files at once ({r['parts_written']} parts written) "
                                f"at {r['rate']:,.0f} ticks/s",
                    "met": r["peak_files"] <= 300})
        out.append({"target": "a finished day is compacted to one file, every alert once",
                    "measured": f"{r['files_after_compaction']} file(s), every alert once: {r['every_alert_once']}",
                    "met": r["files_after_compaction"] == 1 and r["every_alert_once"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1_000.0, help="ticks/s over all instruments")
    ap.add_argument("--hours", type=float, default=6.5)
    ap.add_argument("--roll", type=float, default=60.0, help="storage.parquet_roll in seconds")
    args = ap.parse_args()
    r = parquet_day(args.rate, args.hours, roll_s=args.roll)
    print(json.dumps(r, indent=1, default=str))
    print("\n".join(report_lines({"parquet_day": r})))


if __name__ == "__main__":
    main()

"""Scaling out through Redis Streams: ingest throughput, 1 vs 2 runners, live tick-to-alert latency.

    python benchmarks/scaling.py                 # defaults below, ~2 min on 2 cores
    python benchmarks/scaling.py --ticks 1000000 --rules 2000 --live-seconds 30
    python benchmarks/scaling.py --skip-live --entry-sizes '' --repeat 5 --before ../base/.venv/bin/python

Starts its own ``redis-server`` (temporary folder, AOF, appendfsync everysec: the production
setting) on a free port and prints:

1. ingest throughput: ``run_ingest`` over a Parquet replay of ``--ticks`` ticks of 500
   synthetic equities (``workloads.tick_file``), 4 shards, batches of 1,000 ticks; file read,
   parse, Arrow encoding and the XADDs included (ticks/s).
2. runners: the published streams drained by 1 runner serving all 4 shards, then by 2 runners
   serving 2 shards each (both trials read the same entries),
   with ``--rules`` rules of the benchmark mix (``workloads.rules_config``), SQLite alert logs
   of their own. The runners start and connect on empty streams of their own, then they
   are paused (SIGSTOP), the entries are copied in and they are resumed: time from then
   to the last entry committed (acknowledged after its snapshot), start-up and the copy
   excluded; ticks/s and the ratio, and the runners' CPU time per
   tick (from /proc), which other load on a shared machine does not change: with 2 free cores
   the 2-runner speed-up is the CPU ratio times 2. ``--repeat`` trials (default 3), the
   order of 1 and 2 runners alternated, each trial printed, then the median and the range
   of every figure; ``--before PYTHON`` runs another checkout's runners in the same
   alternation, for a before/after pair measured under the same load.
3. live latency: the synthetic feed at ``--live-rate`` ticks/s over the 12 shipped instruments
   through the ingest to two runners of two shards each (1,000-rule mix plus probe rules that
   fire every 1-2 s per symbol, ``workloads.live_config``); per alert, the time from the
   tick's ``ts`` to the alert row's commit in SQLite (``created_at``), after a 3 s warm-up
   from the first tick; and
   the CPU each process used per second of feed, which says how much of a core the path
   needs whatever else shares the machine, and the stream entries published per second.
4. cost per entry (``--entry-sizes``): the same two runners and rules, fed entries of N ticks
   of that feed one publish at a time (the next once both runners have read the last), so
   each read holds one entry per shard as on an idle machine; the runners' CPU per tick
   (from /proc) and the ingest's per publish. On a busy machine the live runs cut bigger
   entries and reads by themselves (every process waits for a core), so their CPU figures
   drop with the load; these do not, and they say what the live path costs at each size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import workloads  # noqa: E402
from tradeassist_runner.config.loader import load_config  # noqa: E402
from tradeassist_runner.service.ingest import run_ingest  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
SHARDS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--appendonly", "yes",
         "--appendfsync", "everysec", "--save", "", "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            time.sleep(0.02)
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def with_redis_source(config: Path, url: str, feed: str, group: str, snapshot: str = "1s",
                      prefix: str = "tradeassist") -> Path:
    """The workload's config with ``source`` replaced by the Redis one (``feed`` = its old source)."""
    text = config.read_text()
    text = re.sub(r"^source: .*\n", "", text, flags=re.M)
    text = re.sub(r"^batch: .*\n", "", text, flags=re.M)
    text = re.sub(r"^storage:.*\n(  .*\n)*", "", text, flags=re.M)
    text += (
        f"source: {{type: redis, url: '{url}', shards: {SHARDS}, group: {group}, stream_prefix: {prefix}, "
        f"feed: {feed}}}\n"
        "batch: {max_size: 1000}\n"
        f"storage: {{sqlite: data/alerts.sqlite, parquet_dir: data/alerts, snapshot_interval: {snapshot}}}\n"
    )
    out = config.with_name(f"config-{group}.yaml")
    out.write_text(text)
    return out


def runner(config: Path, shards: str, data: Path, log: Path, threads: int | None = None,
           python: str = sys.executable) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    if threads is not None:  # runners sharing the cores: one polars thread each, no oversubscription
        env["POLARS_MAX_THREADS"] = str(threads)
    env["TRADEASSIST_SQLITE_PATH"] = str(data / "alerts.sqlite")
    env["TRADEASSIST_PARQUET_DIR"] = str(data / "alerts")
    with log.open("ab") as fh:
        return subprocess.Popen([python, "-m", "tradeassist_runner", "run", str(config), "--shard", shards],
                                env=env, stdout=subprocess.DEVNULL, stderr=fh, cwd=config.parent)


def groups(client: redis.Redis, group: str, prefix: str = "tradeassist") -> list[dict[str, object]]:
    out = []
    for k in range(SHARDS):
        stream = f"{prefix}:shard:{k}"
        last = client.xinfo_stream(stream)["last-generated-id"]
        for g in client.xinfo_groups(stream):
            if g["name"].decode() == group:
                out.append({"read": int(g["entries-read"] or 0), "pending": int(g["pending"]),
                            "done": int(g["pending"]) == 0 and g["last-delivered-id"] == last})
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc), so that the load of other
    processes on a shared machine does not enter the per-tick cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_time(client: redis.Redis, url: str, base: Path, n_runners: int,
               python: str = sys.executable) -> tuple[float, float]:
    """(wall seconds, runner CPU seconds) from the entries' arrival to the last one committed.

    The runners start on empty streams of their own prefix and connect; only then are the
    published entries copied in, so neither start-up nor config loading is measured.
    """
    group = f"bench{n_runners}"
    prefix = f"bench{n_runners}"
    config = with_redis_source(base, url, "{type: replay, path: unused.parquet}", group, prefix=prefix)
    for k in range(SHARDS):
        client.delete(f"{prefix}:shard:{k}")
    split = {1: ["0,1,2,3/4"], 2: ["0,1/4", "2,3/4"]}[n_runners]
    # Outside the config's folder: a runner reloads on file events under it, and its own
    # alert-log commits there would make it (and the other runner) re-read the rules.
    folder = base.parent.parent / f"runs-{base.parent.name}-{group}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    threads = None if n_runners == 1 else max(1, (os.cpu_count() or 1) // n_runners)
    logs = [folder / f"r{i}.log" for i in range(len(split))]
    procs = [runner(config, s, folder / f"r{i}", logs[i], threads, python) for i, s in enumerate(split)]
    try:
        while not all("redis connected" in (log.read_text() if log.exists() else "") for log in logs):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a runner exited early; see {folder}")
            time.sleep(0.02)
        # The published entries, in order, into the trial's own streams while the runners
        # are paused: copying them one shard after the other with the clock running timed
        # the benchmark's own copy (a third of a second) and fed the runners of the last
        # shards later than the first, which is not what a runner's throughput is.
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        try:
            for k in range(SHARDS):
                pipe = client.pipeline(transaction=False)
                for _, fields in client.xrange(f"tradeassist:shard:{k}"):
                    pipe.xadd(f"{prefix}:shard:{k}", fields)
                pipe.execute()
        finally:
            cpu0 = sum(cpu_seconds(p.pid) for p in procs)
            t0 = time.perf_counter()
            for p in procs:
                p.send_signal(signal.SIGCONT)
        while True:
            state = groups(client, group, prefix)
            now = time.perf_counter()
            if state and all(g["done"] for g in state):
                return now - t0, sum(cpu_seconds(p.pid) for p in procs) - cpu0
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a runner exited early; see {folder}")
            time.sleep(0.01)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)


def live_latency(url: str, folder: Path, rate: float, seconds: float,
                 warmup: float) -> tuple[list[float], dict[str, float], int]:
    """(latencies in ms, CPU seconds of the ingest (its start-up apart) and of each runner over the run,
    entries published)."""
    base = workloads.live_config(folder, rate, 1000, seed=11)
    feed = re.search(r"^source: (.*)$", base.read_text(), flags=re.M)
    assert feed is not None
    config = with_redis_source(base, url, feed.group(1).rstrip("}") + f", duration: {seconds:g}s}}", "live")
    data = folder / "live-data"
    shutil.rmtree(data, ignore_errors=True)
    client = redis.Redis.from_url(url)
    for k in range(SHARDS):
        client.delete(f"tradeassist:shard:{k}")
    client.delete("tradeassist:ingest")
    logs = [folder / f"live-runner-{i}.log" for i in range(2)]
    procs = [runner(config, shards, data / f"r{i}", logs[i], 1) for i, shards in enumerate(["0,1/4", "2,3/4"])]
    while not all("redis connected" in (log.read_text() if log.exists() else "") for log in logs):
        time.sleep(0.05)
    cpu0 = [cpu_seconds(p.pid) for p in procs]
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    ingest_log = folder / "live-ingest.log"
    # The ingest's start-up (imports, loading and sharding the rules: seconds of CPU) is
    # read from /proc at its "ingest started" line and kept apart from the feed's cost.
    with ingest_log.open("wb") as fh:
        ingest = subprocess.Popen([sys.executable, "-m", "tradeassist_runner", "ingest", str(config), "--no-metrics"],
                                  env=env, cwd=config.parent, stdout=subprocess.DEVNULL, stderr=fh)
    startup = None
    deadline = time.monotonic() + seconds * 4 + 120
    while ingest.poll() is None and time.monotonic() < deadline:
        if startup is None and b"ingest started" in ingest_log.read_bytes():
            startup = cpu_seconds(ingest.pid)
        time.sleep(0.01)
    if ingest.poll() is None:
        ingest.kill()
    if ingest.wait() != 0:
        raise SystemExit(ingest_log.read_text()[-2000:])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    cpu = {"ingest": total - (startup or 0.0), "ingest start-up": startup or 0.0}
    for i, proc in enumerate(procs):
        cpu[f"runner {i}"] = cpu_seconds(proc.pid) - cpu0[i]
    entries = sum(int(client.xinfo_stream(f"tradeassist:shard:{k}")["entries-added"]) for k in range(SHARDS))
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    rows = []
    for i, proc in enumerate(procs):
        proc.wait(60)
        with sqlite3.connect(data / f"r{i}" / "alerts.sqlite") as conn:
            rows += conn.execute("SELECT ts_ms, created_at FROM alert_logs").fetchall()
    out = []
    # The warm-up counts from the feed's first tick (the probes fire on it), not from the
    # ingest's launch: on a busy machine its own start-up takes seconds of the warm-up.
    first_ms = min((ts_ms for ts_ms, _ in rows), default=0)
    for ts_ms, created in rows:
        if ts_ms < first_ms + warmup * 1000:
            continue
        committed = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        out.append(committed * 1000 - ts_ms)
    return out, cpu, entries


async def entry_cost(url: str, folder: Path, size: int, ticks: int) -> tuple[float, float]:
    """(runners' CPU us per tick, ingest CPU ms per publish) for entries of ``size`` ticks, lock-step."""
    from tradeassist_runner.config.models import RedisSource, SyntheticSource
    from tradeassist_runner.service.ingest import IngestStats, _Publisher
    from tradeassist_runner.sources.synthetic import SyntheticFeed

    base = workloads.live_config(folder, 10_000.0, 1000, seed=11)
    feed = re.search(r"^source: (.*)$", base.read_text(), flags=re.M)
    assert feed is not None
    group = prefix = f"entries{size}"
    config = with_redis_source(base, url, feed.group(1), group, prefix=prefix)
    loaded = load_config(config)
    data = folder / f"{group}-data"
    shutil.rmtree(data, ignore_errors=True)
    logs = [folder / f"{group}-runner-{i}.log" for i in range(2)]
    procs = [runner(config, shards, data / f"r{i}", logs[i], 1) for i, shards in enumerate(["0,1/4", "2,3/4"])]
    client = redis.Redis.from_url(url)
    source = loaded.config.source
    assert isinstance(source, RedisSource) and isinstance(source.feed, SyntheticSource)
    pub = _Publisher(loaded, source, IngestStats(), asyncio.Event())
    try:
        while not all("redis connected" in (log.read_text() if log.exists() else "") for log in logs):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a runner exited early; see {folder}")
            await asyncio.sleep(0.05)
        await pub.connected()
        synthetic = SyntheticFeed(loaded.instruments, source.feed)
        frames = [pub.number(synthetic.generate(size)) for _ in range(max(1, ticks // size))]
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        publish_cpu = 0.0
        for frame in frames:
            c0 = time.process_time()
            await pub.publish(frame)
            publish_cpu += time.process_time() - c0
            while sum(g["read"] for g in groups(client, group, prefix)) < pub.stats.entries:
                await asyncio.sleep(0.0005)
        await asyncio.sleep(0.5)  # the last read's evaluation and commit
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        return cpu / (len(frames) * size) * 1e6, publish_cpu / len(frames) * 1e3
    finally:
        await pub.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)


def runner_trials(client: redis.Redis, url: str, config: Path, args: argparse.Namespace) -> None:
    """Section 2, ``--repeat`` times: 1 runner and 2 runners in alternating order (1,2 then
    2,1, ...), so a change of the machine's load during the run falls on both alike; with
    ``--before``, that install's runners take their turn beside each of these, also
    alternated. Prints every trial, then per install the median and the range of each
    figure: one trial is a few seconds on a shared machine, which the median of several
    makes a figure and the range says how far to trust it.
    """
    installs = {"now": sys.executable} | ({"before": args.before} if args.before else {})
    trials: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in installs}
    for rep in range(args.repeat):
        names = list(installs) if rep % 2 == 0 else list(reversed(installs))
        for name in names:
            order = (1, 2) if rep % 2 == 0 else (2, 1)
            got = {n: drain_time(client, url, config, n, installs[name]) for n in order}
            (one, cpu1), (two, cpu2) = got[1], got[2]
            trials[name].append((one, two, cpu1 / args.ticks * 1e6, cpu2 / args.ticks * 1e6))
            print(f"  trial {rep + 1} ({name}, {order[0]} runner(s) first): 1 runner {one:.2f} s, 2 runners "
                  f"{two:.2f} s: {one / two:.2f}x wall; CPU per tick {cpu1 / args.ticks * 1e6:.1f} vs "
                  f"{cpu2 / args.ticks * 1e6:.1f} us (load average {os.getloadavg()[0]:.1f})", flush=True)
    for name, rows in trials.items():
        ones, twos, c1, c2 = ([r[i] for r in rows] for i in range(4))
        ratios = [a / b for a, b, *_ in rows]
        cpu_ratios = [2 * a / b for *_, a, b in rows]
        print(f"runners{'' if len(installs) == 1 else f' ({name})'} ({args.rules:,} rules, 500 symbols, "
              f"{args.ticks:,} ticks; wall from the entries' arrival to the last one committed, median of "
              f"{len(rows)} [range]): 1 runner {median(ones):.2f} s [{min(ones):.2f}-{max(ones):.2f}] = "
              f"{args.ticks / median(ones):,.0f} ticks/s, 2 runners {median(twos):.2f} s "
              f"[{min(twos):.2f}-{max(twos):.2f}] = {args.ticks / median(twos):,.0f} ticks/s: "
              f"{median(ratios):.2f}x wall [{min(ratios):.2f}-{max(ratios):.2f}] on {os.cpu_count()} cores")
        print(f"  runner CPU per tick: 1 runner {median(c1):.1f} us [{min(c1):.1f}-{max(c1):.1f}], 2 runners "
              f"{median(c2):.1f} us together [{min(c2):.1f}-{max(c2):.1f}]: {median(cpu_ratios):.2f}x with 2 free "
              f"cores [{min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}]")


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=400_000)
    ap.add_argument("--rules", type=int, default=2_000)
    ap.add_argument("--live-rate", type=float, default=10_000.0)
    ap.add_argument("--live-seconds", type=float, default=20.0)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--entry-sizes", default="10,100,1000",
                    help="ticks per publish for the cost-per-entry section (comma-separated; empty: skip it)")
    ap.add_argument("--entry-ticks", type=int, default=20_000, help="ticks published per entry size")
    ap.add_argument("--skip-runners", action="store_true", help="only the ingest and the live latency")
    ap.add_argument("--repeat", type=int, default=3, help="trials of 1 vs 2 runners, alternated (default 3)")
    ap.add_argument("--before", metavar="PYTHON",
                    help="another install's python (an older checkout's .venv/bin/python): its runners alternate with these")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tradeassist-scale-") as tmp:
        redis_proc, url = start_redis(Path(tmp))
        try:
            ticks = workloads.tick_file(OUT, 500, args.ticks, seed=5)
            base = workloads.rules_config(OUT / "scaling", 500, args.rules, ticks, seed=5)
            config = with_redis_source(base, url, f"{{type: replay, path: '{ticks}'}}", "runners")
            loaded = load_config(config)
            t0, c0 = time.perf_counter(), time.process_time()
            asyncio.run(run_ingest(loaded, wait_for_runners=False, status_every=1e9))
            ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"ingest: {args.ticks:,} ticks of 500 symbols into {SHARDS} streams in {ingest_s:.2f} s = "
                  f"{args.ticks / ingest_s:,.0f} ticks/s (Parquet replay, batches of 1,000, AOF everysec); "
                  f"CPU {ingest_cpu / args.ticks * 1e6:.2f} us per tick")
            client = redis.Redis.from_url(url)
            if not args.skip_runners:
                runner_trials(client, url, config, args)
            if not args.skip_live:
                lat, cpu, entries = live_latency(url, OUT / "scaling", args.live_rate, args.live_seconds, warmup=3.0)
                if lat:
                    print(f"live at {args.live_rate:,.0f} ticks/s through Redis, tick ts -> alert committed: "
                          f"p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, max {max(lat):.1f} ms "
                          f"({len(lat):,} alerts after a 3 s warm-up; load average {os.getloadavg()[0]:.1f})")
                else:
                    print("live: no alert after the warm-up")
                startup = cpu.pop("ingest start-up")
                print("  CPU per second of feed (cores busy): " + ", ".join(
                    f"{name} {secs / args.live_seconds:.2f}" for name, secs in cpu.items())
                    + f" (the ingest's start-up besides: {startup:.2f} s)"
                    + f"; {entries / args.live_seconds:,.0f} stream entries published per second")
            for size in [int(x) for x in args.entry_sizes.split(",") if x.strip()]:
                per_tick, per_publish = asyncio.run(entry_cost(url, OUT / "scaling", size, args.entry_ticks))
                print(f"entries of {size:,} ticks, one publish at a time: runners {per_tick:.1f} us of CPU per tick "
                      f"together ({per_tick * args.live_rate / 1e6:.2f} cores at {args.live_rate:,.0f} ticks/s), ingest "
                      f"{per_publish:.2f} ms per publish ({per_publish * args.live_rate / size / 1e3:.2f} cores); "
                      f"load average {os.getloadavg()[0]:.1f}")
        finally:
            redis_proc.send_signal(signal.SIGKILL)
            redis_proc.wait(10)


if __name__ == "__main__":
    main()

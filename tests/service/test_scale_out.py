"""Replay -> ``tradeassist ingest`` -> Redis Streams (4 shards) -> 2 ``tradeassist run --shard`` runners.

Everything is real: a redis-server of the test's own (AOF, appendfsync everysec), the
command line in subprocesses, apprise posting to a local HTTP server. A runner is
SIGKILLed at random moments and restarted, Redis is SIGKILLed and restarted mid-stream,
and the union of the runners' alert logs must still equal a single-process backtest of
the same ticks: nothing lost, nothing twice, every alert delivered once.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import redis
from click.testing import CliRunner

from tradeassist_runner.cli import main
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.rules.groups import symbol_shards

from ..cli_helpers import ROOT
from ..notify.conftest import Hook, hook  # noqa: F401 - fixture
from ..redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from ..servers import postgres_server, postgres_url  # noqa: F401 - fixtures
from ..waiting import wait_until

SYMBOLS = {"/ES": 6000.0, "/NQ": 21000.0, "/CL": 60.0, "/GC": 2000.0, "/YM": 44000.0, "AAPL": 230.0, "$SPX": 6000.0}
RULES = """\
rules:
  - {id: es.up, instrument: /ES, type: threshold, condition: crosses_above, threshold: 6000, cooldown: 0s}
  - {id: es.down, instrument: /ES, type: threshold, condition: crosses_below, threshold: 6000, cooldown: 0s}
  - {id: es-nq.spread, instrument: /ES, type: spread, other: /NQ, mode: ratio, condition: crosses_above,
     threshold: 0.2857, cooldown: 0s}
  - {id: nq.roc, instrument: /NQ, type: rate_of_change, condition: above, threshold: 0.05, window: 2s, cooldown: 1s}
  - {id: cl.rsi, instrument: /CL, type: rsi, period: 14, condition: crosses_below, threshold: 30, cooldown: 0s}
  - {id: gc.vol, instrument: /GC, type: volume_spike, period: 5, condition: above, threshold: 3, cooldown: 0s}
  - {id: ym.ma, instrument: /YM, type: moving_average, period: 20, condition: crosses_above, threshold: 0, cooldown: 0s}
  - {id: aapl.up, instrument: AAPL, type: threshold, condition: crosses_above, threshold: 230, cooldown: 0s}
  - {id: spx.brk, instrument: $SPX, type: breakout, period: 30, condition: crosses_above, threshold: 0, cooldown: 0s}
"""
RUNNERS = {"a": "0,2/4", "b": "1,3/4"}  # /ES, /NQ (one group) and /CL on a; the rest on b
COMPARED = ("alert_id", "rule_id", "symbol", "ts", "value", "threshold")


def write_ticks(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = list(SYMBOLS)
    sym = rng.integers(0, len(names), n)
    steps = rng.normal(0, 1, n)
    price = dict(SYMBOLS)
    t0 = 1_767_621_600_000
    lines = ["ts,symbol,price,volume"]
    for i in range(n):
        s = names[sym[i]]
        price[s] += steps[i] * SYMBOLS[s] * 2e-4
        volume = 100 if rng.random() < 0.03 else int(rng.integers(1, 20))
        lines.append(f"{t0 + i * 10},{s},{price[s]:.2f},{volume}")
    path.write_text("\n".join(lines) + "\n")


def project(
    tmp: Path, url: str, hook_port: int, n_ticks: int, speed: float, shards: int = 4, storage_url: str | None = None
) -> Path:
    (tmp / "rules.d").mkdir()
    (tmp / "rules.d" / "rules.yaml").write_text(RULES)
    write_ticks(tmp / "ticks.csv", n_ticks, seed=16)
    instruments = "\n".join(f"  - {{symbol: '{s}', type: future}}" for s in SYMBOLS)
    config = tmp / "config.yaml"
    shared = f', url: "{storage_url}"' if storage_url else ""
    config.write_text(f"""\
instruments:
{instruments}
rules_dir: rules.d
source:
  type: redis
  url: {url}
  shards: {shards}
  reconnect_initial: 50ms
  reconnect_max: 500ms
  feed: {{type: replay, path: ticks.csv, speed: {speed}}}
batch: {{max_size: 200}}
storage: {{sqlite: data/alerts.sqlite, parquet_dir: data/alerts, snapshot_interval: 300ms{shared}}}
notifications:
  channels:
    hook: {{urls: "json://127.0.0.1:{hook_port}/hook", rate_limit: {{max: 100000, per: 1s}}}}
  routes: {{critical: [hook], warning: [hook], info: [hook]}}
  templates: {{title: "{{rule_id}}", body: "{{alert_id}}"}}
  delivery: {{retry: {{initial_delay: 50ms, max_delay: 200ms}}}}
""")
    return config


def env_for(name: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    env["TRADEASSIST_SQLITE_PATH"] = str(tmp / name / "alerts.sqlite")
    env["TRADEASSIST_PARQUET_DIR"] = str(tmp / name / "alerts")
    env["TRADEASSIST_STORAGE_SCOPE"] = f"runner-{name}"  # used with a shared PostgreSQL log
    return env


def start(tmp: Path, name: str, *args: str) -> subprocess.Popen[str]:
    with (tmp / f"{name}.log").open("a") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "tradeassist_runner", *args], cwd=tmp / "run", env=env_for(name, tmp),
            stdout=subprocess.DEVNULL, stderr=log, text=True,
        )


def logged_in(url: str, symbols: set[str]) -> int:
    """Alerts of these symbols in the shared PostgreSQL log."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT count(*) FROM alert_logs WHERE symbol = ANY(%s)", (list(symbols),)).fetchone()
    except psycopg.Error:
        return 0
    return int(row[0]) if row else 0


def logged(tmp: Path, name: str) -> int:
    path = tmp / name / "alerts.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM alert_logs").fetchone()[0])
    except sqlite3.Error:
        return 0


def published_row(url: str) -> int:
    try:
        with redis.Redis.from_url(url, socket_timeout=1) as client:
            row = client.hget("tradeassist:ingest", "row")
    except redis.RedisError:
        return -1
    return int(row) if row is not None else 0


def held_row(url: str) -> int:
    """:func:`published_row` once Redis answers (a loaded machine can miss its 1 s timeout)."""
    row = -1

    def answered() -> bool:
        nonlocal row
        row = published_row(url)
        return row >= 0

    wait_until(answered, timeout=60, what="redis answering")
    return row


def cli(*args: str | Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The command line in this process (click's runner): JSONL on stdout, parsed."""
    result = CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def backtest(config: Path, tmp: Path) -> list[dict[str, Any]]:
    """The single-process reference: ``tradeassist backtest --format jsonl`` of the same ticks."""
    return cli("backtest", config, "--ticks", tmp / "ticks.csv", "--format", "jsonl")


def union_log(config: Path, tmp: Path, names: list[str]) -> list[dict[str, Any]]:
    """``tradeassist alerts --format jsonl`` of each runner's own log, together."""
    rows: list[dict[str, Any]] = []
    for name in names:
        rows += cli("alerts", config, "--format", "jsonl", env={
            k: v for k, v in env_for(name, tmp).items() if k.startswith("TRADEASSIST_")})
    return rows


def connected(tmp: Path, name: str, starts: int) -> bool:
    """The runner's ``starts``-th start has reached Redis (its log, shared by its starts, says so)."""
    path = tmp / f"{name}.log"
    text = path.read_text() if path.exists() else ""
    return text.count("runner started") >= starts and "redis connected" in text.rsplit("runner started", 1)[1]


def key(rows: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r[k] for k in COMPARED) for r in rows)


def stop_all(procs: dict[str, subprocess.Popen[str]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for name, p in procs.items():
        assert p.wait(60) == 0, f"{name} exited {p.returncode}"


def check(expected: list[dict[str, Any]], got: list[dict[str, Any]], hook: Hook, kills: int = 0) -> None:
    """The log equals the backtest; every alert reached the channel; resent only across a kill.

    A SIGKILL after the channel answered 200 and before the runner recorded "sent" makes
    the next start send that alert again (the id is in the message, for a receiver that
    deduplicates): at most the sends in flight, ``delivery.concurrency`` (2), per kill.
    """
    want, have = key(expected), key(got)
    lost, extra = want - have, have - want
    assert not lost and not extra, f"lost {sum(lost.values())}: {list(lost)[:3]}; extra {sum(extra.values())}: {list(extra)[:3]}"
    ids = sorted(r["alert_id"] for r in expected)
    wait_until(lambda: len(hook.bodies) >= len(ids), timeout=60, what="every alert delivered")
    delivered = Counter(str(b.get("message", "")).strip() for b in hook.bodies)
    assert sorted(delivered) == ids
    again = sum(n - 1 for n in delivered.values())
    assert again <= 2 * kills, [a for a, n in delivered.items() if n > 1]


def test_sigkilled_runners_and_a_restarted_redis_lose_nothing_and_log_nothing_twice(
    tmp_path: Path, redis_server: RedisServer, hook: Hook, postgres_url: str  # noqa: F811
) -> None:
    """Two runners, four shards, one shared PostgreSQL alert log (each runner its own scope)."""
    rnd = random.Random(1616)
    (tmp_path / "run").mkdir()
    config = project(tmp_path / "run", redis_server.url, hook.port, n_ticks=12_000, speed=30.0,
                     storage_url=postgres_url)
    expected = backtest(config, tmp_path / "run")
    assert len(expected) > 200 and {r["symbol"] for r in expected} >= {"/ES", "/GC"}
    loaded = load_config(config)
    on_a = {s for s, k in symbol_shards(loaded.rules, loaded.instruments, 4).items() if k in (0, 2)}
    assert on_a == {"/ES", "/NQ", "/CL"}
    for_a = sum(1 for r in expected if r["symbol"] in on_a)
    procs = {name: start(tmp_path, name, "run", str(config), "--shard", shards) for name, shards in RUNNERS.items()}
    procs["ingest"] = start(tmp_path, "ingest", "ingest", str(config), "--metrics-port", "0")
    # Kill runner a at random points of its work (it is the one with the spread pair), each
    # time once it is connected again, and Redis once while the ingest is still publishing.
    fractions = sorted(rnd.uniform(0.1, 0.85) for _ in range(3))
    redis_row = rnd.randrange(4_000, 8_000)
    for i, fraction in enumerate(fractions):
        wait_until(lambda: connected(tmp_path, "a", i + 1), timeout=60, what="runner a connected")  # noqa: B023
        goal = fraction * for_a
        wait_until(lambda: logged_in(postgres_url, on_a) >= goal, timeout=60, what=f"a at {fraction:.0%}")  # noqa: B023
        procs["a"].send_signal(signal.SIGKILL)
        procs["a"].wait(10)
        procs["a"] = start(tmp_path, "a", "run", str(config), "--shard", RUNNERS["a"])
        if i == 0:
            wait_until(lambda: published_row(redis_server.url) >= redis_row, timeout=60, what="ingest mid-stream")
            redis_server.kill()
            redis_server.start()
    moments = fractions
    assert procs["ingest"].wait(90) == 0, (tmp_path / "ingest.log").read_text()[-2000:]
    stop_all(procs)
    got = cli("alerts", config, "--format", "jsonl")  # the one shared log
    assert 0 < logged_in(postgres_url, on_a) < len(got)  # both runners had work
    check(expected, got, hook, kills=len(moments))
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "ingest.log").read_text()
    assert "redis unreachable" in logs and "Traceback" not in logs
    assert logs.count("runner started") == 4


def test_redis_losing_its_last_acknowledged_writes_is_replayed_by_the_ingest(
    tmp_path: Path, redis_server: RedisServer, hook: Hook  # noqa: F811
) -> None:
    """A power cut with appendfsync everysec loses up to ~1 s of writes Redis acknowledged.

    Forced here by restarting Redis from a copy of its AOF taken earlier: the ingest finds
    its position behind what it published and replays from there; runners skip the tick
    numbers they already evaluated, so the log still equals the backtest.

    The rows are measured, not assumed from the wall clock: the copy holds at most what
    Redis held once it was taken, and the ingest is stopped (SIGSTOP) from just before
    the kill until the restarted Redis has been asked, so it can neither finish the feed
    nor replay past the kill point while a loaded machine keeps this test waiting. The
    feed (1,000 rows a second) leaves about 3 s between the kill point and its end.
    """
    n_ticks, lost = 6_000, 2_000
    (tmp_path / "run").mkdir()
    config = project(tmp_path / "run", redis_server.url, hook.port, n_ticks=n_ticks, speed=10.0, shards=2)
    expected = backtest(config, tmp_path / "run")
    procs = {"a": start(tmp_path, "a", "run", str(config), "--shard", "0,1/2"),
             "ingest": start(tmp_path, "ingest", "ingest", str(config), "--metrics-port", "0")}
    try:
        _lose_and_replay(tmp_path, redis_server, procs, n_ticks, lost)
    finally:
        for p in procs.values():  # a failed assertion must not leave them running
            if p.poll() is None:
                p.kill()
    check(expected, union_log(config, tmp_path, ["a"]), hook)
    assert "replaying from the last row it holds" in (tmp_path / "ingest.log").read_text()


def _lose_and_replay(
    tmp_path: Path, redis_server: RedisServer, procs: dict[str, subprocess.Popen[str]],  # noqa: F811
    n_ticks: int, lost: int,
) -> None:
    wait_until(lambda: published_row(redis_server.url) >= 1_000, timeout=60, what="ingest past row 1000")
    saved = tmp_path / "aof-then"
    shutil.copytree(redis_server.aof_folder(), saved)
    copied = held_row(redis_server.url)  # the copy holds no row past this one
    wait_until(lambda: published_row(redis_server.url) >= copied + lost, timeout=60,
               what=f"ingest past row {copied + lost}")
    with paused(procs["ingest"]):
        killed_at = held_row(redis_server.url)
        assert killed_at < n_ticks, "the feed ended before Redis was killed: nothing is left to replay"
        redis_server.kill()
        shutil.rmtree(redis_server.aof_folder())
        shutil.copytree(saved, redis_server.aof_folder())
        redis_server.start()
        restarted = held_row(redis_server.url)
    assert restarted <= copied < killed_at - lost // 2, (restarted, copied, killed_at)  # Redis forgot writes
    assert procs["ingest"].wait(90) == 0, (tmp_path / "ingest.log").read_text()[-2000:]
    stop_all(procs)


@contextmanager
def paused(proc: subprocess.Popen[str]) -> Iterator[None]:
    """``proc`` stopped for the block (SIGSTOP, then SIGCONT): it publishes nothing meanwhile."""
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def test_ingest_and_run_explain_a_wrong_setup_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    config = project(tmp_path / "run", "redis://127.0.0.1:1/0", 1, n_ticks=10, speed=1.0)

    def invoke(*args: str | Path) -> tuple[int, str]:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result.exit_code, result.output

    code, said = invoke("run", config)
    assert code == 2 and "--shard 0/4" in said
    code, said = invoke("run", config, "--shard", "0/3")
    assert code == 2 and "source.shards: 4, not 3" in said
    code, said = invoke("run", config, "--shard", "4/4")
    assert code == 2 and "shard 4 is not in 0..3" in said
    code, said = invoke("run", ROOT / "config" / "config.yaml", "--shard", "0/4")
    assert code == 2 and "--shard needs `source: {type: redis}`" in said
    code, said = invoke("ingest", ROOT / "config" / "config.yaml", "--no-metrics")
    assert code == 1 and "ingest needs `source: {type: redis" in said

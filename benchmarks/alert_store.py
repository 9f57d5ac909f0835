"""Alert-log write throughput: SQLite file vs PostgreSQL, one writer and two sharing a database.

    python benchmarks/alert_store.py                      # PostgreSQL on 127.0.0.1:5432, user postgres
    python benchmarks/alert_store.py --url postgresql://u@host/db --alerts 20000

Each figure is the store of record alone (``write_new``: one transaction per batch, no
Parquet copy), over engine-shaped alerts, the median of ``--runs`` runs:

- new alerts per second at batch sizes 1, 100 and 1,000;
- a replayed batch (every id already held: what a restart re-evaluates), alerts per second;
- PostgreSQL with two writers (two connections, two threads) inserting the same ids in
  opposite orders at once: alerts stored per second, and a check that each was stored once.

The PostgreSQL tables go to a temporary schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tradeassist_runner.engine.alerts import ALERT_SCHEMA  # noqa: E402
from tradeassist_runner.sinks.postgres import PostgresAlertLog  # noqa: E402
from tradeassist_runner.sinks.sqlite import SqliteAlertLog  # noqa: E402
from tradeassist_runner.sinks.store import AlertStore  # noqa: E402

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)


def alerts(start: int, stop: int) -> pl.DataFrame:
    rows = [
        {
            "alert_id": f"es.cross@{int((T0 + timedelta(milliseconds=i)).timestamp() * 1000)}#0",
            "rule_id": "es.cross", "rule_name": "ES breakout", "symbol": "/ES", "ts": T0 + timedelta(milliseconds=i),
            "seq": i, "price": 6000.25, "volume": 3, "value": 6000.25, "prev_value": 5999.75, "threshold": 6000.0,
            "condition": "crosses_above", "type": "threshold", "severity": "warning",
            "message": "/ES crossed above 6000", "evaluated_at": T0,
        }
        for i in range(start, stop)
    ]
    return pl.DataFrame(rows, schema=ALERT_SCHEMA)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}/s"


def timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def one_writer(open_store: Callable[[], AlertStore], total: int, batch: int, runs: int) -> tuple[float, float]:
    """(seconds for ``total`` new alerts in batches of ``batch``, seconds to replay them)."""
    firsts, replays = [], []
    frames = [alerts(lo, min(lo + batch, total)) for lo in range(0, total, batch)]
    for _ in range(runs):
        store = open_store()
        try:
            firsts.append(timed(lambda: [store.write_new(f) for f in frames]))  # type: ignore[func-returns-value]
            replays.append(timed(lambda: [store.write_new(f) for f in frames]))  # type: ignore[func-returns-value]
        finally:
            store.close()
    return statistics.median(firsts), statistics.median(replays)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(args.url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    print(f"PostgreSQL {version[0] if version else '?'} at {args.url.split('@')[-1]}; {args.alerts:,} alerts, "
          f"median of {args.runs} runs")
    print(f"{'store':<12}{'batch':>7}{'new alerts':>14}{'replayed':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 100, 1000):
            total = min(args.alerts, 2_000) if batch == 1 else args.alerts
            for name in ("sqlite", "postgres"):
                schemas: list[str] = []

                def open_store() -> AlertStore:
                    if name == "sqlite":
                        path = Path(tmp) / f"{uuid.uuid4().hex}.sqlite"
                        return SqliteAlertLog(path)
                    schema = f"bench_{uuid.uuid4().hex[:10]}"
                    schemas.append(schema)
                    with psycopg.connect(args.url, autocommit=True) as c:
                        c.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]
                    sep = "&" if "?" in args.url else "?"
                    return PostgresAlertLog(f"{args.url}{sep}options=-csearch_path%3D{schema}")

                first, replay = one_writer(open_store, total, batch, args.runs)
                print(f"{name:<12}{batch:>7}{rate(total, first):>14}{rate(total, replay):>14}")
                drop(args.url, schemas)
    print(two_writers(args.url, args.alerts))
    return 0


def drop(url: str, schemas: list[str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


def two_writers(url: str, total: int) -> str:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
    try:
        PostgresAlertLog(scoped).close()
        stores = [PostgresAlertLog(scoped), PostgresAlertLog(scoped)]
        frames = [alerts(lo, lo + 1000) for lo in range(0, total, 1000)]
        start = threading.Barrier(3)
        new = [0, 0]

        def writer(i: int) -> None:
            start.wait()
            for frame in frames if i == 0 else reversed(frames):
                new[i] += stores[i].write_new(frame).height

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        start.wait()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        stored = stores[0].count()
        for s in stores:
            s.close()
    finally:
        drop(url, [schema])
    ok = "each stored once" if stored == sum(new) == total else f"MISMATCH stored={stored} new={new}"
    return f"postgres, 2 writers, same {total:,} ids, batches of 1000: {rate(total, seconds)} stored ({ok})"


if __name__ == "__main__":
    sys.exit(main())

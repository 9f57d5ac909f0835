"""``tradeassist ingest`` in-process: what it reports while Redis is away, and its /metrics."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service.ingest import run_ingest

from ..redis_server import RedisServer, free_port, redis_server  # noqa: F401 - fixture
from ..waiting import until

TICKS = "ts,symbol,price,volume\n" + "".join(
    f"{1767621600000 + i},{sym},{100 + i % 7},1\n" for i, sym in enumerate(["/ES", "/NQ", "/CL", "XXX"] * 50)
)


def project(tmp: Path, url: str) -> Path:
    (tmp / "rules.d").mkdir()
    (tmp / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es, instrument: /ES, type: spread, other: /NQ, condition: above, threshold: 0}\n")
    (tmp / "ticks.csv").write_text(TICKS)
    (tmp / "config.yaml").write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: /NQ, type: future}\n"
        "  - {symbol: /CL, type: future}\nrules_dir: rules.d\n"
        f"source: {{type: redis, url: '{url}', shards: 3, reconnect_initial: 20ms, reconnect_max: 100ms,"
        " feed: {type: replay, path: ticks.csv}}\nbatch: {max_size: 40}\n"
    )
    return tmp / "config.yaml"


def said(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, object]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == message]


def test_with_redis_down_the_ingest_says_so_and_retries_until_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(_redis_down(tmp_path, caplog))


async def _redis_down(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tradeassist")
    loaded = load_config(project(tmp_path, f"redis://127.0.0.1:{free_port()}/0"))
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(loaded, stop=stop))
    await until(lambda: bool(said(caplog, "redis unreachable; retrying with backoff")))
    stop.set()
    assert await task == 0
    [fields] = said(caplog, "redis unreachable; retrying with backoff")  # said once, not per retry
    assert "127.0.0.1" in str(fields["error"]) and "Connection refused" in str(fields["error"])


def test_metrics_show_what_was_published_and_what_no_runner_committed_yet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, redis_server: RedisServer  # noqa: F811
) -> None:
    asyncio.run(_metrics(tmp_path, caplog, redis_server))


async def _metrics(tmp_path: Path, caplog: pytest.LogCaptureFixture, redis_server: RedisServer) -> None:  # noqa: F811
    caplog.set_level(logging.INFO, logger="tradeassist")
    loaded = load_config(project(tmp_path, redis_server.url))
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(loaded, stop=stop, metrics=("127.0.0.1", 0)))
    await until(lambda: bool(said(caplog, "source ended")) and bool(said(caplog, "metrics listening")))
    where = said(caplog, "metrics listening")[0]
    url = f"http://{where['host']}:{where['port']}{where['path']}"

    def scrape() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    await until(lambda: "tradeassist_ingest_lag_entries{" in scrape())  # first housekeeping done
    text = await asyncio.to_thread(scrape)
    stop.set()
    assert await task == 0
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert float(lines["tradeassist_ingest_ticks_total"]) == 150  # XXX is not declared: not published
    assert float(lines["tradeassist_ingest_redis_up"]) == 1 and float(lines["tradeassist_ingest_source_ended"]) == 1
    lag = {k: float(v) for k, v in lines.items() if k.startswith("tradeassist_ingest_lag_entries{")}
    assert len(lag) == 3 and sum(lag.values()) == float(lines["tradeassist_ingest_entries_total"]) > 0


def test_a_full_redis_refuses_writes_and_the_ingest_says_so_once_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, redis_server: RedisServer  # noqa: F811
) -> None:
    import redis

    with redis.Redis(port=redis_server.port) as client:
        client.config_set("maxmemory", 1)  # every write is refused: OOM, maxmemory-policy noeviction
        asyncio.run(_full(tmp_path, caplog, redis_server))
        client.config_set("maxmemory", 0)
        assert client.hget("tradeassist:ingest", "row") is None  # nothing half-written


async def _full(tmp_path: Path, caplog: pytest.LogCaptureFixture, redis_server: RedisServer) -> None:  # noqa: F811
    caplog.set_level(logging.INFO, logger="tradeassist")
    loaded = load_config(project(tmp_path, redis_server.url))
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(loaded, stop=stop))
    await until(lambda: bool([r for r in caplog.records if r.getMessage().startswith("redis refused")]))
    stop.set()
    assert await task == 0
    refused = [r for r in caplog.records if r.getMessage().startswith("redis refused")]
    assert len(refused) == 1 and "maxmemory" in str(getattr(refused[0], "fields", {})["error"])


def test_a_redis_restart_while_draining_is_seen_and_the_ingest_finishes_once_everything_is_committed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, redis_server: RedisServer  # noqa: F811
) -> None:
    """After the feed ended no publish reconnects: the housekeeping that Redis answers again
    says it is up, so the drain (which waits for Redis up and every group done) can end."""
    asyncio.run(_restart_while_draining(tmp_path, caplog, redis_server))


async def _restart_while_draining(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                  redis_server: RedisServer) -> None:  # noqa: F811
    import redis.asyncio as aioredis

    caplog.set_level(logging.INFO, logger="tradeassist")
    loaded = load_config(project(tmp_path, redis_server.url))
    task = asyncio.create_task(run_ingest(loaded, status_every=1e9))
    await until(lambda: bool(said(caplog, "source ended")))
    redis_server.kill()
    await until(lambda: bool(said(caplog, "redis unreachable; retrying with backoff")))
    redis_server.start()
    await until(lambda: len(said(caplog, "redis connected")) >= 2)
    # the one consumer: read and acknowledge everything (what the runners' commits do)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        for shard in range(3):
            stream = f"tradeassist:shard:{shard}"
            while reply := await client.xreadgroup("runners", "test", {stream: ">"}, count=100):
                ids = [entry_id for _, entries in reply for entry_id, _ in entries]
                if not ids:
                    break
                await client.xack(stream, "runners", *ids)
    finally:
        await client.aclose()
    assert await asyncio.wait_for(task, 60) == 0
    assert said(caplog, "every runner committed everything; ingest done")

"""The outbox in PostgreSQL: each alert is delivered once, across restarts and across runners
sharing the database (real apprise to a local HTTP server, a real PostgreSQL)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service import runner
from tradeassist_runner.sinks.postgres import PostgresAlertLog

from ..servers import postgres_server, postgres_url  # noqa: F401
from .conftest import Hook, free_port, make_project, serve_on

SQLITE_STORAGE = "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite}"


def on_postgres(config: Path, url: str, scope: str = "default", name: str = "pg.yaml") -> Path:
    """``config`` with its log, outbox and state in PostgreSQL under ``scope``."""
    text = config.read_text().replace(
        SQLITE_STORAGE, f'storage: {{url: "{url}", scope: {scope}, parquet_dir: data/{scope}}}'
    )
    assert text != config.read_text()
    path = config.with_name(name)
    path.write_text(text)
    return path


def statuses(url: str) -> list[tuple[str, dict[str, Any]]]:
    with PostgresAlertLog(url, create=False) as log:
        df = log.query()
    return [(r["rule_id"], json.loads(r["delivery_status"])) for r in df.iter_rows(named=True)]


async def run(*configs: Path) -> list[int]:
    return list(await asyncio.gather(*(
        runner.run_service(load_config(c), out=io.StringIO(), watch_files=False) for c in configs
    )))


FAST = """\
  delivery:
    retry: {attempts: 3, initial_delay: 20ms, max_delay: 50ms, timeout: 5s}
    shutdown_grace: 10s
"""


def test_two_runners_logging_the_same_alert_deliver_it_once(tmp_path: Path, hook: Hook, postgres_url: str) -> None:
    base = make_project(tmp_path, f"notifications:\n  channels:\n    hook: {{urls: \"{hook.url()}\"}}\n"
                                  f"  routes: {{critical: [hook]}}\n{FAST}")
    a = on_postgres(base, postgres_url, "runner-a", "a.yaml")
    b = on_postgres(base, postgres_url, "runner-b", "b.yaml")
    assert asyncio.run(run(a, b)) == [0, 0]  # both evaluate the same ticks, at the same time
    assert [body["title"] for body in hook.bodies] == ["CRITICAL /ES: ES breakout"]
    [(rule, status)] = statuses(postgres_url)
    assert rule == "es.cross" and status["hook"]["status"] == "sent"

    assert asyncio.run(run(b)) == [0]  # a restart replays the ticks: nothing new, nothing resent
    assert len(hook.bodies) == 1


def test_pending_deliveries_in_postgres_are_sent_after_a_restart(tmp_path: Path, postgres_url: str) -> None:
    port = free_port()
    config = on_postgres(make_project(
        tmp_path,
        f"""notifications:
  channels:
    hook: {{urls: "json://127.0.0.1:{port}/hook"}}
  routes: {{critical: [hook]}}
  delivery:
    retry: {{attempts: 5, initial_delay: 30s, timeout: 2s}}
    shutdown_grace: 200ms
""",
    ), postgres_url)
    assert asyncio.run(run(config)) == [0]  # the channel is down: the first try fails, the retry waits 30 s
    [(_, status)] = statuses(postgres_url)
    assert status["hook"]["status"] == "pending" and status["hook"]["attempts"] == 1

    up = Hook(port=port)
    server, thread = serve_on(port, up)
    try:
        assert asyncio.run(run(config)) == [0]  # nothing new fires (same ticks); the pending one is sent
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert [b["title"] for b in up.bodies] == ["CRITICAL /ES: ES breakout"]
    [(_, status)] = statuses(postgres_url)
    assert status["hook"]["status"] == "sent"

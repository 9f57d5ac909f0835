"""A long channel outage, in virtual time, against a real HTTP server that goes away and comes back.

The alert is written to the log as ``pending`` by a real run while the server is down;
then a notifier with a virtual clock picks it up from the log (as at a restart) and
lives through five minutes of connection-refused before the server is started again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.logs import KeyValueFormatter
from tradeassist_runner.notify.delivery import ChannelHealth, Notifier
from tradeassist_runner.sinks.alert_log import open_alert_log
from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from ..waiting import until
from .clock import ManualClock
from .conftest import Hook, make_project, serve_on
from .test_delivery import run


class Records(logging.Handler):
    """The notifier's log lines, formatted as the runner prints them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(KeyValueFormatter())
        self.formatted: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.formatted.append(self.format(record))

    def lines(self, text: str) -> list[str]:
        return [line for line in self.formatted if text in line]


@pytest.fixture
def notify_log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("tradeassist.notify")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


def delivery(tmp_path: Path) -> dict[str, Any]:
    with SqliteAlertLog(tmp_path / "data/alerts.sqlite") as db:
        [row] = db.query().iter_rows(named=True)
    return dict(json.loads(row["delivery_status"])["hook"])


def project_with_a_pending_alert(tmp_path: Path, hook: Hook, delivery_block: str) -> Path:
    """The server is stopped: a real run logs the alert, its first try fails, it stays pending."""
    config = make_project(
        tmp_path,
        f'notifications:\n  channels:\n    hook: {{urls: "{hook.url()}"}}\n  routes: {{critical: [hook]}}\n'
        "  delivery:\n    shutdown_grace: 0s\n" + delivery_block,
    )
    assert run(config)[0] == 0
    assert delivery(tmp_path)["status"] == "pending"
    return config


def stop_server(hook: Hook) -> None:
    """Start and stop the server on the hook's port: nothing listens there afterwards."""
    server, thread = serve_on(hook.port, hook)
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def down_hook() -> Hook:
    from .conftest import free_port

    return Hook(port=free_port())


def test_an_alert_survives_a_five_minute_outage_and_is_sent_when_the_server_is_back(
    tmp_path: Path, down_hook: Hook, notify_log: Records
) -> None:
    # defaults: 4 tries per message, breaker opens after 5 failures in a row, rests 60 s
    config = project_with_a_pending_alert(tmp_path, down_hook, "")
    stop_server(down_hook)

    async def scenario() -> tuple[list[ChannelHealth], list[ChannelHealth]]:
        clock = ManualClock()
        loaded = load_config(config)
        storage = loaded.config.storage
        alert_log = await asyncio.to_thread(
            open_alert_log, loaded.resolve(storage.sqlite), loaded.resolve(storage.parquet_dir)
        )
        notifier = Notifier(loaded, alert_log, clock=clock)
        await notifier.start()  # the pending alert is queued again from the log
        try:
            await clock.advance(300)  # five minutes of connection refused
            during = notifier.health()
            server, thread = serve_on(down_hook.port, down_hook)  # the server is back
            try:
                await clock.advance(600, stop=lambda: bool(down_hook.requests))
                await until(lambda: notifier.health()[0].pending == 0)
            finally:
                server.shutdown()
                server.server_close()
                thread.join(5)
            return during, notifier.health()
        finally:
            await notifier.close(grace=0)
            await asyncio.to_thread(alert_log.close)

    during, after = asyncio.run(scenario())
    [down] = during
    assert down.state in ("open", "half-open") and down.pending == 1 and down.waiting == 1
    assert down.last_error is not None and "connection" in down.last_error.lower()
    assert down.down_since is not None and down.circuit_opens == 1
    # delivered exactly once, when the server came back
    assert [b["title"] for b in down_hook.bodies] == ["CRITICAL /ES: ES breakout"]
    status = delivery(tmp_path)
    assert status["status"] == "sent" and status["error"] is None, status
    [up] = after
    assert (up.state, up.pending, up.waiting, up.sent, up.failed) == ("closed", 0, 0, 1, 0)


def test_an_outage_is_logged_at_a_bounded_pace(tmp_path: Path, down_hook: Hook, notify_log: Records) -> None:
    # short backoff: many failed tries in the first minute, each one a candidate log line
    config = project_with_a_pending_alert(
        tmp_path, down_hook,
        "    retry: {attempts: 20, initial_delay: 100ms, max_delay: 1s}\n"
        "    circuit_breaker: {failures: 30, reset: 20s}\n",
    )
    stop_server(down_hook)

    async def scenario() -> None:
        clock = ManualClock()
        loaded = load_config(config)
        storage = loaded.config.storage
        alert_log = await asyncio.to_thread(
            open_alert_log, loaded.resolve(storage.sqlite), loaded.resolve(storage.parquet_dir)
        )
        notifier = Notifier(loaded, alert_log, clock=clock)
        await notifier.start()
        try:
            await clock.advance(120)
            server, thread = serve_on(down_hook.port, down_hook)
            try:
                await clock.advance(600, stop=lambda: bool(down_hook.requests))
                await until(lambda: notifier.health()[0].pending == 0)
            finally:
                server.shutdown()
                server.server_close()
                thread.join(5)
        finally:
            await notifier.close(grace=0)
            await asyncio.to_thread(alert_log.close)

    asyncio.run(scenario())
    retries = notify_log.lines(" msg=\"delivery ")
    assert 2 <= len(retries) <= 120 / 30 + 2, retries  # one line per 30 s at most
    assert all("channel=hook" in line for line in retries)
    assert any("suppressed=" in line and "suppressed=0" not in line for line in retries), retries
    assert len(notify_log.lines("circuit open")) == 1
    assert len(notify_log.lines("circuit closed")) == 1
    assert delivery(tmp_path)["status"] == "sent"


#: The refused one first: with one send at a time it is tried (and given up) before the other.
TWO_RULES = """\
instruments:
  - {symbol: /ES, name: E-mini S&P 500, type: future}
rules:
  - {id: es.poison, name: refused, instrument: /ES, type: threshold, condition: crosses_above,
     threshold: 100, cooldown: 0s, severity: critical}
  - {id: es.cross, name: ES breakout, instrument: /ES, type: threshold, condition: crosses_above,
     threshold: 100, cooldown: 0s, severity: critical}
"""


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_message_the_service_keeps_refusing_fails_visibly_while_the_others_get_through(
    tmp_path: Path, down_hook: Hook, notify_log: Records, concurrency: int
) -> None:
    config = make_project(
        tmp_path,
        f'notifications:\n  channels:\n    hook: {{urls: "{down_hook.url()}"}}\n  routes: {{critical: [hook]}}\n'
        f"  delivery:\n    shutdown_grace: 0s\n    concurrency: {concurrency}\n",
        rules=TWO_RULES,
    )
    assert run(config)[0] == 0  # nothing listens: both alerts stay pending
    down_hook.refuse = ("refused",)

    async def scenario() -> list[ChannelHealth]:
        clock = ManualClock()
        loaded = load_config(config)
        storage = loaded.config.storage
        alert_log = await asyncio.to_thread(
            open_alert_log, loaded.resolve(storage.sqlite), loaded.resolve(storage.parquet_dir)
        )
        server, thread = serve_on(down_hook.port, down_hook)
        notifier = Notifier(loaded, alert_log, clock=clock)
        await notifier.start()
        try:
            def settled() -> bool:
                [h] = notifier.health()
                return h.sent + h.failed == 2 and h.pending == 0  # and each outcome recorded

            await clock.advance(3600, stop=settled)
            return notifier.health()
        finally:
            await notifier.close(grace=0)
            server.shutdown()
            server.server_close()
            thread.join(5)
            await asyncio.to_thread(alert_log.close)

    [health] = asyncio.run(scenario())
    assert (health.state, health.sent, health.failed, health.pending) == ("closed", 1, 1, 0)
    assert health.last_error is not None and "500" in health.last_error
    with SqliteAlertLog(tmp_path / "data/alerts.sqlite") as db:
        rows = {r["rule_id"]: json.loads(r["delivery_status"])["hook"] for r in db.query().iter_rows(named=True)}
    assert rows["es.cross"]["status"] == "sent"
    # all its retries were used while another message got through (with one send at a time it
    # first waited for the channel like any alert, then had a fresh set once the other was sent)
    tries = rows["es.poison"]["attempts"]
    assert rows["es.poison"]["status"] == "failed" and tries >= 4
    assert "500" in rows["es.poison"]["error"]
    [failed] = notify_log.lines('msg="delivery failed"')
    assert "channel=hook" in failed and f"attempts={tries}" in failed
    assert [b["title"] for b in down_hook.bodies].count("CRITICAL /ES: ES breakout") == 1


def test_an_alert_waiting_for_a_dead_url_goes_to_the_fixed_url_after_a_reload(
    tmp_path: Path, down_hook: Hook, hook: Hook
) -> None:
    config = project_with_a_pending_alert(tmp_path, down_hook, "")
    stop_server(down_hook)

    async def scenario() -> list[ChannelHealth]:
        clock = ManualClock()
        loaded = load_config(config)
        storage = loaded.config.storage
        alert_log = await asyncio.to_thread(
            open_alert_log, loaded.resolve(storage.sqlite), loaded.resolve(storage.parquet_dir)
        )
        notifier = Notifier(loaded, alert_log, clock=clock)
        await notifier.start()
        try:
            await clock.advance(120, stop=lambda: notifier.health()[0].waiting == 1)
            assert notifier.health()[0].waiting == 1
            config.write_text(config.read_text().replace(down_hook.url(), hook.url()))  # the user fixes the URL
            await notifier.reconfigure(load_config(config))
            await clock.advance(600, stop=lambda: bool(hook.requests))
            await until(lambda: notifier.health()[0].pending == 0)
            return notifier.health()
        finally:
            await notifier.close(grace=0)
            await asyncio.to_thread(alert_log.close)

    [health] = asyncio.run(scenario())
    assert [b["title"] for b in hook.bodies] == ["CRITICAL /ES: ES breakout"]
    assert (health.state, health.sent, health.pending) == ("closed", 1, 0)
    assert delivery(tmp_path)["status"] == "sent"

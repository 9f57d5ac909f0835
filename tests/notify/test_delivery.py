"""Alerts reach real endpoints through real apprise, from the real run loop.

Each test runs ``run_service`` on a replay file and a channel pointing at a server on
127.0.0.1 started by the test (``json://``, ``form://``, ``mailto://``), then reads
the delivery status the alert log recorded.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from typing import Any

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.logs import KeyValueFormatter
from tradeassist_runner.service import runner
from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from .conftest import Hook, Mailbox, free_port, make_project, serve_on

FAST = """\
  delivery:
    retry: {attempts: 3, initial_delay: 20ms, max_delay: 50ms, timeout: 5s}
    circuit_breaker: {failures: 50, reset: 1s}
    shutdown_grace: 10s
"""


def run(config: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = asyncio.run(runner.run_service(load_config(config), out=out, watch_files=False))
    return code, out.getvalue()


def statuses(tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    with SqliteAlertLog(tmp_path / "data/alerts.sqlite") as db:
        df = db.query()
    return [(r["rule_id"], json.loads(r["delivery_status"])) for r in df.iter_rows(named=True)]


def test_an_alert_is_delivered_with_its_rendered_templates(tmp_path: Path, hook: Hook) -> None:
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    hook: {{urls: "{hook.url()}"}}
  routes: {{critical: [hook]}}
  templates:
    title: "{{severity_upper}} {{symbol}} {{name}}"
    body: "{{instrument}} {{condition_text}} {{threshold}} at {{price}}, {{time_local}} / {{time_utc}}"
{FAST}""",
    )
    code, printed = run(config)
    assert code == 0 and "es.cross" in printed
    assert hook.bodies == [
        {
            "version": "1.0",
            "title": "CRITICAL /ES ES breakout",
            "message": "E-mini S&P 500 crossed above 100.0 at 100.5, "
            "2026-01-05 09:30:01.250 EST / 2026-01-05 14:30:01.250 UTC",
            "attachments": [],
            "type": "failure",
        }
    ]
    [(rule, status)] = statuses(tmp_path)
    assert rule == "es.cross"
    assert status["hook"]["status"] == "sent" and status["hook"]["attempts"] == 1
    assert status["hook"]["error"] is None


def test_default_message_and_form_urls_and_rule_notify(tmp_path: Path, hook: Hook) -> None:
    rules = """\
instruments: [{symbol: /NQ, type: future}]
rules:
  - {id: nq.drop, instrument: /NQ, type: rate_of_change, condition: below, threshold: -0.5, window: 1s,
     cooldown: 0s, severity: info, notify: [ops]}
"""
    ticks = (
        "ts,symbol,price,volume\n"
        "2026-01-05T14:30:00.000Z,/NQ,20000,1\n"
        "2026-01-05T14:30:02.000Z,/NQ,19800,1\n"
    )
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    web: {{urls: ["{hook.url('form')}"], tags: [ops]}}
  routes: {{}}
{FAST}""",
        rules=rules,
        ticks=ticks,
    )
    assert run(config)[0] == 0
    [body] = hook.bodies
    assert body["title"] == "INFO /NQ: nq.drop"
    assert body["message"].startswith("/NQ 1s change % -1 is below -0.5")
    assert "1s change %" in body["message"] and "rule nq.drop" in body["message"]
    assert statuses(tmp_path)[0][1]["web"]["status"] == "sent"


def test_a_500_is_retried_until_the_server_recovers(tmp_path: Path, hook: Hook) -> None:
    hook.script = [500, 500]
    config = make_project(
        tmp_path, f'notifications:\n  channels:\n    hook: {{urls: "{hook.url()}"}}\n  routes: {{critical: [hook]}}\n{FAST}'
    )
    assert run(config)[0] == 0
    assert len(hook.requests) == 3  # 500, 500, 200
    [(_, status)] = statuses(tmp_path)
    assert status["hook"] == {**status["hook"], "status": "sent", "attempts": 3, "error": None}


def test_a_dead_channel_keeps_its_alert_pending_and_evaluation_is_unaffected(tmp_path: Path, hook: Hook) -> None:
    dead = f"json://127.0.0.1:{free_port()}/hook"
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    dead: {{urls: "{dead}"}}
    hook: {{urls: "{hook.url()}"}}
  routes: {{critical: [dead, hook]}}
{FAST}""",
    )
    code, printed = run(config)
    assert code == 0
    assert [line.split()[2] for line in printed.splitlines()] == ["es.cross"]  # the alert still fired
    [(_, status)] = statuses(tmp_path)  # ...and is logged
    # its retries ran out with nothing getting through: the channel is down, not the alert
    # bad, so it waits in the log for the next start instead of being given up
    assert status["dead"]["status"] == "pending" and status["dead"]["attempts"] >= 3
    assert "connection" in status["dead"]["error"].lower()
    assert status["hook"]["status"] == "sent"  # one dead channel does not hold the others


#: One rule that fires on every tick of /ES above 100: an alert storm on demand.
HOT_RULE = """\
instruments: [{symbol: /ES, type: future}]
rules:
  - {id: es.hot, instrument: /ES, type: threshold, condition: above, threshold: 100, cooldown: 0s}
"""


def test_an_alert_storm_is_digested_within_the_rate_limit(tmp_path: Path, hook: Hook) -> None:
    ticks = "ts,symbol,price,volume\n" + "".join(
        f"2026-01-05T14:30:{i // 1000:02d}.{i % 1000:03d}Z,/ES,{101 + i % 7},1\n" for i in range(500)
    )
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    chat: {{urls: "{hook.url()}", rate_limit: {{max: 3, per: 60s}}}}
  routes: {{warning: [chat]}}
{FAST}""",
        rules=HOT_RULE,
        ticks=ticks,
    )
    code, printed = run(config)
    assert code == 0 and len(printed.splitlines()) == 500
    assert 1 <= len(hook.requests) <= 3  # never more than the limit, however many alerts
    digested = [b for b in hook.bodies if "alerts grouped into one message" in b["message"]]
    assert digested, hook.bodies
    counted = sum(int(b["title"].split()[1]) if b in digested else 1 for b in hook.bodies)
    assert counted == 500
    assert "... and" in digested[0]["message"] and "es.hot" in digested[0]["message"]
    rows = statuses(tmp_path)
    assert len(rows) == 500 and all(s["chat"]["status"] == "sent" for _, s in rows)


def test_pending_deliveries_are_sent_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    hook: {{urls: "json://127.0.0.1:{port}/hook"}}
  routes: {{critical: [hook]}}
  delivery:
    retry: {{attempts: 5, initial_delay: 30s, timeout: 2s}}
    shutdown_grace: 200ms
""",
    )
    assert run(config)[0] == 0  # the server is down: the first try fails, the retry waits 30 s
    [(_, status)] = statuses(tmp_path)
    assert status["hook"]["status"] == "pending" and status["hook"]["attempts"] == 1

    up = Hook(port=port)
    server, thread = serve_on(port, up)
    try:
        assert run(config)[0] == 0  # nothing new fires (same ticks); the pending one is sent
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert [b["title"] for b in up.bodies] == ["CRITICAL /ES: ES breakout"]
    [(_, status)] = statuses(tmp_path)
    assert status["hook"]["status"] == "sent"


def test_email_reaches_an_smtp_server(tmp_path: Path, smtp: Mailbox) -> None:
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    email: {{urls: "mailto://127.0.0.1:{smtp.port}?from=runner@example.com&to=desk@example.com&format=text"}}
  routes: {{critical: [email]}}
{FAST}""",
    )
    assert run(config)[0] == 0
    [message] = smtp.messages
    assert message["To"] == "desk@example.com"
    assert message["Subject"] == "CRITICAL /ES: ES breakout"
    assert "/ES price 100.5 crossed above 100" in message.get_payload(decode=True).decode()
    assert statuses(tmp_path)[0][1]["email"]["status"] == "sent"


def test_secrets_never_reach_the_logs_or_the_delivery_log(
    tmp_path: Path, hook: Hook, monkeypatch: Any
) -> None:
    secret = "s3cr3t-T0KEN-value"
    monkeypatch.setenv("HOOK_PASSWORD", secret)
    hook.script = [500] * 10
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    hook: {{urls: "json://bot:${{HOOK_PASSWORD}}@127.0.0.1:{hook.port}/hook/{{{{x}}}}?token=${{HOOK_PASSWORD}}"}}
  routes: {{critical: [hook]}}
{FAST}""".replace("{{x}}", "x"),
    )
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(KeyValueFormatter())
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger("tradeassist"), logging.getLogger("apprise")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        code, printed = run(config)
    finally:
        for lg, (level, propagate) in zip(loggers, saved):
            lg.removeHandler(handler)
            lg.setLevel(level)
            lg.propagate = propagate
    assert code == 0
    assert hook.requests and hook.requests[0]["headers"].get("Authorization")  # the secret was used...
    text = captured.getvalue()
    assert 'msg="delivery retry"' in text and "channel down: circuit open" in text
    assert secret not in text and secret not in printed  # ...and never shown
    [(_, status)] = statuses(tmp_path)
    assert status["hook"]["status"] == "pending" and secret not in json.dumps(status)


def test_a_full_queue_leaves_alerts_pending_in_the_log_and_they_are_sent_later(tmp_path: Path, hook: Hook) -> None:
    ticks = "ts,symbol,price,volume\n" + "".join(
        f"2026-01-05T14:30:00.{i:03d}Z,/ES,{101 + i % 3},1\n" for i in range(60)
    )
    config = make_project(
        tmp_path,
        f"""notifications:
  channels:
    chat: {{urls: "{hook.url()}", rate_limit: {{max: 1000, per: 60s}}}}
  routes: {{warning: [chat]}}
{FAST}    queue_size: 8
""",
        rules=HOT_RULE,
        ticks=ticks,
    )
    assert run(config)[0] == 0
    rows = statuses(tmp_path)
    assert len(rows) == 60 and all(s["chat"]["status"] == "sent" for _, s in rows)
    assert len(hook.requests) == 60  # under the rate limit: one message per alert, none twice

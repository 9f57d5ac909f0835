"""A channel that is down shows in what an operator looks at: /api/status, /metrics, the status line.

A real runner (synthetic feed, API on a free port) sends to a port nothing listens on,
so every try is a real connection refused.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tradeassist_runner.notify.delivery import ChannelHealth
from tradeassist_runner.service.status import RunStats

from ..api.conftest import Service, project
from ..waiting import until
from .conftest import free_port

FIRES = "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 1h, " \
    "severity: critical}\n"


def test_a_down_channel_is_shown_in_status_and_metrics(tmp_path: Path) -> None:
    config = project(tmp_path, {"r.yaml": FIRES})
    config.write_text(
        config.read_text()
        + f'notifications:\n  channels:\n    dead: {{urls: "json://127.0.0.1:{free_port()}/x"}}\n'
        "  routes: {critical: [dead]}\n"
        "  delivery:\n"
        "    retry: {attempts: 2, initial_delay: 10ms, max_delay: 10ms, timeout: 2s}\n"
        "    circuit_breaker: {failures: 2, reset: 1h}\n"
        "    shutdown_grace: 0s\n"
    )

    async def main() -> tuple[dict[str, Any], str]:
        async with Service(config) as svc:
            def down() -> bool:
                status = svc.observer.channel_health
                return status is not None and any(h.state == "open" for h in status())

            await until(down, timeout=30)
            status = await svc.json("/api/status")
            metrics = (await svc.http.get("/metrics")).text
            return status, metrics

    status, metrics = asyncio.run(main())
    [channel] = status["notifications"]
    assert channel["channel"] == "dead" and channel["state"] == "open"
    assert channel["pending"] >= 1 and channel["waiting"] >= 1 and channel["failed"] == 0
    assert "connection" in channel["last_error"].lower() and channel["down_since"].endswith("Z")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    assert samples[("tradeassist_channel_state", (("channel", "dead"), ("state", "open")))] == 1.0
    assert samples[("tradeassist_channel_state", (("channel", "dead"), ("state", "closed")))] == 0.0
    assert samples[("tradeassist_channel_pending", (("channel", "dead"),))] >= 1
    assert samples[("tradeassist_channel_circuit_opens_total", (("channel", "dead"),))] == 1


def health(channel: str, state: str, pending: int = 0, error: str | None = None) -> ChannelHealth:
    now = datetime.now(timezone.utc)
    return ChannelHealth(
        channel=channel, state=state, pending=pending, waiting=pending if state != "closed" else 0,  # type: ignore[arg-type]
        sent=0, failed=0, consecutive_failures=0, circuit_opens=0, last_error=error,
        last_error_at=now if error else None, last_sent_at=None, down_since=None,
    )


def test_the_status_line_names_each_channel_and_what_is_wrong() -> None:
    line = RunStats().line(
        [health("slack", "closed"), health("mail", "open", 3, "Connection refused " + "x" * 100)]
    )
    assert "notify slack ok, mail OPEN 3 pending (Connection refused xxx" in line
    assert line.endswith("...)") and len(line.rsplit("(", 1)[-1]) <= 61
    assert "notify" not in RunStats().line([])

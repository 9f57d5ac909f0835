"""The dashboard in a real headless Chromium against a real ``tradeassist run`` over a replay.

One runner (a subprocess, 127.0.0.1, a free port) serves the tests of this module; the
token test starts its own with ``TRADEASSIST_API_TOKEN``. The replay is paced at recorded
speed so that alerts keep firing while the page is open: the feed shows one that arrived
over the WebSocket, not only what the log held when the page loaded.
"""

from __future__ import annotations

import math
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ..browser import artifact_dir, browser_page
from ..cli_helpers import ROOT
from ..ports import free_port

START = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
#: Long enough that the replay (paced at speed 1) never ends while a test runs.
DURATION_S = 900
STEP_MS = 100
PERIOD_S = 3.0  # /ES swings through its threshold every PERIOD_S seconds of tick time
TOKEN = "browser-token-0123456789abcdef"
WAIT_MS = 60_000  # a loaded machine's patience; a passing test waits only as long as it must

RULES = """\
rules:
  - id: es_spike
    name: /ES spikes up
    instrument: /ES
    type: threshold
    condition: crosses_above
    threshold: 6004
    cooldown: 1s
    severity: critical
    message: "/ES crossed above 6004 at {price}"
  - id: nq_dip
    instrument: /NQ
    type: threshold
    condition: crosses_below
    threshold: 20990
    cooldown: 1s
    severity: warning
  - id: es_hold
    instrument: /ES
    type: threshold
    condition: above
    threshold: 5990
    for: 2s
    cooldown: 10m
    severity: info
  - id: nq_never
    instrument: /NQ
    type: threshold
    condition: above
    threshold: 1000000
"""
BROKEN = "rules:\n  - id: typo\n    instrument: /ES\n    type: threshold\n    condition: abov\n    threshold: 1\n"


def _ticks(path: Path) -> None:
    lines = ["ts,symbol,price,volume"]
    for i in range(DURATION_S * 1000 // STEP_MS):
        t = i * STEP_MS / 1000
        ts = (START + timedelta(milliseconds=i * STEP_MS)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        wave = math.sin(2 * math.pi * t / PERIOD_S)
        lines.append(f"{ts},/ES,{6000 + 5 * wave:.2f},{1 + i % 7}")
        lines.append(f"{ts},/NQ,{21000 + 20 * wave:.2f},{2 + i % 5}")
    path.write_text("\n".join(lines) + "\n")


def _project(root: Path) -> Path:
    """config/, rules.d/ and the tick file; the alert log in data/, outside the watched folders."""
    (root / "rules.d").mkdir(parents=True)
    (root / "rules.d" / "a.yaml").write_text(RULES)
    (root / "config").mkdir()
    _ticks(root / "ticks.csv")
    config = root / "config" / "config.yaml"
    config.write_text(
        "instruments:\n"
        "  - {symbol: /ES, type: future, name: E-mini S&P 500}\n"
        "  - {symbol: /NQ, type: future, name: E-mini Nasdaq-100}\n"
        "rules_dir: ../rules.d\n"
        "source: {type: replay, path: ../ticks.csv, speed: 1}\n"
        "storage: {sqlite: ../data/a.sqlite, parquet_dir: ../data/a}\n"
        "notifications:\n"
        "  channels: {log: {urls: 'logfile://../data/notifications.log', rate_limit: {max: 1000, per: 60s}}}\n"
        "  routes: {critical: [log], warning: [log], info: [log]}\n"
        "api: {enabled: true, host: 127.0.0.1, port: 0}\n"  # the tests pass --api-port
    )
    return config


class Runner:
    """``tradeassist run`` in a subprocess on a fixed free port, so that a restart keeps its URL."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.config = _project(root)
        self.rules_dir = root / "rules.d"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")} | (env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lines: queue.Queue[str] = queue.Queue()

    def start(self, *, fresh: bool = True) -> None:
        """Start, and return once the API listens."""
        args = ["run", str(self.config), "--api-port", str(self.port), *(["--fresh"] if fresh else [])]
        proc = self._proc = subprocess.Popen(
            [sys.executable, "-m", "tradeassist_runner", *args],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        stream = proc.stderr
        assert stream is not None
        self._reader = threading.Thread(target=lambda: [self._lines.put(line) for line in stream], daemon=True)
        self._reader.start()
        while not (self.stderr and "api listening" in self.stderr[-1]):
            try:
                self.stderr.append(self._lines.get(timeout=60))
            except queue.Empty:
                pytest.fail("tradeassist run did not listen within 60 s:\n" + "".join(self.stderr))

    def stop(self) -> None:
        """SIGTERM: the runner's clean stop (exit 0)."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, "".join(self.stderr)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if self._reader is not None:
                self._reader.join(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()
            while not self._lines.empty():
                self.stderr.append(self._lines.get())


@contextmanager
def running(root: Path, env: dict[str, str] | None = None) -> Iterator[Runner]:
    runner = Runner(root, env)
    try:
        runner.start()
        yield runner
    finally:
        runner.stop()
    assert "Traceback" not in "".join(runner.stderr)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    with running(tmp_path_factory.mktemp("dashboard")) as r:
        yield r


def _text(page: object, selector: str) -> str:
    return str(page.locator(selector).first.inner_text())  # type: ignore[attr-defined]


def test_the_dashboard_shows_instruments_live_alerts_and_rules_with_nothing_from_outside(runner: Runner) -> None:
    with browser_page(viewport=(1400, 1000)) as b:
        page = b.page
        page.goto(runner.url + "/")  # type: ignore[attr-defined]
        # Instruments, with a price from the replay and a sparkline drawn from recent ticks.
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => { const r = document.querySelector('#instruments tr[data-symbol=\"/ES\"] .last');"
            " return r && r.textContent !== '–'; }", timeout=WAIT_MS)
        assert page.locator("#instruments tbody tr").count() == 2  # type: ignore[attr-defined]
        assert "E-mini Nasdaq-100" in _text(page, '#instruments tr[data-symbol="/NQ"]')
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => Number(document.querySelector('#instruments tr[data-symbol=\"/ES\"] svg.spark')"
            "?.dataset.points) >= 2", timeout=WAIT_MS)

        # An alert the replay fires while the page is open arrives over /ws/realtime, in its colour,
        # and then shows its delivery status from the alert log.
        live = page.locator('#alerts li[data-via="live"][data-severity="critical"]').first  # type: ignore[attr-defined]
        live.wait_for(timeout=WAIT_MS)
        assert "es_spike" in live.inner_text() and "crossed above 6004" in live.inner_text()
        assert "sev-critical" in (live.get_attribute("class") or "")
        colour = page.evaluate(  # type: ignore[attr-defined]
            "() => getComputedStyle(document.querySelector('#alerts li.sev-critical')).borderLeftColor")
        assert colour == "rgb(248, 81, 73)"
        live.locator('.chip[data-channel="log"][data-status="sent"]').wait_for(timeout=WAIT_MS)
        page.locator('#alerts li[data-severity="warning"]').first.wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
        assert _text(page, "#live") == "live"

        # Rules with their state, filterable by text and by state.
        page.locator('#rules tr[data-rule="es_spike"]').wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
        assert "a.yaml:" in _text(page, '#rules tr[data-rule="es_spike"] .loc')
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => document.querySelector('#rules tr[data-rule=\"es_hold\"]')?.dataset.state === 'cooling_down'",
            timeout=WAIT_MS)
        assert "left" in _text(page, '#rules tr[data-rule="es_hold"] .state')
        assert "for 2s" in _text(page, '#rules tr[data-rule="es_hold"] .state')
        page.fill("#rule-filter", "nq")  # type: ignore[attr-defined]
        assert sorted(page.locator("#rules tbody tr").evaluate_all("rs => rs.map(r => r.dataset.rule)")) == [  # type: ignore[attr-defined]
            "nq_dip", "nq_never"]
        page.fill("#rule-filter", "")  # type: ignore[attr-defined]
        page.select_option("#rule-state", "cooling_down")  # type: ignore[attr-defined]
        states = page.locator("#rules tbody tr").evaluate_all("rs => rs.map(r => r.dataset.state)")  # type: ignore[attr-defined]
        assert states and set(states) == {"cooling_down"}
        page.select_option("#rule-state", "")  # type: ignore[attr-defined]

        # Feed health from the replay: connected, no delayed or silent symbols.
        assert _text(page, "#feed-connected") == "yes" and _text(page, "#feed-source") == "replay"
        assert _text(page, "#feed-delayed") == "none" and _text(page, "#feed-silent") == "none"
        page.screenshot(path=str(artifact_dir() / "dashboard.png"), full_page=True)  # type: ignore[attr-defined]
        assert b.outside == [] and b.console_errors == []


def test_a_broken_rule_file_shows_every_located_error_until_it_is_fixed(runner: Runner) -> None:
    broken = runner.rules_dir / "zz-broken.yaml"
    with browser_page() as b:
        page = b.page
        page.goto(runner.url + "/")  # type: ignore[attr-defined]
        page.locator('#reload-panel[data-valid="true"]').wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
        try:
            broken.write_text(BROKEN)  # hot reload: rejected, the previous rules keep running
            error = page.locator("#reload-errors li").first  # type: ignore[attr-defined]
            error.wait_for(timeout=WAIT_MS)
            text = error.inner_text()
            assert f"{broken}:5:" in text or "zz-broken.yaml:5:" in text, text
            assert "abov" in text
            assert "do not validate" in _text(page, "#reload-summary")
            page.screenshot(path=str(artifact_dir() / "dashboard-reload-error.png"))  # type: ignore[attr-defined]
        finally:
            broken.unlink(missing_ok=True)
        page.locator('#reload-panel[data-valid="true"]').wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
        assert page.locator("#reload-errors li").count() == 0  # type: ignore[attr-defined]
        assert b.outside == [] and b.console_errors == []


def test_with_a_token_the_page_asks_once_per_tab_and_never_puts_it_in_a_url(tmp_path: Path) -> None:
    with running(tmp_path, {"TRADEASSIST_API_TOKEN": TOKEN}) as r, browser_page() as b:
        page = b.page
        urls: list[str] = []
        page.context.on("request", lambda request: urls.append(request.url))  # type: ignore[attr-defined]
        page.on("websocket", lambda ws: urls.append(ws.url))  # type: ignore[attr-defined]
        page.goto(r.url + "/")  # type: ignore[attr-defined]
        page.locator("#token-form").wait_for(state="visible", timeout=WAIT_MS)  # type: ignore[attr-defined]
        assert page.locator("#main").is_hidden()  # type: ignore[attr-defined]

        page.fill("#token-input", "not-the-token")  # type: ignore[attr-defined]
        page.click("#token-submit")  # type: ignore[attr-defined]
        page.locator("#token-error").wait_for(state="visible", timeout=WAIT_MS)  # type: ignore[attr-defined]
        assert _text(page, "#token-error") == "That token was refused."

        page.fill("#token-input", TOKEN)  # type: ignore[attr-defined]
        page.click("#token-submit")  # type: ignore[attr-defined]
        page.locator('#instruments tr[data-symbol="/ES"]').wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
        page.wait_for_function("() => document.getElementById('live').textContent === 'live'", timeout=WAIT_MS)  # type: ignore[attr-defined]
        assert page.locator("#token-form").is_hidden()  # type: ignore[attr-defined]

        page.reload()  # the same tab: no second prompt
        page.wait_for_function("() => document.getElementById('live').textContent === 'live'", timeout=WAIT_MS)  # type: ignore[attr-defined]
        assert page.locator("#token-form").is_hidden()  # type: ignore[attr-defined]
        assert page.evaluate("() => sessionStorage.getItem('tradeassist.api_token')") == TOKEN  # type: ignore[attr-defined]
        assert page.evaluate("() => localStorage.length") == 0  # type: ignore[attr-defined]

        other = page.context.new_page()  # another tab: its own sessionStorage, so it asks again
        other.goto(r.url + "/")
        other.locator("#token-form").wait_for(state="visible", timeout=WAIT_MS)
        other.close()

        # The runner restarts: the page reconnects by itself (with the tab's token) and goes on
        # with the alerts fired after it, from the socket or from /api/alerts, each shown once.
        page.locator("#alerts li").first.wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
        newest = page.evaluate("() => document.querySelector('#alerts li').dataset.ts")  # type: ignore[attr-defined]
        r.stop()
        page.wait_for_function("() => document.getElementById('live').textContent === 'reconnecting'",  # type: ignore[attr-defined]
                               timeout=WAIT_MS)
        r.start(fresh=False)  # resumes the replay where it stopped
        page.wait_for_function("() => document.getElementById('live').textContent === 'live'", timeout=WAIT_MS)  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            "newest => [...document.querySelectorAll('#alerts li')].some(li => li.dataset.ts > newest)",
            arg=newest, timeout=WAIT_MS)
        ids = page.locator("#alerts li").evaluate_all("ls => ls.map(l => l.dataset.alertId)")  # type: ignore[attr-defined]
        assert len(ids) == len(set(ids))

        assert any("/ws/realtime" in u for u in urls) and any("/api/status" in u for u in urls)
        assert all(TOKEN not in u for u in urls), urls
        assert b.outside == []
    assert TOKEN not in "".join(r.stderr)

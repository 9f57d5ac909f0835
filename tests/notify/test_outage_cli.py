"""`tradeassist run` through a channel outage, as an operator sees it on stderr.

A real runner process (synthetic feed) sends to a port where nothing listens, then the
test starts an HTTP server on that port and stops the runner with SIGTERM.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from .conftest import Hook, free_port, serve_on

CONFIG = """\
instruments:
  - {{symbol: /ES, type: future}}
rules_dir: rules.d
source: {{type: synthetic, seed: 5, ticks_per_second: 50}}
storage: {{sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}}
notifications:
  channels:
    pager: {{urls: "json://127.0.0.1:{port}/hook"}}
  routes: {{critical: [pager]}}
  delivery:
    retry: {{attempts: 3, initial_delay: 50ms, max_delay: 100ms, timeout: 2s}}
    circuit_breaker: {{failures: 3, reset: 1s}}
    shutdown_grace: 0s
"""
RULE = (
    "rules:\n  - {id: es.up, instrument: /ES, type: threshold, condition: above, threshold: 0, "
    "cooldown: 1h, severity: critical}\n"
)


class Lines:
    """stderr of a process, line by line, read by a thread; ``wait_for`` fails loudly."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        assert proc.stderr is not None
        stream = proc.stderr

        def read() -> None:
            for line in stream:
                self._q.put(line.rstrip("\n"))
            self._q.put(None)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        for old in self.seen:
            if text in old:
                return old
        while True:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no stderr line with {text!r} in {timeout}s; got:\n" + "\n".join(self.seen)
                ) from None
            if line is None:
                raise AssertionError(f"the runner exited before {text!r}; got:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> list[str]:
        while (line := self._q.get(timeout=30)) is not None:
            self.seen.append(line)
        return self.seen


def test_an_outage_is_logged_and_the_alert_is_sent_when_the_service_returns(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(RULE)
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeassist_runner", "run", "config.yaml"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    hook = Hook(port=port)
    server = None
    with proc:  # closes the pipe at the end
        try:
            err = Lines(proc)
            retry = err.wait_for('msg="delivery retry"')
            assert "channel=pager" in retry and "connection" in retry.lower()
            down = err.wait_for("channel down: circuit open")
            assert "channel=pager" in down and "failures=3" in down
            server, _ = serve_on(port, hook)  # the service is back
            back = err.wait_for("channel back: circuit closed")
            assert "channel=pager" in back and "down_for=" in back
            proc.send_signal(signal.SIGTERM)
            lines = err.rest()
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if server is not None:
                server.shutdown()
                server.server_close()
    assert not any("Traceback" in line for line in lines), lines
    assert sum('msg="delivery ' in line for line in lines) <= 2, lines  # paced: not one per try
    assert [b["title"] for b in hook.bodies] == ["CRITICAL /ES: es.up"]
    with SqliteAlertLog(tmp_path / "data/a.sqlite") as db:
        [row] = db.query().iter_rows(named=True)
    assert json.loads(row["delivery_status"])["pager"]["status"] == "sent"
    stopped = [line for line in lines if "runner stopped" in line]
    assert stopped and "notify pager ok" in stopped[0]

"""Real endpoints for real apprise: an HTTP server and an SMTP server on 127.0.0.1.

The HTTP server answers with a scripted list of status codes (then 200 forever) and
records every request, so a test can say "500, 500, then recover" and check what
apprise actually sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ..ports import free_port  # the notify tests take it from here too


@dataclass
class Hook:
    """What the test HTTP server received, and what it should answer next."""

    port: int
    script: list[int] = field(default_factory=list)
    #: Titles containing one of these are answered 500 every time (a message the service refuses).
    refuse: tuple[str, ...] = ()
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, scheme: str = "json", path: str = "/hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.requests if isinstance(r["body"], dict)]


def _handler(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                from urllib.parse import parse_qs

                body = {k: v[0] for k, v in parse_qs(raw).items()}
            with hook.lock:
                hook.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                code = hook.script.pop(0) if hook.script else 200
                title = str(body.get("title", "")) if isinstance(body, dict) else ""
                if any(word in title for word in hook.refuse):
                    code = 500
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook(port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(h))
    server.daemon_threads = True
    h.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield h
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def serve_on(port: int, hook: Hook) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(hook))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    box = Mailbox(port=free_port())

    class Keep(Message):
        def handle_message(self, message: Any) -> None:
            box.messages.append(message)

    controller = Controller(Keep(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


RULES = """\
instruments:
  - {symbol: /ES, name: E-mini S&P 500, type: future}
rules:
  - {id: es.cross, name: ES breakout, instrument: /ES, type: threshold, condition: crosses_above,
     threshold: 100, cooldown: 0s, severity: critical}
"""

TICKS = (
    "ts,symbol,price,volume\n"
    "2026-01-05T14:30:00.000Z,/ES,99.5,1\n"
    "2026-01-05T14:30:01.250Z,/ES,100.5,1\n"  # es.cross fires
)


def make_project(tmp_path: Path, notifications: str, rules: str = RULES, ticks: str = TICKS) -> Path:
    """A replay project whose config ends with the given ``notifications:`` YAML block."""
    (tmp_path / "rules.d").mkdir(exist_ok=True)
    (tmp_path / "rules.d" / "r.yaml").write_text(rules)
    (tmp_path / "ticks.csv").write_text(ticks)
    config = tmp_path / "config.yaml"
    config.write_text(
        "rules_dir: rules.d\nsource: {type: replay, path: ticks.csv}\n"
        "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite}\n"
        + notifications
    )
    return config

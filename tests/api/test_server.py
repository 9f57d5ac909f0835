"""The server inside the runner: off by default, clear errors, and the runner keeps its signals."""

from __future__ import annotations

import asyncio
import io
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tradeassist_runner.api import start_api
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.config.models import Config
from tradeassist_runner.errors import ApiError
from tradeassist_runner.service.observe import Observer
from tradeassist_runner.service.runner import run_service
from tradeassist_runner.settings import Settings

from ..cli_helpers import ROOT, tradeassist
from .conftest import NEVER, project, until


def test_the_api_is_off_unless_enabled(tmp_path: Path) -> None:
    assert Config().api.enabled is False and Config().api.host == "127.0.0.1"
    config = project(tmp_path, {"a.yaml": NEVER}, api="{enabled: false}")

    async def scenario() -> None:
        observer, stop = Observer(), asyncio.Event()
        task = asyncio.create_task(run_service(load_config(config), stop=stop, out=io.StringIO(), observer=observer,
                                               watch_files=False, fresh=True))
        await until(lambda: observer.batches > 0)
        assert observer.api_url is None
        stop.set()
        assert await task == 0

    asyncio.run(scenario())


def test_a_port_in_use_stops_the_runner_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = project(tmp_path, {"a.yaml": NEVER}, api=f"{{enabled: true, port: {port}}}")

        async def scenario() -> None:
            observer = Observer()
            with pytest.raises(ApiError, match=f"cannot listen on 127.0.0.1:{port}"):
                await run_service(load_config(config), stop=asyncio.Event(), out=io.StringIO(), observer=observer,
                                  fresh=True)
            assert observer.listeners == [] and observer.api_url is None  # nothing left behind

        asyncio.run(scenario())
        result = tradeassist("run", config, cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: api: cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_missing_server_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("tradeassist_runner.api.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # what an environment without the extra looks like
    loaded = load_config(project(tmp_path, {"a.yaml": NEVER}))
    with pytest.raises(ApiError, match=r"\[server\] extra is not installed \(fastapi is missing\)"):
        asyncio.run(start_api(loaded, Observer(), Settings()))


def _lines(stream: io.TextIOBase, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def test_cli_flags_enable_the_api_and_the_runner_keeps_its_signals(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": NEVER}, api="{enabled: false, port: 1}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeassist_runner", "run", str(config), "--api", "--api-port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while "api listening" not in (seen[-1] if seen else ""):
            seen.append(lines.get(timeout=60))
        port = int(seen[-1].split(" port=")[1].split()[0])
        assert " host=127.0.0.1 " in seen[-1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=5) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            proc.send_signal(signal.SIGHUP)  # the runner's reload, not uvicorn's (or the default: exit)
            while "rules unchanged" not in seen[-1]:
                seen.append(lines.get(timeout=60))
            assert "reason=SIGHUP" in seen[-1]
            assert proc.poll() is None
            assert http.get("/readyz").status_code == 200
        proc.send_signal(signal.SIGTERM)  # the runner's clean stop: flush, snapshot, exit 0
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)  # EOF once the process is gone
        proc.stderr.close()
    while not lines.empty():
        seen.append(lines.get())
    stderr = "".join(seen)
    assert "api stopped" in stderr and "runner stopped" in stderr and "Traceback" not in stderr

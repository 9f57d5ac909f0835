"""The server inside the runner: off by default, clear errors, and the runner keeps its signals."""

from __future__ import annotations

import asyncio
import io
import os
import time
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

from ..waiting import wait_until
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
            while not ("rules unchanged" in seen[-1] and "reason=SIGHUP" in seen[-1]):
                seen.append(lines.get(timeout=60))
            assert proc.poll() is None
            # ready once the first batch of the feed has arrived (it may trail the API's start)
            wait_until(lambda: http.get("/readyz").status_code == 200, what="/readyz 200 after SIGHUP")
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


def _started(config: Path, env: dict[str, str]) -> str:
    """Run ``tradeassist run`` until the API listens, stop it with SIGTERM; its stderr."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")} | env
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeassist_runner", "run", str(config)],
        cwd=ROOT, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while "api listening" not in (seen[-1] if seen else ""):
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                exited = proc.poll() is not None and not reader.is_alive() and lines.empty()
                assert not exited, f"exited {proc.returncode} before listening:\n{''.join(seen)}"
                assert time.monotonic() < deadline, f"not listening after 60 s:\n{''.join(seen)}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        proc.stderr.close()
    while not lines.empty():
        seen.append(lines.get())
    return "".join(seen)


def test_an_open_bind_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": NEVER}, api="{enabled: true, host: 0.0.0.0, port: 0}")
    result = tradeassist("run", config, cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "0.0.0.0" in error and "TRADEASSIST_API_TOKEN" in error and "api.allow_unauthenticated" in error

    # The environment override of the host is judged the same way.
    loopback = project(tmp_path, {"a.yaml": NEVER}, api="{enabled: true, port: 0}")
    assert tradeassist("run", loopback, cwd=tmp_path, timeout=60, env={"TRADEASSIST_API_HOST": "0.0.0.0"}).returncode == 1


def test_an_open_bind_starts_with_a_token_or_an_explicit_opt_out_which_warns(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": NEVER}, api="{enabled: true, host: 0.0.0.0, port: 0}")
    stderr = _started(config, {"TRADEASSIST_API_TOKEN": "t" * 32})
    assert "auth=required" in stderr and "unauthenticated" not in stderr

    opted = project(tmp_path, {"a.yaml": NEVER},
                    api="{enabled: true, host: 0.0.0.0, port: 0, allow_unauthenticated: true}")
    stderr = _started(opted, {})
    [warning] = [line for line in stderr.splitlines() if "without authentication" in line]
    assert "level=warning" in warning and "0.0.0.0" in warning
    assert "auth=none" in stderr

    # On loopback the opt-out changes nothing and says nothing.
    local = project(tmp_path, {"a.yaml": NEVER}, api="{enabled: true, port: 0, allow_unauthenticated: true}")
    assert "without authentication" not in _started(local, {})

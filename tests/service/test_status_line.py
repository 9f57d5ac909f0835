"""On a terminal the status line is redrawn in place; alert and log lines scroll above it.

The service runs with stdout and stderr on a real pseudo-terminal, and what it writes is
replayed through a small terminal model (carriage return, newline, erase line, printable
text), so the test reads the screen a user reads, not the bytes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import sys
import threading
from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.logs import log, setup_logging
from tradeassist_runner.service.observe import Observer
from tradeassist_runner.service.runner import run_service

from ..waiting import until

ERASE_LINE = "\x1b[2K"


def screen(output: str) -> list[str]:
    """The lines a terminal shows after ``output`` (no wrapping: lines are long enough)."""
    lines, row, col = [""], 0, 0
    i = 0
    while i < len(output):
        if output.startswith(ERASE_LINE, i):
            lines[row] = ""
            i += len(ERASE_LINE)
            continue
        ch = output[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            if row == len(lines):
                lines.append("")
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + ch + line[col + 1 :]
            col += 1
    return lines


def test_alert_and_log_lines_never_land_on_the_status_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0,"
        " cooldown: 100ms, message: 'ES is up'}\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        "source: {type: synthetic, seed: 3, ticks_per_second: 200}\n"
        "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}\n"
    )
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the slave side is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    terminal = open(slave, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    monkeypatch.setattr(sys, "stderr", terminal)
    tradeassist_logger = logging.getLogger("tradeassist")
    saved = tradeassist_logger.handlers[:], tradeassist_logger.level, tradeassist_logger.propagate
    setup_logging("INFO")  # log lines go to the terminal too, as in `tradeassist run`
    observer = Observer()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_service(load_config(config), stop=stop, out=terminal, observer=observer, status_every=0.0,
                        watch_files=False, fresh=True)
        )
        await until(lambda: observer.batches >= 3 or task.done(), timeout=60)
        # Any log line while the status is up (a reload, a rejected tick) takes the same path.
        log(logging.getLogger("tradeassist.test"), logging.WARNING, "mid-run note")
        await until(lambda: sum(observer.alerts_by_rule.values()) >= 5 and observer.batches >= 10 or task.done(),
                    timeout=60)
        stop.set()
        assert await task == 0

    try:
        asyncio.run(scenario())
    finally:
        tradeassist_logger.handlers[:], tradeassist_logger.level, tradeassist_logger.propagate = saved
        terminal.close()
        os.close(slave)
        reader.join(timeout=30)
        os.close(master)
    assert not reader.is_alive()
    shown = screen(b"".join(chunks).decode("utf-8", "replace"))
    alerts = [line for line in shown if "es.any" in line]
    assert len(alerts) >= 5, shown
    for line in alerts:  # glued onto the status line, an alert would start with "up 0m00s ..."
        assert line.startswith("20") and line.rstrip().endswith("ES is up"), line
    logs = [line for line in shown if "msg=" in line]
    assert any('msg="runner started"' in line for line in logs), shown
    assert any('msg="runner stopped"' in line for line in logs), shown
    assert any(line.endswith('msg="mid-run note"') for line in logs), shown
    assert all(line.startswith("ts=") for line in logs), logs
    # The status is drawn below the alerts that scrolled past, and is left on its own line.
    status = [i for i, line in enumerate(shown) if line.startswith("up ") and "ticks/s" in line]
    assert status, shown
    assert status[-1] > max(shown.index(line) for line in alerts)

"""Progress on long work: a bar on a terminal's stderr, nothing on a pipe or with --quiet.

The commands run for real in a subprocess whose stderr is a pseudo-terminal (what a
user at a shell has), or a pipe (what CI and scripts have); stdout is always a pipe,
so the JSONL a pipeline reads is compared byte for byte across the cases.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from tradeassist_runner.terminal import ERASE

from .cli_helpers import ROOT

INSTRUMENTS = [{"symbol": "/ES", "type": "future"}]
RULES = [
    {"id": "es.up", "instrument": "/ES", "type": "threshold", "condition": "crosses_above", "threshold": 100.5,
     "cooldown": "0s"},
    {"id": "es.roc", "instrument": "/ES", "type": "rate_of_change", "window": "1s", "condition": "above",
     "threshold": 0.1, "cooldown": "5s"},
]


def project(root: Path, rules: list[dict[str, object]] = RULES, n: int = 3000) -> tuple[Path, Path]:
    (root / "rules.d").mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    config.write_text(json.dumps({"instruments": INSTRUMENTS, "rules_dir": "rules.d"}))
    (root / "rules.d" / "rules.yaml").write_text(json.dumps({"rules": rules}))
    csv = root / "ticks.csv"
    lines = ["ts,symbol,price,volume"]
    lines += [f"{1767623400000 + 250 * i},/ES,{100 + (i % 7) * 0.25},{1 + i % 3}" for i in range(n)]
    csv.write_text("\n".join(lines) + "\n")
    return config, csv


def without_clock(jsonl: bytes) -> list[dict[str, object]]:
    """The alerts, without the wall-clock ``evaluated_at`` (two runs differ only there)."""
    return [{k: v for k, v in json.loads(line).items() if k != "evaluated_at"} for line in jsonl.splitlines()]


def run(*args: str | Path, tty: bool, columns: int = 120) -> tuple[int, bytes, str]:
    """(exit code, stdout bytes, stderr text) with stderr on a pty of ``columns`` or a pipe."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    cmd = [sys.executable, "-m", "tradeassist_runner", *map(str, args)]
    if not tty:
        p = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=env, timeout=120)
        return p.returncode, p.stdout, p.stderr.decode()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env=env, start_new_session=True)
    os.close(slave)
    out_parts: list[bytes] = []
    reader = threading.Thread(target=lambda: out_parts.append(proc.stdout.read() if proc.stdout else b""))
    reader.start()  # stdout on its own thread: a child blocked on a full pipe never closes the pty
    err = b""
    while True:  # read the terminal until the child closes it (EIO on Linux)
        if not select.select([master], [], [], 120)[0]:  # a hung child: fail, never hang the suite
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    reader.join(timeout=120)
    out = b"".join(out_parts)
    code = proc.wait(timeout=120)
    if proc.stdout:
        proc.stdout.close()
    os.close(master)
    return code, out, err.decode()


def test_backtest_draws_a_bar_on_a_terminal_and_the_jsonl_is_unchanged(tmp_path: Path) -> None:
    config, csv = project(tmp_path)
    code, out_tty, err_tty = run("backtest", config, "--ticks", csv, "--format", "jsonl", "--batch-size", "100",
                                 tty=True, columns=100)
    assert code == 0, err_tty
    assert ERASE in err_tty
    drawn = [part for part in err_tty.split(ERASE) if "ticks/s" in part]
    assert drawn, err_tty
    assert "/3,000 rows" in drawn[0] and "alerts" in drawn[0]
    assert all(len(part.split("\r\n")[0]) < 100 for part in drawn)  # never wraps
    # the bar is erased before the summary: the summary line starts on a clean line
    assert err_tty.rstrip().splitlines()[-1].endswith("3000 ticks read, 3000 evaluated, 0 rejected, "
                                                      f"{len(out_tty.splitlines())} alerts")
    code, out_pipe, err_pipe = run("backtest", config, "--ticks", csv, "--format", "jsonl", "--batch-size", "100",
                                   tty=False)
    assert code == 0
    assert without_clock(out_pipe) == without_clock(out_tty) and len(out_pipe.splitlines()) > 10
    assert "\x1b" not in err_pipe and "\r" not in err_pipe and "ticks/s" not in err_pipe


def test_quiet_draws_nothing_even_on_a_terminal(tmp_path: Path) -> None:
    config, csv = project(tmp_path)
    code, out, err = run("backtest", config, "--ticks", csv, "--format", "jsonl", "--quiet", tty=True)
    assert code == 0
    assert "\x1b" not in err and "ticks/s" not in err
    assert err.strip().endswith("alerts")


def test_diff_with_ticks_shows_both_passes_and_test_shows_its_tick_file(tmp_path: Path) -> None:
    config, csv = project(tmp_path / "new")
    old = [dict(RULES[0], threshold=100.25), RULES[1]]
    old_config, _ = project(tmp_path / "old", old)
    code, out, err = run("diff", old_config, config, "--ticks", csv, tty=True)
    assert code == 0, err
    assert "old: " in err and "new: " in err and "ticks/s" in err
    assert b"es.up" in out

    (tmp_path / "t.yaml").write_text(json.dumps({
        "config": str(config),
        "tests": [{"name": "from the file", "ticks_file": str(csv), "only": ["es.up"], "expect": []}],
    }))
    code, out, err = run("test", tmp_path / "t.yaml", tty=True)
    assert code == 1  # es.up fires: the expectation of none fails, the bar still went by
    assert "from the file: " in err and "ticks/s" in err

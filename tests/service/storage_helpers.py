"""Real-process helpers for the storage fault tests: projects, tmpfs mounts, store contents."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

from tradeassist_runner.config.models import Instrument, SyntheticSource
from tradeassist_runner.sources.synthetic import SyntheticFeed

from ..cli_helpers import ROOT

RULES = """\
rules:
  - {id: es.up, instrument: /ES, type: threshold, condition: crosses_above, threshold: 6000, cooldown: 0s}
  - {id: es.down, instrument: /ES, type: threshold, condition: crosses_below, threshold: 6000, cooldown: 0s}
  - {id: es.roc, instrument: /ES, type: rate_of_change, condition: above, threshold: 0.01, window: 10s, cooldown: 2s}
  - {id: es.vol, instrument: /ES, type: volume_spike, condition: above, threshold: 2, period: 20, cooldown: 1s}
"""


def make_ticks(path: Path, n: int = 4000, seed: int = 9) -> Path:
    feed = SyntheticFeed([Instrument(symbol="/ES", type="future")], SyntheticSource(type="synthetic", seed=seed, ticks_per_second=20))
    feed.generate(n).write_parquet(path)
    return path


def project(
    root: Path, ticks: Path, *, speed: float = 1e9, storage: str | None = None, extra: str = "", name: str = "config.yaml"
) -> Path:
    """A replay project; ``storage`` is the YAML mapping body (default: all under data/)."""
    (root / "rules.d").mkdir(parents=True, exist_ok=True)
    (root / "rules.d" / "r.yaml").write_text(RULES)
    storage = storage or "sqlite: data/a.sqlite, parquet_dir: data/a, snapshot_interval: 100ms, parquet_roll: 10ms"
    config = root / name
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        f"source: {{type: replay, path: {ticks}, speed: {speed}}}\n"
        f"storage: {{{storage}}}\n{extra}"
    )
    return config


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}


def run(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeassist_runner", "run", str(config), *args],
        capture_output=True, text=True, cwd=config.parent, timeout=timeout, env=env(),
    )


class Runner:
    """A ``tradeassist run`` in the background whose stdout/stderr lines can be awaited."""

    def __init__(self, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tradeassist_runner", "run", str(config), *args],
            cwd=config.parent, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr))
        ]
        for t in self._readers:
            t.start()

    def _read(self, name: str, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put((name, line))

    def _take(self, timeout: float) -> tuple[str, str]:
        try:
            name, line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"runner gave no expected output within {timeout}s; stderr so far:\n{''.join(self.err)}"
            ) from None
        (self.out if name == "out" else self.err).append(line)
        return name, line

    def wait_for(self, stream: str, text: str, *, count: int = 1, timeout: float = 90) -> str:
        """Block until the ``count``-th line of ``stream`` containing ``text``; fail loudly otherwise."""
        seen = sum(text in line for line in (self.out if stream == "out" else self.err))
        while seen < count:
            if self.proc.poll() is not None and self.lines.empty() and not any(t.is_alive() for t in self._readers):
                raise AssertionError(f"runner exited ({self.proc.returncode}) before {text!r}:\n{''.join(self.err)}")
            name, line = self._take(timeout)
            if name == stream and text in line:
                seen += 1
                if seen >= count:
                    return line
        return ""

    def kill(self, sig: signal.Signals = signal.SIGKILL, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=30)
        while not self.lines.empty():
            self._take(1)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def sqlite_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT alert_id FROM alert_logs"))


def parquet_ids(root: Path) -> list[str]:
    """Every alert id in the Parquet copy, duplicates included (a raw scan, as an analyst does)."""
    files = sorted(root.glob("date=*/*.parquet"))
    if not files:
        return []
    return sorted(pl.read_parquet(files, columns=["alert_id"])["alert_id"].to_list())


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.endswith(".tmp"))


@contextmanager
def tmpfs(path: Path, size: str = "64k", *, read_only: bool = False) -> Iterator[Path]:
    """A real small file system at ``path`` (needs root), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeassist_runner", *map(str, args)],
        capture_output=True, text=True, cwd=cwd or ROOT, timeout=120, env=env(),
    )


def kill_on_create(folder: Path, suffix: str, proc: subprocess.Popen[str], *, nth: int = 1, timeout: float = 90) -> str:
    """SIGKILL ``proc`` the moment the ``nth`` file ending in ``suffix`` appears in ``folder``.

    inotify (Linux) wakes us on the creation itself, so the kill lands while the writer
    is still writing that file: here, a Parquet part between the SQLite commit and its rename.
    """
    import ctypes
    import ctypes.util
    import select
    import struct

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    if fd < 0 or libc.inotify_add_watch(fd, str(folder).encode(), 0x100) < 0:  # IN_CREATE
        pytest.skip("inotify is not available")
    seen = 0
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise AssertionError(f"no {suffix} file appeared in {folder} within {timeout}s")
            data = os.read(fd, 65536)
            offset = 0
            while offset < len(data):
                _, _, _, size = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16 : offset + 16 + size].rstrip(b"\0").decode()
                offset += 16 + size
                if name.endswith(suffix):
                    seen += 1
                    if seen == nth:
                        proc.send_signal(signal.SIGKILL)
                        return name
    finally:
        os.close(fd)

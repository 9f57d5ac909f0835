"""Regenerate the pictures the README shows: ``python docs/screenshots.py <what>``.

Each target makes its picture from the real thing, the way a user would see it, and writes
it under ``docs/images/``; commit the result. Targets:

    dashboard   the dashboard of ``tradeassist run config/config.yaml`` (the shipped config,
                its synthetic feed and rules) after a minute or so of alerts
                -> docs/images/dashboard.png

Needs the ``[all]`` extras and Debian's chromium (``apt-get install -y chromium``), driven
headless by Playwright; the browser may not reach anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
sys.path.insert(0, str(ROOT))

#: What the dashboard must show before it is photographed (the synthetic feed needs about a minute).
DASHBOARD_READY = """() => document.querySelectorAll('#alerts li .chip[data-status]').length >= 6
  && Number(document.querySelector('#instruments svg.spark')?.dataset.points) >= 30"""


def _listening(proc: subprocess.Popen[str]) -> int:
    """The port from the runner's ``api listening`` log line."""
    assert proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    while True:
        try:
            seen.append(lines.get(timeout=60))
        except queue.Empty:
            raise SystemExit("tradeassist run did not start listening within 60 s:\n" + "".join(seen)) from None
        if "api listening" in seen[-1]:
            return int(seen[-1].split(" port=")[1].split()[0])


def dashboard() -> Path:
    """The shipped config in a scratch copy (its alert log and state go there, not into data/)."""
    from tests.browser import browser_page

    out = IMAGES / "dashboard.png"
    with tempfile.TemporaryDirectory(prefix="tradeassist-screenshot-") as scratch:
        work = Path(scratch)
        shutil.copytree(ROOT / "config", work / "config")
        shutil.copytree(ROOT / "rules.d", work / "rules.d")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradeassist_runner", "run", str(work / "config" / "config.yaml"),
             "--fresh", "--api-port", "0"],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            port = _listening(proc)
            with browser_page(viewport=(1400, 900)) as b:
                page = b.page
                page.goto(f"http://127.0.0.1:{port}/")  # type: ignore[attr-defined]
                page.wait_for_function(DASHBOARD_READY, timeout=180_000)  # type: ignore[attr-defined]
                page.wait_for_timeout(1500)  # type: ignore[attr-defined]  # let the last delivery chips settle
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)  # type: ignore[attr-defined]
                if b.outside:
                    raise SystemExit(f"the page tried to reach outside 127.0.0.1: {b.outside}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return out


TARGETS: dict[str, Callable[[], Path]] = {"dashboard": dashboard}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the README's pictures under docs/images/.")
    parser.add_argument("what", choices=sorted(TARGETS), help="which picture")
    args = parser.parse_args(argv)
    print(TARGETS[args.what]().relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
